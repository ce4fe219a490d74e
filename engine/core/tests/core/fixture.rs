//! A small program: two stores' cashboxes, a catalogue, offers and cards, built through
//! admin commands so that the fixture itself goes through `execute`.

use chrono::NaiveDate;
use loyalty_core::amount::*;
use loyalty_core::command::*;
use loyalty_core::ids::*;
use loyalty_core::model::*;
use loyalty_core::outcome::*;
use loyalty_core::state::*;
use loyalty_core::{execute, Executed};

pub const POS: CashboxId = CashboxId(1);
pub const KIOSK: CashboxId = CashboxId(2);
pub const POS2: CashboxId = CashboxId(3);
pub const DISABLED: CashboxId = CashboxId(4);
/// A POS of the second store.
pub const ELSEWHERE: CashboxId = CashboxId(5);
pub const T0: UnixMillis = UnixMillis(1_800_000_000_000);

pub fn card(s: &str) -> CardNo {
    CardNo::new(s).unwrap()
}
pub fn cheque_id(s: &str) -> ChequeId {
    ChequeId::new(s).unwrap()
}
pub fn pts(s: &str) -> Points {
    Points::parse(s).unwrap()
}
pub fn local(h: u32) -> chrono::NaiveDateTime {
    NaiveDate::from_ymd_opt(2026, 11, 23)
        .unwrap()
        .and_hms_opt(h, 0, 0)
        .unwrap()
}

/// Activated card with 100 points, issued card, prepared card, blocked card.
pub const GOLD: &str = "2770000000017";
pub const ISSUED: &str = "2770000000024";
pub const PREPARED: &str = "2770000000031";
pub const BLOCKED: &str = "2770000000048";
pub const EMPTY: &str = "2770000000055";

pub struct World {
    pub state: MemState,
    pub program: Program,
    pub now: UnixMillis,
    /// Every event produced so far, in order: the log.
    pub history: Vec<loyalty_core::event::Event>,
    next_op: u128,
}

impl World {
    pub fn new() -> World {
        let mut w = World {
            state: MemState::default(),
            // Points spendable at once, for a year: the rules of the purchase life cycle
            // read simplest so; the lots' own tables set their terms.
            program: Program {
                lots: LotTerms {
                    pending_secs: 0,
                    lifetime_secs: Some(365 * 24 * 3600),
                },
                ..Program::default()
            },
            now: T0,
            history: Vec::new(),
            next_op: 1,
        };
        for (id, kind, store) in [
            (POS, CashboxKind::Pos, 1),
            (KIOSK, CashboxKind::SelfCheckout, 1),
            (POS2, CashboxKind::Pos, 1),
            (DISABLED, CashboxKind::Pos, 1),
            (ELSEWHERE, CashboxKind::Pos, 2),
        ] {
            w.admin_ok(Command::RegisterCashbox {
                id,
                store: StoreId(store),
                kind,
                secret_sha256: [7; 32],
                public_key: None,
                login: None,
            });
        }
        w.admin_ok(Command::SetCashboxEnabled {
            id: DISABLED,
            enabled: false,
        });
        let product = |code: &str, group: Option<&str>, min: &str, promo: bool| Product {
            code: ProductCode::new(code).unwrap(),
            name: code.to_owned(),
            group: group.map(|g| GroupCode::new(g).unwrap()),
            barcodes: vec![ProductCode::new(&format!("46{code}")).unwrap()],
            min_price: Money::parse(min).unwrap(),
            promotional: promo,
        };
        w.admin_ok(Command::ImportProducts {
            products: vec![
                product("milk", Some("dairy"), "0", false),
                product("bread", None, "0", false),
                product("wine", Some("alcohol"), "90", false),
                product("promo", Some("dairy"), "0", true),
            ],
        });
        let offer = |id: u32,
                     effect: fn(Rate) -> OfferEffect,
                     pct: &str,
                     scope: OfferScope,
                     from: u32,
                     to: u32| {
            Offer::new(
                OfferId(id),
                effect(Rate::Percent(Percent::parse(pct).unwrap())),
                scope,
                local(from),
                local(to),
            )
        };
        // 10% off dairy all day, 5% accrual on everything, 20% accrual on alcohol in the evening.
        w.admin_ok(Command::UpsertOffer {
            offer: offer(
                1,
                OfferEffect::Discount,
                "10",
                OfferScope::Groups(vec![GroupCode::new("dairy").unwrap()]),
                0,
                23,
            ),
        });
        w.admin_ok(Command::UpsertOffer {
            offer: offer(2, OfferEffect::Accrual, "5", OfferScope::Cheque, 0, 23),
        });
        // The evening rate replaces the base rate (exclusive, higher priority).
        w.admin_ok(Command::UpsertOffer {
            offer: Offer {
                priority: 10,
                exclusive: true,
                ..offer(
                    3,
                    OfferEffect::Accrual,
                    "20",
                    OfferScope::Groups(vec![GroupCode::new("alcohol").unwrap()]),
                    18,
                    23,
                )
            },
        });
        for (n, status) in [
            (GOLD, CardStatus::Activated),
            (ISSUED, CardStatus::Issued),
            (PREPARED, CardStatus::Prepared),
            (BLOCKED, CardStatus::Activated),
            (EMPTY, CardStatus::Activated),
        ] {
            w.admin_ok(Command::IssueCard {
                number: card(n),
                card_type: "Gold".into(),
                status,
                account: None,
                holder_name: "Ivan".into(),
                holder_phone: "+79990000000".into(),
            });
        }
        w.admin_ok(Command::BlockCard {
            number: card(BLOCKED),
        });
        // Give GOLD 100 points: a 2000.00 cheque of bread at 5% accrual.
        w.buy(GOLD, "seed", &[("bread", "1", "2000")]);
        assert_eq!(w.balance(GOLD), pts("100"));
        w
    }

    pub fn op(&mut self) -> OpId {
        self.next_op += 1;
        OpId(self.next_op)
    }

    pub fn run(&mut self, actor: Actor, command: Command) -> Executed {
        let req = Request {
            op: self.op(),
            actor,
            command,
        };
        self.run_req(&req)
    }

    pub fn run_req(&mut self, req: &Request) -> Executed {
        let out = execute(&mut self.state, &self.program, req, self.now);
        self.history.extend(out.events.iter().cloned());
        out
    }

    /// Coupon series 1 (single use) and 2 (unlimited), 30 days.
    pub fn coupon_series(&mut self) {
        for (id, uses) in [(1, 1), (2, 0)] {
            self.admin_ok(Command::SetCouponSeries {
                series: CouponSeries {
                    id: CouponSeriesId(id),
                    name: format!("series {id}"),
                    uses,
                    valid_days: 30,
                },
            });
        }
    }

    pub fn admin_ok(&mut self, command: Command) {
        let r = self.run(operator(), command);
        assert_eq!(r.reply.code, Code::Ok, "{}", r.reply.message);
    }

    pub fn cash(&mut self, cashbox: CashboxId, command: Command) -> Reply {
        self.run(Actor::Cashbox(cashbox), command).reply
    }

    pub fn cheque(card_no: Option<&str>, id: &str, lines: &[(&str, &str, &str)]) -> Cheque {
        Cheque {
            cheque: cheque_id(id),
            card: card_no.map(card),
            cashier: None,
            presented: Vec::new(),
            pin: None,
            tenders: Vec::new(),
            local_time: local(12),
            lines: lines
                .iter()
                .map(|(p, q, price)| Line {
                    product: ProductCode::new(p).unwrap(),
                    qty: Qty::parse(q).unwrap(),
                    price: Money::parse(price).unwrap(),
                    local_discount: Money::ZERO,
                    promotional: false,
                    min_price: Money::ZERO,
                })
                .collect(),
            coupons: Vec::new(),
            order: None,
        }
    }

    /// Register and confirm a purchase without points.
    pub fn buy(&mut self, card_no: &str, id: &str, lines: &[(&str, &str, &str)]) {
        let cheque = World::cheque(Some(card_no), id, lines);
        assert!(self.cash(POS, Command::RegisterPurchase { cheque }).is_ok());
        assert!(self
            .cash(
                POS,
                Command::Confirm {
                    cheque: cheque_id(id)
                }
            )
            .is_ok());
    }

    pub fn account(&self, card_no: &str) -> Account {
        let c = self.state.card(&card(card_no)).unwrap();
        self.state.account(c.account).unwrap()
    }

    pub fn balance(&self, card_no: &str) -> Points {
        self.account(card_no).balance
    }
}

/// The administrator the fixtures act as.
pub fn operator() -> Actor {
    Actor::Admin(OperatorName::new("ops").expect("operator name"))
}
