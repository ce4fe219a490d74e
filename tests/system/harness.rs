//! Starting servers (in-process or as a child process) and talking to them.

use loyalty_api::server::{serve, ServerConfig};
use loyalty_proto::metadata::{ADMIN_TOKEN_HEADER, CASHBOX_ID_HEADER, CASHBOX_SECRET_HEADER};
use loyalty_proto::pb;
use loyalty_proto::pb::admin_service_client::AdminServiceClient;
use loyalty_proto::pb::cash_service_client::CashServiceClient;
use std::net::SocketAddr;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;

pub const ADMIN_TOKEN: &str = "test-admin-token";

pub fn op() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Server settings for tests: no metrics endpoint unless a test asks for one, so that
/// servers running side by side never share a port; no per-cashbox rate limit unless a
/// test is about it (these tests drive a few cashboxes hard).
pub fn test_config() -> ServerConfig {
    ServerConfig {
        metrics_listen: None,
        cashbox_requests_per_sec_max: 0,
        // Points spendable at once: the purchase life cycle reads simplest so; the lots'
        // own tests set their terms.
        points_pending_secs: 0,
        ..ServerConfig::default()
    }
}

type ServeTask = tokio::task::JoinHandle<Result<(), loyalty_api::server::ServeError>>;

/// A server running in this process on 127.0.0.1 with a fresh data directory. With
/// `LOYALTY_TEST_CLUSTER=1` it is the leader of a cluster of three replicas in this process
/// (the other two in `followers`), so that every system test can run against a cluster; a
/// test that restarts on a data directory it kept gets a single node there.
pub struct TestServer {
    pub addr: SocketAddr,
    shutdown: CancellationToken,
    task: ServeTask,
    pub dir: tempfile::TempDir,
    followers: Vec<(CancellationToken, ServeTask, tempfile::TempDir)>,
}

/// Whether test servers are three-replica clusters.
pub fn cluster_mode() -> bool {
    std::env::var("LOYALTY_TEST_CLUSTER").is_ok_and(|v| v == "1")
}

impl TestServer {
    pub async fn start_in(dir: tempfile::TempDir, config: ServerConfig) -> TestServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let config = ServerConfig {
            data_dir: dir.path().to_path_buf(),
            listen: addr,
            admin_token: ADMIN_TOKEN.into(),
            ..config
        };
        if cluster_mode() && !dir.path().join("db").exists() {
            return Self::start_cluster(dir, listener, config).await;
        }
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(serve(config, listener, shutdown.clone()));
        TestServer {
            addr,
            shutdown,
            task,
            dir,
            followers: Vec::new(),
        }
    }

    /// Replica 1 on `listener` (it starts the cluster, so it leads), replicas 2 and 3 beside
    /// it with the same settings but no listeners of their own besides gRPC.
    async fn start_cluster(
        dir: tempfile::TempDir,
        listener: tokio::net::TcpListener,
        config: ServerConfig,
    ) -> TestServer {
        let others: Vec<tokio::net::TcpListener> = vec![
            tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
            tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
        ];
        let addr = listener.local_addr().unwrap();
        // By name, so that TLS certificates for `localhost` verify between replicas.
        let host = |a: SocketAddr| format!("localhost:{}", a.port());
        let mut peers = format!("1={}", host(addr));
        for (i, l) in others.iter().enumerate() {
            peers.push_str(&format!(",{}={}", i + 2, host(l.local_addr().unwrap())));
        }
        let key = config.signing_key_file.clone().unwrap_or_else(|| {
            let k = dir.path().join("server.ed25519");
            std::fs::write(&k, hex::encode(rand::random::<[u8; 32]>())).unwrap();
            k
        });
        let replica = |id: u64, config: ServerConfig| ServerConfig {
            node_id: id,
            peers: peers.clone(),
            cluster_init: id == 1,
            cluster_join: id != 1,
            cluster_token: "test-cluster-token-0123".into(),
            signing_key_file: Some(key.clone()),
            // A test's self-signed certificate is its own CA.
            cluster_ca_file: config.tls_cert_file.clone(),
            // Long enough that a busy machine never deposes the leader mid-test.
            election_timeout_ms: 3000,
            ..config
        };
        let tls_ca = config
            .tls_cert_file
            .as_ref()
            .map(|c| std::fs::read(c).unwrap());
        let mut followers = Vec::new();
        for (i, l) in others.into_iter().enumerate() {
            let d = tempfile::tempdir().unwrap();
            let c = replica(
                i as u64 + 2,
                ServerConfig {
                    data_dir: d.path().to_path_buf(),
                    listen: l.local_addr().unwrap(),
                    metrics_listen: None,
                    loymax_listen: None,
                    backup_dir: None,
                    ..config.clone()
                },
            );
            let stop = CancellationToken::new();
            followers.push((stop.clone(), tokio::spawn(serve(c, l, stop)), d));
        }
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(serve(replica(1, config), listener, shutdown.clone()));
        let server = TestServer {
            addr,
            shutdown,
            task,
            dir,
            followers,
        };
        // Serving once it answers an admin call (over TLS when it speaks TLS).
        let endpoint = match &tls_ca {
            Some(pem) => tonic::transport::Endpoint::from_shared(format!(
                "https://localhost:{}",
                addr.port()
            ))
            .unwrap()
            .tls_config(
                tonic::transport::ClientTlsConfig::new()
                    .ca_certificate(tonic::transport::Certificate::from_pem(pem)),
            )
            .unwrap(),
            None => tonic::transport::Endpoint::from_shared(server.url()).unwrap(),
        };
        for _ in 0..600 {
            if let Ok(ch) = endpoint.connect().await {
                let mut admin = AdminServiceClient::new(ch);
                if admin.status(admin_req(pb::StatusRequest {})).await.is_ok() {
                    return server;
                }
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        panic!("the cluster's first replica did not start leading");
    }

    /// Stops the server (the leader first, then its followers) and returns its data
    /// directory.
    pub async fn stop(self) -> tempfile::TempDir {
        self.shutdown.cancel();
        self.task.await.unwrap().unwrap();
        for (stop, task, _dir) in self.followers {
            stop.cancel();
            task.await.unwrap().unwrap();
        }
        self.dir
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

pub async fn channel(url: &str) -> Channel {
    for _ in 0..100 {
        if let Ok(c) = Channel::from_shared(url.to_owned())
            .unwrap()
            .connect()
            .await
        {
            return c;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("server at {url} did not come up");
}

pub fn admin_req<T>(body: T) -> tonic::Request<T> {
    let mut r = tonic::Request::new(body);
    r.metadata_mut()
        .insert(ADMIN_TOKEN_HEADER, ADMIN_TOKEN.parse().unwrap());
    r
}

/// A cashbox's client: adds its credentials to every request.
#[derive(Clone)]
pub struct Till {
    pub client: CashServiceClient<Channel>,
    pub id: u32,
    pub secret: String,
}

impl Till {
    pub fn req<T>(&self, body: T) -> tonic::Request<T> {
        let mut r = tonic::Request::new(body);
        r.metadata_mut()
            .insert(CASHBOX_ID_HEADER, self.id.to_string().parse().unwrap());
        r.metadata_mut()
            .insert(CASHBOX_SECRET_HEADER, self.secret.parse().unwrap());
        r
    }
}

pub fn line(product: &str, qty: &str, price: &str) -> pb::Line {
    pb::Line {
        product: product.into(),
        quantity: qty.into(),
        price: price.into(),
        ..Default::default()
    }
}

pub fn cheque(id: &str, card: &str, lines: Vec<pb::Line>) -> pb::Cheque {
    pb::Cheque {
        cheque_id: id.into(),
        card: card.into(),
        local_time: "2026-11-23T12:00:00".into(),
        cashier: String::new(),
        identifiers: Vec::new(),
        pin: String::new(),
        tenders: Vec::new(),
        lines,
        coupons: Vec::new(),
        order: String::new(),
    }
}

pub fn ok(r: &pb::AdminReply) {
    assert_eq!(r.outcome, pb::Outcome::Ok as i32, "{}", r.message);
}

/// A program: products, a 10% dairy discount, 5% accrual on everything, and cashboxes.
pub async fn setup_program(admin: &mut AdminServiceClient<Channel>) {
    let products = vec![
        pb::Product {
            code: "milk".into(),
            name: "Milk".into(),
            group: "dairy".into(),
            barcodes: vec!["4600000000011".into()],
            min_price: "0".into(),
            promotional: false,
        },
        pb::Product {
            code: "bread".into(),
            name: "Bread".into(),
            group: String::new(),
            barcodes: vec![],
            min_price: "0".into(),
            promotional: false,
        },
    ];
    ok(&admin
        .import_products(admin_req(pb::ImportProductsRequest {
            operation_id: op(),
            products,
        }))
        .await
        .unwrap()
        .into_inner());
    let offer = |id, effect: pb::OfferEffect, percent: &str, group: &str| pb::Offer {
        id,
        name: format!("offer {id}"),
        effect: effect.into(),
        percent: percent.into(),
        group: group.into(),
        valid_from: "2020-01-01T00:00:00".into(),
        valid_to: "2030-01-01T00:00:00".into(),
        enabled: true,
        ..Default::default()
    };
    ok(&admin
        .upsert_offer(admin_req(pb::UpsertOfferRequest {
            operation_id: op(),
            offer: Some(offer(1, pb::OfferEffect::Discount, "10", "dairy")),
        }))
        .await
        .unwrap()
        .into_inner());
    ok(&admin
        .upsert_offer(admin_req(pb::UpsertOfferRequest {
            operation_id: op(),
            offer: Some(offer(2, pb::OfferEffect::Accrual, "5", "")),
        }))
        .await
        .unwrap()
        .into_inner());
}

pub async fn register_till(
    admin: &mut AdminServiceClient<Channel>,
    channel: Channel,
    id: u32,
    kind: pb::CashboxKind,
) -> Till {
    register_till_in(admin, channel, id, 1, kind).await
}

pub async fn register_till_in(
    admin: &mut AdminServiceClient<Channel>,
    channel: Channel,
    id: u32,
    store: u32,
    kind: pb::CashboxKind,
) -> Till {
    let r = admin
        .register_cashbox(admin_req(pb::RegisterCashboxRequest {
            operation_id: op(),
            cashbox_id: id,
            store_id: store,
            kind: kind.into(),
            public_key: String::new(),
            loymax_login: String::new(),
        }))
        .await
        .unwrap()
        .into_inner();
    ok(&r);
    Till {
        client: CashServiceClient::new(channel),
        id,
        secret: r.cashbox_secret,
    }
}

pub async fn issue_card(
    admin: &mut AdminServiceClient<Channel>,
    card: &str,
    status: pb::CardStatus,
) {
    let r = admin
        .issue_card(admin_req(pb::IssueCardRequest {
            operation_id: op(),
            card: card.into(),
            card_type: "Gold".into(),
            status: status.into(),
            account: 0,
            holder_name: "Anna".into(),
            holder_phone: "+79990001122".into(),
        }))
        .await
        .unwrap()
        .into_inner();
    ok(&r);
}

/// The card of the standard test world.
pub const CARD: &str = "2770000000017";

/// A server with the standard program, one activated card and one POS till.
pub async fn world_with(config: ServerConfig) -> (TestServer, AdminServiceClient<Channel>, Till) {
    let server = TestServer::start_in(tempfile::tempdir().unwrap(), config).await;
    let ch = channel(&server.url()).await;
    let mut admin = AdminServiceClient::new(ch.clone());
    setup_program(&mut admin).await;
    issue_card(&mut admin, CARD, pb::CardStatus::Activated).await;
    let till = register_till(&mut admin, ch, 1, pb::CashboxKind::Pos).await;
    (server, admin, till)
}

/// Register and confirm a cheque, returning the confirmation.
pub async fn buy(till: &mut Till, card: &str, id: &str, lines: Vec<pb::Line>) -> pb::ChequeReply {
    buy_cheque(till, cheque(id, card, lines)).await
}

/// Register and confirm a cheque, returning the confirmation.
pub async fn buy_cheque(till: &mut Till, cheque: pb::Cheque) -> pb::ChequeReply {
    let id = cheque.cheque_id.clone();
    let reg = till
        .client
        .register_purchase(till.req(pb::RegisterPurchaseRequest {
            operation_id: op(),
            slip_width: 0,
            cheque: Some(cheque),
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reg.outcome, pb::Outcome::Ok as i32, "{}", reg.message);
    let conf = till
        .client
        .confirm(till.req(pb::PurchaseRequest {
            operation_id: op(),
            slip_width: 0,
            cheque_id: id,
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(conf.outcome, pb::Outcome::Ok as i32, "{}", conf.message);
    conf
}

/// The balance answer for `card` (by its number alone, now).
pub async fn balance_of(till: &mut Till, card: impl Into<String>) -> pb::ChequeReply {
    till.client
        .balance(till.req(pb::BalanceRequest {
            card: card.into(),
            identifiers: Vec::new(),
            as_of: String::new(),
        }))
        .await
        .unwrap()
        .into_inner()
}

/// A refund numbered `number` of `qty` of line 0 of this till's cheque `purchase`.
pub fn refund(number: &str, purchase: &str, qty: &str) -> pb::RefundRequest {
    pb::RefundRequest {
        operation_id: op(),
        refund_cheque_id: number.into(),
        purchase_cheque_id: purchase.into(),
        lines: vec![pb::RefundLine {
            line_index: 0,
            quantity: qty.into(),
        }],
        ..Default::default()
    }
}

/// POSTs `body` to the endpoint as `user:password`; the status and the body of the answer.
pub async fn post_xml(
    addr: std::net::SocketAddr,
    path: &str,
    auth: (&str, &str),
    body: &[u8],
) -> (u16, String) {
    use base64::Engine as _;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let credentials =
        base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", auth.0, auth.1));
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Basic {credentials}\r\nContent-Type: application/xml; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(body).await.unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    let text = String::from_utf8(out).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, body.to_owned())
}

/// A loopback address with a port free now (for a second listener of a test server).
pub fn free_addr() -> std::net::SocketAddr {
    // Below Linux's ephemeral range (32768 and up), from which every `bind(…:0)` and every
    // outgoing connection takes its port: an address handed out here and bound a moment
    // later by a server process cannot have been taken by one of those meanwhile. Tests of
    // this process never get the same port twice.
    static NEXT: std::sync::atomic::AtomicU16 = std::sync::atomic::AtomicU16::new(0);
    let base = 20_000 + (std::process::id() % 600) as u16 * 20;
    loop {
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let port = 20_000 + (base - 20_000 + n) % 12_000;
        let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        if std::net::TcpListener::bind(addr).is_ok() {
            return addr;
        }
    }
}

/// [`world_with`] the XML endpoint on, and its address.
pub async fn world_with_xml() -> (
    TestServer,
    AdminServiceClient<Channel>,
    Till,
    std::net::SocketAddr,
) {
    let xml = free_addr();
    let (server, admin, till) = world_with(ServerConfig {
        loymax_listen: Some(xml),
        ..test_config()
    })
    .await;
    (server, admin, till, xml)
}

/// Registers a cashbox that speaks XML under `login`; its secret.
pub async fn register_xml_till(
    admin: &mut AdminServiceClient<Channel>,
    id: u32,
    login: &str,
) -> String {
    let r = admin
        .register_cashbox(admin_req(pb::RegisterCashboxRequest {
            operation_id: op(),
            cashbox_id: id,
            store_id: 1,
            kind: pb::CashboxKind::Pos.into(),
            public_key: String::new(),
            loymax_login: login.into(),
        }))
        .await
        .unwrap()
        .into_inner();
    ok(&r);
    r.cashbox_secret
}

/// A card sold at the till (Issued, on a new account).
pub async fn sell_card(till: &mut Till, card: &str) {
    let issued = till
        .client
        .issue_card(till.req(pb::IssueCardAtTillRequest {
            operation_id: op(),
            card: card.into(),
            card_type: "Silver".into(),
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(issued.outcome, pb::Outcome::Ok as i32, "{}", issued.message);
}
