//! Wiring the server: open the store, start the engine (on a replica, consensus first),
//! serve gRPC (cash, admin, cluster, replication, health, reflection) until the shutdown
//! signal, then finish and sync the batch in hand. Its settings are in `config`.

mod config;

pub use config::{ServeError, ServerConfig};

use crate::cluster::{ClusterApi, Gate, ReplicationApi};
use crate::limits::{CONNECTION_STREAMS_MAX, REQUEST_BYTES_MAX, SHUTDOWN_GRACE_SECS};
use crate::pb;
use crate::service::{AdminApi, CashApi, Named, Signatures, StoreApi};
use loyalty_engine::rocks::RocksStore;
use loyalty_engine::{Engine, SystemClock};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Runs the server on `listener` until `shutdown` is cancelled. Returns after the engine
/// has synced everything it acknowledged.
pub async fn serve(
    config: ServerConfig,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<(), ServeError> {
    std::fs::create_dir_all(&config.data_dir)?;
    let operators = config.operators()?;
    let store_servers: Arc<[crate::service::StoreServer]> = config.store_servers()?.into();
    let schedule = config.backup_schedule()?;
    // TLS files are read and checked before anything else happens, naming the file at fault.
    let mut builder = tonic::transport::Server::builder();
    if let Some(tls) = config.tls()? {
        builder = builder
            .tls_config(tls)
            .map_err(|e| ServeError::Config(format!("tls_cert_file / tls_key_file: {e}")))?;
    }
    let key_file = config
        .signing_key_file
        .clone()
        .unwrap_or_else(|| config.data_dir.join("server.ed25519"));
    // Replicas share one key, made once and copied to each: a replica never makes its own.
    if config.node_id != 0 && !key_file.is_file() {
        return Err(ServeError::Config(format!(
            "signing_key_file {}: missing; make one key (64 hex digits, e.g. `loyalty-admin \
             cashbox-keygen FILE`) and give every replica a copy",
            key_file.display()
        )));
    }
    let server_key = Arc::new(crate::signing::ServerKey::load_or_create(&key_file)?);
    let started = std::time::Instant::now();
    let store = Arc::new(RocksStore::open(&config.data_dir.join("db"))?);
    let mut engine_config = config.engine_config()?;
    // PIN hashes are keyed by a secret derived from the server's key, never logged.
    engine_config.program.pin_key = server_key.derive("loyalty pin key");
    let backups = Arc::new(crate::backup::Backups::new(
        store.clone(),
        &config.data_dir,
        config.backup_dir.as_deref(),
    ));
    // A replica's engine commits through consensus; its own derived state is brought to
    // this build's layout first, the same on every replica.
    let cluster = match config.cluster(listener.local_addr()?, &server_key.public_hex())? {
        None => None,
        Some(cc) => {
            loyalty_engine::upgrade_state(&*store)?;
            let c = crate::cluster::start(&cc, store.clone(), config.data_dir.clone())
                .await
                .map_err(ServeError::Config)?;
            tracing::info!(node = cc.node_id, advertise = %cc.advertise, "replica");
            Some(c)
        }
    };
    let engine_store: Arc<dyn loyalty_engine::store::Store> = match &cluster {
        None => store,
        Some(c) => Arc::new(loyalty_engine::replica::ReplicatedStore::new(
            store,
            c.raft.clone(),
            tokio::runtime::Handle::current(),
        )),
    };
    let gate = cluster
        .as_ref()
        .map_or_else(Gate::single, |c| c.gate.clone());
    let engine = Engine::start(engine_store, engine_config, Arc::new(SystemClock))?;
    tracing::info!(addr = %listener.local_addr()?, data_dir = %config.data_dir.display(), open_ms = started.elapsed().as_millis() as u64, "listening");

    let sweeper = tokio::spawn(crate::sweep::run(
        engine.clone(),
        Duration::from_secs(config.expiry_sweep_secs.max(1)),
        gate.clone(),
        shutdown.clone(),
    ));

    let scheduled_backups = schedule.map(|(dir, every, keep)| {
        tracing::info!(dir = %dir.display(), every_secs = every.as_secs(), keep, "scheduled backups on");
        tokio::spawn(crate::backup::run(
            backups.clone(),
            dir,
            every,
            keep,
            shutdown.clone(),
        ))
    });

    let relay_stats = Arc::new(crate::relay::RelayStats::default());
    let relay = (!config.kafka_brokers.is_empty()).then(|| {
        let cfg = crate::relay::RelayConfig::new(&config.kafka_brokers, &config.kafka_topic);
        tracing::info!(brokers = %cfg.brokers, topic = %cfg.topic, "event relay on");
        tokio::spawn(crate::relay::run(
            engine.clone(),
            cfg,
            relay_stats.clone(),
            gate.clone(),
            shutdown.clone(),
        ))
    });

    let (health, health_service) = tonic_health::server::health_reporter();
    health
        .set_serving::<pb::cash_service_server::CashServiceServer<CashApi>>()
        .await;
    health
        .set_serving::<pb::admin_service_server::AdminServiceServer<AdminApi>>()
        .await;
    health
        .set_serving::<pb::store_service_server::StoreServiceServer<StoreApi>>()
        .await;
    // On a replica the cash and admin services are serving only while the gate is open, so
    // that a load balancer's health checks find the leader.
    let watcher = cluster
        .clone()
        .map(|c| tokio::spawn(c.watch(engine.clone(), health.clone(), shutdown.clone())));
    // Reflection in both versions stock clients speak, listing health too.
    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
    };
    let (reflection_v1, reflection_v1alpha) =
        (reflection().build_v1()?, reflection().build_v1alpha()?);
    let metrics = Arc::new(crate::metrics::Metrics::new(
        engine.clone(),
        relay_stats.clone(),
        backups.clone(),
    ));
    let metrics_task = match &config.metrics_listen {
        Some(addr) => {
            let l = TcpListener::bind(addr).await?;
            tracing::info!(addr = %l.local_addr()?, "metrics on /metrics");
            Some(tokio::spawn(crate::metrics::serve(
                l,
                metrics.clone(),
                shutdown.clone(),
            )))
        }
        None => None,
    };
    let cash_api = CashApi {
        engine: engine.clone(),
        metrics,
        limiter: Arc::new(crate::rate::RateLimiter::new(
            config.cashbox_requests_per_sec_max,
        )),
        signatures: Arc::new(Signatures {
            required: config.signatures_required,
            window_secs: config.signature_window_secs,
            sign_all_answers: config.sign_all_answers,
            key: server_key.clone(),
        }),
    };
    // The XML endpoint calls the same service the gRPC tills do.
    let loymax_task = match &config.loymax_listen {
        Some(addr) => {
            let l = TcpListener::bind(addr).await?;
            tracing::info!(addr = %l.local_addr()?, "Loymax XML endpoint on /XmlExchange/");
            Some(tokio::spawn(crate::loymax::serve(
                l,
                cash_api.clone(),
                gate.clone(),
                shutdown.clone(),
            )))
        }
        None => None,
    };
    // On a replica that is not serving, every cash and admin call is sent to the leader
    // before it reaches a handler.
    // Store servers' streams: many tills' operations on one channel.
    let store_api = tonic::service::interceptor::InterceptedService::new(
        pb::store_service_server::StoreServiceServer::new(StoreApi {
            cash: cash_api.clone(),
            servers: store_servers,
            gate: gate.clone(),
            shutdown: shutdown.clone(),
        })
        .max_decoding_message_size(REQUEST_BYTES_MAX),
        gate.clone(),
    );
    let cash = tonic::service::interceptor::InterceptedService::new(
        pb::cash_service_server::CashServiceServer::new(cash_api)
            .max_decoding_message_size(REQUEST_BYTES_MAX),
        gate.clone(),
    );
    let operators = Arc::new(operators);
    let admin = tonic::service::interceptor::InterceptedService::new(
        pb::admin_service_server::AdminServiceServer::new(AdminApi {
            engine: engine.clone(),
            operators: operators.clone(),
            relay: relay_stats,
            server_key,
            backups,
            backup_keep: config.backup_keep as usize,
        })
        .max_decoding_message_size(REQUEST_BYTES_MAX),
        gate.clone(),
    );
    let cluster_api = pb::cluster_service_server::ClusterServiceServer::new(ClusterApi {
        cluster: cluster.clone(),
        operators,
    });
    let raft = cluster.as_ref().map(|c| c.raft.clone());
    let replication = cluster.map(|c| {
        pb::replication_server::ReplicationServer::new(ReplicationApi(c))
            .max_decoding_message_size(crate::cluster::FRAME_BYTES_MAX)
            .max_encoding_message_size(crate::cluster::FRAME_BYTES_MAX)
    });

    // Small request/answer exchanges must not wait for Nagle's algorithm (40 ms stalls).
    let incoming = tokio_stream::StreamExt::map(
        tokio_stream::wrappers::TcpListenerStream::new(listener),
        |conn| {
            conn.and_then(|c| {
                c.set_nodelay(true)?;
                Ok(c)
            })
        },
    );
    let serving = builder
        .max_concurrent_streams(Some(CONNECTION_STREAMS_MAX))
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(Named(cash))
        .add_service(Named(store_api))
        .add_service(Named(admin))
        .add_service(Named(cluster_api))
        .add_optional_service(replication)
        .serve_with_incoming_shutdown(incoming, shutdown.clone().cancelled_owned());
    // Calls in flight finish after the shutdown signal, for a while: a client that reads
    // nothing (its answers held by flow control) must not keep the server from stopping.
    let result = tokio::select! {
        r = serving => r,
        () = async {
            shutdown.cancelled().await;
            tokio::time::sleep(Duration::from_secs(SHUTDOWN_GRACE_SECS)).await;
        } => {
            tracing::warn!(grace_secs = SHUTDOWN_GRACE_SECS, "connections still open after the grace period are dropped");
            Ok(())
        }
    };
    let _ = sweeper.await;
    if let Some(w) = watcher {
        let _ = w.await;
    }
    if let Some(m) = metrics_task {
        let _ = m.await;
    }
    if let Some(x) = loymax_task {
        let _ = x.await;
    }
    if let Some(r) = relay {
        let _ = r.await;
    }
    if let Some(b) = scheduled_backups {
        let _ = b.await;
    }
    // Finish and sync the batch in hand before exiting (on a replica, through consensus,
    // which stops after it).
    tokio::task::spawn_blocking(move || engine.shutdown()).await?;
    if let Some(raft) = raft {
        let _ = raft.shutdown().await;
    }
    tracing::info!("stopped");
    Ok(result?)
}
