//! The outbox relay: publishes committed events to Kafka in commit order, then deletes
//! their outbox rows. At least once: a row is deleted only after the broker acknowledged
//! its message (idempotent producer, `acks=all`); a crash in between resends it, and
//! consumers dedupe by event id. The engine never waits for the relay; while the broker is
//! away the outbox grows and drains when it returns.

use crate::events::envelope;
use crate::pb;
use loyalty_core::event::EventRecord;
use loyalty_engine::keys;
use loyalty_engine::store::{Batch, Space, Store, StoreError};
use loyalty_engine::stored::{decode, StoredState};
use loyalty_engine::Engine;
use prost::Message;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::ClientConfig;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// Kafka bootstrap servers, e.g. `127.0.0.1:9092`.
    pub brokers: String,
    pub topic: String,
    pub partitions: i32,
    /// Events published per round trip.
    pub batch_events_max: usize,
    /// How long a message may wait for the broker before the round is retried.
    pub message_timeout_ms: u64,
}

impl RelayConfig {
    pub fn new(brokers: &str, topic: &str) -> RelayConfig {
        RelayConfig {
            brokers: brokers.to_owned(),
            topic: topic.to_owned(),
            partitions: 3,
            batch_events_max: 2000,
            message_timeout_ms: 10_000,
        }
    }
}

/// What the relay has done, for the status call and logs.
#[derive(Debug, Default)]
pub struct RelayStats {
    pub published: AtomicU64,
    pub failed_rounds: AtomicU64,
    /// Sequence of the last event acknowledged by the broker.
    pub last_published_seq: AtomicU64,
    pub last_error_at_ms: AtomicI64,
}

#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    #[error(transparent)]
    Engine(#[from] loyalty_engine::EngineError),
}

/// Events waiting in the outbox and the age of the oldest, in milliseconds.
pub fn outbox_lag(engine: &Engine) -> Result<(u64, i64), StoreError> {
    let store = engine.store();
    let first = store.scan(Space::Outbox, &[], None, 1)?;
    let Some((k, _)) = first.first() else {
        return Ok((0, 0));
    };
    let first_seq = keys::decode_log(k).map_err(|e| StoreError::Corrupt {
        space: "outbox",
        detail: e.to_string(),
    })?;
    let last_seq = loyalty_engine::stored_seq(&*store)?;
    let age = match store.get(Space::Log, &keys::log(first_seq))? {
        Some(v) => {
            let rec: EventRecord = decode("log", &v)?;
            (engine.now().0 - rec.at.0).max(0)
        }
        None => 0,
    };
    Ok((last_seq.saturating_sub(first_seq) + 1, age))
}

pub fn producer(cfg: &RelayConfig) -> Result<FutureProducer, rdkafka::error::KafkaError> {
    ClientConfig::new()
        .set("bootstrap.servers", &cfg.brokers)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "5")
        .set("message.timeout.ms", cfg.message_timeout_ms.to_string())
        .create()
}

/// Creates the topic if it does not exist yet.
pub async fn ensure_topic(cfg: &RelayConfig) -> Result<(), rdkafka::error::KafkaError> {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", &cfg.brokers)
        .create()?;
    let topic = NewTopic::new(&cfg.topic, cfg.partitions, TopicReplication::Fixed(1));
    let results = admin
        .create_topics(
            [&topic],
            &AdminOptions::new().operation_timeout(Some(Duration::from_secs(10))),
        )
        .await?;
    for r in results {
        match r {
            Ok(_) | Err((_, rdkafka::types::RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((t, code)) => tracing::warn!(topic = %t, ?code, "topic not created"),
        }
    }
    Ok(())
}

/// One round: publish up to `batch_events_max` outbox events; returns how many were
/// acknowledged (their rows are then deleted).
/// One message of a relay round: its outbox row, Kafka key and envelope.
pub type Outgoing = (Vec<u8>, String, pb::EventEnvelope);

/// The oldest outbox rows (at most `limit`) as messages, in commit order.
pub fn outgoing(store: &dyn Store, limit: usize) -> Result<Vec<Outgoing>, StoreError> {
    let rows = store.scan(Space::Outbox, &[], None, limit)?;
    let view = StoredState::new(store);
    let mut messages = Vec::with_capacity(rows.len());
    for (k, _) in rows {
        let raw = store
            .get(Space::Log, &k)?
            .ok_or_else(|| StoreError::Corrupt {
                space: "outbox",
                detail: format!("outbox row {k:?} without log record"),
            })?;
        let rec: EventRecord = decode("log", &raw)?;
        let (key, env) = envelope(&rec, &view);
        messages.push((k, key, env));
    }
    if let Some(e) = view.take_failure() {
        return Err(e);
    }
    Ok(messages)
}

/// The deletions after a round: the acknowledged prefix of `messages` (`acked[i]` says
/// whether message i was acknowledged). Stopping at the first failure leaves it and
/// everything after it for the next round, so per-key order is kept (at the price of
/// possible duplicates).
pub fn acknowledged_prefix(messages: &[Outgoing], acked: &[bool]) -> Batch {
    let mut batch = Batch::default();
    for ((k, _, _), ok) in messages.iter().zip(acked) {
        if !ok {
            break;
        }
        batch.delete(Space::Outbox, k.clone());
    }
    batch
}

async fn round(
    engine: &Engine,
    producer: &FutureProducer,
    cfg: &RelayConfig,
    stats: &RelayStats,
) -> Result<usize, RelayError> {
    let store = engine.store();
    let messages = outgoing(&*store, cfg.batch_events_max)?;
    if messages.is_empty() {
        return Ok(0);
    }
    // Enqueue the whole round first (send_result does not wait), then collect the
    // acknowledgements in order.
    let mut pending = Vec::with_capacity(messages.len());
    let mut error: Option<rdkafka::error::KafkaError> = None;
    for (_, key, env) in &messages {
        let headers = OwnedHeaders::new()
            .insert(Header {
                key: "event-id",
                value: Some(env.event_id.to_string().as_bytes()),
            })
            .insert(Header {
                key: "event-type",
                value: Some(env.event_type.as_bytes()),
            })
            .insert(Header {
                key: "schema-version",
                value: Some(env.schema_version.to_string().as_bytes()),
            });
        let payload = env.encode_to_vec();
        let record = FutureRecord::to(&cfg.topic)
            .key(key.as_str())
            .payload(&payload)
            .headers(headers);
        match producer.send_result(record) {
            Ok(delivery) => pending.push(delivery),
            Err((e, _)) => {
                error = Some(e);
                break;
            }
        }
    }
    // A message counts only if it and everything before it were acknowledged.
    let mut acked = Vec::with_capacity(messages.len());
    for delivery in pending {
        match delivery.await {
            Ok(Ok(_)) => acked.push(error.is_none()),
            Ok(Err((e, _))) => {
                error.get_or_insert(e);
                acked.push(false);
            }
            Err(_) => {
                error.get_or_insert(rdkafka::error::KafkaError::Canceled);
                acked.push(false);
            }
        }
    }
    let batch = acknowledged_prefix(&messages, &acked);
    let done = batch.len();
    if let Some((_, _, env)) = messages.get(done.wrapping_sub(1)) {
        stats
            .last_published_seq
            .store(env.event_id, Ordering::Relaxed);
    }
    if !batch.is_empty() {
        // Not synced: a lost deletion only means a duplicate after a crash.
        store.commit(batch, false)?;
        stats.published.fetch_add(done as u64, Ordering::Relaxed);
    }
    match error {
        Some(e) if done == 0 => Err(e.into()),
        _ => Ok(done),
    }
}

/// Runs the relay until `shutdown`.
pub async fn run(
    engine: Engine,
    cfg: RelayConfig,
    stats: Arc<RelayStats>,
    shutdown: CancellationToken,
) {
    let producer = match producer(&cfg) {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(error = %e, "kafka producer not created; the outbox will grow");
            return;
        }
    };
    if let Err(e) = ensure_topic(&cfg).await {
        tracing::warn!(error = %e, "could not ensure the topic");
    }
    let mut backoff = Duration::from_millis(100);
    loop {
        if shutdown.is_cancelled() {
            break;
        }
        match round(&engine, &producer, &cfg, &stats).await {
            Ok(0) => {
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tokio::time::sleep(Duration::from_millis(10)) => {}
                }
            }
            Ok(n) => {
                backoff = Duration::from_millis(100);
                tracing::debug!(published = n, "relay round");
            }
            Err(e) => {
                stats.failed_rounds.fetch_add(1, Ordering::Relaxed);
                stats
                    .last_error_at_ms
                    .store(engine.now().0, Ordering::Relaxed);
                let (pending, age_ms) = outbox_lag(&engine).unwrap_or((0, 0));
                tracing::warn!(error = %e, pending, age_ms, "relay round failed; retrying");
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
}
