//! The simulator's cluster mode: three replicas running openraft with the engine's own
//! replica storage (`loyalty_engine::replica`) on RocksDB in temporary directories, joined
//! by a simulated network that loses, delays and reorders messages and can cut a replica
//! off; replicas crash (their process, not their disk) and come back. Everything runs on
//! one thread under tokio's paused clock with seeded generators (the network's, tokio's
//! scheduler's, openraft's election timeouts), so a seed replays a run exactly.
//!
//! The simulation decides each batch on the leader's store, as the leader's engine does,
//! and proposes its writes through consensus ([`SimCluster::propose`]). A proposal that
//! fails leaves its batch in doubt; once a leader is settled the simulation looks at
//! whether the batch's writes are there ([`SimCluster::holds`]) and holds the auditor to
//! that: committed (its answers lost) or never happened (the tills resend).

use loyalty_engine::replica::{self, Ledger, Node, NodeId, Proposal, Raft};
use loyalty_engine::rocks::RocksStore;
use loyalty_engine::store::{Batch, Pairs, Space, Store, StoreError};
use openraft::error::{RPCError, RaftError, RemoteError, Unreachable};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Replicas in a simulated cluster.
pub const REPLICAS: u64 = 3;
/// How long a proposal may wait for a majority, in virtual time.
const PROPOSAL_WAIT: Duration = Duration::from_secs(3);

/// What the network and the replicas went through.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ClusterStats {
    pub messages: u64,
    pub messages_lost: u64,
    pub replica_crashes: u64,
    pub partitions: u64,
    pub leader_changes: u64,
    /// Proposals that failed: found committed afterwards, or found absent.
    pub in_doubt_committed: u64,
    pub in_doubt_absent: u64,
}

/// The simulated network: who is reachable, and the generator of losses and delays.
struct Net {
    state: Mutex<NetState>,
}

struct NetState {
    rng: StdRng,
    rafts: BTreeMap<NodeId, Raft>,
    /// Replicas cut off from every other.
    cut: BTreeSet<NodeId>,
    loss_per_mille: u32,
    stats: ClusterStats,
}

impl Net {
    fn state(&self) -> std::sync::MutexGuard<'_, NetState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether a message from `from` to `to` is delivered, after what delay, and to which
    /// replica's consensus.
    fn route(&self, from: NodeId, to: NodeId) -> (Option<Raft>, Duration) {
        let mut s = self.state();
        s.stats.messages += 1;
        let delay = Duration::from_micros(s.rng.random_range(100..5_000u64));
        let lost = s.rng.random_range(0..1000) < s.loss_per_mille;
        if lost || s.cut.contains(&from) || s.cut.contains(&to) {
            s.stats.messages_lost += 1;
            return (None, delay);
        }
        (s.rafts.get(&to).cloned(), delay)
    }

    /// Whether the answer to a delivered message gets back.
    fn answer_arrives(&self, from: NodeId, to: NodeId) -> bool {
        let mut s = self.state();
        let lost = s.rng.random_range(0..1000) < s.loss_per_mille;
        if lost || s.cut.contains(&from) || s.cut.contains(&to) {
            s.stats.messages_lost += 1;
            return false;
        }
        true
    }
}

fn unreachable<E: std::error::Error>(why: &str) -> RPCError<NodeId, Node, RaftError<NodeId, E>> {
    RPCError::Unreachable(Unreachable::new(&std::io::Error::other(why.to_owned())))
}

struct Peer {
    from: NodeId,
    to: NodeId,
    net: Arc<Net>,
}

impl Peer {
    async fn send<A, E, F, Fut>(
        &self,
        call: F,
    ) -> Result<A, RPCError<NodeId, Node, RaftError<NodeId, E>>>
    where
        E: std::error::Error,
        F: FnOnce(Raft) -> Fut,
        Fut: std::future::Future<Output = Result<A, RaftError<NodeId, E>>>,
    {
        let (target, delay) = self.net.route(self.from, self.to);
        tokio::time::sleep(delay).await;
        let Some(target) = target else {
            return Err(unreachable("lost"));
        };
        let answer = call(target).await;
        if !self.net.answer_arrives(self.from, self.to) {
            return Err(unreachable("answer lost"));
        }
        answer.map_err(|e| RPCError::RemoteError(RemoteError::new(self.to, e)))
    }
}

impl RaftNetwork<Ledger> for Peer {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<Ledger>,
        _option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, Node, RaftError<NodeId>>> {
        self.send(|r| async move { r.append_entries(rpc).await })
            .await
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<Ledger>,
        _option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<NodeId>,
        RPCError<NodeId, Node, RaftError<NodeId, openraft::error::InstallSnapshotError>>,
    > {
        self.send(|r| async move { r.install_snapshot(rpc).await })
            .await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        _option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RPCError<NodeId, Node, RaftError<NodeId>>> {
        self.send(|r| async move { r.vote(rpc).await }).await
    }
}

struct Network {
    from: NodeId,
    net: Arc<Net>,
}

impl RaftNetworkFactory<Ledger> for Network {
    type Network = Peer;

    async fn new_client(&mut self, target: NodeId, _node: &Node) -> Peer {
        Peer {
            from: self.from,
            to: target,
            net: self.net.clone(),
        }
    }
}

struct Replica {
    id: NodeId,
    rocks: Arc<RocksStore>,
    /// Batches until a crashed replica comes back; `None` while it runs.
    down_for: Option<u32>,
}

/// Three replicas on one thread, and the one the simulation talks to.
pub struct SimCluster {
    rt: tokio::runtime::Runtime,
    net: Arc<Net>,
    replicas: Vec<Replica>,
    dir: tempfile::TempDir,
    leader: AtomicUsize,
    /// Batches until a cut-off replica is joined again.
    healed_in: Option<u32>,
}

fn config() -> Arc<openraft::Config> {
    Arc::new(
        openraft::Config {
            heartbeat_interval: 50,
            election_timeout_min: 200,
            election_timeout_max: 400,
            // Small, so that a replica back from a long absence gets a snapshot.
            snapshot_policy: openraft::SnapshotPolicy::LogsSinceLast(40),
            max_in_snapshot_log_to_keep: 10,
            purge_batch_size: 1,
            ..Default::default()
        }
        .validate()
        .expect("simulation settings"),
    )
}

impl SimCluster {
    /// Three replicas, the first starting the cluster; `seed` drives the network, the
    /// scheduler and the elections.
    pub fn start(seed: u64, loss_per_mille: u32) -> SimCluster {
        replica::seed_elections(seed);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .rng_seed(tokio::runtime::RngSeed::from_bytes(&seed.to_le_bytes()))
            .build()
            .expect("the simulation's runtime");
        let dir = tempfile::tempdir().expect("a temporary directory");
        let net = Arc::new(Net {
            state: Mutex::new(NetState {
                rng: StdRng::seed_from_u64(seed ^ 0x5eed_c1a5),
                rafts: BTreeMap::new(),
                cut: BTreeSet::new(),
                loss_per_mille,
                stats: ClusterStats::default(),
            }),
        });
        let replicas = (1..=REPLICAS)
            .map(|id| Replica {
                id,
                rocks: Arc::new(
                    RocksStore::open(&dir.path().join(format!("replica-{id}")))
                        .expect("a replica's store"),
                ),
                down_for: None,
            })
            .collect();
        let mut c = SimCluster {
            rt,
            net,
            replicas,
            dir,
            leader: AtomicUsize::new(0),
            healed_in: None,
        };
        for i in 0..c.replicas.len() {
            c.boot(i);
        }
        let first = c.net.state().rafts.get(&1).cloned().expect("replica 1");
        let members: BTreeMap<NodeId, Node> = (1..=REPLICAS)
            .map(|id| (id, Node::new(format!("replica-{id}"))))
            .collect();
        c.rt.block_on(first.initialize(members))
            .expect("the cluster starts");
        c.settle();
        c
    }

    /// Starts replica `i`'s consensus on its store (a restart keeps what it had).
    fn boot(&mut self, i: usize) {
        let r = &self.replicas[i];
        let (log, machine) = replica::storage_with(
            r.rocks.clone(),
            self.dir.path().join(format!("scratch-{}", r.id)),
            false,
        );
        let network = Network {
            from: r.id,
            net: self.net.clone(),
        };
        let raft = self
            .rt
            .block_on(Raft::new(r.id, config(), network, log, machine))
            .expect("consensus starts");
        self.net.state().rafts.insert(r.id, raft);
    }

    fn crash(&mut self, i: usize, batches: u32) {
        let id = self.replicas[i].id;
        // Out of the network first (its lock released) so that messages in flight find it
        // gone while it stops.
        let raft = self.net.state().rafts.remove(&id);
        if let Some(raft) = raft {
            let _ = self.rt.block_on(raft.shutdown());
        }
        self.replicas[i].down_for = Some(batches);
        self.net.state().stats.replica_crashes += 1;
    }

    pub fn count_in_doubt(&self, committed: bool) {
        let mut s = self.net.state();
        if committed {
            s.stats.in_doubt_committed += 1;
        } else {
            s.stats.in_doubt_absent += 1;
        }
    }

    /// Whether every replica runs and none is cut off (a fault may strike now).
    pub fn whole(&self) -> bool {
        self.healed_in.is_none() && self.replicas.iter().all(|r| r.down_for.is_none())
    }

    pub fn stats(&self) -> ClusterStats {
        self.net.state().stats.clone()
    }

    /// The faults of one batch, drawn from the simulation's generator: a replica crashes
    /// (at most one down at a time), the leader is cut off (healed some batches later),
    /// crashed replicas come back.
    pub fn weather(&mut self, rng: &mut StdRng, crash_per_mille: u32, cut_per_mille: u32) {
        for i in 0..self.replicas.len() {
            if let Some(n) = self.replicas[i].down_for {
                if n == 0 {
                    self.replicas[i].down_for = None;
                    self.boot(i);
                } else {
                    self.replicas[i].down_for = Some(n - 1);
                }
            }
        }
        match self.healed_in {
            Some(0) => {
                self.net.state().cut.clear();
                self.healed_in = None;
            }
            Some(n) => self.healed_in = Some(n - 1),
            None => {}
        }
        let all_up = self.replicas.iter().all(|r| r.down_for.is_none());
        if all_up && self.healed_in.is_none() && rng.random_range(0..1000) < crash_per_mille {
            let i = rng.random_range(0..self.replicas.len());
            let down = rng.random_range(1..40);
            self.crash(i, down);
        } else if all_up && self.healed_in.is_none() && rng.random_range(0..1000) < cut_per_mille {
            let leader = self.replicas[self.leader.load(Ordering::Relaxed)].id;
            let mut s = self.net.state();
            s.cut.insert(leader);
            s.stats.partitions += 1;
            drop(s);
            self.healed_in = Some(rng.random_range(1..20));
        }
    }

    /// Runs the cluster until a replica leads that a majority follows and that has applied
    /// everything before its term.
    pub fn settle(&self) {
        let previous = self.leader.load(Ordering::Relaxed);
        let found = self.rt.block_on(async {
            for _ in 0..2_000 {
                let rafts: Vec<(NodeId, Raft)> = {
                    let s = self.net.state();
                    s.rafts
                        .iter()
                        .filter(|(id, _)| !s.cut.contains(id))
                        .map(|(id, r)| (*id, r.clone()))
                        .collect()
                };
                for (id, raft) in rafts {
                    let leads = raft.metrics().borrow().current_leader == Some(id);
                    if leads
                        && tokio::time::timeout(
                            Duration::from_millis(500),
                            raft.ensure_linearizable(),
                        )
                        .await
                        .is_ok_and(|r| r.is_ok())
                    {
                        return Some(id);
                    }
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            None
        });
        let id = found.expect("the majority elects a leader within 100 s of virtual time");
        let i = self
            .replicas
            .iter()
            .position(|r| r.id == id)
            .expect("a replica");
        // Everything in the leader's log committed and applied: an entry a failed proposal
        // left there is now either in the store or gone for good.
        let raft = self
            .net
            .state()
            .rafts
            .get(&id)
            .cloned()
            .expect("the leader runs");
        self.rt.block_on(async {
            for _ in 0..2_000 {
                let m = raft.metrics().borrow().clone();
                if m.last_applied.map(|l| l.index) == m.last_log_index {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            panic!("the leader did not apply its log within 40 s of virtual time");
        });
        if i != previous {
            self.net.state().stats.leader_changes += 1;
        }
        self.leader.store(i, Ordering::Relaxed);
    }

    fn leader_rocks(&self) -> &RocksStore {
        &self.replicas[self.leader.load(Ordering::Relaxed)].rocks
    }

    /// [`propose`](Self::propose), with the leader crashing (`Some(true)`) or being cut off
    /// (`Some(false)`) a moment after the proposal left — before, while or after the
    /// followers append it.
    pub fn propose_through(
        &mut self,
        batch: &Batch,
        fault: Option<bool>,
        rng: &mut StdRng,
    ) -> bool {
        let Some(crash) = fault else {
            return self.propose(batch);
        };
        let i = self.leader.load(Ordering::Relaxed);
        let id = self.replicas[i].id;
        let Some(raft) = self.net.state().rafts.get(&id).cloned() else {
            return false;
        };
        let proposal = to_proposal(batch);
        let written = self
            .rt
            .spawn(async move { raft.client_write(proposal).await });
        let after = Duration::from_micros(rng.random_range(0..6_000u64));
        self.rt.block_on(async { tokio::time::sleep(after).await });
        if crash {
            self.crash(i, rng.random_range(1..20));
        } else {
            let mut s = self.net.state();
            s.cut.insert(id);
            s.stats.partitions += 1;
            drop(s);
            self.healed_in = Some(rng.random_range(1..20));
        }
        self.rt
            .block_on(async { tokio::time::timeout(PROPOSAL_WAIT, written).await })
            .is_ok_and(|r| r.is_ok_and(|w| w.is_ok()))
    }

    /// Proposes a batch's writes to the leader: `true` once a majority has them and the
    /// leader applied them.
    pub fn propose(&self, batch: &Batch) -> bool {
        let id = self.replicas[self.leader.load(Ordering::Relaxed)].id;
        let Some(raft) = self.net.state().rafts.get(&id).cloned() else {
            return false;
        };
        let proposal = to_proposal(batch);
        self.rt
            .block_on(async {
                tokio::time::timeout(PROPOSAL_WAIT, raft.client_write(proposal)).await
            })
            .is_ok_and(|r| r.is_ok())
    }

    /// After a failed proposal and a settled leader: whether the batch's writes are in the
    /// leader's store (its log sequence, else one of its idempotency records).
    pub fn holds(&self, batch: &Batch) -> bool {
        let store = self.leader_rocks();
        let probe = batch
            .writes
            .iter()
            .find(|(s, k, _)| {
                *s == Space::State
                    && *k == loyalty_engine::keys::meta(loyalty_engine::keys::Meta::LogSeq)
            })
            .or_else(|| batch.writes.iter().find(|(s, _, _)| *s == Space::Ops));
        match probe {
            Some((space, key, value)) => store.get(*space, key).ok().flatten() == *value,
            None => false,
        }
    }

    /// Joins every replica again, waits until each has applied the leader's whole log, and
    /// returns each replica's digests.
    pub fn converge(&mut self) -> Vec<loyalty_engine::Digests> {
        self.net.state().cut.clear();
        self.healed_in = None;
        for i in 0..self.replicas.len() {
            if self.replicas[i].down_for.take().is_some() {
                self.boot(i);
            }
        }
        self.settle();
        let rafts: Vec<Raft> = self.net.state().rafts.values().cloned().collect();
        let leader = self.replicas[self.leader.load(Ordering::Relaxed)].id;
        self.rt.block_on(async {
            for _ in 0..10_000 {
                let last = rafts
                    .iter()
                    .find(|r| r.metrics().borrow().id == leader)
                    .and_then(|r| r.metrics().borrow().last_log_index);
                if rafts
                    .iter()
                    .all(|r| r.metrics().borrow().last_applied.map(|l| l.index) == last)
                {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            panic!("the replicas did not converge");
        });
        self.replicas
            .iter()
            .map(|r| loyalty_engine::digests(r.rocks.as_ref()).expect("a replica's digests"))
            .collect()
    }
}

fn to_proposal(batch: &Batch) -> Proposal {
    Proposal {
        writes: batch
            .writes
            .iter()
            .map(|(s, k, v)| (*s as u8, k.clone(), v.clone()))
            .collect(),
    }
}

/// The engine's view of the cluster: the leader's store to read, consensus to write (the
/// relay's cursor).
impl Store for SimCluster {
    fn get(&self, space: Space, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.leader_rocks().get(space, key)
    }

    fn scan(
        &self,
        space: Space,
        from: &[u8],
        to: Option<&[u8]>,
        limit: usize,
    ) -> Result<Pairs, StoreError> {
        self.leader_rocks().scan(space, from, to, limit)
    }

    fn commit(&self, batch: &Batch, _durable: bool) -> Result<(), StoreError> {
        if self.propose(batch) {
            Ok(())
        } else {
            Err(StoreError::NotLeader { leader: None })
        }
    }
}
