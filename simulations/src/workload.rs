//! The simulated tills' workload: what each till sends next — cheques paid with points,
//! registered, ordered online, refunded at this till or another, cards replaced, offline
//! uploads, and tills that lose their connection and confirm late.

use crate::model::Op;
use crate::sim::*;
use loyalty_core::amount::*;
use loyalty_core::command::*;
use loyalty_core::ids::*;
use loyalty_core::model::OrderLine;
use rand::Rng;

impl Simulation {
    /// The next request of a till that is not waiting for an answer.
    pub(crate) fn next_request(&mut self, t: usize) -> Option<Waiting> {
        let cashbox = self.tills[t].id;
        let roll = self.rng.random_range(0..100u32);
        // Orders come from the online shop (an administrator's request); the rest from the till.
        let mut actor = Actor::Cashbox(CashboxId(cashbox));
        let shop = Actor::Admin(OperatorName::new("shop").expect("operator name"));
        let (command, op, on_ok, on_refused) = match self.tills[t].flow.clone() {
            Flow::Idle => self.idle_request(t, cashbox, roll, &mut actor)?,
            Flow::Paid {
                cheque: id,
                card,
                amount,
                coupon,
            } => (
                Command::RegisterPurchase {
                    cheque: with_coupon(cheque(&id, Some(card), amount), &coupon),
                },
                Op::Register {
                    cashbox,
                    cheque: id.clone(),
                    card: Some(card),
                    amount,
                    coupon,
                },
                Flow::Registered { cheque: id },
                Flow::Idle,
            ),
            Flow::Ordered { number, amount } => {
                if roll < 3 {
                    // Never picked up: the order expires.
                    self.tills[t].flow = Flow::Idle;
                    return None;
                } else if roll < 13 {
                    actor = shop;
                    (
                        Command::CancelOrder {
                            number: OrderNo::new(&number).expect("order number"),
                        },
                        Op::CancelOrder { number },
                        Flow::Idle,
                        Flow::Idle,
                    )
                } else {
                    self.tills[t].next_cheque += 1;
                    let id = format!("c{}", self.tills[t].next_cheque);
                    let mut pickup = cheque(&id, None, amount);
                    pickup.order = Some(OrderNo::new(&number).expect("order number"));
                    (
                        Command::RegisterPurchase { cheque: pickup },
                        Op::PickUp {
                            cashbox,
                            cheque: id.clone(),
                            number,
                        },
                        Flow::Registered { cheque: id },
                        Flow::Idle,
                    )
                }
            }
            Flow::Registered { cheque: id } => {
                let c = ChequeId::new(&id).expect("id");
                if roll < 3 {
                    // The till stalls: the purchase stays pending until it expires.
                    self.tills[t].flow = Flow::Idle;
                    return None;
                } else if roll < 4 {
                    // The till loses its connection for 5 to 50 minutes and confirms when
                    // it is back: late, perhaps after the sweep, perhaps too late.
                    self.tills[t].offline_until =
                        self.now + self.rng.random_range(300_000..3_000_000);
                    return None;
                } else if roll < 85 {
                    (
                        Command::Confirm { cheque: c },
                        Op::Confirm {
                            cashbox,
                            cheque: id,
                        },
                        Flow::Idle,
                        Flow::Idle,
                    )
                } else {
                    (
                        Command::Cancel { cheque: c },
                        Op::Cancel {
                            cashbox,
                            cheque: id,
                        },
                        Flow::Idle,
                        Flow::Idle,
                    )
                }
            }
        };
        let req = Request {
            op: self.op(),
            actor,
            command,
        };
        Some(Waiting {
            req,
            op,
            on_ok,
            on_refused,
        })
    }

    /// The next request of an idle till: a refund now and then, else a new cheque — paid
    /// with points, registered, ordered online first, or a card replaced — or `None` when
    /// it stays idle. `actor` becomes the shop for orders.
    fn idle_request(
        &mut self,
        t: usize,
        cashbox: u32,
        roll: u32,
        actor: &mut Actor,
    ) -> Option<(Command, Op, Flow, Flow)> {
        let shop = Actor::Admin(OperatorName::new("shop").expect("operator name"));
        Some({
            // Half the refunds are of another till's sale (kiosks' included): any POS
            // refunds any purchase.
            let seller = if self.rng.random_bool(0.5) {
                t
            } else {
                self.rng.random_range(0..self.tills.len())
            };
            let confirmed = self.tills[seller].confirmed.len();
            if roll < 8 && confirmed > 0 {
                let pick = self.tills[seller]
                    .confirmed
                    .swap_remove(self.rng.random_range(0..confirmed));
                let sold_at = self.tills[seller].id;
                let refund = format!("r-{pick}");
                let command = Command::Refund {
                    refund: ChequeId::new(&refund).expect("id"),
                    purchase: ChequeId::new(&pick).expect("id"),
                    lines: vec![RefundLine {
                        index: 0,
                        qty: Qty(1000),
                    }],
                    sold_at: (sold_at != cashbox).then_some(CashboxId(sold_at)),
                };
                (
                    command,
                    Op::Refund {
                        cashbox: sold_at,
                        cheque: pick,
                        refund,
                        at: cashbox,
                    },
                    Flow::Idle,
                    Flow::Idle,
                )
            } else {
                self.tills[t].next_cheque += 1;
                let id = format!("c{}", self.tills[t].next_cheque);
                let amount = self.rng.random_range(1..200_000i64);
                // The card the till sees now; it may be replaced before the request
                // commits (the auditor then expects CARD_REPLACED).
                let card = self
                    .model
                    .current_card(self.rng.random_range(0..self.cfg.cards));
                if roll == 94 {
                    self.tills[t].next_cheque -= 1;
                    let successor = card + self.cfg.cards;
                    (
                        Command::ReplaceCard {
                            old: card_no(card),
                            new: card_no(successor),
                        },
                        Op::Replace { card },
                        Flow::Idle,
                        Flow::Idle,
                    )
                } else if (91..=93).contains(&roll) {
                    let number = format!("o{cashbox}-{}", self.tills[t].next_cheque);
                    let discount = self.rng.random_range(0..=amount / 5);
                    // Sometimes more points than the customer has, or than the order costs.
                    let points = self.rng.random_range(0..=(amount - discount) * 11 / 10);
                    *actor = shop;
                    (
                        Command::CreateOrder {
                            number: OrderNo::new(&number).expect("order number"),
                            card: card_no(card),
                            lines: vec![OrderLine {
                                product: ProductCode::new("p").expect("code"),
                                qty: Qty(1000),
                                price: Money(amount),
                                discount: Money(discount),
                            }],
                            points: Points(points),
                        },
                        Op::Order {
                            number: number.clone(),
                            card,
                            amount,
                            discount,
                            points,
                        },
                        Flow::Ordered { number, amount },
                        Flow::Idle,
                    )
                } else if roll == 90 && self.rng.random_bool(0.5) {
                    // Goods brought back without the receipt (the programme allows it).
                    let number = format!("x{}", self.tills[t].next_cheque);
                    (
                        Command::RefundWithoutReceipt {
                            cheque: cheque(&number, Some(card), amount),
                        },
                        Op::ReturnWithoutReceipt {
                            at: cashbox,
                            number,
                            card,
                            amount,
                        },
                        Flow::Idle,
                        Flow::Idle,
                    )
                } else if roll >= 95 {
                    // A sale made while offline, uploaded now; one in five claims points.
                    let card = (roll < 99).then_some(card);
                    let points = i64::from(roll == 95) * 100;
                    let command = Command::ImportOfflinePurchase {
                        cheque: cheque(&id, card, amount),
                        points_paid: Points(points),
                        local_discount: Money::ZERO,
                    };
                    (
                        command,
                        Op::Offline {
                            cashbox,
                            cheque: id,
                            card,
                            amount,
                            points,
                        },
                        Flow::Idle,
                        Flow::Idle,
                    )
                } else if roll < 50 {
                    let points = self.rng.random_range(1..=amount / 2 + amount / 5 + 1);
                    let coupon = self.coupon();
                    // Paid or not, the cheque is registered next (without points if refused).
                    let next = Flow::Paid {
                        cheque: id.clone(),
                        card,
                        amount,
                        coupon: coupon.clone(),
                    };
                    (
                        Command::PayWithBonus {
                            cheque: with_coupon(cheque(&id, Some(card), amount), &coupon),
                            points: Points(points),
                        },
                        Op::Pay {
                            cashbox,
                            cheque: id,
                            card,
                            amount,
                            points,
                            coupon,
                        },
                        next.clone(),
                        next,
                    )
                } else {
                    let card = (roll < 90).then_some(card);
                    let coupon = self.coupon();
                    (
                        Command::RegisterPurchase {
                            cheque: with_coupon(cheque(&id, card, amount), &coupon),
                        },
                        Op::Register {
                            cashbox,
                            cheque: id.clone(),
                            card,
                            amount,
                            coupon,
                        },
                        Flow::Registered { cheque: id },
                        Flow::Idle,
                    )
                }
            }
        })
    }

    /// A coupon a till scans now and then: mostly of the chain's, some unknown.
    fn coupon(&mut self) -> Option<String> {
        (self.rng.random_range(0..100u32) < 25)
            .then(|| format!("K{}", self.rng.random_range(0..COUPONS + 5)))
    }
}
