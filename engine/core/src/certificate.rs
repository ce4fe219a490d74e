//! Gift certificates: a code with a balance of money, issued by an administrator or sold at
//! a till, that pays for purchases as one of their tenders (`TenderKind::Certificate`).
//!
//! A certificate pays like points do: a pending purchase (held or registered) **holds** the
//! amounts its certificate tenders name, so a second till sees only what is left; its
//! confirmation takes them off the balance; a cancel or an expired hold releases them. The
//! one writer decides every use in order, so two tills paying with one certificate at once
//! never take it below zero. Refunded money goes back onto the purchase's certificates
//! first, in the order of its tenders, and only the rest is paid out in money
//! (`refund_shares`); a certificate that has expired by then is paid out instead. An
//! expired certificate pays nothing; its balance stays on record.

use crate::amount::Money;
use crate::ids::{CashboxId, CertificateCode};
use crate::model::{Purchase, Tender, TenderKind, UnixMillis};
use crate::state::StateStore;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Certificate {
    pub code: CertificateCode,
    /// The face value it was issued with.
    pub amount: Money,
    /// What is left on it, holds included.
    pub balance: Money,
    /// What pending purchases hold of it.
    pub held: Money,
    pub issued_at: UnixMillis,
    /// It pays nothing from this server time on.
    pub expires_at: UnixMillis,
    /// The cashbox that sold it; none when an administrator issued it.
    pub sold_at: Option<CashboxId>,
}

impl Certificate {
    pub fn expired(&self, now: UnixMillis) -> bool {
        now >= self.expires_at
    }

    /// What it can pay now: its balance less what is held; nothing once it has expired.
    pub fn spendable(&self, now: UnixMillis) -> Money {
        if self.expired(now) {
            Money::ZERO
        } else {
            self.balance.minus(self.held)
        }
    }

    /// Never below zero, never more held than there is, never more than its face value.
    pub fn check(&self) {
        assert!(
            Money::ZERO <= self.held && self.held <= self.balance && self.balance <= self.amount,
            "corrupt: certificate {} holds {} of {}",
            self.code,
            self.held,
            self.balance
        );
    }
}

/// What a cheque's tenders take from each certificate, summed by code, in the order each
/// code is first named.
pub fn uses(tenders: &[Tender]) -> Vec<(CertificateCode, Money)> {
    let mut out: Vec<(CertificateCode, Money)> = Vec::new();
    for t in tenders {
        if let TenderKind::Certificate(code) = &t.kind {
            match out.iter_mut().find(|(c, _)| c == code) {
                Some((_, sum)) => *sum = sum.plus(t.amount),
                None => out.push((code.clone(), t.amount)),
            }
        }
    }
    out
}

/// What certificate amounts add up to.
pub fn total(parts: &[(CertificateCode, Money)]) -> Money {
    parts.iter().fold(Money::ZERO, |s, (_, x)| s.plus(*x))
}

/// Whether any tender is a certificate.
pub fn pays_with_certificate(tenders: &[Tender]) -> bool {
    tenders
        .iter()
        .any(|t| matches!(t.kind, TenderKind::Certificate(_)))
}

/// The part of a refund's money (`money`: what it returns less its points) that goes back
/// onto the purchase's certificates: refunds fill the certificates' part of the purchase
/// first, in the order of its tenders, counted over all its refunds (what earlier refunds
/// returned in money is `refunded_money` less `points_returned`).
pub fn refund_shares(p: &Purchase, money: Money) -> Vec<(CertificateCode, Money)> {
    let before = p.refunded_money.0 - p.points_returned.0;
    let after = before + money.0;
    let mut start = 0;
    let mut out = Vec::new();
    for (code, amount) in uses(&p.tenders) {
        let end = start + amount.0;
        let part = after.min(end) - before.max(start);
        if part > 0 {
            out.push((code, Money(part)));
        }
        start = end;
    }
    out
}

fn certificate_of(state: &impl StateStore, code: &CertificateCode) -> Certificate {
    state
        .certificate(code)
        .unwrap_or_else(|| panic!("corrupt: unknown certificate {code}"))
}

/// Holds (`sign` 1) or releases (`sign` -1) what a pending purchase's tenders take from
/// its certificates.
pub fn hold(state: &mut impl StateStore, p: &Purchase, sign: i64) {
    for (code, amount) in uses(&p.tenders) {
        let mut c = certificate_of(state, &code);
        c.held = Money(c.held.0 + sign * amount.0);
        c.check();
        state.put_certificate(c);
    }
}

/// A confirmation: what the purchase held is taken off its certificates.
pub fn post(state: &mut impl StateStore, p: &Purchase) {
    for (code, amount) in uses(&p.tenders) {
        let mut c = certificate_of(state, &code);
        c.held = c.held.minus(amount);
        c.balance = c.balance.minus(amount);
        c.check();
        state.put_certificate(c);
    }
}

/// A refund's money back onto certificates.
pub fn credit(state: &mut impl StateStore, credits: &[(CertificateCode, Money)]) {
    for (code, amount) in credits {
        let mut c = certificate_of(state, code);
        c.balance = c.balance.plus(*amount);
        c.check();
        state.put_certificate(c);
    }
}
