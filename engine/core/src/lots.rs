//! Points with a life. Every credit is a **lot**: an amount with its source, the time it
//! becomes spendable (`activates_at`: pending until then) and the time it burns
//! (`expires_at`, never when `None`). An account's numbers follow from its lots:
//!
//! - `balance` = `held` + what is left of its active lots (a hold takes its points out of
//!   lots at once, so expiry never burns held points and a cancel gives back exactly the
//!   lots it took);
//! - `pending` = what is left of its pending lots.
//!
//! Spending takes lots earliest expiry first (never-expiring last), then oldest; each take
//! is recorded ([`Take`]) in the event and on the purchase or order that made it. A lot
//! left with nothing is dropped; a take given back to a dropped lot makes it again, with
//! its original expiry (the sweep burns it if that has passed).
//!
//! Lot times are whole minutes (rounded up; a credit spendable at once is active from its
//! own moment), and a credit of the same kind with the same times as a lot the account
//! still has joins that lot: points credited together in a minute mature and burn
//! together, and an account keeps one lot per minute of credits, not one per purchase.
//! The credit's event still names its own points and the lot they joined; a purchase keeps
//! the ids of the lots its accrual joined (`Purchase::lots`).
//!
//! Points credited before lots existed (record formats before 6) form the **carried** lot
//! (id 0): events of those formats name no lots or takes, and credit and debit it. The
//! sweep dates a carried lot once, with the programme's lifetime from then (`LotDated`).
//!
//! These are the only functions that change lots; `apply` calls them with what an event
//! says, and `decide` calls [`Account::take`] to choose the lots a debit takes.

use crate::amount::Points;
use crate::model::{Account, UnixMillis};
use serde::{Deserialize, Serialize};

/// The carried lot's id; lots credited since have ids from 1, in order.
pub const CARRIED: u32 = 0;

/// Where a lot's points came from (the credit's event names the purchase or the reason).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum LotSource {
    /// Points on the account before lots existed, not yet dated by the sweep.
    Carried,
    /// Carried points the sweep dated.
    Migrated,
    /// The accrual of purchases (online or offline).
    Purchase,
    /// An administrator's correction.
    Adjustment,
    /// Points given back to a lot that had been used up and dropped meanwhile.
    Returned,
    /// A bonus for a customer's event (the `BonusGranted` event names which).
    Bonus,
}

/// Points credited together.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lot {
    pub id: u32,
    pub source: LotSource,
    /// As credited (given-back points added).
    pub points: Points,
    /// Not yet spent, taken back or burnt.
    pub left: Points,
    pub activates_at: UnixMillis,
    pub expires_at: Option<UnixMillis>,
    /// Not yet spendable: only a `PointsActivated` event makes it active.
    pub pending: bool,
}

/// Points a debit took from one lot, with the lot's expiry so that giving them back can
/// make the lot again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Take {
    pub lot: u32,
    pub points: Points,
    pub expires_at: Option<UnixMillis>,
}

/// How long credited points wait and live: the programme's, or an offer's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct LotTerms {
    /// Pending for this long after the credit (0: spendable at once).
    pub pending_secs: u64,
    /// Then spendable for this long (`None`: never expire).
    pub lifetime_secs: Option<u64>,
}

impl Default for LotTerms {
    /// Pending for 14 days, then a year.
    fn default() -> Self {
        LotTerms {
            pending_secs: 14 * 24 * 3600,
            lifetime_secs: Some(365 * 24 * 3600),
        }
    }
}

/// `t` rounded up to a whole minute.
fn minute(t: UnixMillis) -> UnixMillis {
    UnixMillis(
        t.0.saturating_add(59_999)
            .div_euclid(60_000)
            .saturating_mul(60_000),
    )
}

impl LotTerms {
    /// The credit of `points` made at `at` (decided at `now`: pending if it activates
    /// later) on account `a`: a lot of its own, or — same kind, same times — the lot the
    /// account has that it joins (the returned lot then names that lot's id and the
    /// credit's own points).
    pub fn credit(
        &self,
        a: &Account,
        source: LotSource,
        points: Points,
        at: UnixMillis,
        now: UnixMillis,
    ) -> Lot {
        let activates_at = if self.pending_secs == 0 {
            at
        } else {
            minute(at.plus_secs(self.pending_secs))
        };
        let expires_at = self
            .lifetime_secs
            .map(|s| minute(activates_at.plus_secs(s)));
        let pending = activates_at > now;
        let joins = a.lots.iter().find(|l| {
            l.source == source
                && l.expires_at == expires_at
                && l.pending == pending
                && (!pending || l.activates_at == activates_at)
        });
        Lot {
            id: joins.map_or(a.next_lot_id(), |l| l.id),
            source,
            points,
            left: points,
            activates_at: joins.map_or(activates_at, |l| l.activates_at),
            expires_at,
            pending,
        }
    }
}

/// The takes of a debit or a give-back: those the event names, or (an event of a format
/// before lots, which names none) the carried lot.
fn or_carried(takes: &[Take], total: Points) -> std::borrow::Cow<'_, [Take]> {
    if takes.is_empty() && total.0 > 0 {
        std::borrow::Cow::Owned(vec![Take {
            lot: CARRIED,
            points: total,
            expires_at: None,
        }])
    } else {
        std::borrow::Cow::Borrowed(takes)
    }
}

/// Expiry order: earliest first, never-expiring last, then oldest.
fn spend_order(l: &Lot) -> (i64, u32) {
    (l.expires_at.map_or(i64::MAX, |t| t.0), l.id)
}

impl Account {
    /// The id the next new lot gets.
    pub fn next_lot_id(&self) -> u32 {
        self.lots_made + 1
    }

    /// The lots `points` of spendable points would take, earliest expiry first. Panics if
    /// the active lots hold fewer (the caller checked what is spendable).
    pub fn take(&self, points: Points) -> Vec<Take> {
        let mut active: Vec<&Lot> = self.lots.iter().filter(|l| !l.pending).collect();
        active.sort_by_key(|l| spend_order(l));
        let mut want = points.0;
        let mut takes = Vec::new();
        for l in active {
            if want == 0 {
                break;
            }
            let n = want.min(l.left.0);
            if n > 0 {
                takes.push(Take {
                    lot: l.id,
                    points: Points(n),
                    expires_at: l.expires_at,
                });
                want -= n;
            }
        }
        assert!(want == 0, "account {:?}: taking beyond its lots", self.id);
        takes
    }

    /// What is left of the lots a purchase's accrual joined (`ids`: `Purchase::lots`).
    pub fn lots_in<'a>(&'a self, ids: &'a [u32]) -> impl Iterator<Item = &'a Lot> + 'a {
        self.lots.iter().filter(move |l| ids.contains(&l.id))
    }

    /// Debits `total`: the takes, or (an event of a format before lots) the carried lot.
    /// Taken from an active lot, points leave the balance; from a pending one, `pending`.
    pub fn debit(&mut self, takes: &[Take], total: Points) {
        let takes = or_carried(takes, total);
        let mut sum = 0;
        for t in takes.iter() {
            let l = self
                .lots
                .iter_mut()
                .find(|l| l.id == t.lot)
                .unwrap_or_else(|| panic!("corrupt: take from unknown lot {}", t.lot));
            assert!(t.points <= l.left, "corrupt: lot {} over-taken", t.lot);
            l.left = l.left.minus(t.points);
            if l.pending {
                self.pending = self.pending.minus(t.points);
            } else {
                self.balance = self.balance.minus(t.points);
            }
            sum += t.points.0;
        }
        assert_eq!(sum, total.0, "corrupt: takes do not add up");
        self.lots.retain(|l| l.left.0 > 0);
    }

    /// Gives back points a debit took (`total` in all; an event of a format before lots
    /// names no takes and gives back to the carried lot), active, with their lots' expiry.
    pub fn give_back(&mut self, takes: &[Take], total: Points) {
        let takes = or_carried(takes, total);
        let mut sum = 0;
        for t in takes.iter() {
            match self.lots.iter_mut().find(|l| l.id == t.lot) {
                Some(l) => {
                    assert!(!l.pending, "corrupt: points given back to a pending lot");
                    l.left = l.left.plus(t.points);
                    l.points = l.points.max(l.left);
                }
                None => self.lots.push(Lot {
                    id: t.lot,
                    source: if t.lot == CARRIED {
                        LotSource::Carried
                    } else {
                        LotSource::Returned
                    },
                    points: t.points,
                    left: t.points,
                    activates_at: UnixMillis(0),
                    expires_at: t.expires_at,
                    pending: false,
                }),
            }
            self.balance = self.balance.plus(t.points);
            sum += t.points.0;
        }
        assert_eq!(sum, total.0, "corrupt: given-back takes do not add up");
        self.lots.sort_by_key(|l| l.id);
    }

    /// Credits `total` as the lots an event names: new ones, or points joining a lot the
    /// account has (an event of a format before lots names none: the carried lot, active
    /// and undated).
    pub fn credit(&mut self, lots: &[Lot], total: Points) {
        if lots.is_empty() {
            if total.0 > 0 {
                self.give_back(&[], total);
            }
            return;
        }
        let mut sum = 0;
        for l in lots {
            assert!(
                l.left == l.points && l.points.0 > 0,
                "corrupt: credit of lot {}",
                l.id
            );
            match self.lots.iter_mut().find(|x| x.id == l.id) {
                Some(x) => {
                    assert!(
                        x.source == l.source
                            && x.expires_at == l.expires_at
                            && x.pending == l.pending,
                        "corrupt: credit joins lot {} of other terms",
                        l.id
                    );
                    x.points = x.points.plus(l.points);
                    x.left = x.left.plus(l.points);
                }
                None => {
                    assert!(
                        l.id == self.next_lot_id(),
                        "corrupt: lot {} out of order",
                        l.id
                    );
                    self.lots_made = l.id;
                    self.lots.push(*l);
                }
            }
            if l.pending {
                self.pending = self.pending.plus(l.left);
            } else {
                self.balance = self.balance.plus(l.left);
            }
            sum += l.points.0;
        }
        assert_eq!(sum, total.0, "corrupt: lots do not add up");
    }

    /// A pending lot became spendable.
    pub fn activate(&mut self, lot: u32, points: Points) {
        let l = self.lot_mut(lot);
        assert!(
            l.pending && l.left == points,
            "corrupt: activation of lot {lot}"
        );
        l.pending = false;
        self.pending = self.pending.minus(points);
        self.balance = self.balance.plus(points);
    }

    /// What was left of an active lot burnt.
    pub fn expire(&mut self, lot: u32, points: Points) {
        self.debit(
            &[Take {
                lot,
                points,
                expires_at: None,
            }],
            points,
        );
    }

    /// The carried lot got its expiry.
    pub fn date(&mut self, lot: u32, expires_at: Option<UnixMillis>) {
        let l = self.lot_mut(lot);
        assert!(l.source == LotSource::Carried, "corrupt: dating lot {lot}");
        l.source = LotSource::Migrated;
        l.expires_at = expires_at;
    }

    fn lot_mut(&mut self, lot: u32) -> &mut Lot {
        self.lots
            .iter_mut()
            .find(|l| l.id == lot)
            .unwrap_or_else(|| panic!("corrupt: unknown lot {lot}"))
    }

    /// When the sweep next has something to do for this account: a carried lot to date
    /// (at once), a pending lot to activate, an active lot to burn, a birthday to look at,
    /// a level to review.
    pub fn next_due(&self) -> Option<UnixMillis> {
        self.lots
            .iter()
            .filter_map(|l| match (&l.source, l.pending) {
                (LotSource::Carried, _) => Some(UnixMillis(0)),
                (_, true) => Some(l.activates_at),
                (_, false) => l.expires_at,
            })
            .chain(self.birthday_from)
            .chain(self.tier_review)
            .min()
    }

    /// Moves the account's due time to [`Account::next_due`]: the old and new index
    /// entries when it changed (a store keeps an index of accounts by due time).
    pub fn reindex(&mut self) -> Option<(Option<UnixMillis>, Option<UnixMillis>)> {
        let due = self.next_due();
        (due != self.due).then(|| (std::mem::replace(&mut self.due, due), due))
    }

    /// The next points to burn: the earliest expiry among active and pending lots, and the
    /// points left of the lots expiring then.
    pub fn next_expiry(&self) -> Option<(UnixMillis, Points)> {
        let at = self.lots.iter().filter_map(|l| l.expires_at).min()?;
        let points = self
            .lots
            .iter()
            .filter(|l| l.expires_at == Some(at))
            .fold(Points::ZERO, |s, l| s.plus(l.left));
        Some((at, points))
    }

    /// The lots agree with the account's numbers.
    pub(crate) fn check_lots(&self) {
        let (active, pending) = self.lots.iter().fold((0, 0), |(a, p), l| {
            assert!(
                l.left.0 > 0 && l.left <= l.points,
                "account {:?}: lot {} out of range",
                self.id,
                l.id
            );
            if l.pending {
                (a, p + l.left.0)
            } else {
                (a + l.left.0, p)
            }
        });
        assert_eq!(
            self.balance.0 - self.held.0,
            active,
            "account {:?}: active lots differ from the spendable balance",
            self.id
        );
        assert_eq!(
            self.pending.0, pending,
            "account {:?}: pending lots differ from pending",
            self.id
        );
    }
}
