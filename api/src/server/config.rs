//! The server's settings: defaults < a TOML file < environment < flags, each checked where
//! it is read (a bad one is a `ServeError::Config` that names it), and the errors serving
//! can end with.

use crate::cluster::ClusterConfig;
use crate::service::{parse_operators, parse_store_servers, secret_hash, Operator, StoreServer};
use crate::signing::write_private_file;
use loyalty_core::ids::OperatorName;
use loyalty_engine::EngineConfig;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::limits::{CHEQUE_LINES_MAX, GATHER_MICROS_MAX};

/// Server settings: defaults, overridden by a TOML file, then by flags/environment.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    pub data_dir: PathBuf,
    pub listen: SocketAddr,
    /// Admin token; when empty, one is generated into `<data_dir>/admin.token`.
    pub admin_token: String,
    pub hold_lifetime_secs: u64,
    /// How long after its hold lifetime a registered purchase may still be confirmed.
    pub late_confirm_secs: u64,
    /// Tills may refund goods without the original receipt.
    pub receiptless_refunds: bool,
    /// Wrong PINs in a row that lock redemption by PIN, and the first lock's length.
    pub pin_attempts_max: u32,
    pub pin_lock_secs: u64,
    pub order_lifetime_secs: u64,
    pub redeem_share_percent: String,
    pub lines_per_cheque_max: usize,
    /// Credited points are pending this long (0: spendable at once), then spendable for
    /// `points_lifetime_secs` (0: they never expire).
    pub points_pending_secs: u64,
    pub points_lifetime_secs: u64,
    /// The stores' local time ahead of UTC, in seconds: an offline cheque's points are
    /// dated by its local time.
    pub stores_utc_offset_secs: i64,
    pub batch_ops_max: usize,
    pub queue_depth_max: usize,
    pub cashbox_queue_depth_max: u32,
    /// How long the ledger writer polls for the next request before it sleeps, in µs.
    pub writer_poll_micros: u32,
    /// How long the ledger writer lets a small batch gather requests before deciding it,
    /// in µs from its first request; a batch of `gather_ops` requests is decided at once.
    pub gather_micros: u32,
    pub gather_ops: usize,
    pub expiry_sweep_secs: u64,
    /// Kafka bootstrap servers for the event stream; empty: no relay (the outbox keeps
    /// every event until one is configured).
    pub kafka_brokers: String,
    pub kafka_topic: String,
    /// Requests per second one cashbox may send (0: no limit).
    pub cashbox_requests_per_sec_max: u32,
    /// PEM certificate chain and private key for TLS on the gRPC listener; both unset:
    /// plain TCP (the default, for loopback use).
    pub tls_cert_file: Option<PathBuf>,
    pub tls_key_file: Option<PathBuf>,
    /// Address of the Prometheus endpoint (`GET /metrics`); none: off.
    pub metrics_listen: Option<SocketAddr>,
    /// Address of the Loymax-compatible XML endpoint (`POST /XmlExchange/…`); none: off.
    pub loymax_listen: Option<SocketAddr>,
    /// Further admin credentials: lines `<operator name> <SHA-256 hex of the token>`
    /// (`#` comments). The admin token above belongs to the operator `admin`.
    pub operators_file: Option<PathBuf>,
    /// Store servers allowed the store-server stream: lines `<name> <SHA-256 hex of its
    /// secret> <store id>[,<store id>…]` (`#` comments); unset: no store server may open one.
    pub store_servers_file: Option<PathBuf>,
    /// Every cashbox must sign its requests (cashboxes with a registered key always must).
    pub signatures_required: bool,
    /// How far a request's `x-signed-at` may be from server time, in seconds.
    pub signature_window_secs: u64,
    /// Sign the answers to every cashbox with the engine's key; otherwise only the answers
    /// to cashboxes that sign their requests are signed.
    pub sign_all_answers: bool,
    /// The engine's Ed25519 seed (64 hex digits); created on first start when missing.
    /// Default `<data_dir>/server.ed25519`.
    pub signing_key_file: Option<PathBuf>,
    /// A directory (on this machine, best on another disk) for scheduled backups; none: only
    /// backups an operator asks for.
    pub backup_dir: Option<PathBuf>,
    /// How often the scheduled backup runs, and how many backups are kept in a directory.
    pub backup_every_secs: u64,
    pub backup_keep: u32,
    /// Threads of the server's runtime (gRPC, the XML endpoint, the relay); 0: one per core.
    /// The ledger writer and committer are threads of their own besides.
    pub worker_threads: usize,
    /// This replica's id in a cluster (1 or more); 0: a single node, no cluster.
    pub node_id: u64,
    /// The cluster's first members, `1=host:port,2=host:port,3=host:port` (with
    /// `cluster_init`).
    pub peers: String,
    /// Start a new cluster of `peers` from this replica, if its log is empty.
    pub cluster_init: bool,
    /// This replica starts empty and waits to be brought in by the leader: one of the
    /// first members (not the one with `cluster_init`), or a replica added with
    /// `add-replica`. Without it (or `cluster_init`) a replica refuses to start on an empty
    /// data directory: one that lost its data must not vote as if it had none.
    pub cluster_join: bool,
    /// The address the other replicas and the tills reach this replica at; by default the
    /// listen address.
    pub advertise: Option<String>,
    /// Reach these replicas at other addresses than their advertised ones (a proxy in
    /// between), `2=host:port,3=host:port`.
    pub peer_dial: String,
    /// With TLS on: the CA certificate (PEM) that verifies the other replicas' certificates;
    /// replicas then talk over TLS too.
    pub cluster_ca_file: Option<PathBuf>,
    /// The secret every replica of the cluster shares (required with `node_id`).
    pub cluster_token: String,
    pub heartbeat_ms: u64,
    /// A follower that hears nothing from the leader for this long (to twice as long)
    /// starts an election.
    pub election_timeout_ms: u64,
    /// Log entries between snapshots.
    pub snapshot_every_entries: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        let e = EngineConfig::default();
        ServerConfig {
            data_dir: PathBuf::from("data"),
            listen: "127.0.0.1:50051".parse().expect("address"),
            admin_token: String::new(),
            hold_lifetime_secs: e.program.hold_lifetime_secs,
            late_confirm_secs: e.program.late_confirm_secs,
            receiptless_refunds: e.program.receiptless_refunds,
            pin_attempts_max: e.program.pin_attempts_max,
            pin_lock_secs: e.program.pin_lock_secs,
            order_lifetime_secs: e.program.order_lifetime_secs,
            redeem_share_percent: e.program.redeem_share.to_string(),
            lines_per_cheque_max: e.program.lines_per_cheque_max,
            points_pending_secs: e.program.lots.pending_secs,
            points_lifetime_secs: e.program.lots.lifetime_secs.unwrap_or(0),
            stores_utc_offset_secs: e.program.utc_offset_secs,
            batch_ops_max: e.batch_ops_max,
            queue_depth_max: e.queue_depth_max,
            cashbox_queue_depth_max: e.cashbox_queue_depth_max,
            writer_poll_micros: e.writer_poll_micros,
            gather_micros: e.gather_micros,
            gather_ops: e.gather_ops,
            expiry_sweep_secs: 5,
            kafka_brokers: String::new(),
            kafka_topic: "loyalty.events".into(),
            metrics_listen: Some("127.0.0.1:9464".parse().expect("address")),
            loymax_listen: None,
            cashbox_requests_per_sec_max: 200,
            tls_cert_file: None,
            tls_key_file: None,
            operators_file: None,
            store_servers_file: None,
            signatures_required: false,
            signature_window_secs: 300,
            sign_all_answers: false,
            signing_key_file: None,
            backup_dir: None,
            backup_every_secs: 24 * 3600,
            backup_keep: 7,
            worker_threads: 0,
            node_id: 0,
            peers: String::new(),
            cluster_init: false,
            cluster_join: false,
            advertise: None,
            cluster_token: String::new(),
            peer_dial: String::new(),
            cluster_ca_file: None,
            heartbeat_ms: 100,
            election_timeout_ms: 500,
            snapshot_every_entries: 10_000,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backup_schedule() {
        let c = |dir: Option<&str>, every, keep| ServerConfig {
            backup_dir: dir.map(PathBuf::from),
            backup_every_secs: every,
            backup_keep: keep,
            ..ServerConfig::default()
        };
        assert_eq!(c(None, 0, 7).backup_schedule().unwrap(), None);
        assert_eq!(
            c(Some("/b"), 60, 3).backup_schedule().unwrap(),
            Some((PathBuf::from("/b"), Duration::from_secs(60), 3))
        );
        for (dir, every, keep, says) in [
            (Some("/b"), 59, 7, "backup_every_secs"),
            (None, 86400, 0, "backup_keep"),
            (Some("/b"), 86400, 0, "backup_keep"),
        ] {
            let e = c(dir, every, keep).backup_schedule().unwrap_err();
            assert!(e.to_string().contains(says), "{e}");
        }
    }

    #[test]
    fn cluster_settings() {
        let addr: SocketAddr = "127.0.0.1:7000".parse().unwrap();
        let good = ServerConfig {
            node_id: 2,
            peers: "1=10.0.0.1:50051, 2=10.0.0.2:50051,3=10.0.0.3:50051".into(),
            cluster_token: "a-long-enough-secret".into(),
            signing_key_file: Some(PathBuf::from("/etc/loyalty/server.ed25519")),
            ..ServerConfig::default()
        };
        let c = good.cluster(addr, "ab").unwrap().unwrap();
        assert_eq!((c.node_id, c.advertise.as_str()), (2, "10.0.0.2:50051"));
        assert_eq!(c.peers.len(), 3);
        assert!(ServerConfig::default()
            .cluster(addr, "ab")
            .unwrap()
            .is_none());
        let refused = [
            (
                ServerConfig {
                    signing_key_file: None,
                    ..good.clone()
                },
                "signing_key_file",
            ),
            (
                ServerConfig {
                    cluster_token: "short".into(),
                    ..good.clone()
                },
                "cluster_token",
            ),
            (
                ServerConfig {
                    peers: "1=nowhere".into(),
                    ..good.clone()
                },
                "peers",
            ),
            (
                ServerConfig {
                    peers: "0=h:1".into(),
                    ..good.clone()
                },
                "peers",
            ),
            (
                ServerConfig {
                    peers: "1=h:1".into(),
                    cluster_init: true,
                    ..good.clone()
                },
                "cluster_init",
            ),
            (
                ServerConfig {
                    election_timeout_ms: 200,
                    ..good.clone()
                },
                "election_timeout_ms",
            ),
            (
                ServerConfig {
                    snapshot_every_entries: 10,
                    ..good.clone()
                },
                "snapshot_every_entries",
            ),
            (
                ServerConfig {
                    peer_dial: "x".into(),
                    ..good.clone()
                },
                "peer_dial",
            ),
            (
                ServerConfig {
                    node_id: 0,
                    ..good.clone()
                },
                "node_id",
            ),
            (
                ServerConfig {
                    tls_cert_file: Some("/c.pem".into()),
                    ..good.clone()
                },
                "cluster_ca_file",
            ),
            (
                ServerConfig {
                    cluster_ca_file: Some("/ca.pem".into()),
                    ..good.clone()
                },
                "cluster_ca_file",
            ),
        ];
        for (config, says) in refused {
            let e = config.cluster(addr, "ab").unwrap_err().to_string();
            assert!(e.contains(says), "{says}: {e}");
        }
    }

    #[test]
    fn operators_file() {
        let hash = "ab".repeat(32);
        let ops = parse_operators(&format!(
            "# back office\nalice {hash}\n\nerp.sync {hash} # nightly\n"
        ))
        .unwrap();
        let names: Vec<_> = ops.iter().map(|o| o.name.to_string()).collect();
        assert_eq!(names, ["alice", "erp.sync"]);
        assert_eq!(ops[0].token_sha256, [0xab; 32]);
        for bad in [
            "alice".to_string(),
            format!("alice {hash} extra"),
            format!("Alice {hash}"),
            "alice abc".to_string(),
            format!("admin {hash}"),
            format!("bob {hash}\nbob {hash}"),
        ] {
            assert!(parse_operators(&bad).is_err(), "{bad:?}");
        }
    }

    /// A missing or wrong TLS file is named, before anything listens.
    #[test]
    fn tls_files_are_named_when_they_cannot_be_used() {
        let dir = tempfile::tempdir().unwrap();
        let cert = dir.path().join("cert.pem");
        let key = dir.path().join("key.pem");
        let config = || ServerConfig {
            tls_cert_file: Some(cert.clone()),
            tls_key_file: Some(key.clone()),
            ..ServerConfig::default()
        };
        let message = |c: ServerConfig| match c.tls() {
            Err(ServeError::Config(m)) => m,
            other => panic!("{:?}", other.map(|t| t.is_some())),
        };
        let m = message(config());
        assert!(
            m.starts_with("tls_cert_file") && m.contains("cert.pem"),
            "{m}"
        );
        std::fs::write(&cert, "-----BEGIN CERTIFICATE-----\n").unwrap();
        let m = message(config());
        assert!(
            m.starts_with("tls_key_file") && m.contains("key.pem"),
            "{m}"
        );
        std::fs::write(&key, "not a key").unwrap();
        let m = message(config());
        assert!(m.contains("no PEM PRIVATE KEY block"), "{m}");
        let m = message(ServerConfig {
            tls_key_file: None,
            ..config()
        });
        assert!(m.contains("go together"), "{m}");
        assert!(ServerConfig::default().tls().unwrap().is_none());
    }

    #[test]
    fn gathering_is_bounded() {
        let config = |gather_micros| ServerConfig {
            gather_micros,
            ..ServerConfig::default()
        };
        assert_eq!(config(0).engine_config().unwrap().gather_micros, 0);
        let most = config(GATHER_MICROS_MAX).engine_config().unwrap();
        assert_eq!(most.gather_micros, GATHER_MICROS_MAX);
        let err = config(GATHER_MICROS_MAX + 1).engine_config().unwrap_err();
        assert!(matches!(err, ServeError::Config(ref m) if m.starts_with("gather_micros")));
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("configuration: {0}")]
    Config(String),
    #[error(transparent)]
    Engine(#[from] loyalty_engine::EngineError),
    #[error(transparent)]
    Store(#[from] loyalty_engine::store::StoreError),
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    #[error("transport: {0}")]
    Transport(#[from] tonic::transport::Error),
    #[error("reflection: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    #[error("the engine's shutdown did not finish: {0}")]
    Shutdown(#[from] tokio::task::JoinError),
}

impl ServerConfig {
    /// The TLS configuration, when both files are set: each file read and named if it
    /// cannot be, and each must hold PEM of its kind.
    pub fn tls(&self) -> Result<Option<tonic::transport::ServerTlsConfig>, ServeError> {
        let (cert, key) = match (&self.tls_cert_file, &self.tls_key_file) {
            (Some(cert), Some(key)) => (cert, key),
            (None, None) => return Ok(None),
            _ => {
                return Err(ServeError::Config(
                    "tls_cert_file and tls_key_file go together".into(),
                ))
            }
        };
        let read = |what: &str, path: &std::path::Path, marker: &str| {
            let pem = std::fs::read(path)
                .map_err(|e| ServeError::Config(format!("{what} {}: {e}", path.display())))?;
            if !String::from_utf8_lossy(&pem).contains(marker) {
                return Err(ServeError::Config(format!(
                    "{what} {}: no PEM {marker} block in it",
                    path.display()
                )));
            }
            Ok(pem)
        };
        let cert_pem = read("tls_cert_file", cert, "CERTIFICATE")?;
        let key_pem = read("tls_key_file", key, "PRIVATE KEY")?;
        tracing::info!(cert = %cert.display(), "TLS on");
        Ok(Some(tonic::transport::ServerTlsConfig::new().identity(
            tonic::transport::Identity::from_pem(cert_pem, key_pem),
        )))
    }

    /// The replica's settings; `None` for a single node.
    pub fn cluster(
        &self,
        listening: SocketAddr,
        server_key: &str,
    ) -> Result<Option<ClusterConfig>, ServeError> {
        let bad = |m: String| Err(ServeError::Config(m));
        if self.node_id == 0 {
            if self.cluster_init || !self.peers.is_empty() {
                return bad("peers, cluster_init: only with node_id (1 or more)".into());
            }
            return Ok(None);
        }
        if self.signing_key_file.is_none() {
            return bad(
                "signing_key_file: a replica signs answers and keys PIN hashes with the \
                 engine's key; give every replica the same file"
                    .into(),
            );
        }
        let ca = match (&self.tls_cert_file, &self.cluster_ca_file) {
            (Some(_), Some(ca)) => Some(std::fs::read(ca).map_err(|e| {
                ServeError::Config(format!("cluster_ca_file {}: {e}", ca.display()))
            })?),
            (Some(_), None) => {
                return bad(
                    "cluster_ca_file: with TLS on, the CA that verifies the other replicas".into(),
                )
            }
            (None, Some(_)) => return bad("cluster_ca_file: only with TLS on".into()),
            (None, None) => None,
        };
        if self.cluster_token.len() < 16 {
            return bad("cluster_token: at least 16 characters, the same on every replica".into());
        }
        let peers = parse_peers("peers", &self.peers)?;
        let dial = parse_peers("peer_dial", &self.peer_dial)?;
        if self.cluster_init && !peers.contains_key(&self.node_id) {
            return bad("peers: cluster_init needs this replica among them".into());
        }
        if self.heartbeat_ms == 0 || self.election_timeout_ms < 3 * self.heartbeat_ms {
            return bad("election_timeout_ms: at least three heartbeats (heartbeat_ms ≥ 1)".into());
        }
        if self.snapshot_every_entries < 100 {
            return bad("snapshot_every_entries: at least 100".into());
        }
        Ok(Some(ClusterConfig {
            node_id: self.node_id,
            advertise: self
                .advertise
                .clone()
                .or_else(|| peers.get(&self.node_id).cloned())
                .unwrap_or_else(|| listening.to_string()),
            peers,
            dial,
            init: self.cluster_init,
            join: self.cluster_join,
            token: self.cluster_token.clone(),
            server_key: server_key.to_owned(),
            ca_pem: ca,
            heartbeat_ms: self.heartbeat_ms,
            election_timeout_ms: self.election_timeout_ms,
            snapshot_every: self.snapshot_every_entries,
        }))
    }

    /// The scheduled backups: directory, interval, how many to keep.
    pub fn backup_schedule(&self) -> Result<Option<(PathBuf, Duration, usize)>, ServeError> {
        if self.backup_keep == 0 {
            return Err(ServeError::Config("backup_keep: at least 1".into()));
        }
        let Some(dir) = &self.backup_dir else {
            return Ok(None);
        };
        if self.backup_every_secs < 60 {
            return Err(ServeError::Config(
                "backup_every_secs: at least 60 (a backup copies what changed since the last)"
                    .into(),
            ));
        }
        Ok(Some((
            dir.clone(),
            Duration::from_secs(self.backup_every_secs),
            self.backup_keep as usize,
        )))
    }

    pub fn engine_config(&self) -> Result<EngineConfig, ServeError> {
        let mut e = EngineConfig::default();
        e.program.hold_lifetime_secs = self.hold_lifetime_secs;
        e.program.late_confirm_secs = self.late_confirm_secs;
        e.program.receiptless_refunds = self.receiptless_refunds;
        if self.pin_attempts_max == 0 {
            return Err(ServeError::Config(
                "pin_attempts_max: at least 1 (wrong PINs before the lock)".into(),
            ));
        }
        e.program.pin_attempts_max = self.pin_attempts_max;
        e.program.pin_lock_secs = self.pin_lock_secs;
        e.program.order_lifetime_secs = self.order_lifetime_secs;
        e.program.redeem_share =
            loyalty_core::amount::Percent::parse(&self.redeem_share_percent)
                .map_err(|err| ServeError::Config(format!("redeem_share_percent: {err}")))?;
        if self.lines_per_cheque_max == 0 || self.lines_per_cheque_max > CHEQUE_LINES_MAX {
            return Err(ServeError::Config(format!(
                "lines_per_cheque_max: {}; 1 to {CHEQUE_LINES_MAX}",
                self.lines_per_cheque_max
            )));
        }
        e.program.lines_per_cheque_max = self.lines_per_cheque_max;
        const CENTURY: u64 = 100 * 366 * 24 * 3600;
        if self.points_pending_secs > CENTURY || self.points_lifetime_secs > CENTURY {
            return Err(ServeError::Config(
                "points_pending_secs, points_lifetime_secs: at most a hundred years".into(),
            ));
        }
        e.program.lots = loyalty_core::model::LotTerms {
            pending_secs: self.points_pending_secs,
            lifetime_secs: (self.points_lifetime_secs > 0).then_some(self.points_lifetime_secs),
        };
        if self.stores_utc_offset_secs.abs() > 14 * 3600 {
            return Err(ServeError::Config(format!(
                "stores_utc_offset_secs: {}; within ±14 hours",
                self.stores_utc_offset_secs
            )));
        }
        e.program.utc_offset_secs = self.stores_utc_offset_secs;
        e.batch_ops_max = self.batch_ops_max;
        e.queue_depth_max = self.queue_depth_max;
        e.cashbox_queue_depth_max = self.cashbox_queue_depth_max;
        e.writer_poll_micros = self.writer_poll_micros;
        if self.gather_micros > GATHER_MICROS_MAX {
            return Err(ServeError::Config(format!(
                "gather_micros: {} µs; at most {GATHER_MICROS_MAX} (a batch must not hold a till for longer)",
                self.gather_micros
            )));
        }
        e.gather_micros = self.gather_micros;
        e.gather_ops = self.gather_ops;
        Ok(e)
    }

    /// The admin token from the configuration, or the one kept in the data directory
    /// (created on first start).
    pub fn resolve_admin_token(&self) -> Result<String, ServeError> {
        if !self.admin_token.is_empty() {
            return Ok(self.admin_token.clone());
        }
        let path = self.data_dir.join("admin.token");
        match std::fs::read_to_string(&path) {
            Ok(t) if !t.trim().is_empty() => Ok(t.trim().to_owned()),
            _ => {
                let t = uuid::Uuid::new_v4().simple().to_string();
                write_private_file(&path, &t)?;
                tracing::info!(path = %path.display(), "generated the admin token");
                Ok(t)
            }
        }
    }

    /// Admin credentials: the admin token as operator `admin`, plus the operators file.
    pub fn operators(&self) -> Result<Vec<Operator>, ServeError> {
        let admin = OperatorName::new("admin").expect("valid name");
        let mut all = vec![Operator {
            name: admin,
            token_sha256: secret_hash(&self.resolve_admin_token()?),
        }];
        if let Some(path) = &self.operators_file {
            let text = std::fs::read_to_string(path)?;
            let more = parse_operators(&text)
                .map_err(|e| ServeError::Config(format!("{}: {e}", path.display())))?;
            all.extend(more);
        }
        Ok(all)
    }
}

impl ServerConfig {
    /// The store servers' credentials, from the store-servers file.
    pub fn store_servers(&self) -> Result<Vec<StoreServer>, ServeError> {
        let Some(path) = &self.store_servers_file else {
            return Ok(Vec::new());
        };
        let text = std::fs::read_to_string(path)?;
        parse_store_servers(&text)
            .map_err(|e| ServeError::Config(format!("{}: {e}", path.display())))
    }
}

/// `ID=HOST:PORT,...` by id.
fn parse_peers(
    field: &str,
    text: &str,
) -> Result<std::collections::BTreeMap<u64, String>, ServeError> {
    let mut peers = std::collections::BTreeMap::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let parsed = part.split_once('=').and_then(|(id, addr)| {
            Some((
                id.trim().parse::<u64>().ok().filter(|i| *i > 0)?,
                addr.trim(),
            ))
        });
        match parsed {
            Some((id, addr)) if addr.contains(':') => {
                peers.insert(id, addr.to_owned());
            }
            _ => {
                return Err(ServeError::Config(format!(
                    "{field}: {part:?} is not ID=HOST:PORT"
                )))
            }
        }
    }
    Ok(peers)
}
