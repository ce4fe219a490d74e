//! The auditor's own book of an account's lots, written from the rules page ("Points with
//! a life"), not from the engine's code: every credit is a lot, pending until its
//! activation time, burnt at its expiry; spending takes the earliest expiry first (lots
//! that never expire last, then the oldest); points taken are given back to the lots they
//! came from, remade with their expiry when used up meanwhile. Lot times are whole minutes
//! (rounded up; at once means at once), and a credit of the same kind and times as a lot
//! the account still has joins it.

/// What credited a lot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Purchase,
    Grant,
    Returned,
}

/// One lot: what is left of it, when it matures and burns, and what credited it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lot {
    pub id: u32,
    pub left: i64,
    pub activates: i64,
    pub expires: Option<i64>,
    pub pending: bool,
    pub kind: Kind,
}

/// Up to a whole minute.
fn minute(t: i64) -> i64 {
    (t + 59_999).div_euclid(60_000) * 60_000
}

/// Points taken from lots: (lot, points, the lot's expiry).
pub type Taken = Vec<(u32, i64, Option<i64>)>;

/// How long credited points wait and live, in milliseconds (`None`: forever).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Terms {
    pub pending_ms: i64,
    pub lifetime_ms: Option<i64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Lots {
    pub lots: Vec<Lot>,
    /// Lots ever credited: the next one is numbered one more.
    pub made: u32,
    /// Points that matured, and points burnt, so far.
    pub matured: i64,
    pub expired: i64,
}

impl Lots {
    /// What is left of the active lots: spendable (holds already took theirs).
    pub fn spendable(&self) -> i64 {
        self.lots
            .iter()
            .filter(|l| !l.pending)
            .map(|l| l.left)
            .sum()
    }

    pub fn pending(&self) -> i64 {
        self.lots.iter().filter(|l| l.pending).map(|l| l.left).sum()
    }

    /// `points` earned at `at` (`now` decides whether they are still pending): a new lot,
    /// or more in the lot of the same kind and times. Returns the lot's id.
    pub fn credit(&mut self, points: i64, at: i64, now: i64, terms: Terms, kind: Kind) -> u32 {
        assert!(points > 0);
        let activates = if terms.pending_ms == 0 {
            at
        } else {
            minute(at + terms.pending_ms)
        };
        let expires = terms.lifetime_ms.map(|l| minute(activates + l));
        let pending = activates > now;
        if let Some(l) = self.lots.iter_mut().find(|l| {
            l.kind == kind
                && l.expires == expires
                && l.pending == pending
                && (!pending || l.activates == activates)
        }) {
            l.left += points;
            return l.id;
        }
        self.made += 1;
        self.lots.push(Lot {
            id: self.made,
            left: points,
            activates,
            expires,
            pending,
            kind,
        });
        self.made
    }

    /// Takes `points` from the active lots, earliest expiry first.
    pub fn spend(&mut self, points: i64) -> Taken {
        let mut order: Vec<usize> = (0..self.lots.len())
            .filter(|&i| !self.lots[i].pending)
            .collect();
        order.sort_by_key(|&i| (self.lots[i].expires.unwrap_or(i64::MAX), self.lots[i].id));
        let mut want = points;
        let mut taken = Taken::new();
        for i in order {
            let l = &mut self.lots[i];
            let n = want.min(l.left);
            if n > 0 {
                l.left -= n;
                want -= n;
                taken.push((l.id, n, l.expires));
            }
        }
        assert_eq!(want, 0, "the auditor spent more than was spendable");
        self.lots.retain(|l| l.left > 0);
        taken
    }

    /// Gives taken points back to their lots.
    pub fn give_back(&mut self, taken: &Taken) {
        for &(id, n, expires) in taken {
            match self.lots.iter_mut().find(|l| l.id == id) {
                Some(l) => l.left += n,
                None => self.lots.push(Lot {
                    id,
                    left: n,
                    activates: 0,
                    expires,
                    pending: false,
                    kind: Kind::Returned,
                }),
            }
        }
    }

    /// Takes back up to `points` from what is left of the lots a purchase's accrual joined;
    /// returns how many it could take.
    pub fn claw(&mut self, lots: &[u32], points: i64) -> i64 {
        let mut clawed = 0;
        for l in &mut self.lots {
            if lots.contains(&l.id) {
                let n = (points - clawed).min(l.left);
                l.left -= n;
                clawed += n;
            }
        }
        self.lots.retain(|l| l.left > 0);
        clawed
    }

    /// The sweep at `now`: pending lots whose time came mature, then lots whose time is up
    /// burn.
    pub fn sweep(&mut self, now: i64) {
        for l in &mut self.lots {
            if l.pending && l.activates <= now {
                l.pending = false;
                self.matured += l.left;
            }
            if !l.pending && l.expires.is_some_and(|e| e <= now) {
                self.expired += l.left;
                l.left = 0;
            }
        }
        self.lots.retain(|l| l.left > 0);
    }
}
