//! Per-cashbox order on a store server's stream. Writes go to the ledger writer's queue as
//! they arrive (one FIFO: the writer applies a cashbox's writes in that order), so several
//! writes of one cashbox may be in flight together. A read is answered from committed
//! state, so it must wait until every earlier write of its cashbox is answered, and
//! everything after it waits for it: a read never sees a later operation and always sees
//! the earlier ones, exactly as on unary, where a till waits for each answer.
//!
//! A cashbox has at most `writes_max` writes in flight on a stream; more wait here, in the
//! stream's bounded memory, rather than being refused by the engine's lane.
//!
//! Pure bookkeeping: [`Order::arrive`] says whether an operation starts now or waits;
//! [`Order::finished`] says which waiting operations start once a write is answered.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;

/// Whether an operation changes state (goes to the writer) or reads committed state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Read,
    Write,
}

#[derive(Debug)]
struct Lane<T> {
    /// Writes started and not yet answered.
    writes: u32,
    /// Operations that arrived behind a read that could not start yet, in order.
    waiting: VecDeque<(Kind, T)>,
}

/// The lanes of one stream, by cashbox.
#[derive(Debug)]
pub struct Order<C, T> {
    lanes: HashMap<C, Lane<T>>,
    /// Operations started (writes) or waiting, not yet answered.
    unanswered: usize,
    writes_max: u32,
}

impl<C: Copy + Eq + Hash, T> Order<C, T> {
    /// No cashbox has more than `writes_max` (at least 1) writes in flight.
    pub fn new(writes_max: u32) -> Self {
        Order {
            lanes: HashMap::new(),
            unanswered: 0,
            writes_max: writes_max.max(1),
        }
    }

    /// Writes in flight and operations waiting: what bounds a stream's memory.
    pub fn unanswered(&self) -> usize {
        self.unanswered
    }

    /// An operation arrived: `Some` if it starts now (a read is then answered at once), or
    /// `None` if it waits behind earlier operations of its cashbox.
    pub fn arrive(&mut self, cashbox: C, kind: Kind, item: T) -> Option<T> {
        let lane = self.lanes.entry(cashbox).or_insert_with(|| Lane {
            writes: 0,
            waiting: VecDeque::new(),
        });
        let starts = lane.waiting.is_empty()
            && match kind {
                Kind::Write => lane.writes < self.writes_max,
                Kind::Read => lane.writes == 0,
            };
        if !starts {
            lane.waiting.push_back((kind, item));
            self.unanswered += 1;
            return None;
        }
        match kind {
            Kind::Write => {
                lane.writes += 1;
                self.unanswered += 1;
            }
            Kind::Read => self.forget_if_idle(cashbox),
        }
        Some(item)
    }

    /// A write of `cashbox` was answered (or refused after it started): the operations that
    /// start now, in order. Every read among them is answered at once by the caller; a write
    /// counts as started.
    pub fn finished(&mut self, cashbox: C) -> Vec<(Kind, T)> {
        let mut out = Vec::new();
        let Some(lane) = self.lanes.get_mut(&cashbox) else {
            return out;
        };
        lane.writes = lane.writes.saturating_sub(1);
        self.unanswered = self.unanswered.saturating_sub(1);
        while let Some((kind, _)) = lane.waiting.front() {
            match kind {
                Kind::Read if lane.writes > 0 => break,
                Kind::Read => self.unanswered -= 1,
                Kind::Write if lane.writes >= self.writes_max => break,
                Kind::Write => lane.writes += 1,
            }
            out.extend(lane.waiting.pop_front());
        }
        self.forget_if_idle(cashbox);
        out
    }

    fn forget_if_idle(&mut self, cashbox: C) {
        if self
            .lanes
            .get(&cashbox)
            .is_some_and(|l| l.writes == 0 && l.waiting.is_empty())
        {
            self.lanes.remove(&cashbox);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Kind::{Read, Write};
    use super::*;
    use proptest::prelude::*;

    fn started(v: Vec<(Kind, u32)>) -> Vec<u32> {
        v.into_iter().map(|(_, t)| t).collect()
    }

    #[test]
    fn writes_pipeline_and_a_read_waits_for_the_writes_before_it() {
        let mut o = Order::new(8);
        // Given two writes and a read of cashbox 1, and a read of cashbox 2,
        assert_eq!(o.arrive(1, Write, 10), Some(10));
        assert_eq!(o.arrive(1, Write, 11), Some(11));
        assert_eq!(o.arrive(1, Read, 12), None);
        // then a write behind the waiting read waits too,
        assert_eq!(o.arrive(1, Write, 13), None);
        // and another cashbox is not held up.
        assert_eq!(o.arrive(2, Read, 20), Some(20));
        assert_eq!(o.unanswered(), 4);
        // When the first write is answered, nothing starts; when the second is, the read
        // and the write behind it start.
        assert!(o.finished(1).is_empty());
        assert_eq!(started(o.finished(1)), vec![12, 13]);
        assert_eq!(o.unanswered(), 1);
        assert!(o.finished(1).is_empty());
        assert_eq!(o.unanswered(), 0);
        assert!(o.lanes.is_empty());
    }

    #[test]
    fn reads_behind_a_read_start_together_up_to_the_next_read_after_a_write() {
        let mut o = Order::new(8);
        o.arrive(1, Write, 1);
        for (kind, t) in [(Read, 2), (Read, 3), (Write, 4), (Read, 5), (Write, 6)] {
            assert_eq!(o.arrive(1, kind, t), None);
        }
        assert_eq!(started(o.finished(1)), vec![2, 3, 4]);
        assert_eq!(started(o.finished(1)), vec![5, 6]);
        assert!(o.finished(1).is_empty());
        assert_eq!(o.unanswered(), 0);
    }

    #[test]
    fn a_cashbox_has_at_most_its_writes_in_flight_and_the_rest_wait_in_order() {
        let mut o = Order::new(2);
        assert_eq!(o.arrive(1, Write, 1), Some(1));
        assert_eq!(o.arrive(1, Write, 2), Some(2));
        assert_eq!(o.arrive(1, Write, 3), None);
        assert_eq!(o.arrive(1, Read, 4), None);
        assert_eq!(o.arrive(1, Write, 5), None);
        assert_eq!(o.arrive(2, Write, 6), Some(6));
        assert_eq!(started(o.finished(1)), vec![3]);
        assert!(o.finished(1).is_empty());
        assert_eq!(started(o.finished(1)), vec![4, 5]);
        assert!(o.finished(1).is_empty());
        assert!(o.finished(2).is_empty());
        assert_eq!(o.unanswered(), 0);
    }

    proptest! {
        /// Whatever arrives and whenever writes are answered (in order per cashbox, as
        /// the writer answers them), every operation starts exactly once, in its cashbox's
        /// arrival order, a read starts only when no earlier write of its cashbox is
        /// unanswered, and no cashbox has more than `writes_max` writes in flight.
        #[test]
        fn every_operation_starts_once_in_order(
            steps in proptest::collection::vec((0u8..3, any::<bool>(), any::<bool>()), 1..200),
            writes_max in 1u32..5,
        ) {
            let mut o: Order<u8, (u8, Kind, usize)> = Order::new(writes_max);
            let mut in_flight: HashMap<u8, VecDeque<usize>> = HashMap::new();
            let mut started_order: HashMap<u8, Vec<usize>> = HashMap::new();
            let mut arrived: HashMap<u8, Vec<usize>> = HashMap::new();
            let mut start = |item: (u8, Kind, usize), in_flight: &mut HashMap<u8, VecDeque<usize>>| {
                let (c, kind, n) = item;
                let q = in_flight.entry(c).or_default();
                if kind == Read {
                    prop_assert!(q.is_empty());
                } else {
                    q.push_back(n);
                    prop_assert!(q.len() <= writes_max as usize);
                }
                started_order.entry(c).or_default().push(n);
                Ok(())
            };
            for (n, (c, write, answer)) in steps.into_iter().enumerate() {
                let kind = if write { Write } else { Read };
                arrived.entry(c).or_default().push(n);
                if let Some(item) = o.arrive(c, kind, (c, kind, n)) {
                    start(item, &mut in_flight)?;
                }
                if answer {
                    if let Some(q) = in_flight.get_mut(&c) {
                        if q.pop_front().is_some() {
                            for (_, item) in o.finished(c) {
                                start(item, &mut in_flight)?;
                            }
                        }
                    }
                }
            }
            // Answer everything left.
            while let Some(c) = in_flight.iter().find(|(_, q)| !q.is_empty()).map(|(c, _)| *c) {
                in_flight.get_mut(&c).and_then(|q| q.pop_front());
                for (_, item) in o.finished(c) {
                    start(item, &mut in_flight)?;
                }
            }
            prop_assert_eq!(started_order, arrived);
            prop_assert_eq!(o.unanswered(), 0);
        }
    }
}
