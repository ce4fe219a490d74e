//! Gift certificates, rule by rule: issued by an administrator or sold at a till; a tender
//! that is held while its purchase is pending, taken on confirmation, released by a cancel
//! or an expired hold; refunds back onto it first; never below zero, whoever pays with it.

use super::*;
use loyalty_core::decide::certificate_status;
use loyalty_core::event::Event;

const DAY_MS: i64 = 86_400_000;

fn code(s: &str) -> CertificateCode {
    CertificateCode::new(s).unwrap()
}

fn money(s: &str) -> Money {
    Money::parse(s).unwrap()
}

fn issue(c: &str, amount: &str, days: u32) -> Command {
    Command::IssueCertificate {
        code: code(c),
        amount: money(amount),
        valid_days: days,
    }
}

/// Certificate GC-1 of 50.00 for 30 days, issued by the administrator.
fn gc1(w: &mut World) {
    w.admin_ok(issue("GC-1", "50", 30));
}

fn cert(c: &str, amount: &str) -> Tender {
    tender(TenderKind::Certificate(code(c)), amount)
}

/// Bread for 100.00 (two at 50.00, no discount) paid with these tenders.
fn paid_with(id: &str, tenders: Vec<Tender>) -> Cheque {
    let mut c = World::cheque(Some(GOLD), id, &[("bread", "2", "50")]);
    c.tenders = tenders;
    c
}

fn register_paid(id: &str, tenders: Vec<Tender>) -> Command {
    Command::RegisterPurchase {
        cheque: paid_with(id, tenders),
    }
}

fn status(w: &World, c: &str) -> Certificate {
    let r = certificate_status(&w.state, None, &code(c));
    assert!(r.is_ok(), "{}", r.message);
    r.certificate.unwrap()
}

/// (balance, held) of a certificate.
fn stands(w: &World, c: &str) -> (Money, Money) {
    let c = status(w, c);
    (c.balance, c.held)
}

fn ok(r: Reply) -> Reply {
    assert!(r.is_ok(), "{}", r.message);
    r
}

fn confirm(w: &mut World, id: &str) {
    ok(w.cash(
        POS,
        Command::Confirm {
            cheque: cheque_id(id),
        },
    ));
}

#[test]
fn issuing_needs_a_new_code_an_amount_and_a_validity() {
    let cases = [
        Case {
            name: "an administrator issues 50.00 for 30 days",
            given: nothing,
            when: |_| (operator(), issue("GC-1", "50", 30)),
            then: Code::Ok,
        },
        Case {
            name: "a till sells one",
            given: nothing,
            when: |_| cash(POS, issue("GC-1", "50", 365)),
            then: Code::Ok,
        },
        Case {
            name: "a code issued before",
            given: gc1,
            when: |_| cash(POS, issue("GC-1", "20", 30)),
            then: Code::CertificateExists,
        },
        Case {
            name: "nothing on it",
            given: nothing,
            when: |_| (operator(), issue("GC-2", "0", 30)),
            then: Code::AmountInvalid,
        },
        Case {
            name: "valid for no day",
            given: nothing,
            when: |_| (operator(), issue("GC-2", "10", 0)),
            then: Code::AmountInvalid,
        },
        Case {
            name: "valid for more than ten years",
            given: nothing,
            when: |_| (operator(), issue("GC-2", "10", 3661)),
            then: Code::AmountInvalid,
        },
        Case {
            name: "a disabled till",
            given: nothing,
            when: |_| cash(DISABLED, issue("GC-2", "10", 30)),
            then: Code::CashboxDisabled,
        },
    ];
    for case in &cases {
        check(case);
    }
}

#[test]
fn a_sold_certificate_names_its_till_and_expires_after_its_days() {
    let mut w = World::new();
    let r = ok(w.cash(POS, issue("GC-9", "25.50", 10)));
    let c = r.certificate.expect("the answer shows the certificate");
    assert_eq!(
        (c.amount, c.balance, c.held, c.sold_at),
        (money("25.50"), money("25.50"), Money::ZERO, Some(POS))
    );
    assert_eq!(c.expires_at, UnixMillis(T0.0 + 10 * DAY_MS));
    assert_eq!(status(&w, "GC-9"), c);
    let unknown = certificate_status(&w.state, None, &code("GC-404"));
    assert_eq!(unknown.code, Code::CertificateUnknown);
    let disabled = certificate_status(&w.state, Some(DISABLED), &code("GC-9"));
    assert_eq!(disabled.code, Code::CashboxDisabled);
}

fn gc1_held_40_at_pos(w: &mut World) {
    gc1(w);
    ok(w.cash(
        POS,
        register_paid(
            "c1",
            vec![cert("GC-1", "40"), tender(TenderKind::Cash, "60")],
        ),
    ));
}

fn gc1_expired(w: &mut World) {
    gc1(w);
    w.now = UnixMillis(T0.0 + 30 * DAY_MS);
}

#[test]
fn a_certificate_pays_what_is_left_on_it_while_it_is_valid() {
    let cases = [
        Case {
            name: "50.00 of 100.00, the rest in cash",
            given: gc1,
            when: |_| {
                cash(
                    POS,
                    register_paid(
                        "c1",
                        vec![cert("GC-1", "50"), tender(TenderKind::Cash, "50")],
                    ),
                )
            },
            then: Code::Ok,
        },
        Case {
            name: "more than is on it",
            given: gc1,
            when: |_| {
                cash(
                    POS,
                    register_paid(
                        "c1",
                        vec![cert("GC-1", "60"), tender(TenderKind::Cash, "40")],
                    ),
                )
            },
            then: Code::CertificateInsufficient,
        },
        Case {
            name: "the same certificate twice, together more than is on it",
            given: gc1,
            when: |_| {
                cash(
                    POS,
                    register_paid(
                        "c1",
                        vec![
                            cert("GC-1", "30"),
                            cert("GC-1", "30"),
                            tender(TenderKind::Cash, "40"),
                        ],
                    ),
                )
            },
            then: Code::CertificateInsufficient,
        },
        Case {
            name: "another till while 40.00 are held: 20.00 more",
            given: gc1_held_40_at_pos,
            when: |_| {
                cash(
                    POS2,
                    register_paid(
                        "c2",
                        vec![cert("GC-1", "20"), tender(TenderKind::Cash, "80")],
                    ),
                )
            },
            then: Code::CertificateInsufficient,
        },
        Case {
            name: "another till while 40.00 are held: the 10.00 left",
            given: gc1_held_40_at_pos,
            when: |_| {
                cash(
                    POS2,
                    register_paid(
                        "c2",
                        vec![cert("GC-1", "10"), tender(TenderKind::Cash, "90")],
                    ),
                )
            },
            then: Code::Ok,
        },
        Case {
            name: "an unknown code",
            given: gc1,
            when: |_| {
                cash(
                    POS,
                    register_paid(
                        "c1",
                        vec![cert("GC-2", "10"), tender(TenderKind::Cash, "90")],
                    ),
                )
            },
            then: Code::CertificateUnknown,
        },
        Case {
            name: "on the day it expires",
            given: gc1_expired,
            when: |_| {
                cash(
                    POS,
                    register_paid(
                        "c1",
                        vec![cert("GC-1", "10"), tender(TenderKind::Cash, "90")],
                    ),
                )
            },
            then: Code::CertificateExpired,
        },
        Case {
            name: "tenders short of the cheque",
            given: gc1,
            when: |_| cash(POS, register_paid("c1", vec![cert("GC-1", "50")])),
            then: Code::AmountInvalid,
        },
        Case {
            name: "with points: the points' hold, then a certificate for part of the rest",
            given: gc1,
            when: |_| {
                cash(
                    POS,
                    Command::PayWithBonus {
                        cheque: paid_with(
                            "c1",
                            vec![cert("GC-1", "40"), tender(TenderKind::BankCard, "50")],
                        ),
                        points: pts("10"),
                    },
                )
            },
            then: Code::Ok,
        },
        Case {
            name: "offline",
            given: gc1,
            when: |_| {
                cash(
                    POS,
                    Command::ImportOfflinePurchase {
                        cheque: paid_with(
                            "c1",
                            vec![cert("GC-1", "50"), tender(TenderKind::Cash, "50")],
                        ),
                        points_paid: Points::ZERO,
                        local_discount: Money::ZERO,
                    },
                )
            },
            then: Code::OfflineCertificateRefused,
        },
    ];
    for case in &cases {
        check(case);
    }
}

#[test]
fn partial_use_holds_then_takes_and_the_rest_pays_later() {
    let mut w = World::new();
    gc1(&mut w);
    ok(w.cash(
        POS,
        register_paid(
            "c1",
            vec![cert("GC-1", "30"), tender(TenderKind::Cash, "70")],
        ),
    ));
    assert_eq!(stands(&w, "GC-1"), (money("50"), money("30")));
    confirm(&mut w, "c1");
    assert_eq!(stands(&w, "GC-1"), (money("20"), Money::ZERO));
    ok(w.cash(
        POS,
        register_paid(
            "c2",
            vec![cert("GC-1", "20"), tender(TenderKind::Cash, "80")],
        ),
    ));
    confirm(&mut w, "c2");
    assert_eq!(stands(&w, "GC-1"), (Money::ZERO, Money::ZERO));
    let empty = w.cash(
        POS,
        register_paid(
            "c3",
            vec![cert("GC-1", "0.01"), tender(TenderKind::Cash, "99.99")],
        ),
    );
    assert_eq!(empty.code, Code::CertificateInsufficient);
}

#[test]
fn a_hold_registered_keeps_its_own_amount_and_a_cancel_releases_it() {
    let mut w = World::new();
    gc1(&mut w);
    let tenders = vec![cert("GC-1", "50"), tender(TenderKind::BankCard, "40")];
    ok(w.cash(
        POS,
        Command::PayWithBonus {
            cheque: paid_with("c1", tenders.clone()),
            points: pts("10"),
        },
    ));
    assert_eq!(stands(&w, "GC-1"), (money("50"), money("50")));
    // The registration goes on with the hold: its 50.00 count as its own.
    ok(w.cash(POS, register_paid("c1", tenders)));
    assert_eq!(stands(&w, "GC-1"), (money("50"), money("50")));
    ok(w.cash(
        POS,
        Command::Cancel {
            cheque: cheque_id("c1"),
        },
    ));
    assert_eq!(stands(&w, "GC-1"), (money("50"), Money::ZERO));
}

#[test]
fn an_expired_hold_releases_it_and_is_not_confirmed_late() {
    let mut w = World::new();
    gc1(&mut w);
    ok(w.cash(
        POS,
        register_paid(
            "c1",
            vec![cert("GC-1", "50"), tender(TenderKind::Cash, "50")],
        ),
    ));
    w.now = UnixMillis(T0.0 + w.program.hold_lifetime_secs as i64 * 1000);
    let swept = w.run(Actor::System, Command::ExpireHolds);
    assert!(swept
        .events
        .iter()
        .any(|e| matches!(e, Event::HoldExpired { .. })));
    assert_eq!(stands(&w, "GC-1"), (money("50"), Money::ZERO));
    // Another purchase may take it now; the expired one is not confirmed on top.
    ok(w.cash(
        POS2,
        register_paid(
            "c2",
            vec![cert("GC-1", "50"), tender(TenderKind::Cash, "50")],
        ),
    ));
    let late = w.cash(
        POS,
        Command::Confirm {
            cheque: cheque_id("c1"),
        },
    );
    assert_eq!(late.code, Code::HoldExpired);
    assert_eq!(stands(&w, "GC-1"), (money("50"), money("50")));
}

/// Registers and confirms cheque `id` at POS, paid with these tenders.
fn sold(w: &mut World, id: &str, tenders: Vec<Tender>) {
    ok(w.cash(POS, register_paid(id, tenders)));
    confirm(w, id);
}

fn refund_one(w: &mut World, number: &str) -> RefundSummary {
    let (a, c) = refund_at(POS, POS, number, "1");
    let r = w.run(a, c).reply;
    assert!(r.is_ok(), "{}", r.message);
    r.refund.unwrap()
}

/// GC-1 issued, and cheque c1 of 100.00 sold: 30.00 of it paid from GC-1, 70.00 in cash.
fn sold_partly_by_gc1() -> World {
    let mut w = World::new();
    gc1(&mut w);
    sold(
        &mut w,
        "c1",
        vec![cert("GC-1", "30"), tender(TenderKind::Cash, "70")],
    );
    w
}

#[test]
fn refunds_go_back_onto_the_certificate_first() {
    let mut w = sold_partly_by_gc1();
    assert_eq!(stands(&w, "GC-1"), (money("20"), Money::ZERO));
    // Given a purchase of 100.00, 30.00 of it by certificate: when one of its two 50.00
    // units comes back, then 30.00 go onto the certificate and 20.00 are paid out.
    let first = refund_one(&mut w, "r1");
    assert_eq!(
        (first.certificates_returned, first.money_to_pay_out()),
        (money("30"), money("20"))
    );
    assert_eq!(stands(&w, "GC-1"), (money("50"), Money::ZERO));
    // When the other comes back, then all 50.00 are paid out.
    let second = refund_one(&mut w, "r2");
    assert_eq!(
        (second.certificates_returned, second.money_to_pay_out()),
        (Money::ZERO, money("50"))
    );
    assert_eq!(stands(&w, "GC-1"), (money("50"), Money::ZERO));
}

#[test]
fn a_refund_after_the_certificate_expired_is_paid_out() {
    let mut w = sold_partly_by_gc1();
    w.now = UnixMillis(T0.0 + 31 * DAY_MS);
    let r = refund_one(&mut w, "r1");
    assert_eq!(
        (r.certificates_returned, r.money_to_pay_out()),
        (Money::ZERO, money("50"))
    );
    assert_eq!(stands(&w, "GC-1"), (money("20"), Money::ZERO));
}

#[test]
fn two_certificates_fill_in_the_order_of_the_tenders() {
    let mut w = World::new();
    gc1(&mut w);
    w.admin_ok(issue("GC-2", "50", 30));
    let tenders = vec![
        tender(TenderKind::Cash, "40"),
        cert("GC-2", "20"),
        cert("GC-1", "40"),
    ];
    sold(&mut w, "c1", tenders);
    let r = refund_one(&mut w, "r1");
    // 50.00 back: GC-2's 20.00 first (named first), then 30.00 of GC-1's 40.00.
    assert_eq!(r.certificates_returned, money("50"));
    assert_eq!(stands(&w, "GC-2"), (money("50"), Money::ZERO));
    assert_eq!(stands(&w, "GC-1"), (money("40"), Money::ZERO));
    let r = refund_one(&mut w, "r2");
    assert_eq!(
        (r.certificates_returned, r.money_to_pay_out()),
        (money("10"), money("40"))
    );
    assert_eq!(stands(&w, "GC-1"), (money("50"), Money::ZERO));
}
