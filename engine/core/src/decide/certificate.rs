//! Gift certificates at the till: issuing one (sold at a till or by an administrator), the
//! checks of a cheque that pays with them, the part of a refund that goes back onto them,
//! and the read-only status. The rules are in [`crate::certificate`].

use super::{reject, Decided, Rejection};
use crate::amount::Money;
use crate::certificate::{pays_with_certificate, refund_shares, uses, Certificate};
use crate::command::Cheque;
use crate::event::Event;
use crate::ids::{CashboxId, CertificateCode};
use crate::model::{Purchase, UnixMillis};
use crate::outcome::{Code, Reply};
use crate::state::StateView;

/// The longest validity a certificate may be issued with, in days (ten years).
pub const CERTIFICATE_DAYS_MAX: u32 = 3660;

const DAY_MILLIS: i64 = 86_400_000;

/// A new certificate with its full amount on it, valid for `valid_days` from `now`.
pub(super) fn issue(
    view: &impl StateView,
    sold_at: Option<CashboxId>,
    code: &CertificateCode,
    amount: Money,
    valid_days: u32,
    now: UnixMillis,
) -> Decided {
    if amount.0 <= 0 {
        return Err(reject(Code::AmountInvalid, "amount"));
    }
    if !(1..=CERTIFICATE_DAYS_MAX).contains(&valid_days) {
        return Err(reject(
            Code::AmountInvalid,
            format!("valid_days: 1..={CERTIFICATE_DAYS_MAX}"),
        ));
    }
    if view.certificate(code).is_some() {
        return Err(reject(Code::CertificateExists, code.as_str()));
    }
    let certificate = Certificate {
        code: code.clone(),
        amount,
        balance: amount,
        held: Money::ZERO,
        issued_at: now,
        expires_at: UnixMillis(now.0 + i64::from(valid_days) * DAY_MILLIS),
        sold_at,
    };
    let reply = Reply {
        certificate: Some(certificate.clone()),
        ..Reply::ok()
    };
    Ok((vec![Event::CertificateIssued { certificate }], reply))
}

/// The certificates a cheque pays with: each known, valid and with enough left — what
/// `existing` (the hold this cheque registers) holds of it counts as left.
pub(super) fn check_certificates(
    view: &impl StateView,
    cheque: &Cheque,
    existing: Option<&Purchase>,
    now: UnixMillis,
) -> Result<(), Rejection> {
    let own = existing.map(|p| uses(&p.tenders)).unwrap_or_default();
    for (code, amount) in uses(&cheque.tenders) {
        let c = view
            .certificate(&code)
            .ok_or_else(|| reject(Code::CertificateUnknown, code.as_str()))?;
        if c.expired(now) {
            return Err(reject(Code::CertificateExpired, code.as_str()));
        }
        let held = own
            .iter()
            .find(|(c, _)| *c == code)
            .map_or(Money::ZERO, |(_, x)| *x);
        let left = c.spendable(now).plus(held);
        if amount > left {
            return Err(reject(
                Code::CertificateInsufficient,
                format!("{code}: {amount} > {left}"),
            ));
        }
    }
    Ok(())
}

/// Refused where a certificate cannot pay: offline cheques.
pub(super) fn refuse_offline(cheque: &Cheque) -> Result<(), Rejection> {
    if pays_with_certificate(&cheque.tenders) {
        return Err(reject(
            Code::OfflineCertificateRefused,
            cheque.cheque.as_str(),
        ));
    }
    Ok(())
}

/// Refused where a cheque's tenders are not payments: a return without the receipt.
pub(super) fn refuse_in_return(cheque: &Cheque) -> Result<(), Rejection> {
    if pays_with_certificate(&cheque.tenders) {
        return Err(reject(
            Code::Forbidden,
            "a return without the receipt pays out money, not onto a gift certificate",
        ));
    }
    Ok(())
}

/// What of a refund's money (`money`: what it returns less its points) goes back onto the
/// purchase's certificates: their share by [`refund_shares`], each onto its certificate
/// while it is valid; the share of one that has expired is paid out in money.
pub(super) fn refund_credits(
    view: &impl StateView,
    p: &Purchase,
    money: Money,
    now: UnixMillis,
) -> Vec<(CertificateCode, Money)> {
    refund_shares(p, money)
        .into_iter()
        .filter(|(code, _)| view.certificate(code).is_some_and(|c| !c.expired(now)))
        .collect()
}

/// A certificate as it stands: its balance and what is held. A till asking (`cashbox`)
/// must be enabled.
pub fn certificate_status(
    view: &impl StateView,
    cashbox: Option<CashboxId>,
    code: &CertificateCode,
) -> Reply {
    let run = || -> Result<Reply, Rejection> {
        if let Some(id) = cashbox {
            super::identify::active_cashbox(view, id)?;
        }
        let c = view
            .certificate(code)
            .ok_or_else(|| reject(Code::CertificateUnknown, code.as_str()))?;
        Ok(Reply {
            certificate: Some(c),
            ..Reply::ok()
        })
    };
    run().unwrap_or_else(Reply::from)
}
