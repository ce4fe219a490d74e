//! The auditor's vocabulary: what it expects, the purchases, orders and accounts it keeps,
//! and the requests in its own terms.

use super::{Kind, Lots, Taken, Terms};

/// What the auditor expects for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Expect {
    Ok,
    InsufficientPoints,
    RedeemLimitExceeded,
    PurchaseUnknown,
    PurchaseWrongState,
    HoldExpired,
    RefundAtKiosk,
    RefundExists,
    OfflineRedemptionRefused,
    CardReplaced,
    OrderUnknown,
    OrderExists,
    OrderWrongState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Held,
    Registered,
    Confirmed,
    Cancelled,
    Expired,
    /// Goods returned without the receipt, under the refund's number.
    Returned,
}

#[derive(Debug, Clone)]
pub struct Purchase {
    /// The account (not the card value) the purchase belongs to.
    pub card: Option<usize>,
    pub amount: i64,
    pub paid: i64,
    pub accrual: i64,
    pub status: Status,
    pub expires_at: i64,
    pub refunded: bool,
    /// The e-commerce order this purchase picked up: cancelling or expiring it gives the
    /// order (and its hold) back.
    pub order: Option<String>,
    /// The single-use coupon it used (for 10 % off), given back if it ends unconfirmed.
    pub coupon: Option<String>,
    /// The cheque was registered: after expiry it may still be confirmed late.
    pub registered: bool,
    /// The lots its points came from, and the lots its accrual joined.
    pub taken: Taken,
    pub lots: Vec<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderStatus {
    Open,
    PickedUp,
    Cancelled,
    Expired,
}

/// An online order: its points are held from creation until pick-up (then the purchase
/// holds them), cancellation or expiry.
#[derive(Debug, Clone)]
pub struct Order {
    pub account: usize,
    pub amount: i64,
    pub discount: i64,
    pub points: i64,
    pub status: OrderStatus,
    pub expires_at: i64,
    pub taken: Taken,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Account {
    /// Points credited, by lot; held points are out of them.
    pub lots: Lots,
    pub held: i64,
    /// Points owed: paid back from points before they can be spent.
    pub debt: i64,
    /// Accrual earned and kept: what a return without the receipt may take back at most.
    pub earned: i64,
}

impl Account {
    /// Points on the account, held ones included (pending ones not).
    pub fn balance(&self) -> i64 {
        self.held + self.lots.spendable()
    }

    pub fn spendable(&self) -> i64 {
        self.lots.spendable()
    }

    /// Points credited by hand: a lot of their own, spendable at once.
    pub fn grant(&mut self, points: i64) {
        let forever = Terms {
            pending_ms: 0,
            lifetime_ms: None,
        };
        self.lots.credit(points, 0, 0, forever, Kind::Grant);
    }
}

/// Requests in the auditor's own terms (minor units, indexes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// A cheque sold while the till was offline, uploaded later.
    Offline {
        cashbox: u32,
        cheque: String,
        card: Option<usize>,
        amount: i64,
        points: i64,
    },
    Pay {
        cashbox: u32,
        cheque: String,
        card: usize,
        amount: i64,
        points: i64,
        coupon: Option<String>,
    },
    Register {
        cashbox: u32,
        cheque: String,
        card: Option<usize>,
        amount: i64,
        coupon: Option<String>,
    },
    Confirm {
        cashbox: u32,
        cheque: String,
    },
    Cancel {
        cashbox: u32,
        cheque: String,
    },
    /// Goods worth `amount` returned without the receipt at cashbox `at`, under refund
    /// number `number`, with the customer's card.
    ReturnWithoutReceipt {
        at: u32,
        number: String,
        card: usize,
        amount: i64,
    },
    /// A refund at cashbox `at` of the purchase `cheque` sold at `cashbox`.
    Refund {
        cashbox: u32,
        cheque: String,
        refund: String,
        at: u32,
    },
    /// A till replaces the card: its account moves to the card of the next generation.
    Replace {
        card: usize,
    },
    /// The online shop creates an order for a card (one line), reserving points.
    Order {
        number: String,
        card: usize,
        amount: i64,
        discount: i64,
        points: i64,
    },
    /// A till buys an order out without showing a card.
    PickUp {
        cashbox: u32,
        cheque: String,
        number: String,
    },
    CancelOrder {
        number: String,
    },
    Expire,
}
