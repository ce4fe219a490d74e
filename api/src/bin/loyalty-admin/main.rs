//! Admin CLI: talks to a running server over gRPC — with the admin token as an operator,
//! or with a cashbox's secret as that till. `main` only parses and dispatches; the
//! commands live in `admin` (one function per subcommand), `till` (a purchase from the
//! command line, cheque imports) and `local` (no server needed).

mod admin;
mod args;
mod bonus;
mod budgets;
mod certificates;
mod local;
mod tiers;
mod till;

use admin::Admin;
use anyhow::Context;
use args::{Bonus, Check, Kind, OfferArgs, Status, Via};
use clap::{Parser, Subcommand};
use loyalty_api::signing::CashboxSigner;
use loyalty_proto::pb::admin_service_client::AdminServiceClient;
use loyalty_proto::pb::cash_service_client::CashServiceClient;
use std::path::{Path, PathBuf};
use std::time::Duration;
use till::{Till, TillCmd};
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

#[derive(Subcommand)]
enum Cmd {
    /// Generate a cashbox signing key: writes the seed to FILE (mode 0600), prints the
    /// public key to register.
    CashboxKeygen { file: PathBuf },
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
    /// Act as a cashbox: a purchase step by step.
    Till {
        #[arg(long)]
        cashbox: u32,
        #[arg(long, env = "LOYALTY_CASHBOX_SECRET", hide_env_values = true)]
        secret: Option<String>,
        /// A file holding the secret, as `register-cashbox --secret-file` wrote it.
        #[arg(long, conflicts_with = "secret")]
        secret_file: Option<PathBuf>,
        /// The cashbox's signing key seed file, when it signs its requests.
        #[arg(long)]
        signing_key: Option<PathBuf>,
        #[command(subcommand)]
        step: TillCmd,
    },
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
    /// List the backups in a backup directory (no server needed).
    Backups { dir: PathBuf },
    /// Restore a backup into the data directory, which must not hold a store yet (no server
    /// needed; start the server on it afterwards). The restored store is checked against the
    /// backup's digests.
    Restore {
        /// The backup directory.
        #[arg(long)]
        from: PathBuf,
        /// Which backup; the newest by default.
        #[arg(long)]
        backup: Option<u32>,
    },
    /// Rebuild the data directory's state from its log and compare, as `verify` does, on a
    /// store no server has open (a restored copy, a stopped server's).
    VerifyData {
        /// Also show the digest of the log up to and including this sequence (compare a store
        /// that went on with a backup taken at that sequence).
        #[arg(long)]
        through: Option<u64>,
    },
    #[command(flatten)]
    Admin(AdminCmd),
}

/// What the administrator does, with the operator's token.
#[derive(Subcommand)]
enum AdminCmd {
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
        /// Write the secret to this file (mode 0600) instead of printing it.
        #[arg(long)]
        secret_file: Option<PathBuf>,
        /// The login of a till whose Loymax module talks to the XML endpoint (its password
        /// is the secret).
        #[arg(long, default_value = "")]
        loymax_login: String,
    },
    /// Register, replace or (without --public-key) remove a cashbox's signing key.
    SetCashboxKey {
        #[arg(long)]
        id: u32,
        #[arg(long, default_value = "")]
        public_key: String,
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
    /// The bonus for a customer event: `--kind welcome --points 100 --lifetime-days 90`
    /// (welcome and first purchase once per account, birthday once a year in its window);
    /// `--off` switches it off (what was granted stays).
    SetBonus {
        #[arg(long, value_enum)]
        kind: Bonus,
        /// Required unless switching off.
        #[arg(long)]
        points: Option<String>,
        /// Days the bonus is pending before it can be spent.
        #[arg(long, default_value_t = 0)]
        pending_days: u64,
        /// Days it can be spent, then it burns (0: never).
        #[arg(long, default_value_t = 0)]
        lifetime_days: u64,
        /// Birthday: granted from this many days before the day ...
        #[arg(long, default_value_t = 0)]
        days_before: u32,
        /// ... to this many after (at most 31 each).
        #[arg(long, default_value_t = 0)]
        days_after: u32,
        #[arg(long)]
        off: bool,
    },
    /// The event bonuses as set.
    Bonuses,
    /// Status levels, lowest first, with the spend each needs over the period:
    /// `--level Silver:0 --level Gold:30000 --months 12` (calendar years; `--rolling`: the
    /// last 12 months).
    SetTiers {
        #[arg(long = "level", required = true)]
        levels: Vec<String>,
        #[arg(long)]
        months: u32,
        #[arg(long)]
        rolling: bool,
    },
    /// The least level of a card's account (`--clear`: none).
    SetTierFloor {
        #[arg(long)]
        card: String,
        #[arg(long, required_unless_present = "clear")]
        tier: Option<String>,
        #[arg(long, conflicts_with = "tier")]
        clear: bool,
    },
    /// The status levels as set.
    Tiers,
    /// The offers with limits: what each has given and may still give.
    OfferBudgets,
    /// Issue a gift certificate: its code (upper-case letters, digits, dashes), amount and
    /// the days it pays for.
    IssueCertificate(certificates::NewCertificate),
    /// A gift certificate as it stands.
    Certificate {
        #[arg(long)]
        code: String,
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
    /// Support: confirm or cancel a stuck purchase of any cashbox, with the reason.
    ResolvePurchase {
        /// The cashbox that began the purchase.
        #[arg(long)]
        cashbox: u32,
        /// Its cheque number there.
        #[arg(long)]
        cheque: String,
        /// Confirm it (post the points), as its till would have.
        #[arg(long, conflicts_with = "cancel", required_unless_present = "cancel")]
        confirm: bool,
        /// Cancel it (release the points).
        #[arg(long)]
        cancel: bool,
        #[arg(long)]
        reason: String,
    },
    /// Find purchases: by the id on the slip, by cashbox and cheque, or by card (newest
    /// first, within a range of the cheques' local time).
    FindPurchase {
        /// The purchase id printed on the slip, e.g. 12/000345.
        #[arg(long, conflicts_with_all = ["cashbox", "card"])]
        id: Option<String>,
        #[arg(long, requires = "cheque", conflicts_with = "card")]
        cashbox: Option<u32>,
        #[arg(long, requires = "cashbox")]
        cheque: Option<String>,
        /// Any card of the account.
        #[arg(long)]
        card: Option<String>,
        /// The cashbox's local time, YYYY-MM-DDTHH:MM:SS: from (inclusive) …
        #[arg(long, requires = "card", default_value = "")]
        from: String,
        /// … to (exclusive).
        #[arg(long, requires = "card", default_value = "")]
        to: String,
        #[arg(long, default_value_t = 0)]
        limit: u32,
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
    /// A cluster's state as this replica sees it: roles, term, log and applied index, and on
    /// the leader each replica's lag.
    ClusterStatus,
    /// Add a replica (on the leader): it catches up as a learner, then votes.
    AddReplica {
        #[arg(long)]
        id: u64,
        /// The address it serves on, host:port.
        #[arg(long)]
        address: String,
    },
    /// Remove a replica from the cluster (on the leader).
    RemoveReplica {
        #[arg(long)]
        id: u64,
    },
    /// Take an online backup into a directory on the server's machine (tills keep buying).
    Backup {
        #[arg(long)]
        to: String,
        /// Backups kept there, the newest; the server's `backup_keep` by default.
        #[arg(long, default_value_t = 0)]
        keep: u32,
    },
    Status,
}

/// A channel to the server, over TLS verified with `ca` when given.
async fn connect(server: &str, ca: Option<&Path>) -> anyhow::Result<Channel> {
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

/// A progress bar on stderr for a file sent in parts: `[####    ] 1000/4000`.
fn progress(total: usize) -> indicatif::ProgressBar {
    indicatif::ProgressBar::new(total as u64).with_style(
        indicatif::ProgressStyle::with_template("[{bar:30}] {pos}/{len}")
            .expect("a valid template")
            .progress_chars("## "),
    )
}

/// The cashbox's secret: given, or read from the file `register-cashbox --secret-file`
/// wrote.
fn cashbox_secret(secret: Option<String>, file: Option<&Path>) -> anyhow::Result<String> {
    match (secret, file) {
        (Some(s), _) => Ok(s),
        (None, Some(f)) => Ok(std::fs::read_to_string(f)
            .with_context(|| f.display().to_string())?
            .trim()
            .to_owned()),
        (None, None) => anyhow::bail!("give --secret, --secret-file or LOYALTY_CASHBOX_SECRET"),
    }
}

fn signer(key: Option<&Path>, cashbox: u32) -> anyhow::Result<Option<CashboxSigner>> {
    Ok(key
        .map(|path| CashboxSigner::from_file(path, cashbox))
        .transpose()?)
}

/// The administrator's session: the token given, or the one the server wrote into the data
/// directory.
fn admin_token(token: Option<String>, data_dir: &Path) -> anyhow::Result<String> {
    match token {
        Some(t) => Ok(t),
        None => Ok(std::fs::read_to_string(data_dir.join("admin.token"))
            .with_context(|| format!("no --token and no {}/admin.token", data_dir.display()))?
            .trim()
            .to_owned()),
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let Args {
        server,
        token,
        data_dir,
        ca_cert,
        command,
    } = Args::parse();
    let channel = || connect(&server, ca_cert.as_deref());
    match command {
        Cmd::DiskCheck {
            dir,
            seconds,
            block_bytes,
            slow_ms,
        } => local::disk_check(
            dir.as_ref().unwrap_or(&data_dir),
            Duration::from_secs(seconds),
            block_bytes,
            Duration::from_millis(slow_ms),
        ),
        Cmd::CashboxKeygen { file } => local::cashbox_keygen(&file),
        Cmd::Backups { dir } => local::backups(&dir),
        Cmd::Restore { from, backup } => local::restore(&from, backup, &data_dir),
        Cmd::VerifyData { through } => local::verify_data(&data_dir, through),
        // Imports and tills act as a cashbox, not as the administrator.
        Cmd::ImportCheques {
            file,
            cashbox,
            secret,
            chunk,
            signing_key,
        } => {
            let signer = signer(signing_key.as_deref(), cashbox)?;
            till::import_cheques(channel().await?, &file, cashbox, &secret, chunk, signer).await
        }
        Cmd::Till {
            cashbox,
            secret,
            secret_file,
            signing_key,
            step,
        } => {
            let till = Till {
                client: CashServiceClient::new(channel().await?),
                cashbox,
                secret: cashbox_secret(secret, secret_file.as_deref())?,
                signer: signer(signing_key.as_deref(), cashbox)?,
            };
            till.run(step).await
        }
        Cmd::Admin(command) => {
            let channel = channel().await?;
            let mut a = Admin {
                token: admin_token(token, &data_dir)?,
                client: AdminServiceClient::new(channel.clone()),
                cluster: loyalty_proto::pb::cluster_service_client::ClusterServiceClient::new(
                    channel,
                ),
            };
            run_admin(&mut a, command).await
        }
    }
}

/// The administrator's commands: plain dispatch, one function each.
async fn run_admin(a: &mut Admin, command: AdminCmd) -> anyhow::Result<()> {
    use admin::*;
    match command {
        AdminCmd::RegisterCashbox {
            id,
            store,
            kind,
            public_key,
            secret_file,
            loymax_login,
        } => {
            let till = NewTill {
                id,
                store,
                kind,
                public_key,
                loymax_login,
            };
            register_cashbox(a, till, secret_file).await
        }
        AdminCmd::SetCashboxKey { id, public_key } => set_cashbox_key(a, id, public_key).await,
        AdminCmd::AdjustPoints {
            card,
            delta,
            reason,
        } => adjust_points(a, card, delta, reason).await,
        AdminCmd::ServerKey => server_key(a).await,
        AdminCmd::History {
            card,
            account,
            after_seq,
            limit,
        } => history(a, card, account, after_seq, limit).await,
        AdminCmd::EnableCashbox { id } => set_cashbox_enabled(a, id, true).await,
        AdminCmd::DisableCashbox { id } => set_cashbox_enabled(a, id, false).await,
        AdminCmd::IssueCard {
            card,
            card_type,
            status,
            account,
            name,
            phone,
        } => issue_card(a, card, card_type, status, account, name, phone).await,
        AdminCmd::ActivateCard { card } => activate_card(a, card).await,
        AdminCmd::BlockCard { card } => block_card(a, card).await,
        AdminCmd::ReplaceCard { old, new } => replace_card(a, old, new).await,
        AdminCmd::SetCardRange {
            prefix,
            length,
            check,
            card_type,
            remove,
        } => set_card_range(a, prefix, length, check, card_type, remove).await,
        AdminCmd::SetIdentifierPolicy { redeem_via } => set_identifier_policy(a, redeem_via).await,
        AdminCmd::SetBonus {
            kind,
            points,
            pending_days,
            lifetime_days,
            days_before,
            days_after,
            off,
        } => {
            let args = bonus::BonusArgs {
                kind,
                points,
                pending_days,
                lifetime_days,
                days_before,
                days_after,
                off,
            };
            bonus::set_bonus(a, args).await
        }
        AdminCmd::Bonuses => bonus::list_bonuses(a).await,
        AdminCmd::SetTiers {
            levels,
            months,
            rolling,
        } => tiers::set_tiers(a, levels, months, rolling).await,
        AdminCmd::SetTierFloor { card, tier, .. } => tiers::set_tier_floor(a, card, tier).await,
        AdminCmd::Tiers => tiers::list_tiers(a).await,
        AdminCmd::OfferBudgets => budgets::list_budgets(a).await,
        AdminCmd::IssueCertificate(c) => certificates::issue_certificate(a, c).await,
        AdminCmd::Certificate { code } => certificates::certificate(a, code).await,
        AdminCmd::IssueQrSecret { card } => issue_qr_secret(a, card).await,
        AdminCmd::BlockAccount { card } => block_account(a, card).await,
        AdminCmd::UnblockAccount { card } => unblock_account(a, card).await,
        AdminCmd::ImportProducts { file } => import_products(a, file).await,
        AdminCmd::UpsertOffer(o) => upsert_offer(a, o).await,
        AdminCmd::SetCouponSeries {
            id,
            name,
            uses,
            valid_days,
        } => set_coupon_series(a, id, name, uses, valid_days).await,
        AdminCmd::IssueCoupons {
            series,
            codes,
            count,
            card,
            expires,
        } => issue_coupons(a, series, codes, count, card, expires).await,
        AdminCmd::CreateOrder {
            order,
            card,
            points,
            lines,
        } => create_order(a, order, card, points, lines).await,
        AdminCmd::CancelOrder { order } => cancel_order(a, order).await,
        AdminCmd::ResolvePurchase {
            cashbox,
            cheque,
            confirm,
            cancel: _,
            reason,
        } => resolve_purchase(a, cashbox, cheque, confirm, reason).await,
        AdminCmd::FindPurchase {
            id,
            cashbox,
            cheque,
            card,
            from,
            to,
            limit,
        } => {
            let req = loyalty_proto::pb::FindPurchaseRequest {
                purchase_id: id.unwrap_or_default(),
                cashbox_id: cashbox.unwrap_or(0),
                cheque_id: cheque.unwrap_or_default(),
                card: card.unwrap_or_default(),
                from,
                to,
                limit,
            };
            find_purchase(a, req).await
        }
        AdminCmd::ListPending {
            within_secs,
            expired_within_secs,
        } => list_pending(a, within_secs, expired_within_secs).await,
        AdminCmd::Verify { rewrite } => verify(a, rewrite).await,
        AdminCmd::Backup { to, keep } => backup(a, to, keep).await,
        AdminCmd::ClusterStatus => cluster_status(a).await,
        AdminCmd::AddReplica { id, address } => add_replica(a, id, address).await,
        AdminCmd::RemoveReplica { id } => remove_replica(a, id).await,
        AdminCmd::Status => status(a).await,
    }
}
