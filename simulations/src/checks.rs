//! What a simulation checks, and the broker it publishes to: a relay round through the
//! engine's outbox against a simulated broker that goes away and loses acknowledgements;
//! the stream, deduplicated, holding every committed event once and in order per key; and
//! every balance and hold equal to the auditor's.

use crate::sim::{card_no, Divergence, Simulation};
use loyalty_core::amount::Points;
use loyalty_core::state::StateView;
use loyalty_engine::outbox::Outbox;
use loyalty_engine::StoredState;
use loyalty_proto::events::envelope;
use rand::Rng;

/// The simulated Kafka broker: up or away, and what it has received.
#[derive(Default)]
pub(crate) struct Broker {
    pub(crate) down: bool,
    pub(crate) topic: Vec<(String, u64)>,
}

impl Simulation {
    /// One relay round against the simulated broker, through the product's own relay steps:
    /// the broker may be away (nothing acknowledged), or acknowledge only a prefix; the
    /// relay's cursor moves past the acknowledged prefix unsynced, so a later crash can resend.
    pub(crate) fn relay(&mut self, b: u32) -> Result<(), Divergence> {
        if self.rng.random_range(0..1000) < self.cfg.kafka_outage_per_mille {
            self.broker.down = !self.broker.down;
        }
        if self.broker.down {
            self.report.kafka_outage_batches += 1;
            return Ok(());
        }
        let messages = Outbox::new(self.view())
            .pending(64, |rec, view| {
                let (key, env) = envelope(rec, view);
                (rec.seq, key, env.event_id)
            })
            .map_err(|e| self.diverged(b, e.to_string()))?;
        // The broker acknowledges the round up to a random point; it may have received a few
        // more whose acknowledgements were lost (they are sent again: duplicates).
        let taken = self.rng.random_range(0..=messages.len());
        let received = self.rng.random_range(taken..=messages.len());
        let acked: Vec<bool> = (0..messages.len()).map(|i| i < taken).collect();
        for (_, key, event_id) in &messages[..received] {
            self.broker.topic.push((key.clone(), *event_id));
            self.report.published += 1;
        }
        match Outbox::new(self.view()).acknowledge_prefix(messages.iter().map(|m| m.0).zip(acked)) {
            Ok(_) => Ok(()),
            // On a cluster the cursor moves through consensus: a lost proposal leaves it
            // where it was (the next round sends those events again).
            Err(loyalty_engine::store::StoreError::NotLeader { .. }) if self.cluster.is_some() => {
                Ok(())
            }
            Err(e) => Err(self.diverged(b, e.to_string())),
        }
    }

    /// After dedupe by event id the stream holds every committed event exactly once, and
    /// each key's events arrive in commit order.
    pub(crate) fn check_stream(&self) -> Result<(), Divergence> {
        let b = self.cfg.batches;
        let mut seen = std::collections::BTreeSet::new();
        let mut last_per_key: std::collections::HashMap<&str, u64> = Default::default();
        for (key, id) in &self.broker.topic {
            if !seen.insert(*id) {
                continue;
            }
            if let Some(last) = last_per_key.insert(key, *id) {
                if last > *id {
                    return Err(self.diverged(b, format!("key {key}: event {id} after {last}")));
                }
            }
        }
        let expected: std::collections::BTreeSet<u64> = (1..=self.seq).collect();
        if seen != expected {
            let missing = expected.difference(&seen).count();
            return Err(self.diverged(b, format!("stream misses {missing} committed events")));
        }
        Ok(())
    }

    /// Balances, holds, debts and kept accrual of every account equal the auditor's.
    pub(crate) fn check(&self, b: u32) -> Result<(), Divergence> {
        let view = StoredState::new(self.view());
        for (i, expected) in self.model.accounts.iter().enumerate() {
            let card = view
                .card(&card_no(i))
                .ok_or_else(|| self.diverged(b, format!("card {i} missing")))?;
            let a = view
                .account(card.account)
                .ok_or_else(|| self.diverged(b, format!("account of card {i} missing")))?;
            // Lot by lot: what is left, when it burns, whether it is still pending.
            let mut engine: Vec<_> = a
                .lots
                .iter()
                .map(|l| (l.id, l.left.0, l.expires_at.map(|t| t.0), l.pending))
                .collect();
            let mut auditor: Vec<_> = expected
                .lots
                .lots
                .iter()
                .map(|l| (l.id, l.left, l.expires, l.pending))
                .collect();
            engine.sort_unstable();
            auditor.sort_unstable();
            if engine != auditor {
                return Err(self.diverged(
                    b,
                    format!("card {i}: engine lots {engine:?}, auditor {auditor:?}"),
                ));
            }
            let engine = (a.balance.0, a.held.0, a.debt.0, a.earned.0, a.pending.0);
            let auditor = (
                expected.balance(),
                expected.held,
                expected.debt,
                expected.earned,
                expected.lots.pending(),
            );
            if engine != auditor {
                return Err(self.diverged(
                    b,
                    format!(
                        "card {i}: engine balance {} held {} debt {} earned {} pending {}, auditor {} / {} / {} / {} / {}",
                        a.balance,
                        a.held,
                        a.debt,
                        a.earned,
                        a.pending,
                        Points(expected.balance()),
                        Points(expected.held),
                        Points(expected.debt),
                        Points(expected.earned),
                        Points(expected.lots.pending()),
                    ),
                ));
            }
        }
        Ok(())
    }
}
