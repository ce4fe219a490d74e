//! The outbox relay: publishes committed events to Kafka in commit order. The event log is
//! the outbox; the relay keeps a cursor (the last acknowledged sequence) and moves it only
//! past messages the broker acknowledged (idempotent producer, `acks=all`). At least once: a
//! crash before the cursor moves resends, and consumers dedupe by event id. The engine
//! never waits for the relay; while the broker is away the lag grows and drains when it
//! returns.

use crate::pb;
use loyalty_engine::outbox::Outbox;
use loyalty_engine::store::StoreError;
use loyalty_engine::Engine;
use loyalty_proto::events::envelope;
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

/// Events committed but not yet acknowledged by the broker, and the age of the oldest, in
/// milliseconds.
pub fn outbox_lag(engine: &Engine) -> Result<(u64, i64), StoreError> {
    let store = engine.store();
    let lag = Outbox::new(&*store).lag(engine.now())?;
    Ok((lag.events, lag.oldest_age_ms))
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

/// One message of a relay round: its event's sequence, Kafka key and envelope.
pub type Outgoing = (u64, String, pb::EventEnvelope);

/// The next events after the cursor (at most `limit`) as messages, in commit order.
pub fn outgoing(outbox: &Outbox<'_>, limit: usize) -> Result<Vec<Outgoing>, StoreError> {
    outbox.pending(limit, |rec, view| {
        let (key, env) = envelope(rec, view);
        (rec.seq, key, env)
    })
}

async fn round(
    engine: &Engine,
    producer: &FutureProducer,
    cfg: &RelayConfig,
    stats: &RelayStats,
) -> Result<usize, RelayError> {
    let store = engine.store();
    let outbox = Outbox::new(&*store);
    let messages = outgoing(&outbox, cfg.batch_events_max)?;
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
    let done = outbox.acknowledge_prefix(messages.iter().map(|m| m.0).zip(acked))?;
    if let Some((seq, _, _)) = done.checked_sub(1).map(|i| &messages[i]) {
        stats.last_published_seq.store(*seq, Ordering::Relaxed);
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
    gate: crate::cluster::Gate,
    shutdown: CancellationToken,
) {
    let producer = match producer(&cfg) {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(error = %e, "kafka producer not created; events wait in the log");
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
        // On a cluster only the serving leader publishes, from the replicated cursor.
        if !gate.is_open() {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(Duration::from_millis(50)) => continue,
            }
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

#[cfg(test)]
mod tests {
    use super::*;
    use loyalty_core::command::{Actor, Command, Request};
    use loyalty_core::ids::{CashboxId, OpId, OperatorName, StoreId};
    use loyalty_core::model::{CashboxKind, Program, UnixMillis};
    use loyalty_engine::store::MemStore;

    /// Commits `n` cashbox registrations (one event each) after `seq`.
    fn commit(store: &MemStore, seq: u64, n: u32) -> u64 {
        let reqs: Vec<Request> = (0..n)
            .map(|i| Request {
                op: OpId(u128::from(seq) * 1000 + u128::from(i) + 1),
                actor: Actor::Admin(OperatorName::new("ops").expect("name")),
                command: Command::RegisterCashbox {
                    id: CashboxId(seq as u32 * 1000 + i + 1),
                    store: StoreId(1),
                    kind: CashboxKind::Pos,
                    secret_sha256: [0; 32],
                    public_key: None,
                    login: None,
                },
            })
            .collect();
        let refs: Vec<&Request> = reqs.iter().collect();
        loyalty_engine::commit_batch(store, &Program::default(), seq, &refs, UnixMillis(0), true)
            .expect("commit")
            .seq
    }

    fn seqs(m: &[Outgoing]) -> Vec<u64> {
        m.iter().map(|(s, _, _)| *s).collect()
    }

    /// The cursor after a round in which the broker acknowledged `acked[i]` of message i.
    fn round(outbox: &Outbox<'_>, m: &[Outgoing], acked: &[bool]) -> usize {
        let round = m.iter().map(|x| x.0).zip(acked.iter().copied());
        outbox.acknowledge_prefix(round).unwrap()
    }

    #[test]
    fn the_cursor_moves_past_the_acknowledged_prefix_only() {
        let store = MemStore::default();
        let outbox = Outbox::new(&store);
        let seq = commit(&store, 0, 5);
        assert_eq!(seqs(&outgoing(&outbox, 3).unwrap()), [1, 2, 3]);
        // The broker acknowledged 1 and 2, not 3: the next round starts at 3.
        let m = outgoing(&outbox, 3).unwrap();
        assert_eq!(round(&outbox, &m, &[true, true, false]), 2);
        assert_eq!(outbox.cursor().unwrap(), 2);
        assert_eq!(seqs(&outgoing(&outbox, 10).unwrap()), [3, 4, 5]);
        // Nothing acknowledged: nothing moves; an acknowledgement after a failure does
        // not count either (order per key is kept).
        let m = outgoing(&outbox, 10).unwrap();
        assert_eq!(round(&outbox, &m, &[false, true, true]), 0);
        assert_eq!(outbox.cursor().unwrap(), 2);
        // Everything acknowledged, then new commits appear after the cursor.
        assert_eq!(round(&outbox, &m, &[true, true, true]), 3);
        assert!(outgoing(&outbox, 10).unwrap().is_empty());
        // An older acknowledgement never moves the cursor back.
        outbox.acknowledge(2).unwrap();
        assert_eq!(outbox.cursor().unwrap(), 5);
        commit(&store, seq, 2);
        assert_eq!(seqs(&outgoing(&outbox, 10).unwrap()), [6, 7]);
        assert_eq!(m[0].2.event_type, "CashboxRegistered");
    }
}
