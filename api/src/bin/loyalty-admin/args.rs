//! The values of the subcommands' arguments.

use clap::ValueEnum;

#[derive(Clone, Copy, ValueEnum)]
pub enum Kind {
    Pos,
    Kiosk,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum Status {
    Prepared,
    Issued,
    Activated,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum Check {
    None,
    Luhn,
    Ean13,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum Via {
    Barcode,
    Magstripe,
    Phone,
    Qr,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum Effect {
    Discount,
    Accrual,
    IssueCoupon,
    MessageCashier,
    MessageCheque,
    /// "N + M": --buy N --get M [--percent, default 100].
    Multibuy,
    /// A set of --product ... for --bundle-price.
    Bundle,
    /// --gift-product (and --gift-quantity, 1 by default) for the till to add free.
    Gift,
    /// Every --stamps-every-th unit a customer buys at --percent off (free by default).
    Stamps,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum Per {
    /// Each target line.
    Line,
    /// All target lines together.
    Target,
}

#[derive(clap::Args)]
pub struct OfferArgs {
    #[arg(long)]
    pub id: u32,
    #[arg(long, default_value = "")]
    pub name: String,
    #[arg(long, value_enum)]
    pub effect: Effect,
    /// Percent of the target lines (or give --fixed).
    #[arg(long, default_value = "")]
    pub percent: String,
    /// A fixed amount (money for discounts, points for accrual), per --per.
    #[arg(long, default_value = "")]
    pub fixed: String,
    #[arg(long, value_enum)]
    pub per: Option<Per>,
    /// Product groups (repeat; a group covers the groups inside it, "dairy" covers
    /// "dairy/milk"); the whole cheque when neither groups nor products are given.
    #[arg(long = "group")]
    pub groups: Vec<String>,
    /// Product codes (repeat).
    #[arg(long = "product")]
    pub products: Vec<String>,
    #[arg(long)]
    pub from: String,
    #[arg(long)]
    pub to: String,
    #[arg(long)]
    pub disabled: bool,
    /// The offer applies to each customer's favourite goods (no --group).
    #[arg(long)]
    pub favourites: bool,
    /// Days of the week, 1 (Monday) to 7 (Sunday), e.g. "6,7".
    #[arg(long, value_delimiter = ',')]
    pub weekdays: Vec<u32>,
    /// A daily window "HH:MM-HH:MM" of the cashbox's local time.
    #[arg(long)]
    pub hours: Option<String>,
    #[arg(long = "store", value_delimiter = ',')]
    pub stores: Vec<u32>,
    #[arg(long = "card-type")]
    pub card_types: Vec<String>,
    /// Only cards of these statuses (e.g. `--card-status activated`).
    #[arg(long = "card-status", value_enum)]
    pub card_statuses: Vec<Status>,
    #[arg(long, default_value = "")]
    pub min_total: String,
    #[arg(long, default_value = "")]
    pub min_quantity: String,
    /// A coupon of this series must be shown with the cheque.
    #[arg(long, default_value_t = 0)]
    pub coupon_series: u32,
    #[arg(long, default_value_t = 0)]
    pub priority: u32,
    #[arg(long)]
    pub exclusive: bool,
    /// issue-coupon: the series of the coupon issued.
    #[arg(long, default_value_t = 0)]
    pub issue_coupon_series: u32,
    /// message-*: the text; {discount} {paid} {accrued} {balance} {pending} {to_pay} {total} {potential}.
    #[arg(long, default_value = "")]
    pub message: String,
    /// accrual: the points this offer accrues are pending this long, in seconds (0: at
    /// once), instead of the programme's; with --points-lifetime-secs.
    #[arg(long, requires = "points_lifetime_secs")]
    pub points_pending_secs: Option<u64>,
    /// accrual: then spendable this long (0: never expire).
    #[arg(long, requires = "points_pending_secs")]
    pub points_lifetime_secs: Option<u64>,
    /// Multibuy: units bought ...
    #[arg(long, default_value_t = 0)]
    pub buy: u32,
    /// ... and units given (at --percent off, free by default).
    #[arg(long, default_value_t = 0)]
    pub get: u32,
    /// Bundle: the price of one set of the --product goods.
    #[arg(long, default_value = "")]
    pub bundle_price: String,
    /// Gift: the product given ...
    #[arg(long, default_value = "")]
    pub gift_product: String,
    /// ... and how many (1 by default).
    #[arg(long, default_value = "")]
    pub gift_quantity: String,
    /// Limits (discounts and accruals): what the offer may give in all ...
    #[arg(long, default_value = "")]
    pub budget_total: String,
    /// ... to one customer in a day ...
    #[arg(long, default_value = "")]
    pub budget_per_customer_day: String,
    /// ... and on how many of one customer's cheques.
    #[arg(long, default_value_t = 0)]
    pub uses_per_customer: u32,
    /// Stamps: every how many units one is given.
    #[arg(long, default_value_t = 0)]
    pub stamps_every: u32,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum Bonus {
    /// The customer registered.
    Welcome,
    /// The account's first purchase became final.
    FirstPurchase,
    /// The customer's birthday, once a year (the window: --days-before, --days-after).
    Birthday,
}
