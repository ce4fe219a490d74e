//! Rule tables: given a world, when a command runs, then this outcome code — and a
//! refused command changes nothing but its operation record.

use crate::fixture::*;
use loyalty_core::amount::*;
use loyalty_core::command::*;
use loyalty_core::decide::{balance, calculate, operation_status};
use loyalty_core::ids::*;
use loyalty_core::model::*;
use loyalty_core::outcome::*;
use loyalty_core::state::*;

type Given = fn(&mut World);
type When = fn(&World) -> (Actor, Command);

struct Case {
    name: &'static str,
    given: Given,
    when: When,
    then: Code,
}

fn nothing(_: &mut World) {}

fn milk(card_no: Option<&str>, id: &str) -> Cheque {
    World::cheque(card_no, id, &[("milk", "1", "100")])
}

fn pay(cashbox: CashboxId, card_no: Option<&str>, points: &str) -> (Actor, Command) {
    (
        Actor::Cashbox(cashbox),
        Command::PayWithBonus {
            cheque: milk(card_no, "c1"),
            points: pts(points),
        },
    )
}

fn cash(cashbox: CashboxId, command: Command) -> (Actor, Command) {
    (Actor::Cashbox(cashbox), command)
}

fn held(w: &mut World) {
    let (a, c) = pay(POS, Some(GOLD), "10");
    assert!(w.run(a, c).reply.is_ok());
}

fn registered(w: &mut World) {
    held(w);
    assert!(w
        .cash(
            POS,
            Command::RegisterPurchase {
                cheque: milk(Some(GOLD), "c1")
            }
        )
        .is_ok());
}

fn confirmed(w: &mut World) {
    registered(w);
    assert!(w
        .cash(
            POS,
            Command::Confirm {
                cheque: cheque_id("c1")
            }
        )
        .is_ok());
}

fn refund(cashbox: CashboxId, index: u32, qty: &str) -> (Actor, Command) {
    cash(
        cashbox,
        Command::Refund {
            refund: cheque_id("r1"),
            purchase: cheque_id("c1"),
            lines: vec![RefundLine {
                index,
                qty: Qty::parse(qty).unwrap(),
            }],
        },
    )
}

fn offline(card_no: Option<&str>, id: &str, points: &str, discount: &str) -> (Actor, Command) {
    cash(
        POS,
        Command::ImportOfflinePurchase {
            cheque: milk(card_no, id),
            points_paid: pts(points),
            local_discount: Money::parse(discount).unwrap(),
        },
    )
}

const CASES: &[Case] = &[
    Case {
        name: "offline cheque accrues",
        given: nothing,
        when: |_| offline(Some(GOLD), "o1", "0", "0"),
        then: Code::Ok,
    },
    Case {
        name: "offline cheque without a card",
        given: nothing,
        when: |_| offline(None, "o1", "0", "0"),
        then: Code::Ok,
    },
    Case {
        name: "offline cheque paid with points",
        given: nothing,
        when: |_| offline(Some(GOLD), "o1", "1", "0"),
        then: Code::OfflineRedemptionRefused,
    },
    Case {
        name: "offline cheque with a discount granted offline",
        given: nothing,
        when: |_| offline(Some(GOLD), "o1", "0", "0.01"),
        then: Code::OfflineDiscountRefused,
    },
    Case {
        name: "offline cheque with a blocked card",
        given: nothing,
        when: |_| offline(Some(BLOCKED), "o1", "0", "0"),
        then: Code::CardBlocked,
    },
    Case {
        name: "offline cheque number already used",
        given: confirmed,
        when: |_| offline(Some(GOLD), "c1", "0", "0"),
        then: Code::PurchaseWrongState,
    },
    Case {
        name: "offline cheque from a kiosk",
        given: nothing,
        when: |_| {
            (
                Actor::Cashbox(KIOSK),
                Command::ImportOfflinePurchase {
                    cheque: milk(Some(GOLD), "o1"),
                    points_paid: Points::ZERO,
                    local_discount: Money::ZERO,
                },
            )
        },
        then: Code::Ok,
    },
    Case {
        name: "hold on an activated card",
        given: nothing,
        when: |_| pay(POS, Some(GOLD), "10"),
        then: Code::Ok,
    },
    Case {
        name: "issued card may not redeem",
        given: nothing,
        when: |_| pay(POS, Some(ISSUED), "1"),
        then: Code::CardNotActivated,
    },
    Case {
        name: "prepared card may not redeem",
        given: nothing,
        when: |_| pay(POS, Some(PREPARED), "1"),
        then: Code::CardNotActivated,
    },
    Case {
        name: "blocked card",
        given: nothing,
        when: |_| pay(POS, Some(BLOCKED), "1"),
        then: Code::CardBlocked,
    },
    Case {
        name: "unknown card",
        given: nothing,
        when: |_| pay(POS, Some("1234567"), "1"),
        then: Code::CardUnknown,
    },
    Case {
        name: "points need a card",
        given: nothing,
        when: |_| pay(POS, None, "1"),
        then: Code::CardRequired,
    },
    Case {
        name: "more than spendable",
        given: nothing,
        when: |_| pay(POS, Some(EMPTY), "1"),
        then: Code::InsufficientPoints,
    },
    Case {
        name: "more than the cheque allows",
        given: nothing,
        when: |_| pay(POS, Some(GOLD), "45.01"),
        then: Code::RedeemLimitExceeded,
    },
    Case {
        name: "exactly the cheque's limit",
        given: nothing,
        when: |_| pay(POS, Some(GOLD), "45"),
        then: Code::Ok,
    },
    Case {
        name: "zero points",
        given: nothing,
        when: |_| pay(POS, Some(GOLD), "0"),
        then: Code::AmountInvalid,
    },
    Case {
        name: "disabled cashbox",
        given: nothing,
        when: |_| pay(DISABLED, Some(GOLD), "1"),
        then: Code::CashboxDisabled,
    },
    Case {
        name: "unregistered cashbox",
        given: nothing,
        when: |_| pay(CashboxId(99), Some(GOLD), "1"),
        then: Code::CashboxUnknown,
    },
    Case {
        name: "a second hold on one cheque",
        given: held,
        when: |_| pay(POS, Some(GOLD), "1"),
        then: Code::PurchaseWrongState,
    },
    Case {
        name: "cashbox may not administer",
        given: nothing,
        when: |_| cash(POS, Command::BlockCard { number: card(GOLD) }),
        then: Code::Forbidden,
    },
    Case {
        name: "admin may not ring up cheques",
        given: nothing,
        when: |_| {
            (
                operator(),
                Command::Confirm {
                    cheque: cheque_id("c1"),
                },
            )
        },
        then: Code::Forbidden,
    },
    Case {
        name: "confirm before register",
        given: held,
        when: |_| {
            cash(
                POS,
                Command::Confirm {
                    cheque: cheque_id("c1"),
                },
            )
        },
        then: Code::PurchaseWrongState,
    },
    Case {
        name: "confirm unknown purchase",
        given: nothing,
        when: |_| {
            cash(
                POS,
                Command::Confirm {
                    cheque: cheque_id("c1"),
                },
            )
        },
        then: Code::PurchaseUnknown,
    },
    Case {
        name: "confirm registered",
        given: registered,
        when: |_| {
            cash(
                POS,
                Command::Confirm {
                    cheque: cheque_id("c1"),
                },
            )
        },
        then: Code::Ok,
    },
    Case {
        name: "double confirm",
        given: confirmed,
        when: |_| {
            cash(
                POS,
                Command::Confirm {
                    cheque: cheque_id("c1"),
                },
            )
        },
        then: Code::PurchaseWrongState,
    },
    Case {
        name: "confirm after expiry",
        given: |w| {
            registered(w);
            w.now = w.now.plus_secs(w.program.hold_lifetime_secs);
        },
        when: |_| {
            cash(
                POS,
                Command::Confirm {
                    cheque: cheque_id("c1"),
                },
            )
        },
        then: Code::HoldExpired,
    },
    Case {
        name: "register after the hold expired",
        given: |w| {
            held(w);
            w.now = w.now.plus_secs(w.program.hold_lifetime_secs);
        },
        when: |_| {
            cash(
                POS,
                Command::RegisterPurchase {
                    cheque: milk(Some(GOLD), "c1"),
                },
            )
        },
        then: Code::HoldExpired,
    },
    Case {
        name: "confirm after the sweep expired it",
        given: |w| {
            registered(w);
            w.now = w.now.plus_secs(w.program.hold_lifetime_secs);
            assert_eq!(w.run(Actor::System, Command::ExpireHolds).events.len(), 1);
        },
        when: |_| {
            cash(
                POS,
                Command::Confirm {
                    cheque: cheque_id("c1"),
                },
            )
        },
        then: Code::PurchaseWrongState,
    },
    Case {
        name: "cancel a hold",
        given: held,
        when: |_| {
            cash(
                POS,
                Command::Cancel {
                    cheque: cheque_id("c1"),
                },
            )
        },
        then: Code::Ok,
    },
    Case {
        name: "cancel confirmed",
        given: confirmed,
        when: |_| {
            cash(
                POS,
                Command::Cancel {
                    cheque: cheque_id("c1"),
                },
            )
        },
        then: Code::PurchaseWrongState,
    },
    Case {
        name: "another cashbox's purchase is invisible",
        given: registered,
        when: |_| {
            cash(
                POS2,
                Command::Confirm {
                    cheque: cheque_id("c1"),
                },
            )
        },
        then: Code::PurchaseUnknown,
    },
    Case {
        name: "register with another card than the hold",
        given: held,
        when: |_| {
            cash(
                POS,
                Command::RegisterPurchase {
                    cheque: milk(Some(EMPTY), "c1"),
                },
            )
        },
        then: Code::CardMismatch,
    },
    Case {
        name: "register a cheque without card",
        given: nothing,
        when: |_| {
            cash(
                POS,
                Command::RegisterPurchase {
                    cheque: milk(None, "c9"),
                },
            )
        },
        then: Code::Ok,
    },
    Case {
        name: "register with a blocked card",
        given: nothing,
        when: |_| {
            cash(
                POS,
                Command::RegisterPurchase {
                    cheque: milk(Some(BLOCKED), "c9"),
                },
            )
        },
        then: Code::CardBlocked,
    },
    Case {
        name: "register with a prepared card accrues",
        given: nothing,
        when: |_| {
            cash(
                POS,
                Command::RegisterPurchase {
                    cheque: milk(Some(PREPARED), "c9"),
                },
            )
        },
        then: Code::Ok,
    },
    Case {
        name: "empty cheque",
        given: nothing,
        when: |_| {
            cash(
                POS,
                Command::RegisterPurchase {
                    cheque: World::cheque(Some(GOLD), "c9", &[]),
                },
            )
        },
        then: Code::EmptyCheque,
    },
    Case {
        name: "too many lines",
        given: nothing,
        when: |w| {
            cash(
                POS,
                Command::RegisterPurchase {
                    cheque: World::cheque(
                        Some(GOLD),
                        "c9",
                        &vec![("milk", "1", "1"); w.program.lines_per_cheque_max + 1],
                    ),
                },
            )
        },
        then: Code::TooManyLines,
    },
    Case {
        name: "refund part of a line",
        given: confirmed,
        when: |_| refund(POS, 0, "0.5"),
        then: Code::Ok,
    },
    Case {
        name: "refund at a kiosk",
        given: confirmed,
        when: |_| refund(KIOSK, 0, "1"),
        then: Code::RefundAtKiosk,
    },
    Case {
        name: "refund before confirm",
        given: registered,
        when: |_| refund(POS, 0, "1"),
        then: Code::PurchaseWrongState,
    },
    Case {
        name: "refund more than bought",
        given: confirmed,
        when: |_| refund(POS, 0, "1.001"),
        then: Code::RefundExceedsPurchase,
    },
    Case {
        name: "refund an unknown line",
        given: confirmed,
        when: |_| refund(POS, 1, "1"),
        then: Code::RefundLineUnknown,
    },
    Case {
        name: "refund an unknown purchase",
        given: nothing,
        when: |_| refund(POS, 0, "1"),
        then: Code::PurchaseUnknown,
    },
    Case {
        name: "refund cheque reused",
        given: |w| {
            confirmed(w);
            let (a, c) = refund(POS, 0, "0.5");
            assert!(w.run(a, c).reply.is_ok());
        },
        when: |_| refund(POS, 0, "0.5"),
        then: Code::RefundExists,
    },
    Case {
        name: "cashbox registered twice",
        given: nothing,
        when: |_| {
            (
                operator(),
                Command::RegisterCashbox {
                    id: POS,
                    store: StoreId(1),
                    kind: CashboxKind::Pos,
                    secret_sha256: [0; 32],
                    public_key: None,
                },
            )
        },
        then: Code::CashboxExists,
    },
    Case {
        name: "card issued twice",
        given: nothing,
        when: |_| {
            (
                operator(),
                Command::IssueCard {
                    number: card(GOLD),
                    card_type: "Gold".into(),
                    status: CardStatus::Issued,
                    account: None,
                    holder_name: String::new(),
                    holder_phone: String::new(),
                },
            )
        },
        then: Code::CardExists,
    },
    Case {
        name: "card issued to an unknown account",
        given: nothing,
        when: |_| {
            (
                operator(),
                Command::IssueCard {
                    number: card("99"),
                    card_type: "Gold".into(),
                    status: CardStatus::Issued,
                    account: Some(AccountId(999)),
                    holder_name: String::new(),
                    holder_phone: String::new(),
                },
            )
        },
        then: Code::AccountUnknown,
    },
    Case {
        name: "blocked card cannot be activated",
        given: nothing,
        when: |_| {
            (
                operator(),
                Command::ActivateCard {
                    number: card(BLOCKED),
                },
            )
        },
        then: Code::CardBlocked,
    },
    Case {
        name: "offer that ends before it starts",
        given: nothing,
        when: |_| {
            (
                operator(),
                Command::UpsertOffer {
                    offer: Offer::new(
                        OfferId(9),
                        OfferEffect::Discount(Rate::Percent(Percent::parse("1").unwrap())),
                        OfferScope::Cheque,
                        local(10),
                        local(10),
                    ),
                },
            )
        },
        then: Code::OfferInvalid,
    },
    Case {
        name: "manual credit",
        given: nothing,
        when: |_| adjust(GOLD, "25.50"),
        then: Code::Ok,
    },
    Case {
        name: "manual debit of everything spendable",
        given: nothing,
        when: |_| adjust(GOLD, "-100"),
        then: Code::Ok,
    },
    Case {
        name: "manual debit of held points",
        given: held,
        when: |_| adjust(GOLD, "-95"),
        then: Code::InsufficientPoints,
    },
    Case {
        name: "manual debit below zero",
        given: nothing,
        when: |_| adjust(EMPTY, "-0.01"),
        then: Code::InsufficientPoints,
    },
    Case {
        name: "manual adjustment of zero",
        given: nothing,
        when: |_| adjust(GOLD, "0"),
        then: Code::AmountInvalid,
    },
    Case {
        name: "manual adjustment beyond the largest balance",
        given: |w| w.admin_ok(adjust(GOLD, "99999999899.99").1),
        when: |_| adjust(GOLD, "1"),
        then: Code::AmountInvalid,
    },
    Case {
        name: "manual adjustment of an unknown card",
        given: nothing,
        when: |_| adjust("99", "1"),
        then: Code::CardUnknown,
    },
    Case {
        name: "a cashbox cannot adjust points",
        given: nothing,
        when: |_| cash(POS, adjust(GOLD, "1").1),
        then: Code::Forbidden,
    },
    Case {
        name: "signing key of an unknown cashbox",
        given: nothing,
        when: |_| {
            (
                operator(),
                Command::SetCashboxKey {
                    id: CashboxId(99),
                    public_key: Some([1; 32]),
                },
            )
        },
        then: Code::CashboxUnknown,
    },
    Case {
        name: "a cashbox cannot set signing keys",
        given: nothing,
        when: |_| {
            cash(
                POS,
                Command::SetCashboxKey {
                    id: POS,
                    public_key: None,
                },
            )
        },
        then: Code::Forbidden,
    },
    Case {
        name: "a replaced card is refused",
        given: |w| w.admin_ok(replace(GOLD, NEW_CARD).1),
        when: |_| pay(POS, Some(GOLD), "1"),
        then: Code::CardReplaced,
    },
    Case {
        name: "a replaced card cannot be replaced again",
        given: |w| w.admin_ok(replace(GOLD, NEW_CARD).1),
        when: |_| replace(GOLD, "2770000000901"),
        then: Code::CardReplaced,
    },
    Case {
        name: "replacing with a card that already exists",
        given: nothing,
        when: |_| cash(POS, replace(GOLD, EMPTY).1),
        then: Code::CardExists,
    },
    Case {
        name: "replacing an unknown card",
        given: nothing,
        when: |_| cash(POS, replace("99", NEW_CARD).1),
        then: Code::CardUnknown,
    },
    Case {
        name: "replacing at a disabled cashbox",
        given: nothing,
        when: |_| cash(DISABLED, replace(GOLD, NEW_CARD).1),
        then: Code::CashboxDisabled,
    },
    Case {
        name: "registering the customer of an activated card",
        given: nothing,
        when: |_| cash(POS, register_customer(GOLD)),
        then: Code::CardStatusInvalid,
    },
    Case {
        name: "registering the customer of a blocked card",
        given: nothing,
        when: |_| cash(POS, register_customer(BLOCKED)),
        then: Code::CardBlocked,
    },
    Case {
        name: "registering the customer of an unknown card",
        given: nothing,
        when: |_| cash(POS, register_customer("99")),
        then: Code::CardUnknown,
    },
    Case {
        name: "a till issues new cards only as Issued",
        given: nothing,
        when: |_| {
            cash(
                POS,
                Command::IssueCard {
                    number: card(NEW_CARD),
                    card_type: "Gold".into(),
                    status: CardStatus::Activated,
                    account: None,
                    holder_name: String::new(),
                    holder_phone: String::new(),
                },
            )
        },
        then: Code::Forbidden,
    },
    Case {
        name: "a till cannot block accounts",
        given: nothing,
        when: |_| {
            cash(
                POS,
                Command::SetAccountBlocked {
                    card: card(GOLD),
                    blocked: true,
                },
            )
        },
        then: Code::Forbidden,
    },
    Case {
        name: "a blocked account blocks all its cards",
        given: |w| {
            w.admin_ok(replace(GOLD, NEW_CARD).1);
            w.admin_ok(Command::SetAccountBlocked {
                card: card(NEW_CARD),
                blocked: true,
            });
        },
        when: |_| pay(POS, Some(NEW_CARD), "1"),
        then: Code::AccountBlocked,
    },
    Case {
        name: "a phone may accrue but not redeem",
        given: phone_registered,
        when: |_| pay_with(vec![phone(PHONE)], "1"),
        then: Code::RedeemNotAllowed,
    },
    Case {
        name: "an unregistered phone",
        given: nothing,
        when: |_| register_with(vec![phone(PHONE)]),
        then: Code::PhoneUnknown,
    },
    Case {
        name: "a phone registered to another customer",
        given: phone_registered,
        when: |_| cash(POS, register_customer(PREPARED)),
        then: Code::PhoneExists,
    },
    Case {
        name: "a magnetic stripe of a blocked card",
        given: nothing,
        when: |_| pay_with(vec![stripe(BLOCKED)], "1"),
        then: Code::CardBlocked,
    },
    Case {
        name: "a magnetic stripe of a replaced card",
        given: |w| w.admin_ok(replace(GOLD, NEW_CARD).1),
        when: |_| pay_with(vec![stripe(GOLD)], "1"),
        then: Code::CardReplaced,
    },
    Case {
        name: "an auto value that is neither card, stripe nor phone",
        given: nothing,
        when: |_| register_with(vec![Presented::Auto("abc-1".into())]),
        then: Code::IdentifierInvalid,
    },
    Case {
        name: "auto stripe data without a card number",
        given: nothing,
        when: |_| register_with(vec![Presented::Auto("%B^NOBODY^?".into())]),
        then: Code::IdentifierInvalid,
    },
    Case {
        name: "an auto card number nobody has",
        given: nothing,
        when: |_| register_with(vec![Presented::Auto("2770000000999".into())]),
        then: Code::CardUnknown,
    },
    Case {
        name: "an auto phone nobody registered",
        given: nothing,
        when: |_| register_with(vec![Presented::Auto("+44 20 7946 0958".into())]),
        then: Code::PhoneUnknown,
    },
    Case {
        name: "a prepared card found by magnetic stripe may not redeem",
        given: nothing,
        when: |_| pay_with(vec![stripe(PREPARED)], "1"),
        then: Code::CardNotActivated,
    },
    Case {
        name: "a number in a range but with a wrong check digit",
        given: stand_range,
        when: |_| register_with(vec![Presented::Auto("2770000001008".into())]),
        then: Code::CardUnknown,
    },
    Case {
        name: "a new card from a range may not redeem",
        given: stand_range,
        when: |_| pay(POS, Some(STAND_CARD), "1"),
        then: Code::CardNotActivated,
    },
    Case {
        name: "paying by a card with a PIN, without the PIN",
        given: gold_pin,
        when: |_| pay(POS, Some(GOLD), "1"),
        then: Code::PinRequired,
    },
    Case {
        name: "paying by a card with a PIN, with a wrong PIN",
        given: gold_pin,
        when: |_| {
            let (a, mut c) = pay(POS, Some(GOLD), "1");
            if let Command::PayWithBonus { cheque, .. } = &mut c {
                cheque.pin = Some(Pin::new("0000").unwrap());
            }
            (a, c)
        },
        then: Code::PinInvalid,
    },
    Case {
        name: "a QR code of a card without a QR secret",
        given: nothing,
        when: |w| pay_with(vec![qr_of(w, ISSUED, 0)], "1"),
        then: Code::QrInvalid,
    },
    Case {
        name: "a wrong QR code",
        given: gold_qr,
        when: |w| {
            let Presented::Qr { number, code } = qr_of(w, GOLD, 0) else {
                unreachable!()
            };
            pay_with(
                vec![Presented::Qr {
                    number,
                    code: (code + 1) % 1_000_000,
                }],
                "1",
            )
        },
        then: Code::QrInvalid,
    },
    Case {
        name: "an expired QR code",
        given: gold_qr,
        when: |w| pay_with(vec![qr_of(w, GOLD, 3)], "1"),
        then: Code::QrExpired,
    },
    Case {
        name: "a QR code another purchase used",
        given: |w| {
            gold_qr(w);
            let (a, c) = pay_with(vec![qr_of(w, GOLD, 0)], "1");
            assert!(w.run(a, c).reply.is_ok());
        },
        when: |w| {
            let mut c = with_ids(vec![qr_of(w, GOLD, 0)]);
            c.cheque = cheque_id("c9");
            cash(POS, Command::RegisterPurchase { cheque: c })
        },
        then: Code::QrReplayed,
    },
    Case {
        name: "an unknown product chosen as a favourite",
        given: nothing,
        when: |_| cash(POS, favourites(GOLD, &["milk", "caviar"])),
        then: Code::ProductInvalid,
    },
    Case {
        name: "favourites of a blocked card",
        given: nothing,
        when: |_| cash(POS, favourites(BLOCKED, &["milk"])),
        then: Code::CardBlocked,
    },
    Case {
        name: "tenders that do not add up to what is left to pay",
        given: nothing,
        when: |_| {
            let mut c = World::cheque(Some(GOLD), "t1", &[("bread", "1", "100")]);
            c.tenders = vec![
                tender(TenderKind::BankCard, "60"),
                tender(TenderKind::Cash, "30"),
            ];
            cash(KIOSK, Command::RegisterPurchase { cheque: c })
        },
        then: Code::AmountInvalid,
    },
    Case {
        name: "offline tenders that do not add up to the cheque",
        given: nothing,
        when: |_| {
            let mut c = World::cheque(Some(GOLD), "t2", &[("bread", "1", "100")]);
            c.tenders = vec![tender(TenderKind::Cash, "99.99")];
            cash(
                POS,
                Command::ImportOfflinePurchase {
                    cheque: c,
                    points_paid: Points::ZERO,
                    local_discount: Money::ZERO,
                },
            )
        },
        then: Code::AmountInvalid,
    },
];

fn tender(kind: TenderKind, amount: &str) -> Tender {
    Tender {
        kind,
        amount: Money::parse(amount).unwrap(),
    }
}

fn favourites(card_no: &str, products: &[&str]) -> Command {
    Command::ChooseFavourites {
        card: card(card_no),
        products: products
            .iter()
            .map(|p| ProductCode::new(p).unwrap())
            .collect(),
    }
}

const QR_SECRET: [u8; 32] = [3; 32];

fn gold_qr(w: &mut World) {
    w.admin_ok(Command::IssueQrSecret {
        card: card(GOLD),
        secret: QR_SECRET,
    });
}

/// The QR code the app shows for a card, `windows_ago` windows before now.
fn qr_of(w: &World, card_no: &str, windows_ago: i64) -> Presented {
    let number = card(card_no);
    let code = loyalty_core::qr::code(
        &QR_SECRET,
        &number,
        loyalty_core::qr::window(w.now) - windows_ago,
    );
    Presented::Qr { number, code }
}

fn gold_pin(w: &mut World) {
    let r = w.cash(
        POS,
        Command::SetCardPin {
            card: card(GOLD),
            pin: Some(Pin::new("4321").unwrap()),
        },
    );
    assert!(r.is_ok(), "{}", r.message);
}

/// A range of stand cards: 13 digits from 2770000001, EAN-13 check digit.
fn stand_range(w: &mut World) {
    w.admin_ok(Command::SetCardRange {
        range: CardRange {
            prefix: "2770000001".into(),
            length: 13,
            check: CheckDigit::Ean13,
            card_type: "Stand".into(),
        },
        active: true,
    });
}

const STAND_CARD: &str = "2770000001007";

const PHONE: &str = "8 (999) 000-11-22";

fn phone(p: &str) -> Presented {
    Presented::Phone(Phone::parse(p).unwrap())
}

fn stripe(card_no: &str) -> Presented {
    Presented::Card {
        number: card_from_magstripe(&format!("%B{card_no}^HOLDER/A^2712?")).unwrap(),
        via: IdKind::MagStripe,
    }
}

fn with_ids(ids: Vec<Presented>) -> Cheque {
    let mut c = milk(None, "c1");
    c.presented = ids;
    c
}

fn pay_with(ids: Vec<Presented>, points: &str) -> (Actor, Command) {
    cash(
        POS,
        Command::PayWithBonus {
            cheque: with_ids(ids),
            points: pts(points),
        },
    )
}

fn register_with(ids: Vec<Presented>) -> (Actor, Command) {
    cash(
        POS,
        Command::RegisterPurchase {
            cheque: with_ids(ids),
        },
    )
}

/// The customer of the issued card registers with the phone `PHONE`.
fn phone_registered(w: &mut World) {
    let r = w.cash(POS, register_customer(ISSUED));
    assert!(r.is_ok(), "{}", r.message);
}

const NEW_CARD: &str = "2770000000900";

fn replace(old: &str, new: &str) -> (Actor, Command) {
    (
        operator(),
        Command::ReplaceCard {
            old: card(old),
            new: card(new),
        },
    )
}

fn register_customer(card_no: &str) -> Command {
    Command::RegisterCustomer {
        card: card(card_no),
        name: "Ivan".into(),
        phone: Phone::parse(PHONE).unwrap().to_string(),
        consent: true,
    }
}

/// A manual correction by the fixtures' operator.
fn adjust(card_no: &str, delta: &str) -> (Actor, Command) {
    let (negative, digits) = match delta.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, delta),
    };
    let p = Points::parse(digits).unwrap();
    (
        operator(),
        Command::AdjustPoints {
            card: card(card_no),
            delta: if negative { Points(-p.0) } else { p },
            reason: "goodwill".into(),
        },
    )
}

/// Runs one case on a fresh world; a refusal must leave the projection as it was.
fn check(case: &Case) {
    let mut w = World::new();
    (case.given)(&mut w);
    let before = w.state.projection.clone();
    let (actor, command) = (case.when)(&w);
    let out = w.run(actor, command);
    assert_eq!(
        out.reply.code, case.then,
        "{}: {}",
        case.name, out.reply.message
    );
    if case.then != Code::Ok {
        assert!(
            out.events.is_empty(),
            "{}: a refusal produced events",
            case.name
        );
        assert_eq!(
            w.state.projection, before,
            "{}: a refusal changed state",
            case.name
        );
        assert!(
            !out.reply.message.is_empty(),
            "{}: refusal without message",
            case.name
        );
    }
}

#[test]
fn rule_table() {
    for case in CASES {
        check(case);
    }
}

#[test]
fn same_operation_id_with_other_content_conflicts_and_same_content_replays() {
    let mut w = World::new();
    let req = Request {
        op: OpId(1 << 102),
        actor: Actor::Cashbox(POS),
        command: Command::PayWithBonus {
            cheque: milk(Some(GOLD), "c1"),
            points: pts("10"),
        },
    };
    let first = w.run_req(&req);
    assert!(first.reply.is_ok());
    let again = w.run_req(&req);
    assert!(again.replayed && again.events.is_empty());
    assert_eq!(again.reply, first.reply);
    let other = Request {
        command: Command::PayWithBonus {
            cheque: milk(Some(GOLD), "c1"),
            points: pts("11"),
        },
        ..req.clone()
    };
    let before = w.state.projection.clone();
    let conflict = w.run_req(&other);
    assert_eq!(conflict.reply.code, Code::OperationConflict);
    assert_eq!(w.state.projection, before);
    // A refusal is recorded too: replaying it gives the same refusal even if the state changed.
    let refused = Request {
        op: OpId(1 << 103),
        actor: Actor::Cashbox(POS),
        command: Command::Confirm {
            cheque: cheque_id("c1"),
        },
    };
    assert_eq!(w.run_req(&refused).reply.code, Code::PurchaseWrongState);
    assert!(w
        .cash(
            POS,
            Command::RegisterPurchase {
                cheque: milk(Some(GOLD), "c1")
            }
        )
        .is_ok());
    assert_eq!(w.run_req(&refused).reply.code, Code::PurchaseWrongState);
}

#[test]
fn purchase_with_points_from_calculation_to_refund() {
    let mut w = World::new();
    // Given GOLD has 100 points and milk (dairy) is 10% off with 5% accrual.
    let cheque = World::cheque(
        Some(GOLD),
        "c1",
        &[("milk", "2", "50"), ("bread", "1", "20")],
    );
    let calc = calculate(&w.state, &w.program, POS, &cheque, w.now);
    assert!(calc.is_ok());
    let t = calc.totals.unwrap();
    assert_eq!((t.amount, t.discount), (Money(12000), Money(1000)));
    assert_eq!(t.redeem_max, pts("55")); // 50% of (90 + 20)
    assert_eq!(t.accrual, pts("5.5")); // 5% of 110
    assert_eq!(calc.balance.unwrap().balance, pts("100"));
    assert_eq!(calc.holder.as_ref().unwrap().masked_card, "*********0017");
    // When the customer pays 11 points, then they are held.
    let hold = w.cash(
        POS,
        Command::PayWithBonus {
            cheque: cheque.clone(),
            points: pts("11"),
        },
    );
    assert!(hold.is_ok(), "{}", hold.message);
    assert_eq!(
        hold.balance.unwrap(),
        BalanceInfo {
            balance: pts("100"),
            held: pts("11"),
            spendable: pts("89")
        }
    );
    // Paid points are split in proportion to the caps 45 : 10.
    assert_eq!(
        hold.lines.iter().map(|l| l.paid).collect::<Vec<_>>(),
        vec![pts("9"), pts("2")]
    );
    let reg = w.cash(POS, Command::RegisterPurchase { cheque });
    assert_eq!(reg.totals.unwrap().accrual, pts("4.95")); // 5% of (81 + 18) = 4.95
    let conf = w.cash(
        POS,
        Command::Confirm {
            cheque: cheque_id("c1"),
        },
    );
    assert_eq!(
        conf.balance.unwrap(),
        BalanceInfo {
            balance: pts("93.95"),
            held: Points::ZERO,
            spendable: pts("93.95")
        }
    );
    // Refund one of the two milks: half of that line's paid points back, half its accrual taken.
    let r = w.cash(
        POS,
        Command::Refund {
            refund: cheque_id("r1"),
            purchase: cheque_id("c1"),
            lines: vec![RefundLine {
                index: 0,
                qty: Qty(1000),
            }],
        },
    );
    let s = r.refund.unwrap();
    assert_eq!(
        (s.money_returned, s.points_returned, s.accrual_reversed),
        (Money(4500), pts("4.5"), pts("2.03"))
    );
    assert_eq!(w.balance(GOLD), pts("96.42"));
    // The rest of the cheque: totals end exactly at the purchase.
    let r2 = w.cash(
        POS,
        Command::Refund {
            refund: cheque_id("r2"),
            purchase: cheque_id("c1"),
            lines: vec![
                RefundLine {
                    index: 0,
                    qty: Qty(1000),
                },
                RefundLine {
                    index: 1,
                    qty: Qty(1000),
                },
            ],
        },
    );
    assert!(r2.is_ok());
    let p = w
        .state
        .purchase(&PurchaseKey {
            cashbox: POS,
            cheque: cheque_id("c1"),
        })
        .unwrap();
    assert_eq!(
        (p.refunded_money, p.points_returned, p.accrual_reversed),
        (Money(11000), pts("11"), pts("4.95"))
    );
    assert_eq!(w.balance(GOLD), pts("100"));
}

#[test]
fn offers_follow_the_cashbox_local_time_and_minimal_prices() {
    let w = World::new();
    let at = |h: u32, lines: &[(&str, &str, &str)]| {
        let mut c = World::cheque(Some(GOLD), "c", lines);
        c.local_time = local(h);
        calculate(&w.state, &w.program, POS, &c, w.now)
    };
    // Wine earns 20% in the evening, 5% at noon; its minimal price caps points at 10.
    assert_eq!(
        at(19, &[("wine", "1", "100")]).totals.unwrap().accrual,
        pts("20")
    );
    let noon = at(12, &[("wine", "1", "100")]).totals.unwrap();
    assert_eq!((noon.accrual, noon.redeem_max), (pts("5"), pts("10")));
    // After hours nothing applies; promotional lines get no discount.
    let late = at(23, &[("milk", "1", "100")]).totals.unwrap();
    assert_eq!((late.discount, late.accrual), (Money::ZERO, Points::ZERO));
    assert_eq!(
        at(12, &[("promo", "1", "100")]).totals.unwrap().discount,
        Money::ZERO
    );
    // Products are found by barcode too.
    assert_eq!(
        at(12, &[("46milk", "1", "100")]).totals.unwrap().discount,
        Money(1000)
    );
    // Without a card: discounts, no accrual, nothing redeemable, no balance.
    let mut anon = World::cheque(None, "c", &[("milk", "1", "100")]);
    anon.local_time = local(12);
    let r = calculate(&w.state, &w.program, POS, &anon, w.now);
    let t = r.totals.unwrap();
    assert_eq!(
        (t.discount, t.accrual, t.redeem_max),
        (Money(1000), Points::ZERO, Points::ZERO)
    );
    assert!(r.balance.is_none());
    // Blocked card: refused, nothing calculated.
    let blocked = calculate(
        &w.state,
        &w.program,
        POS,
        &World::cheque(Some(BLOCKED), "c", &[("milk", "1", "1")]),
        w.now,
    );
    assert_eq!(
        (blocked.code, blocked.message.as_str(), blocked.totals),
        (Code::CardBlocked, "card is blocked: *********0048", None)
    );
    // Issued card: accrues, may not redeem.
    let issued = calculate(
        &w.state,
        &w.program,
        POS,
        &World::cheque(Some(ISSUED), "c", &[("bread", "1", "100")]),
        w.now,
    );
    assert_eq!(issued.totals.unwrap().redeem_max, Points::ZERO);
}

#[test]
fn expiry_releases_holds_and_lists_nothing_after() {
    let mut w = World::new();
    held(&mut w);
    assert_eq!(w.account(GOLD).held, pts("10"));
    w.now = w.now.plus_secs(w.program.hold_lifetime_secs - 1);
    assert!(w.run(Actor::System, Command::ExpireHolds).events.is_empty());
    w.now = w.now.plus_secs(1);
    assert_eq!(w.state.pending_due(w.now, 10).len(), 1);
    let out = w.run(Actor::System, Command::ExpireHolds);
    assert_eq!(out.events.len(), 1);
    assert_eq!(w.account(GOLD).held, Points::ZERO);
    assert!(w.state.pending_due(w.now, 10).is_empty());
    // Expired purchases stay listable.
    let expired = w.state.expired_between(T0, w.now, 10);
    assert_eq!(
        expired,
        vec![PurchaseKey {
            cashbox: POS,
            cheque: cheque_id("c1")
        }]
    );
    assert!(w
        .state
        .expired_between(UnixMillis(w.now.0 + 1), UnixMillis(i64::MAX), 10)
        .is_empty());
    assert_eq!(w.cash(POS, Command::ExpireHolds).code, Code::Forbidden);
}

#[test]
fn queries_answer_without_changing_anything() {
    let mut w = World::new();
    let req = Request {
        op: OpId(1 << 100),
        actor: Actor::Cashbox(POS),
        command: Command::RegisterPurchase {
            cheque: milk(Some(GOLD), "q"),
        },
    };
    let original = w.run_req(&req).reply;
    let before = w.state.projection.clone();
    assert_eq!(
        operation_status(&w.state, Actor::Cashbox(POS), OpId(1 << 100))
            .unwrap()
            .reply,
        original
    );
    assert!(operation_status(&w.state, Actor::Cashbox(POS2), OpId(1 << 100)).is_none());
    assert!(operation_status(&w.state, Actor::Cashbox(POS), OpId(1 << 101)).is_none());
    assert_eq!(
        balance(&w.state, POS, Some(&card(GOLD)), &[], w.now)
            .balance
            .unwrap()
            .balance,
        pts("100")
    );
    assert_eq!(
        balance(&w.state, POS, Some(&card(BLOCKED)), &[], w.now).code,
        Code::CardBlocked
    );
    assert_eq!(
        balance(&w.state, DISABLED, Some(&card(GOLD)), &[], w.now).code,
        Code::CashboxDisabled
    );
    assert_eq!(w.state.projection, before);
}

#[test]
fn refund_never_pushes_the_balance_below_zero() {
    let mut w = World::new();
    // EMPTY earns 5 points, spends them all on another cheque, then returns the first.
    w.buy(EMPTY, "a", &[("bread", "1", "100")]);
    assert_eq!(w.balance(EMPTY), pts("5"));
    let spend = World::cheque(Some(EMPTY), "b", &[("bread", "1", "100")]);
    assert!(w
        .cash(
            POS,
            Command::PayWithBonus {
                cheque: spend.clone(),
                points: pts("5")
            }
        )
        .is_ok());
    assert!(w
        .cash(POS, Command::RegisterPurchase { cheque: spend })
        .is_ok());
    assert!(w
        .cash(
            POS,
            Command::Confirm {
                cheque: cheque_id("b")
            }
        )
        .is_ok());
    let start = w.balance(EMPTY);
    let r = w.cash(
        POS,
        Command::Refund {
            refund: cheque_id("ra"),
            purchase: cheque_id("a"),
            lines: vec![RefundLine {
                index: 0,
                qty: Qty(1000),
            }],
        },
    );
    let s = r.refund.unwrap();
    assert_eq!(s.accrual_reversed.plus(s.accrual_unrecovered), pts("5"));
    assert_eq!(w.balance(EMPTY), start.minus(s.accrual_reversed));
    assert!(w.balance(EMPTY).0 >= 0);
}

#[test]
fn offline_cheques_use_the_offers_valid_when_they_were_bought() {
    let mut w = World::new();
    // An offer that ran only on 22 November and has ended since.
    let day = |d: u32, h: u32| {
        chrono::NaiveDate::from_ymd_opt(2026, 11, d)
            .unwrap()
            .and_hms_opt(h, 0, 0)
            .unwrap()
    };
    w.admin_ok(Command::UpsertOffer {
        // Replaces the base rate while it runs.
        offer: Offer {
            priority: 10,
            exclusive: true,
            ..Offer::new(
                OfferId(50),
                OfferEffect::Accrual(Rate::Percent(Percent::parse("30").unwrap())),
                OfferScope::Cheque,
                day(22, 0),
                day(23, 0),
            )
        },
    });
    let import =
        |w: &mut World, id: &str, at: chrono::NaiveDateTime, lines: &[(&str, &str, &str)]| {
            let mut cheque = World::cheque(Some(EMPTY), id, lines);
            cheque.local_time = at;
            w.cash(
                POS,
                Command::ImportOfflinePurchase {
                    cheque,
                    points_paid: Points::ZERO,
                    local_discount: Money::ZERO,
                },
            )
        };
    // Bought yesterday while the offer ran: 30%, although it has ended by the upload.
    let r = import(&mut w, "o1", day(22, 15), &[("bread", "1", "100")]);
    assert_eq!(r.totals.unwrap().accrual, pts("30"));
    // Bought today: the ended offer does not apply, the all-day 5% does.
    let r = import(&mut w, "o2", day(23, 12), &[("bread", "1", "100")]);
    assert_eq!(r.totals.unwrap().accrual, pts("5"));
    // The evening wine offer applies to a cheque rung up in the evening, not at noon.
    assert_eq!(
        import(&mut w, "o3", day(23, 19), &[("wine", "1", "100")])
            .totals
            .unwrap()
            .accrual,
        pts("20")
    );
    // Offers that started after the purchase do not apply (nothing ran on 21 November).
    assert_eq!(
        import(&mut w, "o4", day(21, 12), &[("bread", "1", "100")])
            .totals
            .unwrap()
            .accrual,
        Points::ZERO
    );
    // No discount for offline cheques: the customer paid in full at the till.
    let r = import(&mut w, "o5", day(23, 12), &[("milk", "1", "100")]);
    assert_eq!(
        (r.totals.unwrap().discount, r.totals.unwrap().accrual),
        (Money::ZERO, pts("5"))
    );
    assert_eq!(w.balance(EMPTY), pts("60"));
    // Imported purchases are confirmed: they can be refunded like any other.
    let refund = w.cash(
        POS,
        Command::Refund {
            refund: cheque_id("ro1"),
            purchase: cheque_id("o1"),
            lines: vec![RefundLine {
                index: 0,
                qty: Qty(1000),
            }],
        },
    );
    assert_eq!(refund.refund.unwrap().accrual_reversed, pts("30"));
    assert_eq!(w.balance(EMPTY), pts("30"));
}

#[test]
fn manual_adjustments_move_the_balance_and_name_the_operator() {
    let mut w = World::new();
    let r = w.run(operator(), adjust(GOLD, "-40").1);
    assert!(r.reply.is_ok(), "{}", r.reply.message);
    assert_eq!(w.balance(GOLD), Points::parse("60").unwrap());
    assert_eq!(
        r.reply.balance.unwrap().balance,
        Points::parse("60").unwrap()
    );
    assert_eq!(r.events.len(), 1);
    assert_eq!(r.events[0].balance_delta(), -4000);
    assert_eq!(
        r.events[0].account(),
        w.state.card(&card(GOLD)).map(|c| c.account)
    );
    w.admin_ok(adjust(GOLD, "15").1);
    assert_eq!(w.balance(GOLD), Points::parse("75").unwrap());
}

#[test]
fn signing_keys_are_set_replaced_and_removed() {
    let mut w = World::new();
    let key = |w: &World| w.state.cashbox(POS).unwrap().public_key;
    assert_eq!(key(&w), None);
    let set = |k| Command::SetCashboxKey {
        id: POS,
        public_key: k,
    };
    w.admin_ok(set(Some([1; 32])));
    assert_eq!(key(&w), Some([1; 32]));
    w.admin_ok(set(Some([2; 32])));
    assert_eq!(key(&w), Some([2; 32]));
    let same = w.run(operator(), set(Some([2; 32])));
    assert!(same.reply.is_ok() && same.events.is_empty());
    w.admin_ok(set(None));
    assert_eq!(key(&w), None);
}

#[test]
fn a_customer_at_the_till_from_new_card_to_replacement() {
    let mut w = World::new();
    // A card sold at the till: Issued, a new account; it accrues but may not redeem.
    let issued = w.cash(
        POS,
        Command::IssueCard {
            number: card(NEW_CARD),
            card_type: "Silver".into(),
            status: CardStatus::Issued,
            account: None,
            holder_name: String::new(),
            holder_phone: String::new(),
        },
    );
    assert!(issued.is_ok(), "{}", issued.message);
    w.buy(NEW_CARD, "first", &[("bread", "1", "1000")]);
    assert_eq!(w.balance(NEW_CARD), Points::parse("50").unwrap());
    let (a, c) = pay(POS, Some(NEW_CARD), "1");
    assert_eq!(w.run(a, c).reply.code, Code::CardNotActivated);
    // Registration activates it and records the profile.
    let r = w.cash(POS, register_customer(NEW_CARD));
    assert!(r.is_ok(), "{}", r.message);
    assert_eq!(r.holder.as_ref().unwrap().name, "Ivan");
    let account = w.state.card(&card(NEW_CARD)).unwrap().account;
    let a = w.state.account(account).unwrap();
    assert_eq!(
        (a.name.as_str(), a.phone.as_str(), a.consent),
        ("Ivan", "+79990001122", true)
    );
    // A hold started with the card is carried over when the card is replaced mid-purchase.
    let (a, c) = pay(POS, Some(NEW_CARD), "10");
    assert!(w.run(a, c).reply.is_ok());
    let before = w.state.account(account).unwrap();
    let replaced = w.cash(POS, replace(NEW_CARD, "2770000000917").1);
    assert!(replaced.is_ok(), "{}", replaced.message);
    assert_eq!(replaced.holder.unwrap().masked_card, "*********0917");
    let after = w.state.account(account).unwrap();
    assert_eq!((after.balance, after.held), (before.balance, before.held));
    let new = w.state.card(&card("2770000000917")).unwrap();
    assert_eq!((new.account, new.status), (account, CardStatus::Activated));
    // The held purchase registers with the new card (same account) and confirms.
    let reg = w.cash(
        POS,
        Command::RegisterPurchase {
            cheque: World::cheque(Some("2770000000917"), "c1", &[("milk", "1", "50")]),
        },
    );
    assert!(reg.is_ok(), "{}", reg.message);
    assert!(w
        .cash(
            POS,
            Command::Confirm {
                cheque: cheque_id("c1")
            }
        )
        .is_ok());
    assert_eq!(w.state.account(account).unwrap().held, Points::ZERO);
    // The old card is refused everywhere, naming its successor.
    let old = balance(&w.state, POS, Some(&card(NEW_CARD)), &[], w.now);
    assert_eq!(old.code, Code::CardReplaced);
    assert!(old.message.contains("*********0917"), "{}", old.message);
}

#[test]
fn every_identifier_kind_finds_the_customer_and_the_policy_decides_who_may_redeem() {
    let mut w = World::new();
    phone_registered(&mut w);
    let issued_account = w.account(ISSUED).id;
    let holder_of = |w: &mut World, ids: Vec<Presented>| {
        let (_, c) = register_with(ids);
        let Command::RegisterPurchase { cheque } = c else {
            unreachable!()
        };
        calculate(&w.state, &w.program, POS, &cheque, w.now)
    };
    // A phone, in any common form, and `Auto` with it, find the registered customer's card.
    for ids in [
        vec![phone("+7 999 000 11 22")],
        vec![Presented::Auto("89990001122".into())],
    ] {
        let r = holder_of(&mut w, ids);
        assert!(r.is_ok(), "{}", r.message);
        assert_eq!(r.holder.unwrap().account, issued_account);
        // A phone may not redeem: nothing is payable with points.
        assert_eq!(r.totals.unwrap().redeem_max, Points::ZERO);
    }
    // A magnetic stripe (any track) and `Auto` with stripe data or a known number find GOLD,
    // and may redeem.
    let gold = w.account(GOLD).id;
    for ids in [
        vec![stripe(GOLD)],
        vec![Presented::Auto(format!(";{GOLD}=2712101?"))],
        vec![Presented::Auto(GOLD.into())],
    ] {
        let r = holder_of(&mut w, ids);
        assert_eq!(r.holder.as_ref().unwrap().account, gold, "{}", r.message);
        assert!(r.totals.unwrap().redeem_max > Points::ZERO);
    }
    // A card beats a phone, whatever the order.
    let r = holder_of(&mut w, vec![phone(PHONE), stripe(GOLD)]);
    assert_eq!(r.holder.unwrap().account, gold);
    // Accrual by phone lands on the registered account.
    let before = w.balance(ISSUED);
    let (a, c) = register_with(vec![phone(PHONE)]);
    assert!(w.run(a, c).reply.is_ok());
    assert!(w
        .cash(
            POS,
            Command::Confirm {
                cheque: cheque_id("c1")
            }
        )
        .is_ok());
    assert!(w.balance(ISSUED) > before);
    // Paying by magnetic stripe works where the policy allows it.
    let mut cheque = with_ids(vec![stripe(GOLD)]);
    cheque.cheque = cheque_id("c2");
    let paid = w.run(
        Actor::Cashbox(POS),
        Command::PayWithBonus {
            cheque,
            points: pts("5"),
        },
    );
    assert!(paid.reply.is_ok(), "{}", paid.reply.message);
    // After a replacement the phone identifies the new card.
    w.admin_ok(replace(ISSUED, NEW_CARD).1);
    let r = holder_of(&mut w, vec![phone(PHONE)]);
    assert_eq!(r.holder.unwrap().masked_card, "*********0900");
    // A program that lets phones redeem.
    w.admin_ok(Command::SetIdentifierPolicy {
        policy: IdentifierPolicy {
            redeem_via: vec![IdKind::Barcode, IdKind::MagStripe, IdKind::Phone],
        },
    });
    let r = holder_of(&mut w, vec![phone(PHONE)]);
    assert!(r.totals.unwrap().redeem_max > Points::ZERO);
}

#[test]
fn check_digits() {
    assert!(CheckDigit::Luhn.holds("79927398713"));
    assert!(!CheckDigit::Luhn.holds("79927398710"));
    assert!(CheckDigit::Ean13.holds("4006381333931"));
    assert!(CheckDigit::Ean13.holds(GOLD));
    assert!(!CheckDigit::Ean13.holds("4006381333932"));
    assert!(CheckDigit::None.holds("1"));
    assert!(!CheckDigit::Luhn.holds(""));
}

#[test]
fn a_card_from_a_range_is_created_by_its_first_purchase_and_registered_later() {
    let mut w = World::new();
    stand_range(&mut w);
    let opened_before = w.state.accounts_opened();
    // A preview shows a Prepared card of the range's type, with nothing payable, and
    // creates nothing.
    let preview = calculate(
        &w.state,
        &w.program,
        POS,
        &milk(Some(STAND_CARD), "s1"),
        w.now,
    );
    let holder = preview.holder.unwrap();
    assert_eq!(
        (holder.card_type.as_str(), holder.card_status),
        ("Stand", CardStatus::Prepared)
    );
    assert_eq!(preview.totals.unwrap().redeem_max, Points::ZERO);
    assert!(w.state.card(&card(STAND_CARD)).is_none());
    // The first purchase opens the account and the card, then accrues.
    w.buy(STAND_CARD, "s1", &[("bread", "1", "1000")]);
    let c = w.state.card(&card(STAND_CARD)).unwrap();
    assert_eq!(
        (c.status, c.card_type.as_str()),
        (CardStatus::Prepared, "Stand")
    );
    assert_eq!(w.state.accounts_opened(), opened_before + 1);
    assert_eq!(w.balance(STAND_CARD), Points::parse("50").unwrap());
    // Registration at the till activates it; another fresh card of the range can be
    // registered directly.
    assert!(w.cash(POS, register_customer(STAND_CARD)).is_ok());
    let fresh = "2770000001014";
    assert!(CheckDigit::Ean13.holds(fresh));
    let mut r = register_customer(fresh);
    if let Command::RegisterCustomer { phone, .. } = &mut r {
        *phone = String::new();
    }
    let registered = w.cash(POS, r);
    assert!(registered.is_ok(), "{}", registered.message);
    assert_eq!(
        w.state.card(&card(fresh)).unwrap().status,
        CardStatus::Activated
    );
    // Removing the range: unknown numbers of it are refused again; known cards stay.
    w.admin_ok(Command::SetCardRange {
        range: CardRange {
            prefix: "2770000001".into(),
            length: 13,
            check: CheckDigit::Ean13,
            card_type: String::new(),
        },
        active: false,
    });
    let (a, c) = register_with(vec![Presented::Auto("2770000001021".into())]);
    assert_eq!(w.run(a, c).reply.code, Code::CardUnknown);
    assert!(w.state.card(&card(STAND_CARD)).is_some());
}

#[test]
fn a_pin_guards_redemption_and_only_its_keyed_hash_is_kept() {
    let mut w = World::new();
    w.program.pin_key = [9; 32];
    gold_pin(&mut w);
    // Accrual needs no PIN; paying with points does.
    w.buy(GOLD, "a1", &[("bread", "1", "100")]);
    let (a, mut c) = pay(POS, Some(GOLD), "1");
    if let Command::PayWithBonus { cheque, .. } = &mut c {
        cheque.pin = Some(Pin::new("4321").unwrap());
    }
    let paid = w.run(a, c);
    assert!(paid.reply.is_ok(), "{}", paid.reply.message);
    // The log and the state hold the keyed hash, never the digits.
    let stored = w.state.card(&card(GOLD)).unwrap().pin_hash.unwrap();
    assert_eq!(
        stored,
        Pin::new("4321").unwrap().hash(&[9; 32], &card(GOLD))
    );
    assert_ne!(
        stored,
        Pin::new("4321").unwrap().hash(&[0; 32], &card(GOLD))
    );
    assert!(!format!("{:?}", w.history).contains("4321"));
    assert_eq!(format!("{:?}", Pin::new("4321").unwrap()), "Pin(****)");
    // Clearing the PIN lifts the requirement.
    assert!(w
        .cash(
            POS,
            Command::SetCardPin {
                card: card(GOLD),
                pin: None
            }
        )
        .is_ok());
    let (a, c) = pay(POS, Some(GOLD), "1");
    let mut c = c;
    if let Command::PayWithBonus { cheque, .. } = &mut c {
        cheque.cheque = cheque_id("c2");
    }
    assert!(w.run(a, c).reply.is_ok());
    assert!(
        Pin::new("123").is_err() && Pin::new("123456789").is_err() && Pin::new("12a4").is_err()
    );
}

#[test]
fn a_dynamic_qr_code_identifies_for_one_purchase_within_its_lifetime() {
    let mut w = World::new();
    gold_qr(&mut w);
    let code = qr_of(&w, GOLD, 0);
    // It redeems (the default policy allows QR), and the same purchase goes on with it.
    let (a, c) = pay_with(vec![code.clone()], "5");
    let held = w.run(a, c);
    assert!(held.reply.is_ok(), "{}", held.reply.message);
    assert!(held.events.iter().any(|e| e.name() == "QrCodeUsed"));
    let (a, c) = register_with(vec![code.clone()]);
    let registered = w.run(a, c);
    assert!(registered.reply.is_ok(), "{}", registered.reply.message);
    assert!(registered.events.iter().all(|e| e.name() != "QrCodeUsed"));
    // A preview may show it again; a new code of a later window works for a new purchase.
    let preview = calculate(
        &w.state,
        &w.program,
        POS,
        &with_ids(vec![code.clone()]),
        w.now,
    );
    assert!(preview.is_ok());
    w.now = w.now.plus_secs(30);
    let mut next = with_ids(vec![qr_of(&w, GOLD, 0)]);
    next.cheque = cheque_id("c2");
    assert!(w
        .cash(POS, Command::RegisterPurchase { cheque: next })
        .is_ok());
    // 30 s later the first code is still within its lifetime but was used; 60 s later it has
    // expired.
    w.now = w.now.plus_secs(30);
    let expired = calculate(&w.state, &w.program, POS, &with_ids(vec![code]), w.now);
    assert_eq!(expired.code, Code::QrExpired);
    // A new secret makes every earlier code invalid.
    w.admin_ok(Command::IssueQrSecret {
        card: card(GOLD),
        secret: [4; 32],
    });
    let stale = calculate(
        &w.state,
        &w.program,
        POS,
        &with_ids(vec![qr_of(&w, GOLD, 0)]),
        w.now,
    );
    assert_eq!(stale.code, Code::QrInvalid);
}

#[test]
fn offers_on_favourite_goods_boost_only_the_customers_own_favourites() {
    let mut w = World::new();
    w.admin_ok(Command::UpsertOffer {
        offer: Offer {
            priority: 10,
            exclusive: true,
            ..Offer::new(
                OfferId(30),
                OfferEffect::Accrual(Rate::Percent(Percent::parse("10").unwrap())),
                OfferScope::Favourites,
                local(0),
                local(23),
            )
        },
    });
    // Chosen by barcode, kept as the product code; shown with the holder.
    let chosen = w.cash(POS, favourites(GOLD, &["46milk"]));
    assert!(chosen.is_ok(), "{}", chosen.message);
    let shown = chosen.holder.unwrap().favourites;
    assert_eq!(shown, vec![ProductCode::new("milk").unwrap()]);
    let accrual = |w: &World, card_no: &str, product: &str| {
        let c = World::cheque(Some(card_no), "f1", &[(product, "1", "100")]);
        calculate(&w.state, &w.program, POS, &c, w.now)
            .totals
            .unwrap()
            .accrual
    };
    // Milk is 10% off (dairy): 90.00 paid in money; 10% for GOLD, whose favourite it is,
    // 5% for a customer without favourites; bread is no favourite of GOLD: 5%.
    assert_eq!(accrual(&w, GOLD, "milk"), pts("9"));
    assert_eq!(accrual(&w, EMPTY, "milk"), pts("4.5"));
    assert_eq!(accrual(&w, GOLD, "bread"), pts("5"));
    // Choosing again replaces; the same choice again changes nothing.
    assert!(w.cash(POS, favourites(GOLD, &["bread"])).is_ok());
    assert_eq!(accrual(&w, GOLD, "milk"), pts("4.5"));
    let again = w.run(Actor::Cashbox(POS), favourites(GOLD, &["bread"]));
    assert!(again.reply.is_ok() && again.events.is_empty());
}

#[test]
fn mixed_tender_at_a_kiosk_is_recorded_with_the_purchase() {
    let mut w = World::new();
    // 100.00 of bread: 30 points held, the rest by two bank cards and a fast-payment QR.
    let mut c = World::cheque(Some(GOLD), "k1", &[("bread", "1", "100")]);
    let paid = w.run(
        Actor::Cashbox(KIOSK),
        Command::PayWithBonus {
            cheque: c.clone(),
            points: pts("30"),
        },
    );
    assert!(paid.reply.is_ok(), "{}", paid.reply.message);
    c.tenders = vec![
        tender(TenderKind::BankCard, "40"),
        tender(TenderKind::BankCard, "20"),
        tender(TenderKind::FastPayment, "10"),
    ];
    let registered = w.cash(KIOSK, Command::RegisterPurchase { cheque: c.clone() });
    assert!(registered.is_ok(), "{}", registered.message);
    let key = PurchaseKey {
        cashbox: KIOSK,
        cheque: cheque_id("k1"),
    };
    assert_eq!(w.state.purchase(&key).unwrap().tenders, c.tenders);
    assert!(w
        .cash(
            KIOSK,
            Command::Confirm {
                cheque: cheque_id("k1")
            }
        )
        .is_ok());
}
