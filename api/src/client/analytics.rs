//! The analytics side of the stream: folds event envelopes into per-store, per-day totals,
//! deduplicating by event id (delivery is at least once).

use crate::pb;
use loyalty_core::amount::{Money, Points};
use serde::Serialize;
use std::collections::{BTreeMap, HashSet};

/// Totals of one store on one (cashbox-local) day. Amounts in minor units.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct DayTotals {
    pub cheques: u64,
    pub revenue: i64,
    pub discounts: i64,
    pub points_accrued: i64,
    pub points_redeemed: i64,
    pub points_refunded: i64,
    pub accrual_reversed: i64,
    /// Points held by purchases that expired unconfirmed, released back to the customers.
    pub holds_released: i64,
    /// Points burnt at their lots' expiry (under store 0: the programme's, by server day).
    pub points_burnt: i64,
}

#[derive(Debug, Default)]
pub struct Aggregator {
    seen: HashSet<u64>,
    pub days: BTreeMap<(u32, String), DayTotals>,
    pub duplicates: u64,
    pub malformed: u64,
}

fn minor(s: &str) -> Option<i64> {
    if s.is_empty() {
        return Some(0);
    }
    Money::parse(s).ok().map(|m| m.0)
}

impl Aggregator {
    /// Adds one event; returns false for a duplicate.
    pub fn add(&mut self, e: &pb::EventEnvelope) -> bool {
        if !self.seen.insert(e.event_id) {
            self.duplicates += 1;
            return false;
        }
        let day = match e.cashbox_local_time.get(..10) {
            Some(d) => d.to_owned(),
            None => chrono::DateTime::from_timestamp_millis(e.server_time_unix_ms)
                .map_or_else(String::new, |t| t.format("%Y-%m-%d").to_string()),
        };
        let fields = [
            &e.amount,
            &e.discount,
            &e.points_accrued,
            &e.points_redeemed,
            &e.money_returned,
            &e.points_returned,
            &e.accrual_reversed,
            &e.points_released,
            &e.points_expired,
        ];
        let Some(v) = fields
            .iter()
            .map(|f| minor(f))
            .collect::<Option<Vec<i64>>>()
        else {
            self.malformed += 1;
            return true;
        };
        let [amount, discount, accrued, redeemed, money_returned, returned, reversed, released, burnt] =
            v[..]
        else {
            unreachable!()
        };
        let counts = matches!(
            e.event_type.as_str(),
            "PurchaseConfirmed"
                | "PurchaseImported"
                | "RefundRecorded"
                | "HoldExpired"
                | "PointsExpired"
        );
        if !counts {
            return true;
        }
        let t = self.days.entry((e.store_id, day)).or_default();
        match e.event_type.as_str() {
            "PurchaseConfirmed" | "PurchaseImported" => {
                t.cheques += 1;
                t.revenue += amount - discount;
                t.discounts += discount;
                t.points_accrued += accrued;
                t.points_redeemed += redeemed;
            }
            "RefundRecorded" => {
                t.revenue -= money_returned;
                t.points_refunded += returned;
                t.accrual_reversed += reversed;
            }
            "PointsExpired" => t.points_burnt += burnt,
            _ => t.holds_released += released,
        }
        true
    }

    /// A fixed-width table.
    pub fn table(&self) -> String {
        let mut out = format!(
            "{:>6} {:<10} {:>7} {:>14} {:>12} {:>11} {:>11} {:>11} {:>11} {:>10} {:>10}\n",
            "store",
            "day",
            "cheques",
            "revenue",
            "discounts",
            "accrued",
            "redeemed",
            "refunded",
            "reversed",
            "released",
            "burnt"
        );
        for ((store, day), t) in &self.days {
            out.push_str(&format!(
                "{:>6} {:<10} {:>7} {:>14} {:>12} {:>11} {:>11} {:>11} {:>11} {:>10} {:>10}\n",
                store,
                day,
                t.cheques,
                Money(t.revenue),
                Money(t.discounts),
                Points(t.points_accrued),
                Points(t.points_redeemed),
                Points(t.points_refunded),
                Points(t.accrual_reversed),
                Points(t.holds_released),
                Points(t.points_burnt)
            ));
        }
        out
    }

    /// JSON: a list of `{store, day, totals...}` with amounts as decimal strings.
    pub fn json(&self) -> serde_json::Value {
        serde_json::Value::Array(
            self.days
                .iter()
                .map(|((store, day), t)| {
                    serde_json::json!({
                        "store": store, "day": day, "cheques": t.cheques,
                        "revenue": Money(t.revenue).to_string(), "discounts": Money(t.discounts).to_string(),
                        "points_accrued": Points(t.points_accrued).to_string(), "points_redeemed": Points(t.points_redeemed).to_string(),
                        "points_refunded": Points(t.points_refunded).to_string(), "accrual_reversed": Points(t.accrual_reversed).to_string(),
                        "holds_released": Points(t.holds_released).to_string(),
                        "points_burnt": Points(t.points_burnt).to_string(),
                    })
                })
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    fn env(id: u64, kind: &str) -> pb::EventEnvelope {
        pb::EventEnvelope {
            event_id: id,
            event_type: kind.into(),
            store_id: 7,
            cashbox_local_time: "2026-11-23T12:00:00".into(),
            ..Default::default()
        }
    }

    #[test]
    fn folds_events_once_per_id() {
        let mut a = Aggregator::default();
        let confirmed = pb::EventEnvelope {
            amount: "120.00".into(),
            discount: "10.00".into(),
            points_accrued: "4.95".into(),
            points_redeemed: "11.00".into(),
            ..env(1, "PurchaseConfirmed")
        };
        assert!(a.add(&confirmed));
        assert!(!a.add(&confirmed));
        a.add(&pb::EventEnvelope {
            money_returned: "45.00".into(),
            points_returned: "4.50".into(),
            accrual_reversed: "2.03".into(),
            ..env(2, "RefundRecorded")
        });
        a.add(&pb::EventEnvelope {
            points_released: "3.00".into(),
            ..env(3, "HoldExpired")
        });
        a.add(&pb::EventEnvelope {
            points_held: "3.00".into(),
            ..env(4, "BonusHeld")
        });
        let t = a.days[&(7, "2026-11-23".to_owned())];
        assert_eq!(
            t,
            DayTotals {
                cheques: 1,
                revenue: 6500,
                discounts: 1000,
                points_accrued: 495,
                points_redeemed: 1100,
                points_refunded: 450,
                accrual_reversed: 203,
                holds_released: 300,
                points_burnt: 0,
            }
        );
        assert_eq!(a.duplicates, 1);
        assert!(a.table().contains("65.00"));
        assert_eq!(a.json()[0]["revenue"], "65.00");
        // An offline cheque imported later counts like a confirmed one.
        a.add(&pb::EventEnvelope {
            amount: "10.00".into(),
            points_accrued: "0.50".into(),
            ..env(5, "PurchaseImported")
        });
        let t = a.days[&(7, "2026-11-23".to_owned())];
        assert_eq!((t.cheques, t.revenue, t.points_accrued), (2, 7500, 545));
        // Points that burnt count for the programme (store 0) on the server's day.
        a.add(&pb::EventEnvelope {
            event_id: 6,
            event_type: "PointsExpired".into(),
            points_expired: "12.50".into(),
            server_time_unix_ms: 1_795_435_200_000,
            ..Default::default()
        });
        assert_eq!(a.days[&(0, "2026-11-23".to_owned())].points_burnt, 1250);
    }

    #[test]
    fn a_consumer_reads_messages_with_fields_it_does_not_know() {
        // A newer producer added field 99 (a string) and field 100 (a varint).
        let mut bytes = env(5, "PurchaseConfirmed").encode_to_vec();
        bytes.extend_from_slice(&[0x9a, 0x06, 3, b'n', b'e', b'w']); // field 99, wire type 2
        bytes.extend_from_slice(&[0xa0, 0x06, 42]); // field 100, wire type 0
        let decoded =
            pb::EventEnvelope::decode(bytes.as_slice()).expect("unknown fields are skipped");
        assert_eq!(decoded, env(5, "PurchaseConfirmed"));
    }
}
