//! The generator's connections: one HTTP/2 connection driven by hyper directly, and the
//! route to the server or to a cluster's leader, which follows the leader when an answer
//! says it is not.

use super::*;

/// One HTTP/2 connection driven by hyper directly: a request goes from the flow's task to
/// the connection's task, with no buffer task in between, which keeps the generator's own
/// CPU use down on the cores it shares with the server.
#[derive(Clone)]
pub(super) struct Conn(pub(super) hyper::client::conn::http2::SendRequest<tonic::body::Body>);

pub(super) type Answer = http::Response<hyper::body::Incoming>;

impl Conn {
    pub(super) async fn open(server: &http::Uri) -> anyhow::Result<Conn> {
        if server.scheme_str() != Some("http") {
            bail!("--server {server}: the generator speaks plain HTTP/2 (http://host:port)");
        }
        let addr = server.authority().context("--server needs host:port")?;
        let tcp = tokio::net::TcpStream::connect(addr.as_str())
            .await
            .with_context(|| addr.to_string())?;
        // Small request/answer exchanges must not wait for Nagle's algorithm.
        tcp.set_nodelay(true)?;
        let (send, conn) =
            hyper::client::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new())
                .handshake(hyper_util::rt::TokioIo::new(tcp))
                .await?;
        tokio::spawn(conn);
        Ok(Conn(send))
    }
}

impl tonic::codegen::Service<http::Request<tonic::body::Body>> for Conn {
    type Response = Answer;
    type Error = hyper::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Answer, hyper::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), hyper::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<tonic::body::Body>) -> Self::Future {
        Box::pin(self.0.send_request(req))
    }
}

/// Where the flows' calls go: the server, or the leader among a cluster's replicas.
pub(super) struct Route {
    pub(super) servers: Vec<http::Uri>,
    connections: usize,
    current: tokio::sync::RwLock<Current>,
    /// Calls sent again after a failover, and leader changes followed (a call answered by
    /// another replica than the last answer came from).
    pub(super) resent: std::sync::atomic::AtomicU64,
    pub(super) followed: std::sync::atomic::AtomicU64,
    answered_by: std::sync::atomic::AtomicUsize,
}

pub(super) struct Current {
    leader: usize,
    /// Counts the switches, so that of many calls failing at once one switches.
    generation: u64,
    channels: Vec<Conn>,
}

/// How long a flow keeps resending an operation while a cluster elects a leader.
pub(super) const FAILOVER_WAIT_MAX: Duration = Duration::from_secs(30);

impl Route {
    pub(super) async fn open(
        servers: Vec<http::Uri>,
        leader: usize,
        connections: usize,
    ) -> anyhow::Result<Route> {
        let mut channels = Vec::new();
        for _ in 0..connections.max(1) {
            channels.push(Conn::open(&servers[leader]).await?);
        }
        Ok(Route {
            servers,
            connections: connections.max(1),
            current: tokio::sync::RwLock::new(Current {
                leader,
                generation: 0,
                channels,
            }),
            resent: std::sync::atomic::AtomicU64::new(0),
            followed: std::sync::atomic::AtomicU64::new(0),
            answered_by: std::sync::atomic::AtomicUsize::new(leader),
        })
    }

    pub(super) async fn client(&self, n: u64) -> (CashServiceClient<Conn>, u64, usize) {
        let c = self.current.read().await;
        let conn = c.channels[(n % c.channels.len() as u64) as usize].clone();
        (
            CashServiceClient::with_origin(conn, self.servers[c.leader].clone()),
            c.generation,
            c.leader,
        )
    }

    pub(super) fn answered(&self, by: usize) {
        use std::sync::atomic::Ordering::Relaxed;
        if self.answered_by.swap(by, Relaxed) != by {
            self.followed.fetch_add(1, Relaxed);
        }
    }

    /// After a call on `generation` failed: connects to the leader the answer named, else
    /// to the next replica (once per generation, however many calls failed).
    pub(super) async fn fail_over(&self, generation: u64, named: Option<&str>) {
        let mut c = self.current.write().await;
        if c.generation != generation {
            return;
        }
        let next = named
            .and_then(|n| {
                self.servers
                    .iter()
                    .position(|u| u.authority().is_some_and(|a| a.as_str() == n))
            })
            .unwrap_or((c.leader + 1) % self.servers.len());
        if named.is_none() {
            // No leader known yet: an election is under way.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let mut channels = Vec::new();
        for _ in 0..self.connections {
            match Conn::open(&self.servers[next]).await {
                Ok(conn) => channels.push(conn),
                Err(_) => break,
            }
        }
        if channels.len() == self.connections {
            c.channels = channels;
        }
        c.leader = next;
        c.generation += 1;
    }
}
