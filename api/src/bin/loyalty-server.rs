//! The loyalty server. With no arguments it serves on 127.0.0.1:50051 with its data in
//! `./data`. Settings: defaults < `--config FILE` (TOML) < environment < flags.

use clap::Parser;

/// The engine allocates many small records per operation; mimalloc is markedly faster at
/// that than the system allocator (see the commit bench in the README).
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

use loyalty_api::server::{serve, ServerConfig};
use std::path::PathBuf;
use tokio_util::sync::CancellationToken;

#[derive(Parser)]
#[command(version, about = "Loyalty transaction engine server")]
struct Args {
    /// TOML file with server settings (see README).
    #[arg(long, env = "LOYALTY_CONFIG")]
    config: Option<PathBuf>,
    /// Data directory (RocksDB and the admin token).
    #[arg(long, env = "LOYALTY_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, env = "LOYALTY_LISTEN")]
    listen: Option<std::net::SocketAddr>,
    /// Admin token; by default one is generated into DATA_DIR/admin.token.
    #[arg(long, env = "LOYALTY_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
    /// Kafka bootstrap servers for the event stream (empty: relay off).
    #[arg(long, env = "LOYALTY_KAFKA_BROKERS")]
    kafka_brokers: Option<String>,
    #[arg(long, env = "LOYALTY_KAFKA_TOPIC")]
    kafka_topic: Option<String>,
    /// Address of the Prometheus endpoint; `off` disables it.
    #[arg(long, env = "LOYALTY_METRICS_LISTEN")]
    metrics_listen: Option<String>,
    /// Address of the Loymax-compatible XML endpoint (off unless given).
    #[arg(long, env = "LOYALTY_LOYMAX_LISTEN")]
    loymax_listen: Option<String>,
    /// Requests per second one cashbox may send (0: no limit).
    #[arg(long, env = "LOYALTY_CASHBOX_RPS_MAX")]
    cashbox_rps_max: Option<u32>,
    /// PEM certificate chain for TLS (with --tls-key).
    #[arg(long, env = "LOYALTY_TLS_CERT")]
    tls_cert: Option<PathBuf>,
    /// PEM private key for TLS (with --tls-cert).
    #[arg(long, env = "LOYALTY_TLS_KEY")]
    tls_key: Option<PathBuf>,
    /// This replica's id in a cluster (1 or more); without it, a single node.
    #[arg(long, env = "LOYALTY_NODE_ID")]
    node_id: Option<u64>,
    /// The cluster's first members, `1=host:port,2=host:port,3=host:port`.
    #[arg(long, env = "LOYALTY_PEERS")]
    peers: Option<String>,
    /// Start a new cluster of --peers from this replica (once, on an empty log).
    #[arg(long, env = "LOYALTY_CLUSTER_INIT")]
    cluster_init: bool,
    /// Start this replica empty and wait to be brought in (the other first members, and
    /// replicas added later or rebuilt after losing their data).
    #[arg(long, env = "LOYALTY_JOIN", conflicts_with = "cluster_init")]
    join: bool,
    /// The address other replicas and tills reach this one at (default: its entry in
    /// --peers, else --listen).
    #[arg(long, env = "LOYALTY_ADVERTISE")]
    advertise: Option<String>,
    /// The secret the replicas of a cluster share.
    #[arg(long, env = "LOYALTY_CLUSTER_TOKEN", hide_env_values = true)]
    cluster_token: Option<String>,
    /// The engine's signing key seed (64 hex digits; created when missing): the same file
    /// on every replica of a cluster.
    #[arg(long, env = "LOYALTY_SIGNING_KEY_FILE")]
    signing_key_file: Option<PathBuf>,
    /// Store servers allowed the store-server stream: lines `<name> <sha256 hex of its
    /// secret> <store id>[,<store id>…]`.
    #[arg(long, env = "LOYALTY_STORE_SERVERS_FILE")]
    store_servers_file: Option<PathBuf>,
    /// Threads of the server's runtime; 0: one per core.
    #[arg(long, env = "LOYALTY_WORKER_THREADS")]
    worker_threads: Option<usize>,
    /// Log as JSON lines.
    #[arg(long, env = "LOYALTY_LOG_JSON")]
    log_json: bool,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_env("LOYALTY_LOG")
        .unwrap_or_else(|_| "info".into());
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    if args.log_json {
        tracing_subscriber::fmt()
            .json()
            .with_env_filter(filter)
            .init();
    } else {
        tracing_subscriber::fmt()
            .with_ansi(ansi)
            .with_env_filter(filter)
            .init();
    }
    // A ledger that hits a broken invariant must stop, not limp on.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        default_hook(info);
        std::process::abort();
    }));
    let mut config = match &args.config {
        Some(path) => toml::from_str(&std::fs::read_to_string(path)?)?,
        None => ServerConfig::default(),
    };
    if let Some(d) = args.data_dir {
        config.data_dir = d;
    }
    if let Some(l) = args.listen {
        config.listen = l;
    }
    if let Some(t) = args.admin_token {
        config.admin_token = t;
    }
    if args.tls_cert.is_some() {
        config.tls_cert_file = args.tls_cert;
    }
    if args.tls_key.is_some() {
        config.tls_key_file = args.tls_key;
    }
    if let Some(r) = args.cashbox_rps_max {
        config.cashbox_requests_per_sec_max = r;
    }
    if let Some(x) = args.loymax_listen {
        config.loymax_listen = Some(x.parse()?);
    }
    if let Some(m) = args.metrics_listen {
        config.metrics_listen = if m == "off" { None } else { Some(m.parse()?) };
    }
    if let Some(b) = args.kafka_brokers {
        config.kafka_brokers = b;
    }
    if let Some(t) = args.kafka_topic {
        config.kafka_topic = t;
    }
    if let Some(n) = args.node_id {
        config.node_id = n;
    }
    if let Some(p) = args.peers {
        config.peers = p;
    }
    if args.store_servers_file.is_some() {
        config.store_servers_file = args.store_servers_file;
    }
    if args.signing_key_file.is_some() {
        config.signing_key_file = args.signing_key_file;
    }
    config.cluster_init |= args.cluster_init;
    config.cluster_join |= args.join;
    if args.advertise.is_some() {
        config.advertise = args.advertise;
    }
    if let Some(t) = args.cluster_token {
        config.cluster_token = t;
    }
    if let Some(w) = args.worker_threads {
        config.worker_threads = w;
    }
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.enable_all();
    if config.worker_threads > 0 {
        builder.worker_threads(config.worker_threads);
    }
    // A task woken by the running one normally runs next (the LIFO slot). Here that is the
    // HTTP/2 connection task, woken by every answer a request task queues, so each answer
    // went out in its own write. Without the slot the connection task runs after the
    // request tasks already queued and writes their answers together: 1.0 instead of 1.5
    // writev calls per operation, 11 % less server CPU per operation at 256 in flight.
    // (The setting needs `--cfg tokio_unstable`, set in .cargo/config.toml; a build without
    // it keeps the slot and works the same, only slower.)
    #[cfg(tokio_unstable)]
    builder.disable_lifo_slot();
    let runtime = builder.build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(config.listen).await?;
        let shutdown = CancellationToken::new();
        let trigger = shutdown.clone();
        tokio::spawn(async move {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                    .expect("signal handler");
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            tracing::info!("shutting down");
            trigger.cancel();
        });
        serve(config, listener, shutdown).await?;
        Ok(())
    })
}
