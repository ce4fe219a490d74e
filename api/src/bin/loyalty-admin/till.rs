//! Acting as a cashbox: a purchase rung up from the command line (calculate, pay with
//! points, register, confirm, cancel, balance), and cheques imported from a file through
//! the offline path (the translator scheme). Requests carry the cashbox's id and secret,
//! and its signature when it signs.

use anyhow::{bail, Context};
use clap::Subcommand;
use loyalty_api::signing::CashboxSigner;
use loyalty_proto::metadata::{CASHBOX_ID_HEADER, CASHBOX_SECRET_HEADER};
use loyalty_proto::pb;
use loyalty_proto::pb::cash_service_client::CashServiceClient;
use tonic::transport::Channel;

/// A purchase at the till, step by step.
#[derive(Subcommand)]
pub enum TillCmd {
    /// Preview a cheque: discounts, accrual, the most points payable, the balance.
    Calculate(ChequeArgs),
    /// Hold points to pay part of the cheque.
    PayWithBonus {
        #[command(flatten)]
        cheque: ChequeArgs,
        /// Points to pay, e.g. "20.00".
        #[arg(long)]
        points: String,
    },
    /// Record the cheque with its discounts and a pending accrual.
    Register(ChequeArgs),
    /// Post the held points and credit the accrual.
    Confirm {
        #[arg(long)]
        cheque: String,
    },
    /// Release the held points and drop the accrual.
    Cancel {
        #[arg(long)]
        cheque: String,
    },
    /// The balance behind a card; with `--as-of`, what its lots will give at that time
    /// (RFC 3339, e.g. 2027-02-01T00:00:00+03:00).
    Balance {
        #[arg(long)]
        card: String,
        #[arg(long, default_value = "")]
        as_of: String,
    },
    /// Refund goods of a purchase made at any POS, named by the purchase id on its slip.
    Refund {
        /// This refund's own cheque number.
        #[arg(long)]
        refund: String,
        /// The purchase id printed on the sale's slip, e.g. 1/C-2.
        #[arg(long)]
        purchase_id: String,
        /// A returned line "index:quantity" (repeat), the index from 0, e.g. "0:1".
        #[arg(long = "line", required = true)]
        lines: Vec<String>,
    },
    /// Sell a gift certificate: its code, amount and the days it pays for.
    SellCertificate(crate::certificates::NewCertificate),
    /// A gift certificate as it stands.
    Certificate {
        #[arg(long)]
        code: String,
    },
}

/// A cheque as the till sends it.
#[derive(clap::Args)]
pub struct ChequeArgs {
    /// The cheque's number at this till.
    #[arg(long, default_value = "preview")]
    cheque: String,
    /// The customer's card number (none: a cheque without a card).
    #[arg(long, default_value = "")]
    card: String,
    /// A line "product:quantity:price" (repeat), e.g. "milk:2:89.90".
    #[arg(long = "line", required = true)]
    lines: Vec<String>,
    /// The till's local time, "YYYY-MM-DDTHH:MM:SS"; the current UTC time by default.
    #[arg(long)]
    local_time: Option<String>,
    /// Print the receipt slip, this many characters wide (24 to 80).
    #[arg(long, default_value_t = 0)]
    slip_width: u32,
    /// How the money part is paid (repeat; together exactly what is left to pay): "cash:50",
    /// "card:50", "fast:50" or "certificate:CODE:50".
    #[arg(long = "tender")]
    tenders: Vec<String>,
}

impl ChequeArgs {
    fn cheque(&self) -> anyhow::Result<pb::Cheque> {
        let lines = self
            .lines
            .iter()
            .map(|l| match l.split(':').collect::<Vec<_>>()[..] {
                [product, quantity, price] => Ok(pb::Line {
                    product: product.into(),
                    quantity: quantity.into(),
                    price: price.into(),
                    ..Default::default()
                }),
                _ => bail!("--line {l}: expected product:quantity:price"),
            })
            .collect::<anyhow::Result<_>>()?;
        let local_time = match &self.local_time {
            Some(t) => t.clone(),
            None => chrono::DateTime::from_timestamp_millis(loyalty_api::signing::now_ms())
                .context("the clock is out of range")?
                .naive_utc()
                .format("%Y-%m-%dT%H:%M:%S")
                .to_string(),
        };
        let tenders = self
            .tenders
            .iter()
            .map(|t| {
                let (kind, certificate, amount) = match t.split(':').collect::<Vec<_>>()[..] {
                    ["cash", x] => (pb::TenderKind::Cash, "", x),
                    ["card", x] => (pb::TenderKind::BankCard, "", x),
                    ["fast", x] => (pb::TenderKind::FastPayment, "", x),
                    ["certificate", code, x] => (pb::TenderKind::GiftCertificate, code, x),
                    _ => bail!(
                        "--tender {t}: expected cash|card|fast:AMOUNT or certificate:CODE:AMOUNT"
                    ),
                };
                Ok(pb::Tender {
                    kind: kind.into(),
                    amount: amount.into(),
                    certificate: certificate.into(),
                })
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(pb::Cheque {
            cheque_id: self.cheque.clone(),
            card: self.card.clone(),
            local_time,
            lines,
            tenders,
            ..Default::default()
        })
    }
}

/// The cashbox a command acts as.
pub struct Till {
    pub client: CashServiceClient<Channel>,
    pub cashbox: u32,
    pub secret: String,
    pub signer: Option<CashboxSigner>,
}

/// Adds the cashbox's credentials (and its signature, when it signs) to a request.
fn as_cashbox<T: prost::Message>(
    req: &mut tonic::Request<T>,
    cashbox: u32,
    secret: &str,
    signer: Option<&CashboxSigner>,
    method: &str,
) -> anyhow::Result<()> {
    req.metadata_mut()
        .insert(CASHBOX_ID_HEADER, cashbox.to_string().parse()?);
    req.metadata_mut()
        .insert(CASHBOX_SECRET_HEADER, secret.parse()?);
    if let Some(s) = signer {
        s.sign(req, method, loyalty_api::signing::now_ms());
    }
    Ok(())
}

fn op() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// A new operation on a registered cheque (confirm or cancel).
fn purchase(cheque: String) -> pb::PurchaseRequest {
    pb::PurchaseRequest {
        operation_id: op(),
        cheque_id: cheque,
        slip_width: 0,
    }
}

impl Till {
    fn req<T: prost::Message>(&self, body: T, method: &str) -> anyhow::Result<tonic::Request<T>> {
        let mut req = tonic::Request::new(body);
        as_cashbox(
            &mut req,
            self.cashbox,
            &self.secret,
            self.signer.as_ref(),
            method,
        )?;
        Ok(req)
    }

    /// Runs one step of a purchase and prints the answer.
    pub async fn run(mut self, cmd: TillCmd) -> anyhow::Result<()> {
        let reply = match cmd {
            TillCmd::Calculate(c) => {
                let body = pb::CalculateRequest {
                    cheque: Some(c.cheque()?),
                    slip_width: c.slip_width,
                };
                let r = self.req(body, "Calculate")?;
                self.client.calculate(r).await?
            }
            TillCmd::PayWithBonus { cheque, points } => {
                let body = pb::PayWithBonusRequest {
                    operation_id: op(),
                    cheque: Some(cheque.cheque()?),
                    points,
                    slip_width: cheque.slip_width,
                };
                let r = self.req(body, "PayWithBonus")?;
                self.client.pay_with_bonus(r).await?
            }
            TillCmd::Register(c) => {
                let body = pb::RegisterPurchaseRequest {
                    operation_id: op(),
                    cheque: Some(c.cheque()?),
                    slip_width: c.slip_width,
                };
                let r = self.req(body, "RegisterPurchase")?;
                self.client.register_purchase(r).await?
            }
            TillCmd::Confirm { cheque } => {
                let r = self.req(purchase(cheque), "Confirm")?;
                self.client.confirm(r).await?
            }
            TillCmd::Cancel { cheque } => {
                let r = self.req(purchase(cheque), "Cancel")?;
                self.client.cancel(r).await?
            }
            TillCmd::Refund {
                refund,
                purchase_id,
                lines,
            } => {
                let lines = lines
                    .iter()
                    .map(|l| match l.split_once(':') {
                        Some((index, quantity)) => Ok(pb::RefundLine {
                            line_index: index
                                .parse()
                                .with_context(|| format!("--line {l}: the index"))?,
                            quantity: quantity.into(),
                        }),
                        None => bail!("--line {l}: expected index:quantity"),
                    })
                    .collect::<anyhow::Result<_>>()?;
                let body = pb::RefundRequest {
                    operation_id: op(),
                    refund_cheque_id: refund,
                    purchase_id,
                    lines,
                    ..Default::default()
                };
                let r = self.req(body, "Refund")?;
                self.client.refund(r).await?
            }
            TillCmd::Balance { card, as_of } => {
                let body = pb::BalanceRequest {
                    card,
                    identifiers: Vec::new(),
                    as_of,
                };
                let r = self.req(body, "Balance")?;
                self.client.balance(r).await?
            }
            TillCmd::SellCertificate(c) => {
                let r = self.req(c.request(), "IssueCertificate")?;
                self.client.issue_certificate(r).await?
            }
            TillCmd::Certificate { code } => {
                let r = self.req(pb::CertificateStatusRequest { code }, "CertificateStatus")?;
                self.client.certificate_status(r).await?
            }
        };
        show(&reply.into_inner())
    }
}

/// Prints a cheque answer: the outcome, the totals, the customer's balance, messages and
/// the slip. A refusal exits non-zero.
fn show(r: &pb::ChequeReply) -> anyhow::Result<()> {
    let outcome = pb::Outcome::try_from(r.outcome)
        .map(|o| o.as_str_name())
        .unwrap_or("UNKNOWN");
    println!("{outcome} {}", r.message);
    if let Some(t) = &r.totals {
        println!(
            "amount {} discount {} points paid {} to pay {} accrual {} payable with points {}",
            t.amount, t.discount, t.paid, t.to_pay, t.accrual, t.redeem_max
        );
    }
    if let Some(h) = &r.holder {
        println!("card {} ({}) {}", h.masked_card, h.card_type, h.name);
    }
    if let Some(b) = &r.balance {
        println!(
            "balance {} held {} spendable {} owed {} pending {}",
            b.balance, b.held, b.spendable, b.debt, b.pending
        );
        if !b.next_expiry.is_empty() {
            println!(
                "next to expire {} on {}",
                b.next_expiry_points, b.next_expiry
            );
        }
    }
    if let Some(f) = &r.refund {
        println!(
            "pay out {} points back {} onto certificates {} accrual taken back {} owed {}",
            f.money_to_pay_out,
            f.points_returned,
            f.certificates_returned,
            f.accrual_reversed,
            f.accrual_unrecovered
        );
    }
    if let Some(c) = &r.certificate {
        crate::certificates::print_certificate(c);
    }
    if !r.purchase_id.is_empty() {
        println!("purchase {}", r.purchase_id);
    }
    for m in r.cashier_messages.iter().chain(&r.cheque_messages) {
        println!("message: {m}");
    }
    for line in &r.slip {
        println!("| {line}");
    }
    if r.outcome != pb::Outcome::Ok as i32 {
        bail!("refused: {outcome} {}", r.message);
    }
    Ok(())
}

pub async fn import_cheques(
    channel: Channel,
    file: &std::path::Path,
    cashbox: u32,
    secret: &str,
    chunk: usize,
    signer: Option<CashboxSigner>,
) -> anyhow::Result<()> {
    use loyalty_api::client::import::{parse_csv, parse_jsonl, Summary};
    let text = std::fs::read_to_string(file).with_context(|| file.display().to_string())?;
    let items = if file
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("csv"))
    {
        parse_csv(&text)?
    } else {
        parse_jsonl(&text)?
    };
    let mut client = CashServiceClient::new(channel);
    let total = items.len();
    let mut summary = Summary::default();
    let progress = crate::progress(total);
    for part in items.chunks(chunk.clamp(1, loyalty_api::limits::OFFLINE_BATCH_ITEMS_MAX)) {
        let mut req = tonic::Request::new(pb::OfflineBatch {
            items: part.to_vec(),
        });
        as_cashbox(&mut req, cashbox, secret, signer.as_ref(), "UploadOffline")?;
        let reply = client.upload_offline(req).await?.into_inner();
        summary.add(&reply.results);
        progress.inc(part.len() as u64);
    }
    progress.finish();
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
