//! The server's part of a replicated ledger (`loyalty_engine::replica` holds the storage):
//! openraft's messages between replicas over gRPC (`Replication`, with the cluster token),
//! the gate that lets only the serving leader take cash and admin calls (everyone else
//! answers UNAVAILABLE with the leader's address), the watch that opens the gate once a new
//! leader has applied everything before its term and its engine has forgotten what it kept,
//! and the operators' `ClusterService`.

use crate::pb;
use crate::service::{authorize_operator, same, secret_hash, Operator};
use loyalty_engine::replica::{self, Ledger, Node, NodeId, Raft};
use loyalty_engine::rocks::RocksStore;
use loyalty_engine::Engine;
use loyalty_proto::metadata::{CLUSTER_KEY_HEADER, CLUSTER_TOKEN_HEADER, LEADER_HEADER};
use openraft::error::{NetworkError, RPCError, RaftError, RemoteError, Unreachable};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::{ChangeMembers, ServerState};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};

/// Entries and snapshot chunks between replicas are larger than a till's request.
pub const FRAME_BYTES_MAX: usize = 256 << 20;

/// A replica's settings.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    pub node_id: NodeId,
    /// The address the other replicas and the tills reach this one at.
    pub advertise: String,
    /// The first members, by id (used by `init`).
    pub peers: BTreeMap<NodeId, String>,
    /// Addresses to dial replicas at instead of their advertised ones.
    pub dial: BTreeMap<NodeId, String>,
    /// Start a new cluster of `peers` if this replica's log is empty.
    pub init: bool,
    /// Start empty and wait to be brought in.
    pub join: bool,
    pub token: String,
    /// The engine's public signing key (hex): the same on every replica.
    pub server_key: String,
    /// With TLS: the CA (PEM) that verifies the other replicas; they are dialled over TLS.
    pub ca_pem: Option<Vec<u8>>,
    pub heartbeat_ms: u64,
    pub election_timeout_ms: u64,
    /// Entries between snapshots.
    pub snapshot_every: u64,
}

/// Who may take cash and admin calls: on a single node everyone, always; on a replica only
/// the leader, once it has caught up with its term.
#[derive(Clone)]
pub struct Gate(Option<Arc<GateState>>);

struct GateState {
    serving: AtomicBool,
    leader: Mutex<Option<String>>,
}

impl Gate {
    pub fn single() -> Gate {
        Gate(None)
    }

    fn replica() -> Gate {
        Gate(Some(Arc::new(GateState {
            serving: AtomicBool::new(false),
            leader: Mutex::new(None),
        })))
    }

    pub fn is_open(&self) -> bool {
        self.0
            .as_ref()
            .is_none_or(|g| g.serving.load(Ordering::Acquire))
    }

    /// The leader's address when this replica is not serving.
    pub fn leader(&self) -> Option<String> {
        self.0
            .as_ref()
            .and_then(|g| g.leader.lock().unwrap_or_else(|p| p.into_inner()).clone())
    }

    fn set(&self, serving: bool, leader: Option<String>) {
        if let Some(g) = &self.0 {
            *g.leader.lock().unwrap_or_else(|p| p.into_inner()) = leader;
            g.serving.store(serving, Ordering::Release);
        }
    }

    /// `Ok` if this replica takes calls; otherwise the status that sends the caller to the
    /// leader.
    pub fn check(&self) -> Result<(), Status> {
        if self.is_open() {
            return Ok(());
        }
        Err(not_leader(self.leader()))
    }
}

/// UNAVAILABLE with the leader's address, when known.
pub fn not_leader(leader: Option<String>) -> Status {
    let mut s = Status::unavailable(match &leader {
        Some(l) => format!("this replica is not the leader; the leader is at {l}"),
        None => "this replica is not the leader; no leader is known yet".to_owned(),
    });
    if let Some(v) = leader.and_then(|l| l.parse().ok()) {
        s.metadata_mut().insert(LEADER_HEADER, v);
    }
    s
}

impl tonic::service::Interceptor for Gate {
    fn call(&mut self, req: Request<()>) -> Result<Request<()>, Status> {
        self.check()?;
        Ok(req)
    }
}

/// A running replica: its consensus handle and gate.
#[derive(Clone)]
pub struct Cluster {
    pub raft: Raft,
    pub id: NodeId,
    pub gate: Gate,
    token_sha256: [u8; 32],
    server_key: String,
}

/// Starts consensus on `rocks` (`scratch`: a directory on its file system for snapshot
/// checkpoints).
pub async fn start(
    cfg: &ClusterConfig,
    rocks: Arc<RocksStore>,
    scratch: PathBuf,
) -> Result<Cluster, String> {
    let config = openraft::Config {
        cluster_name: "loyalty".into(),
        heartbeat_interval: cfg.heartbeat_ms,
        election_timeout_min: cfg.election_timeout_ms,
        election_timeout_max: cfg.election_timeout_ms * 2,
        snapshot_policy: openraft::SnapshotPolicy::LogsSinceLast(cfg.snapshot_every),
        max_in_snapshot_log_to_keep: cfg.snapshot_every / 2,
        // A batch is up to a few MB: few entries per message.
        max_payload_entries: 16,
        ..Default::default()
    }
    .validate()
    .map_err(|e| format!("cluster settings: {e}"))?;
    let blank = replica::is_blank(&rocks).map_err(|e| e.to_string())?;
    if blank && !cfg.init && !cfg.join {
        return Err(format!(
            "replica {}: the data directory holds no consensus state. A new replica starts with \
             --join (or --cluster-init for the first); one that lost its data is first removed \
             (loyalty-admin remove-replica --id {0}), then started with --join and added again \
             (loyalty-admin add-replica)",
            cfg.node_id
        ));
    }
    let (log, machine) = replica::storage(rocks, scratch);
    let network = Network {
        token: cfg.token.clone(),
        server_key: cfg.server_key.clone(),
        ca_pem: cfg.ca_pem.clone(),
        dial: cfg.dial.clone(),
    };
    let raft = Raft::new(cfg.node_id, Arc::new(config), network, log, machine)
        .await
        .map_err(|e| format!("consensus did not start: {e}"))?;
    if cfg.init {
        let initialized = raft.is_initialized().await.map_err(|e| e.to_string())?;
        if !initialized {
            let members: BTreeMap<NodeId, Node> = cfg
                .peers
                .iter()
                .map(|(id, addr)| (*id, Node::new(addr.clone())))
                .collect();
            tracing::info!(members = ?cfg.peers, "starting a new cluster");
            raft.initialize(members)
                .await
                .map_err(|e| format!("cluster not initialized: {e}"))?;
        }
    }
    Ok(Cluster {
        raft,
        id: cfg.node_id,
        gate: Gate::replica(),
        token_sha256: secret_hash(&cfg.token),
        server_key: cfg.server_key.clone(),
    })
}

impl Cluster {
    /// The address of replica `id`, from the membership this replica knows.
    fn address(&self, id: NodeId) -> Option<String> {
        let m = self.raft.metrics().borrow().membership_config.clone();
        m.membership().get_node(&id).map(|n| n.addr.clone())
    }

    /// Opens the gate when this replica leads and has caught up; closes it otherwise. Runs
    /// until `shutdown`.
    pub async fn watch(
        self,
        engine: Engine,
        health: tonic_health::server::HealthReporter,
        shutdown: CancellationToken,
    ) {
        let mut metrics = self.raft.metrics();
        let mut serving_term = None;
        let mut healthy = None;
        loop {
            let (leader, term, state) = {
                let m = metrics.borrow_and_update();
                (m.current_leader, m.current_term, m.state)
            };
            if leader == Some(self.id) && state == ServerState::Leader {
                if serving_term != Some(term) {
                    self.gate.set(false, None);
                    if healthy != Some(false) {
                        healthy = Some(false);
                        set_health(&health, false).await;
                    }
                    // Everything committed before this term applied here, then nothing
                    // the engine kept from earlier is trusted.
                    let caught_up = self.raft.ensure_linearizable().await.is_ok();
                    if caught_up {
                        match engine.resync().await {
                            Ok(seq) => {
                                let still = {
                                    let m = self.raft.metrics().borrow().clone();
                                    m.current_term == term && m.current_leader == Some(self.id)
                                };
                                if still {
                                    tracing::info!(term, seq, "leading: taking calls");
                                    serving_term = Some(term);
                                    self.gate.set(true, None);
                                }
                            }
                            Err(e) => tracing::error!(error = %e, "engine not resynced"),
                        }
                    }
                    if serving_term != Some(term) {
                        // Try again shortly (or on the next change).
                        tokio::select! {
                            _ = shutdown.cancelled() => return,
                            _ = tokio::time::sleep(Duration::from_millis(50)) => continue,
                        }
                    }
                }
            } else {
                if serving_term.take().is_some() {
                    tracing::info!(term, ?leader, "no longer leading");
                }
                self.gate.set(false, leader.and_then(|l| self.address(l)));
            }
            let open = self.gate.is_open();
            if healthy != Some(open) {
                healthy = Some(open);
                set_health(&health, open).await;
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                changed = metrics.changed() => if changed.is_err() { return },
            }
        }
    }

    fn check_token<T>(&self, req: &Request<T>) -> Result<(), Status> {
        let given = req
            .metadata()
            .get(CLUSTER_TOKEN_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !same(&secret_hash(given), &self.token_sha256) {
            return Err(Status::unauthenticated("wrong cluster token"));
        }
        let key = req
            .metadata()
            .get(CLUSTER_KEY_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if key != self.server_key {
            tracing::error!(theirs = key, ours = %self.server_key, "a replica with another signing key");
            return Err(Status::failed_precondition(
                "the replicas have different signing keys: give every replica the same \
                 signing_key_file",
            ));
        }
        Ok(())
    }

    fn status(&self) -> pb::ClusterStatusReply {
        let m = self.raft.metrics().borrow().clone();
        let membership = m.membership_config.membership();
        let voters: BTreeSet<NodeId> = membership.voter_ids().collect();
        let last = m.last_log_index.unwrap_or(0);
        let replicas = membership
            .nodes()
            .map(|(id, node)| {
                let matched = m
                    .replication
                    .as_ref()
                    .and_then(|r| r.get(id))
                    .and_then(|l| l.as_ref())
                    .map(|l| l.index);
                pb::ReplicaStatus {
                    id: *id,
                    address: node.addr.clone(),
                    voter: voters.contains(id),
                    matched_index: matched.unwrap_or(0),
                    lag: matched.map_or(0, |i| last.saturating_sub(i)),
                }
            })
            .collect();
        pb::ClusterStatusReply {
            node_id: self.id,
            role: format!("{:?}", m.state),
            leader_id: m.current_leader.unwrap_or(0),
            leader_address: m
                .current_leader
                .and_then(|l| membership.get_node(&l).map(|n| n.addr.clone()))
                .unwrap_or_default(),
            term: m.current_term,
            last_log_index: last,
            applied_index: m.last_applied.map_or(0, |l| l.index),
            replicas,
            snapshot_index: m.snapshot.map_or(0, |l| l.index),
            purged_index: m.purged.map_or(0, |l| l.index),
        }
    }
}

/// The health of the services the gate guards (cash, store servers, admin): serving or not.
async fn set_health(health: &tonic_health::server::HealthReporter, serving: bool) {
    use tonic::server::NamedService;
    let status = if serving {
        tonic_health::ServingStatus::Serving
    } else {
        tonic_health::ServingStatus::NotServing
    };
    for service in [
        <pb::cash_service_server::CashServiceServer<crate::service::CashApi>>::NAME,
        <pb::store_service_server::StoreServiceServer<crate::service::StoreApi>>::NAME,
        <pb::admin_service_server::AdminServiceServer<crate::service::AdminApi>>::NAME,
    ] {
        health.set_service_status(service, status).await;
    }
}

/// A membership change refused: not the leader (with its address), or why.
fn membership_status(
    e: RaftError<NodeId, openraft::error::ClientWriteError<NodeId, Node>>,
) -> Status {
    match e {
        RaftError::APIError(openraft::error::ClientWriteError::ForwardToLeader(f)) => {
            not_leader(f.leader_node.map(|n| n.addr))
        }
        RaftError::APIError(e) => Status::failed_precondition(e.to_string()),
        RaftError::Fatal(e) => Status::unavailable(e.to_string()),
    }
}

/// The operators' cluster calls.
#[derive(Clone)]
pub struct ClusterApi {
    /// `None` on a single node: every call says so.
    pub cluster: Option<Cluster>,
    pub operators: Arc<Vec<Operator>>,
}

impl ClusterApi {
    fn cluster<T>(&self, req: &Request<T>) -> Result<&Cluster, Status> {
        authorize_operator(&self.operators, req.metadata())?;
        self.cluster.as_ref().ok_or_else(|| {
            Status::failed_precondition("a single node: start replicas with --node-id and --peers")
        })
    }
}

#[tonic::async_trait]
impl pb::cluster_service_server::ClusterService for ClusterApi {
    async fn cluster_status(
        &self,
        req: Request<pb::ClusterStatusRequest>,
    ) -> Result<Response<pb::ClusterStatusReply>, Status> {
        Ok(Response::new(self.cluster(&req)?.status()))
    }

    async fn add_replica(
        &self,
        req: Request<pb::AddReplicaRequest>,
    ) -> Result<Response<pb::ClusterStatusReply>, Status> {
        let c = self.cluster(&req)?.clone();
        let r = req.into_inner();
        if r.id == 0 {
            return Err(Status::invalid_argument("id: 1 or more"));
        }
        if r.address.is_empty() || r.address.len() > 256 || !r.address.contains(':') {
            return Err(Status::invalid_argument("address: host:port"));
        }
        tracing::info!(id = r.id, address = %r.address, "adding a replica");
        c.raft
            .add_learner(r.id, Node::new(r.address), true)
            .await
            .map_err(membership_status)?;
        c.raft
            .change_membership(ChangeMembers::AddVoterIds(BTreeSet::from([r.id])), false)
            .await
            .map_err(membership_status)?;
        Ok(Response::new(c.status()))
    }

    async fn remove_replica(
        &self,
        req: Request<pb::RemoveReplicaRequest>,
    ) -> Result<Response<pb::ClusterStatusReply>, Status> {
        let c = self.cluster(&req)?.clone();
        let id = req.into_inner().id;
        let m = c.raft.metrics().borrow().membership_config.clone();
        if m.membership().get_node(&id).is_none() {
            return Err(Status::not_found(format!("no replica {id}")));
        }
        tracing::info!(id, "removing a replica");
        c.raft
            .change_membership(ChangeMembers::RemoveVoters(BTreeSet::from([id])), false)
            .await
            .map_err(membership_status)?;
        Ok(Response::new(c.status()))
    }
}

/// The receiving side of `Replication`.
#[derive(Clone)]
pub struct ReplicationApi(pub Cluster);

fn decode<T: serde::de::DeserializeOwned>(frame: pb::RaftFrame) -> Result<T, Status> {
    postcard::from_bytes(&frame.body)
        .map_err(|e| Status::invalid_argument(format!("undecodable frame: {e}")))
}

fn frame<T: serde::Serialize>(value: &T) -> Result<Response<pb::RaftFrame>, Status> {
    postcard::to_stdvec(value)
        .map(|body| Response::new(pb::RaftFrame { body }))
        .map_err(|e| Status::internal(e.to_string()))
}

#[tonic::async_trait]
impl pb::replication_server::Replication for ReplicationApi {
    async fn append(&self, req: Request<pb::RaftFrame>) -> Result<Response<pb::RaftFrame>, Status> {
        self.0.check_token(&req)?;
        let rpc: AppendEntriesRequest<Ledger> = decode(req.into_inner())?;
        frame(&self.0.raft.append_entries(rpc).await)
    }

    async fn vote(&self, req: Request<pb::RaftFrame>) -> Result<Response<pb::RaftFrame>, Status> {
        self.0.check_token(&req)?;
        let rpc: VoteRequest<NodeId> = decode(req.into_inner())?;
        frame(&self.0.raft.vote(rpc).await)
    }

    async fn snapshot(
        &self,
        req: Request<pb::RaftFrame>,
    ) -> Result<Response<pb::RaftFrame>, Status> {
        self.0.check_token(&req)?;
        let rpc: InstallSnapshotRequest<Ledger> = decode(req.into_inner())?;
        frame(&self.0.raft.install_snapshot(rpc).await)
    }
}

/// The sending side: a client per peer.
struct Network {
    token: String,
    server_key: String,
    ca_pem: Option<Vec<u8>>,
    dial: BTreeMap<NodeId, String>,
}

impl RaftNetworkFactory<Ledger> for Network {
    type Network = Peer;

    async fn new_client(&mut self, target: NodeId, node: &Node) -> Peer {
        let addr = self.dial.get(&target).unwrap_or(&node.addr);
        let scheme = if self.ca_pem.is_some() {
            "https"
        } else {
            "http"
        };
        let channel = tonic::transport::Endpoint::from_shared(format!("{scheme}://{addr}"))
            .and_then(|e| match &self.ca_pem {
                Some(pem) => e.tls_config(
                    tonic::transport::ClientTlsConfig::new()
                        .ca_certificate(tonic::transport::Certificate::from_pem(pem)),
                ),
                None => Ok(e),
            })
            .map(|e| e.tcp_nodelay(true).connect_lazy());
        Peer {
            target,
            client: channel.ok().map(|c| {
                pb::replication_client::ReplicationClient::new(c)
                    .max_decoding_message_size(FRAME_BYTES_MAX)
                    .max_encoding_message_size(FRAME_BYTES_MAX)
            }),
            token: self.token.clone(),
            server_key: self.server_key.clone(),
        }
    }
}

struct Peer {
    target: NodeId,
    client: Option<pb::replication_client::ReplicationClient<tonic::transport::Channel>>,
    token: String,
    server_key: String,
}

#[derive(Clone, Copy)]
enum Call {
    Append,
    Vote,
    Snapshot,
}

impl Peer {
    async fn call<Q, A, E>(
        &mut self,
        call: Call,
        rpc: &Q,
        option: RPCOption,
    ) -> Result<A, RPCError<NodeId, Node, RaftError<NodeId, E>>>
    where
        Q: serde::Serialize,
        A: serde::de::DeserializeOwned,
        E: std::error::Error + serde::de::DeserializeOwned,
    {
        let network = |e: &dyn std::fmt::Display| {
            RPCError::Network(NetworkError::new(&std::io::Error::other(e.to_string())))
        };
        let Some(client) = self.client.as_mut() else {
            return Err(RPCError::Unreachable(Unreachable::new(
                &std::io::Error::other("the replica's address is not a URL"),
            )));
        };
        let body = postcard::to_stdvec(rpc).map_err(|e| network(&e))?;
        let mut req = Request::new(pb::RaftFrame { body });
        req.set_timeout(option.hard_ttl());
        if let Ok(v) = self.token.parse() {
            req.metadata_mut().insert(CLUSTER_TOKEN_HEADER, v);
        }
        if let Ok(v) = self.server_key.parse() {
            req.metadata_mut().insert(CLUSTER_KEY_HEADER, v);
        }
        let answered = match call {
            Call::Append => client.append(req).await,
            Call::Vote => client.vote(req).await,
            Call::Snapshot => client.snapshot(req).await,
        };
        let frame = answered
            .map_err(|s| match s.code() {
                tonic::Code::Unavailable | tonic::Code::DeadlineExceeded => RPCError::Unreachable(
                    Unreachable::new(&std::io::Error::other(s.message().to_owned())),
                ),
                _ => network(&s),
            })?
            .into_inner();
        let result: Result<A, RaftError<NodeId, E>> =
            postcard::from_bytes(&frame.body).map_err(|e| network(&e))?;
        result.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
    }
}

impl RaftNetwork<Ledger> for Peer {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<Ledger>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, Node, RaftError<NodeId>>> {
        self.call(Call::Append, &rpc, option).await
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<Ledger>,
        option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<NodeId>,
        RPCError<NodeId, Node, RaftError<NodeId, openraft::error::InstallSnapshotError>>,
    > {
        self.call(Call::Snapshot, &rpc, option).await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RPCError<NodeId, Node, RaftError<NodeId>>> {
        self.call(Call::Vote, &rpc, option).await
    }
}
