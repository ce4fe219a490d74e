//! Request elements as the calls a gRPC till makes, and their answers as the protocol's
//! attributes and children.

use super::xml::Element;
use crate::pb;
use crate::service::CashApi;
use loyalty_proto::metadata::{CASHBOX_ID_HEADER, CASHBOX_SECRET_HEADER};
use pb::cash_service_server::CashService;

/// A request element's `ErrorCode` for an answer that was not a decision: the gRPC status
/// code the same call gets, plus 1000 (an outcome of a decision is its outcome code).
const STATUS_BASE: i32 = 1000;

/// The identifier kinds by the protocol's `Type` names (`Auto` is confirmed by public
/// samples; the others are provisional).
fn identifier(el: &Element) -> Result<pb::Identifier, String> {
    let kind = match el.attr("Type") {
        "Auto" => pb::IdentifierKind::Auto,
        "Card" | "CardNumber" | "Barcode" => pb::IdentifierKind::Barcode,
        "Phone" | "PhoneNumber" => pb::IdentifierKind::Phone,
        "MagStripe" | "Track" => pb::IdentifierKind::Magstripe,
        other => {
            return Err(format!(
                "Identifier Type {other:?}: Auto, Card, Phone or MagStripe"
            ))
        }
    };
    Ok(pb::Identifier {
        kind: kind.into(),
        value: el.attr("Value").to_owned(),
    })
}

/// What one request element answers: its response element.
pub(super) struct Answer {
    pub(super) code: i32,
    pub(super) message: String,
    pub(super) attributes: Vec<(&'static str, String)>,
    pub(super) children: String,
}

impl Answer {
    fn failed(code: i32, message: impl Into<String>) -> Answer {
        Answer {
            code,
            message: message.into(),
            attributes: Vec::new(),
            children: String::new(),
        }
    }
}

pub(super) fn escape(s: &str) -> std::borrow::Cow<'_, str> {
    quick_xml::escape::escape(s)
}

/// The holder data every answer about a customer carries, in the protocol's order.
fn identifier_data(h: &pb::Holder) -> String {
    format!(
        "<IdentifierData><Item Name=\"Holder\">{}</Item><Item Name=\"CardType\">{}</Item><Item Name=\"MaskedNumber\">{}</Item></IdentifierData>",
        escape(&h.name),
        escape(&h.card_type),
        escape(&h.masked_card)
    )
}

/// The till's credentials, found by the login of the URL.
pub(super) struct Till {
    pub(super) cashbox: u32,
    pub(super) secret: String,
}

impl Till {
    /// The call a gRPC till would make to `method` of the cash service, with its
    /// credentials and the method named as the gRPC server names it.
    fn request<T>(&self, method: &str, body: T) -> Result<tonic::Request<T>, String> {
        let path = format!("/loyalty.v1.CashService/{method}");
        let named = loyalty_proto::methods::by_path(&path).ok_or("no such method")?;
        let mut r = tonic::Request::new(body);
        r.extensions_mut().insert(named);
        let m = r.metadata_mut();
        m.insert(
            CASHBOX_ID_HEADER,
            self.cashbox.to_string().parse().map_err(|_| "cashbox")?,
        );
        m.insert(
            CASHBOX_SECRET_HEADER,
            self.secret
                .parse()
                .map_err(|_| "the password is not a cashbox secret")?,
        );
        Ok(r)
    }
}

/// An answer for a failed wire check: the gRPC status the same call would get.
fn invalid(why: impl Into<String>) -> Answer {
    Answer::failed(STATUS_BASE + tonic::Code::InvalidArgument as i32, why)
}

/// The cheque of a request that carries one (calculate, available amount, payment,
/// discount, offline cheque): `PurchaseID` as the cheque id, the identifier, the local
/// time of `ChequeDate`, the lines and the coupons. A line's `Amount` below price × quantity is
/// a discount the till gave on its own; above it is refused.
fn cheque(el: &Element) -> Result<pb::Cheque, String> {
    use loyalty_core::amount::{line_amount, Money, Qty};
    let c = el.child("Cheque").ok_or("Cheque missing")?;
    let date = c.attr("ChequeDate");
    let local_time = date.get(..19).ok_or("ChequeDate: YYYY-MM-DDTHH:MM:SS…")?;
    let mut lines = Vec::new();
    for l in c.children.iter().filter(|l| l.name == "ChequeLine") {
        let pos = l.attr("PosID");
        let bad = |what: &str| format!("ChequeLine {pos}: {what}");
        let price = Money::parse(l.attr("Price")).map_err(|_| bad("Price"))?;
        let qty = Qty::parse(l.attr("Quantity")).map_err(|_| bad("Quantity"))?;
        let amount = Money::parse(l.attr("Amount")).map_err(|_| bad("Amount"))?;
        let full = line_amount(price.0, qty).ok_or_else(|| bad("Price × Quantity"))?;
        if amount.0 > full {
            return Err(bad("Amount above Price × Quantity"));
        }
        lines.push(pb::Line {
            product: l.attr("GoodsId").to_owned(),
            quantity: l.attr("Quantity").to_owned(),
            price: l.attr("Price").to_owned(),
            discount: Money(full - amount.0).to_string(),
            ..Default::default()
        });
    }
    // Coupons as scanned, each a `Coupon Number` of the cheque.
    let coupons = c
        .children
        .iter()
        .filter(|x| x.name == "Coupon")
        .map(|x| x.attr("Number").to_owned())
        .collect();
    let identifiers = match el.child("Identifier") {
        Some(i) => vec![identifier(i)?],
        None => Vec::new(),
    };
    Ok(pb::Cheque {
        cheque_id: el.attr("PurchaseID").to_owned(),
        local_time: local_time.to_owned(),
        lines,
        identifiers,
        coupons,
        ..Default::default()
    })
}

/// A request element as the gRPC call it becomes.
enum Call {
    Balance(pb::BalanceRequest),
    Calculate(pb::CalculateRequest),
    AvailableAmount(pb::CalculateRequest),
    PayWithBonus(pb::PayWithBonusRequest),
    Register(pb::RegisterPurchaseRequest),
    Confirm(pb::PurchaseRequest),
    Cancel(pb::PurchaseRequest),
    Refund(pb::RefundRequest),
    ReplaceCard(pb::ReplaceCardRequest),
    Offline(pb::OfflineBatch),
}

/// The returned lines of a `RefundRequest`: `RefundLine PosID Quantity`, `PosID` the line's
/// position in the original cheque, from 1.
fn refund_lines(el: &Element) -> Result<Vec<pb::RefundLine>, String> {
    el.children
        .iter()
        .filter(|l| l.name == "RefundLine")
        .map(|l| {
            let pos: u32 = l
                .attr("PosID")
                .parse()
                .ok()
                .filter(|p| *p >= 1)
                .ok_or("RefundLine PosID: the line's position in the cheque, from 1")?;
            Ok(pb::RefundLine {
                line_index: pos - 1,
                quantity: l.attr("Quantity").to_owned(),
            })
        })
        .collect()
}

/// The call a request element of container `container` makes, or why it cannot.
fn call(container: &str, el: &Element) -> Result<Call, String> {
    let op = || el.attr("OperationID").to_owned();
    Ok(match container {
        "Balances" => Call::Balance(pb::BalanceRequest {
            card: String::new(),
            identifiers: vec![identifier(
                el.child("Identifier").ok_or("Identifier missing")?,
            )?],
            as_of: String::new(),
        }),
        "AvailableAmounts" => Call::AvailableAmount(pb::CalculateRequest {
            cheque: Some(cheque(el)?),
            slip_width: 0,
        }),
        "Calculates" => Call::Calculate(pb::CalculateRequest {
            cheque: Some(cheque(el)?),
            slip_width: 0,
        }),
        "Payments" => Call::PayWithBonus(pb::PayWithBonusRequest {
            operation_id: op(),
            cheque: Some(cheque(el)?),
            points: el.attr("Amount").to_owned(),
            slip_width: 0,
        }),
        "Discounts" => Call::Register(pb::RegisterPurchaseRequest {
            operation_id: op(),
            cheque: Some(cheque(el)?),
            slip_width: 0,
        }),
        "Confirms" | "Cancels" => {
            let req = pb::PurchaseRequest {
                operation_id: op(),
                cheque_id: el.attr("PurchaseID").to_owned(),
                slip_width: 0,
            };
            if container == "Confirms" {
                Call::Confirm(req)
            } else {
                Call::Cancel(req)
            }
        }
        "Refunds" => Call::Refund(pb::RefundRequest {
            operation_id: op(),
            refund_cheque_id: el.attr("RefundID").to_owned(),
            purchase_cheque_id: el.attr("PurchaseID").to_owned(),
            lines: refund_lines(el)?,
            sale_cashbox_id: match el.attr("SaleCashboxID") {
                "" => 0,
                id => id
                    .parse()
                    .map_err(|_| "SaleCashboxID: the selling cashbox's id")?,
            },
            ..Default::default()
        }),
        "OfflineCheques" => Call::Offline(pb::OfflineBatch {
            items: vec![pb::OfflineItem {
                operation_id: op(),
                item: Some(pb::offline_item::Item::Purchase(pb::OfflinePurchase {
                    cheque: Some(cheque(el)?),
                    points_paid: el.attr("BonusPayment").to_owned(),
                    discount: String::new(),
                })),
            }],
        }),
        "CardReplacements" => Call::ReplaceCard(pb::ReplaceCardRequest {
            operation_id: op(),
            old_card: el.attr("OldCardNumber").to_owned(),
            new_card: el.attr("NewCardNumber").to_owned(),
        }),
        other => return Err(format!("{other} is not served")),
    })
}

/// Makes the call as the till, through the cash service: its answer, and the points
/// available for the cheque when that was the question.
async fn make(
    cash: &CashApi,
    till: &Till,
    call: Call,
) -> Result<(pb::ChequeReply, Option<String>), tonic::Status> {
    let auth = |why: String| tonic::Status::unauthenticated(why);
    let reply = match call {
        Call::AvailableAmount(b) => {
            let a = cash
                .available_amount(till.request("AvailableAmount", b).map_err(auth)?)
                .await?
                .into_inner();
            let reply = pb::ChequeReply {
                outcome: a.outcome,
                message: a.message,
                balance: a.balance,
                ..Default::default()
            };
            return Ok((reply, Some(a.available)));
        }
        Call::Balance(b) => {
            cash.balance(till.request("Balance", b).map_err(auth)?)
                .await
        }
        Call::Calculate(b) => {
            cash.calculate(till.request("Calculate", b).map_err(auth)?)
                .await
        }
        Call::PayWithBonus(b) => {
            cash.pay_with_bonus(till.request("PayWithBonus", b).map_err(auth)?)
                .await
        }
        Call::Register(b) => {
            cash.register_purchase(till.request("RegisterPurchase", b).map_err(auth)?)
                .await
        }
        Call::Confirm(b) => {
            cash.confirm(till.request("Confirm", b).map_err(auth)?)
                .await
        }
        Call::Cancel(b) => cash.cancel(till.request("Cancel", b).map_err(auth)?).await,
        Call::Refund(b) => cash.refund(till.request("Refund", b).map_err(auth)?).await,
        Call::Offline(b) => {
            let batch = cash
                .upload_offline(till.request("UploadOffline", b).map_err(auth)?)
                .await?
                .into_inner();
            let reply = batch
                .results
                .into_iter()
                .next()
                .and_then(|r| r.reply)
                .ok_or_else(|| tonic::Status::internal("an offline item without its answer"))?;
            return Ok((reply, None));
        }
        Call::ReplaceCard(b) => {
            cash.replace_card(till.request("ReplaceCard", b).map_err(auth)?)
                .await
        }
    };
    reply.map(|r| (r.into_inner(), None))
}

/// One request element answered: its call made, the answer written as the protocol's
/// attributes (the totals of a priced cheque, the spendable points) and children (a
/// `ChequeLine` per line, by the request's `PosID`s; the holder's data).
pub(super) async fn respond(cash: &CashApi, till: &Till, container: &str, el: &Element) -> Answer {
    let call = match call(container, el) {
        Ok(c) => c,
        Err(why) => return invalid(why),
    };
    let (reply, available) = match make(cash, till, call).await {
        Ok(r) => r,
        Err(s) => return Answer::failed(STATUS_BASE + s.code() as i32, s.message()),
    };
    if reply.outcome != pb::Outcome::Ok as i32 {
        return Answer::failed(reply.outcome, reply.message);
    }
    let mut attributes = Vec::new();
    if let Some(points) = available {
        attributes.push(("AvailableAmount", points));
    }
    if let Some(t) = reply.totals {
        attributes.extend([
            ("Amount", t.amount),
            ("Discount", t.discount),
            ("AmountToPay", t.to_pay),
            ("Accrual", t.accrual),
            ("MaxBonusPayment", t.redeem_max),
        ]);
    }
    if let Some(r) = reply.refund {
        attributes.extend([
            ("RefundAmount", r.money_to_pay_out),
            ("BonusReturned", r.points_returned),
            ("AccrualReversed", r.accrual_reversed),
        ]);
    }
    if let Some(b) = reply.balance {
        attributes.extend([("BonusAmount", b.spendable), ("Currency", "RUB".into())]);
    }
    let pos: Vec<&str> = el
        .child("Cheque")
        .map(|c| c.children.iter().map(|l| l.attr("PosID")).collect())
        .unwrap_or_default();
    let mut children = String::new();
    for l in &reply.lines {
        let id = pos
            .get(l.index as usize)
            .map_or_else(|| (l.index + 1).to_string(), |p| (*p).to_owned());
        children.push_str(&format!(
            "<ChequeLine PosID=\"{}\" Discount=\"{}\" Accrual=\"{}\" MaxBonusPayment=\"{}\" BonusPayment=\"{}\"/>",
            escape(&id),
            l.discount,
            l.accrual,
            l.redeem_cap,
            l.paid
        ));
    }
    if let Some(h) = &reply.holder {
        children.push_str(&identifier_data(h));
    }
    // Messages for the cashier's screen and for the cheque, as the offers and notes give
    // them (a coupon that could not be used, …).
    for (to, texts) in [
        ("Cashier", &reply.cashier_messages),
        ("Cheque", &reply.cheque_messages),
    ] {
        for t in texts {
            children.push_str(&format!("<Message To=\"{to}\">{}</Message>", escape(t)));
        }
    }
    Answer {
        code: 0,
        message: String::new(),
        attributes,
        children,
    }
}
