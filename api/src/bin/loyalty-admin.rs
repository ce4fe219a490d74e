//! Admin CLI: talks to a running server over gRPC with the admin token.

use anyhow::{bail, Context};
use clap::{Parser, Subcommand, ValueEnum};
use loyalty_api::pb;
use loyalty_api::pb::admin_service_client::AdminServiceClient;
use loyalty_api::signing::CashboxSigner;
use loyalty_proto::metadata::ADMIN_TOKEN_HEADER;
use std::path::PathBuf;
use std::time::Duration;
use tonic::transport::Channel;

#[derive(Parser)]
#[command(version, about = "Loyalty engine administration")]
struct Args {
    /// Server address.
    #[arg(long, env = "LOYALTY_SERVER", default_value = "http://127.0.0.1:50051")]
    server: String,
    /// Admin token; by default read from DATA_DIR/admin.token.
    #[arg(long, env = "LOYALTY_ADMIN_TOKEN", hide_env_values = true)]
    token: Option<String>,
    #[arg(long, env = "LOYALTY_DATA_DIR", default_value = "data")]
    data_dir: PathBuf,
    /// CA certificate (PEM) to verify a TLS server (`--server https://...`).
    #[arg(long, env = "LOYALTY_CA_CERT")]
    ca_cert: Option<PathBuf>,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Clone, Copy, ValueEnum)]
enum Kind {
    Pos,
    Kiosk,
}

#[derive(Clone, Copy, ValueEnum)]
enum Status {
    Prepared,
    Issued,
    Activated,
}

#[derive(Clone, Copy, ValueEnum)]
enum Check {
    None,
    Luhn,
    Ean13,
}

#[derive(Clone, Copy, ValueEnum)]
enum Via {
    Barcode,
    Magstripe,
    Phone,
    Qr,
}

#[derive(Clone, Copy, ValueEnum)]
enum Effect {
    Discount,
    Accrual,
    IssueCoupon,
    MessageCashier,
    MessageCheque,
}

#[derive(Clone, Copy, ValueEnum)]
enum Per {
    /// Each target line.
    Line,
    /// All target lines together.
    Target,
}

#[derive(clap::Args)]
struct OfferArgs {
    #[arg(long)]
    id: u32,
    #[arg(long, default_value = "")]
    name: String,
    #[arg(long, value_enum)]
    effect: Effect,
    /// Percent of the target lines (or give --fixed).
    #[arg(long, default_value = "")]
    percent: String,
    /// A fixed amount (money for discounts, points for accrual), per --per.
    #[arg(long, default_value = "")]
    fixed: String,
    #[arg(long, value_enum)]
    per: Option<Per>,
    /// Product groups (repeat; a group covers the groups inside it, "dairy" covers
    /// "dairy/milk"); the whole cheque when neither groups nor products are given.
    #[arg(long = "group")]
    groups: Vec<String>,
    /// Product codes (repeat).
    #[arg(long = "product")]
    products: Vec<String>,
    #[arg(long)]
    from: String,
    #[arg(long)]
    to: String,
    #[arg(long)]
    disabled: bool,
    /// The offer applies to each customer's favourite goods (no --group).
    #[arg(long)]
    favourites: bool,
    /// Days of the week, 1 (Monday) to 7 (Sunday), e.g. "6,7".
    #[arg(long, value_delimiter = ',')]
    weekdays: Vec<u32>,
    /// A daily window "HH:MM-HH:MM" of the cashbox's local time.
    #[arg(long)]
    hours: Option<String>,
    #[arg(long = "store", value_delimiter = ',')]
    stores: Vec<u32>,
    #[arg(long = "card-type")]
    card_types: Vec<String>,
    #[arg(long, default_value = "")]
    min_total: String,
    #[arg(long, default_value = "")]
    min_quantity: String,
    /// A coupon of this series must be shown with the cheque.
    #[arg(long, default_value_t = 0)]
    coupon_series: u32,
    #[arg(long, default_value_t = 0)]
    priority: u32,
    #[arg(long)]
    exclusive: bool,
    /// issue-coupon: the series of the coupon issued.
    #[arg(long, default_value_t = 0)]
    issue_coupon_series: u32,
    /// message-*: the text; {discount} {paid} {accrued} {balance} {to_pay} {total}.
    #[arg(long, default_value = "")]
    message: String,
}

#[derive(Subcommand)]
enum Cmd {
    /// Register a cashbox; prints its secret once.
    RegisterCashbox {
        #[arg(long)]
        id: u32,
        #[arg(long)]
        store: u32,
        #[arg(long, value_enum, default_value = "pos")]
        kind: Kind,
        /// Ed25519 public key (64 hex digits); the cashbox must then sign its requests.
        #[arg(long, default_value = "")]
        public_key: String,
    },
    /// Register, replace or (without --public-key) remove a cashbox's signing key.
    SetCashboxKey {
        #[arg(long)]
        id: u32,
        #[arg(long, default_value = "")]
        public_key: String,
    },
    /// Generate a cashbox signing key: writes the seed to FILE (mode 0600), prints the
    /// public key to register.
    CashboxKeygen {
        file: PathBuf,
    },
    /// Correct a card's account balance by a signed amount ("150", "-20.50").
    AdjustPoints {
        #[arg(long)]
        card: String,
        #[arg(long, allow_hyphen_values = true)]
        delta: String,
        #[arg(long)]
        reason: String,
    },
    /// The engine's answer-signing public key.
    ServerKey,
    /// The event log with who did what: one account's (by --card or --account) or all.
    History {
        #[arg(long, default_value = "")]
        card: String,
        #[arg(long, default_value_t = 0)]
        account: u64,
        #[arg(long, default_value_t = 0)]
        after_seq: u64,
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    EnableCashbox {
        #[arg(long)]
        id: u32,
    },
    DisableCashbox {
        #[arg(long)]
        id: u32,
    },
    /// Issue a card (opens an account unless --account is given).
    IssueCard {
        #[arg(long)]
        card: String,
        #[arg(long, default_value = "Standard")]
        card_type: String,
        #[arg(long, value_enum, default_value = "activated")]
        status: Status,
        #[arg(long, default_value_t = 0)]
        account: u64,
        #[arg(long, default_value = "")]
        name: String,
        #[arg(long, default_value = "")]
        phone: String,
    },
    ActivateCard {
        #[arg(long)]
        card: String,
    },
    BlockCard {
        #[arg(long)]
        card: String,
    },
    /// Move a card's account (balance, holds, history, profile) to a new card.
    ReplaceCard {
        #[arg(long)]
        old: String,
        #[arg(long)]
        new: String,
    },
    /// Add or replace a card range (mask): unknown numbers in it become Prepared cards.
    SetCardRange {
        #[arg(long)]
        prefix: String,
        #[arg(long)]
        length: u32,
        #[arg(long, value_enum, default_value = "none")]
        check: Check,
        #[arg(long, default_value = "")]
        card_type: String,
        /// Remove the range with this prefix and length instead.
        #[arg(long)]
        remove: bool,
    },
    /// Which identifier kinds may redeem points, e.g. `--redeem-via barcode,magstripe`.
    SetIdentifierPolicy {
        #[arg(long, value_enum, value_delimiter = ',')]
        redeem_via: Vec<Via>,
    },
    /// Issue a card's secret for dynamic QR codes; prints it once (for the customer's app).
    IssueQrSecret {
        #[arg(long)]
        card: String,
    },
    /// Block the account behind a card, and so all its cards.
    BlockAccount {
        #[arg(long)]
        card: String,
    },
    UnblockAccount {
        #[arg(long)]
        card: String,
    },
    /// Import the catalogue from a file (CSV by extension, else JSON lines), validating every
    /// row; re-import updates in place. Exits non-zero when rows were refused.
    ImportProducts {
        file: PathBuf,
    },
    /// Create or replace an offer valid in [from, to) of the cashbox's local time.
    UpsertOffer(Box<OfferArgs>),
    /// Create or update a coupon series.
    SetCouponSeries {
        #[arg(long)]
        id: u32,
        #[arg(long)]
        name: String,
        /// Uses per coupon (0: unlimited until it expires).
        #[arg(long, default_value_t = 1)]
        uses: u32,
        /// Days a coupon issued by an offer stays valid.
        #[arg(long, default_value_t = 30)]
        valid_days: u32,
    },
    /// Issue coupons: the given codes, or --count generated ones (printed).
    IssueCoupons {
        #[arg(long)]
        series: u32,
        codes: Vec<String>,
        #[arg(long, default_value_t = 0)]
        count: u32,
        /// Only this card's customer may use them.
        #[arg(long, default_value = "")]
        card: String,
        /// Valid until this local time, "YYYY-MM-DDTHH:MM:SS".
        #[arg(long)]
        expires: String,
    },
    /// Create an e-commerce order to be picked up: lines "product:quantity:price", each
    /// optionally followed by ":discount".
    CreateOrder {
        #[arg(long)]
        order: String,
        #[arg(long)]
        card: String,
        /// Points reserved for the order.
        #[arg(long, default_value = "")]
        points: String,
        lines: Vec<String>,
    },
    /// Cancel an open order, releasing its points.
    CancelOrder {
        #[arg(long)]
        order: String,
    },
    /// Import cheques or payment-registry rows (CSV or JSON lines, by extension) through the
    /// offline path, acting as the given cashbox. Exits non-zero if any row was refused.
    ImportCheques {
        file: PathBuf,
        #[arg(long)]
        cashbox: u32,
        #[arg(long, env = "LOYALTY_CASHBOX_SECRET", hide_env_values = true)]
        secret: String,
        /// Items per call.
        #[arg(long, default_value_t = 500)]
        chunk: usize,
        /// The cashbox's signing key seed file, when it signs its requests.
        #[arg(long)]
        signing_key: Option<PathBuf>,
    },
    /// List unconfirmed purchases ending within N seconds (0: already expired).
    ListPending {
        #[arg(long, default_value_t = 0)]
        within_secs: u64,
        /// Also list purchases expired and released in the last this many seconds.
        #[arg(long, default_value_t = 0)]
        expired_within_secs: u64,
    },
    /// Rebuild the state from the event log and compare with the live state.
    Verify {
        #[arg(long)]
        rewrite: bool,
    },
    Status,
    /// Measure how long the disk under the data directory takes to make a write durable
    /// (no server needed; run it before going live and when writes get slow). Every
    /// acknowledged write waits for such a sync.
    DiskCheck {
        /// A directory on the file system to check; the data directory by default.
        #[arg(long)]
        dir: Option<PathBuf>,
        #[arg(long, default_value_t = 20)]
        seconds: u64,
        /// Bytes written before each sync (a batch's WAL records).
        #[arg(long, default_value_t = 8192)]
        block_bytes: usize,
        /// The latency bound of interest.
        #[arg(long, default_value_t = 10)]
        slow_ms: u64,
    },
}

struct Admin {
    client: AdminServiceClient<Channel>,
    token: String,
}

impl Admin {
    fn req<T>(&self, body: T) -> anyhow::Result<tonic::Request<T>> {
        let mut r = tonic::Request::new(body);
        r.metadata_mut()
            .insert(ADMIN_TOKEN_HEADER, self.token.parse()?);
        Ok(r)
    }
}

fn op() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn show(r: pb::AdminReply) -> anyhow::Result<()> {
    let outcome = pb::Outcome::try_from(r.outcome)
        .map(|o| o.as_str_name())
        .unwrap_or("UNKNOWN");
    println!("{outcome} events={} {}", r.events, r.message);
    if !r.cashbox_secret.is_empty() {
        println!("cashbox secret (shown once): {}", r.cashbox_secret);
    }
    if r.outcome != pb::Outcome::Ok as i32 {
        bail!("refused: {}", r.message);
    }
    Ok(())
}

// Durations and shares are shown as decimals; nothing here is money.
#[allow(clippy::float_arithmetic)]
fn disk_check(
    dir: &std::path::Path,
    run_for: Duration,
    block_bytes: usize,
    slow_over: Duration,
) -> anyhow::Result<()> {
    eprintln!(
        "syncing {block_bytes}-byte writes in {} for {} s ...",
        dir.display(),
        run_for.as_secs()
    );
    let s = loyalty_engine::disk::probe(dir, run_for, block_bytes, slow_over)
        .with_context(|| dir.display().to_string())?;
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let bound = ms(s.slow_over);
    println!(
        "{} syncs in {:.1} s ({:.0}/s); sync ms: p50 {:.2}  p99 {:.2}  p99.9 {:.2}  max {:.1}",
        s.syncs,
        s.wall.as_secs_f64(),
        s.syncs as f64 / s.wall.as_secs_f64(),
        ms(s.p50),
        ms(s.p99),
        ms(s.p999),
        ms(s.max)
    );
    println!(
        "{} syncs over {bound:.0} ms; a write arriving at a random moment waits over {bound:.0} ms \
         for the sync under way {:.2} % of the time",
        s.slow,
        s.over_share * 100.0
    );
    if s.over_share > 0.01 {
        println!(
            "this disk alone puts the 99th percentile of writes above {bound:.0} ms \
             (more than 1 % of the time)"
        );
    }
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    // Imports act as a cashbox (the translator scheme), not as the administrator.
    if let Cmd::ImportCheques {
        file,
        cashbox,
        secret,
        chunk,
        signing_key,
    } = &args.command
    {
        let signer = signing_key
            .as_deref()
            .map(|path| CashboxSigner::from_file(path, *cashbox))
            .transpose()?;
        let channel = connect(&args.server, args.ca_cert.as_deref()).await?;
        return import_cheques(channel, file, *cashbox, secret, *chunk, signer).await;
    }
    if let Cmd::DiskCheck {
        dir,
        seconds,
        block_bytes,
        slow_ms,
    } = &args.command
    {
        let dir = dir.as_ref().unwrap_or(&args.data_dir);
        return disk_check(
            dir,
            Duration::from_secs(*seconds),
            *block_bytes,
            Duration::from_millis(*slow_ms),
        );
    }
    if let Cmd::CashboxKeygen { file } = &args.command {
        let seed: [u8; 32] = rand::random();
        loyalty_api::signing::write_private_file(file, &hex::encode(seed))
            .with_context(|| file.display().to_string())?;
        println!("{}", CashboxSigner::new(seed, 0).public_hex());
        return Ok(());
    }
    let token = match args.token {
        Some(t) => t,
        None => std::fs::read_to_string(args.data_dir.join("admin.token"))
            .with_context(|| format!("no --token and no {}/admin.token", args.data_dir.display()))?
            .trim()
            .to_owned(),
    };
    let client = AdminServiceClient::new(connect(&args.server, args.ca_cert.as_deref()).await?);
    let mut a = Admin { client, token };
    match args.command {
        Cmd::RegisterCashbox {
            id,
            store,
            kind,
            public_key,
        } => {
            let kind = match kind {
                Kind::Pos => pb::CashboxKind::Pos,
                Kind::Kiosk => pb::CashboxKind::SelfCheckout,
            };
            let r = a.req(pb::RegisterCashboxRequest {
                operation_id: op(),
                cashbox_id: id,
                store_id: store,
                kind: kind.into(),
                public_key,
            })?;
            show(a.client.register_cashbox(r).await?.into_inner())
        }
        Cmd::SetCashboxKey { id, public_key } => {
            let r = a.req(pb::SetCashboxKeyRequest {
                operation_id: op(),
                cashbox_id: id,
                public_key,
            })?;
            show(a.client.set_cashbox_key(r).await?.into_inner())
        }
        Cmd::AdjustPoints {
            card,
            delta,
            reason,
        } => {
            let r = a.req(pb::AdjustPointsRequest {
                operation_id: op(),
                card,
                delta,
                reason,
            })?;
            let reply = a.client.adjust_points(r).await?.into_inner();
            if let Some(b) = &reply.balance {
                println!("balance {} held {}", b.balance, b.held);
            }
            show(reply)
        }
        Cmd::ServerKey => {
            let r = a.req(pb::ServerKeyRequest {})?;
            let k = a.client.server_key(r).await?.into_inner();
            println!("{} {}", k.algorithm, k.public_key);
            Ok(())
        }
        Cmd::History {
            card,
            account,
            after_seq,
            limit,
        } => {
            let r = a.req(pb::HistoryRequest {
                card,
                account_id: account,
                after_seq,
                limit,
            })?;
            for e in a.client.history(r).await?.into_inner().entries {
                println!(
                    "{:>10} {:>14} {:<20} {:<22} {:>12} {}",
                    e.seq, e.server_time_unix_ms, e.actor, e.event_type, e.balance_delta, e.detail
                );
            }
            Ok(())
        }
        Cmd::CashboxKeygen { .. } | Cmd::DiskCheck { .. } => unreachable!("handled above"),
        Cmd::EnableCashbox { id } | Cmd::DisableCashbox { id } => {
            let enabled = matches!(args.command, Cmd::EnableCashbox { .. });
            let r = a.req(pb::SetCashboxEnabledRequest {
                operation_id: op(),
                cashbox_id: id,
                enabled,
            })?;
            show(a.client.set_cashbox_enabled(r).await?.into_inner())
        }
        Cmd::IssueCard {
            card,
            card_type,
            status,
            account,
            name,
            phone,
        } => {
            let status = match status {
                Status::Prepared => pb::CardStatus::Prepared,
                Status::Issued => pb::CardStatus::Issued,
                Status::Activated => pb::CardStatus::Activated,
            };
            let r = a.req(pb::IssueCardRequest {
                operation_id: op(),
                card,
                card_type,
                status: status.into(),
                account,
                holder_name: name,
                holder_phone: phone,
            })?;
            show(a.client.issue_card(r).await?.into_inner())
        }
        Cmd::ActivateCard { card } => {
            let r = a.req(pb::CardRequest {
                operation_id: op(),
                card,
            })?;
            show(a.client.activate_card(r).await?.into_inner())
        }
        Cmd::ReplaceCard { old, new } => {
            let r = a.req(pb::ReplaceCardRequest {
                operation_id: op(),
                old_card: old,
                new_card: new,
            })?;
            show(a.client.replace_card(r).await?.into_inner())
        }
        Cmd::SetCardRange {
            prefix,
            length,
            check,
            card_type,
            remove,
        } => {
            let check = match check {
                Check::None => pb::CheckDigit::None,
                Check::Luhn => pb::CheckDigit::Luhn,
                Check::Ean13 => pb::CheckDigit::Ean13,
            };
            let r = a.req(pb::SetCardRangeRequest {
                operation_id: op(),
                prefix,
                length,
                check: check.into(),
                card_type,
                remove,
            })?;
            show(a.client.set_card_range(r).await?.into_inner())
        }
        Cmd::SetIdentifierPolicy { redeem_via } => {
            let redeem_via = redeem_via
                .into_iter()
                .map(|v| match v {
                    Via::Barcode => pb::IdentifierKind::Barcode,
                    Via::Magstripe => pb::IdentifierKind::Magstripe,
                    Via::Phone => pb::IdentifierKind::Phone,
                    Via::Qr => pb::IdentifierKind::Qr,
                })
                .map(i32::from)
                .collect();
            let r = a.req(pb::SetIdentifierPolicyRequest {
                operation_id: op(),
                redeem_via,
            })?;
            show(a.client.set_identifier_policy(r).await?.into_inner())
        }
        Cmd::IssueQrSecret { card } => {
            let r = a.req(pb::CardRequest {
                operation_id: op(),
                card,
            })?;
            let reply = a.client.issue_qr_secret(r).await?.into_inner();
            if !reply.qr_secret.is_empty() {
                println!("QR secret (shown once): {}", reply.qr_secret);
            }
            show(reply)
        }
        Cmd::BlockAccount { card } => set_account_blocked(&mut a, card, true).await,
        Cmd::UnblockAccount { card } => set_account_blocked(&mut a, card, false).await,
        Cmd::BlockCard { card } => {
            let r = a.req(pb::CardRequest {
                operation_id: op(),
                card,
            })?;
            show(a.client.block_card(r).await?.into_inner())
        }
        Cmd::ImportProducts { file } => {
            use loyalty_api::import::Catalogue;
            let text =
                std::fs::read_to_string(&file).with_context(|| file.display().to_string())?;
            let csv = file
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("csv"));
            let catalogue = if csv {
                Catalogue::from_csv(&text)
            } else {
                Catalogue::from_jsonl(&text)
            };
            let total = catalogue.products.len();
            let mut done = 0;
            for chunk in catalogue.products.chunks(1000) {
                let r = a.req(pb::ImportProductsRequest {
                    operation_id: op(),
                    products: chunk.to_vec(),
                })?;
                show(a.client.import_products(r).await?.into_inner())?;
                done += chunk.len();
                let filled = done * 30 / total.max(1);
                eprint!(
                    "\r[{}{}] {done}/{total}",
                    "#".repeat(filled),
                    " ".repeat(30 - filled)
                );
            }
            eprintln!();
            println!(
                "imported {total} products, refused {} rows",
                catalogue.rejected.len()
            );
            for (line, reason) in &catalogue.rejected {
                println!("  {}:{line}: {reason}", file.display());
            }
            if !catalogue.rejected.is_empty() {
                bail!("{} rows refused", catalogue.rejected.len());
            }
            Ok(())
        }
        Cmd::UpsertOffer(args) => {
            let OfferArgs {
                id,
                name,
                effect,
                percent,
                fixed,
                per,
                groups,
                products,
                from,
                to,
                disabled,
                favourites,
                weekdays,
                hours,
                stores,
                card_types,
                min_total,
                min_quantity,
                coupon_series,
                priority,
                exclusive,
                issue_coupon_series,
                message,
            } = *args;
            let effect = match effect {
                Effect::Discount => pb::OfferEffect::Discount,
                Effect::Accrual => pb::OfferEffect::Accrual,
                Effect::IssueCoupon => pb::OfferEffect::IssueCoupon,
                Effect::MessageCashier => pb::OfferEffect::MessageCashier,
                Effect::MessageCheque => pb::OfferEffect::MessageCheque,
            };
            let (daily_from, daily_to) = match hours.as_deref().map(|h| h.split_once('-')) {
                None => (String::new(), String::new()),
                Some(Some((a, b))) => (a.to_owned(), b.to_owned()),
                Some(None) => bail!("--hours: HH:MM-HH:MM"),
            };
            let offer = pb::Offer {
                id,
                name,
                effect: effect.into(),
                percent,
                fixed,
                fixed_per: match per {
                    None => pb::FixedPer::Unspecified,
                    Some(Per::Line) => pb::FixedPer::Line,
                    Some(Per::Target) => pb::FixedPer::Target,
                }
                .into(),
                group: String::new(),
                groups,
                products,
                valid_from: from,
                valid_to: to,
                enabled: !disabled,
                favourites,
                weekdays,
                daily_from,
                daily_to,
                stores,
                card_types,
                min_total,
                min_quantity,
                coupon_series,
                priority,
                exclusive,
                issue_coupon_series,
                message,
            };
            let r = a.req(pb::UpsertOfferRequest {
                operation_id: op(),
                offer: Some(offer),
            })?;
            show(a.client.upsert_offer(r).await?.into_inner())
        }
        Cmd::SetCouponSeries {
            id,
            name,
            uses,
            valid_days,
        } => {
            let r = a.req(pb::SetCouponSeriesRequest {
                operation_id: op(),
                series: Some(pb::CouponSeries {
                    id,
                    name,
                    uses,
                    valid_days,
                }),
            })?;
            show(a.client.set_coupon_series(r).await?.into_inner())
        }
        Cmd::IssueCoupons {
            series,
            codes,
            count,
            card,
            expires,
        } => {
            let r = a.req(pb::IssueCouponsRequest {
                operation_id: op(),
                series,
                codes,
                count,
                card,
                expires,
            })?;
            let reply = a.client.issue_coupons(r).await?.into_inner();
            for c in &reply.coupons {
                println!("{c}");
            }
            show(reply)
        }
        Cmd::CreateOrder {
            order,
            card,
            points,
            lines,
        } => {
            let lines = lines
                .iter()
                .map(|l| match l.split(':').collect::<Vec<_>>()[..] {
                    [p, q, price] => Ok((p, q, price, "")),
                    [p, q, price, d] => Ok((p, q, price, d)),
                    _ => Err(anyhow::anyhow!(
                        "line {l:?}: product:quantity:price[:discount]"
                    )),
                })
                .map(|r| {
                    r.map(|(p, q, price, d)| pb::OrderLine {
                        product: p.into(),
                        quantity: q.into(),
                        price: price.into(),
                        discount: d.into(),
                    })
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            let r = a.req(pb::CreateOrderRequest {
                operation_id: op(),
                order,
                card,
                lines,
                points,
            })?;
            show(a.client.create_order(r).await?.into_inner())
        }
        Cmd::CancelOrder { order } => {
            let r = a.req(pb::CancelOrderRequest {
                operation_id: op(),
                order,
            })?;
            show(a.client.cancel_order(r).await?.into_inner())
        }
        Cmd::ImportCheques { .. } => unreachable!("handled above"),
        Cmd::ListPending {
            within_secs,
            expired_within_secs,
        } => {
            let r = a.req(pb::ListPendingRequest {
                within_secs,
                expired_within_secs,
                limit: 0,
            })?;
            let list = a.client.list_pending(r).await?.into_inner();
            println!(
                "{:>8} {:<24} {:<12} {:>10} {:>10} {:>15} expired",
                "cashbox", "cheque", "status", "paid", "accrual", "expires_at_ms"
            );
            for p in list.purchases {
                let status = pb::PurchaseStatus::try_from(p.status)
                    .map(|s| s.as_str_name())
                    .unwrap_or("?");
                println!(
                    "{:>8} {:<24} {:<12} {:>10} {:>10} {:>15} {}",
                    p.cashbox_id,
                    p.cheque_id,
                    status.trim_start_matches("PURCHASE_STATUS_"),
                    p.paid,
                    p.accrual,
                    p.expires_at_unix_ms,
                    p.expired
                );
            }
            Ok(())
        }
        Cmd::Verify { rewrite } => {
            let r = a.req(pb::VerifyRequest { rewrite })?;
            let v = a.client.verify(r).await?.into_inner();
            println!(
                "events={} equal={} rewritten={}\nstate sha256 {}\nlog sha256 {}",
                v.events, v.equal, v.rewritten, v.state_sha256, v.log_sha256
            );
            for d in &v.differences {
                println!("  differs: {d}");
            }
            if !v.equal && !v.rewritten {
                bail!("live state differs from the rebuild");
            }
            Ok(())
        }
        Cmd::Status => {
            let r = a.req(pb::StatusRequest {})?;
            let s = a.client.status(r).await?.into_inner();
            let avg = s.operations.checked_div(s.batches).unwrap_or(0);
            println!("operations={} events={} batches={} avg_batch={avg} largest_batch={} replays={} queued={}", s.operations, s.events, s.batches, s.largest_batch, s.replays, s.queued);
            Ok(())
        }
    }
}

async fn set_account_blocked(a: &mut Admin, card: String, blocked: bool) -> anyhow::Result<()> {
    let r = a.req(pb::SetAccountBlockedRequest {
        operation_id: op(),
        card,
        blocked,
    })?;
    show(a.client.set_account_blocked(r).await?.into_inner())
}

/// A channel to the server, over TLS verified with `ca` when given.
async fn connect(server: &str, ca: Option<&std::path::Path>) -> anyhow::Result<Channel> {
    let mut endpoint = Channel::from_shared(server.to_owned())?;
    if let Some(ca) = ca {
        let pem = std::fs::read(ca).with_context(|| ca.display().to_string())?;
        let tls = tonic::transport::ClientTlsConfig::new()
            .ca_certificate(tonic::transport::Certificate::from_pem(pem));
        endpoint = endpoint.tls_config(tls)?;
    }
    endpoint
        .connect()
        .await
        .with_context(|| format!("connecting to {server}"))
}

async fn import_cheques(
    channel: Channel,
    file: &std::path::Path,
    cashbox: u32,
    secret: &str,
    chunk: usize,
    signer: Option<CashboxSigner>,
) -> anyhow::Result<()> {
    use loyalty_api::import::{parse_csv, parse_jsonl, Summary};
    use loyalty_proto::metadata::{CASHBOX_ID_HEADER, CASHBOX_SECRET_HEADER};
    let text = std::fs::read_to_string(file).with_context(|| file.display().to_string())?;
    let items = if file
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("csv"))
    {
        parse_csv(&text)?
    } else {
        parse_jsonl(&text)?
    };
    let mut client = loyalty_api::pb::cash_service_client::CashServiceClient::new(channel);
    let total = items.len();
    let mut summary = Summary::default();
    let mut done = 0;
    for part in items.chunks(chunk.clamp(1, loyalty_api::limits::OFFLINE_BATCH_ITEMS_MAX)) {
        let mut req = tonic::Request::new(pb::OfflineBatch {
            items: part.to_vec(),
        });
        req.metadata_mut()
            .insert(CASHBOX_ID_HEADER, cashbox.to_string().parse()?);
        req.metadata_mut()
            .insert(CASHBOX_SECRET_HEADER, secret.parse()?);
        if let Some(s) = &signer {
            s.sign(&mut req, "UploadOffline", loyalty_api::signing::now_ms());
        }
        let reply = client.upload_offline(req).await?.into_inner();
        summary.add(&reply.results);
        done += part.len();
        let filled = done * 30 / total.max(1);
        eprint!(
            "\r[{}{}] {done}/{total}",
            "#".repeat(filled),
            " ".repeat(30 - filled)
        );
    }
    eprintln!();
    println!(
        "applied {}, duplicates {}, refused {}",
        summary.applied,
        summary.duplicates,
        summary.refused.len()
    );
    for (op, outcome, message) in &summary.refused {
        println!("  refused {op}: {outcome} {message}");
    }
    if !summary.refused.is_empty() {
        bail!("{} rows refused", summary.refused.len());
    }
    Ok(())
}
