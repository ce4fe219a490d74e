//! Hostile requests: random malformed, oversized, forged and replayed calls through the
//! real server, each answered with a typed error or refusal, and none of them changing
//! any balance or the log.

use super::security::*;
use crate::harness::*;
use bytes::{Buf, BufMut};
use loyalty_api::signing::{self, CashboxSigner};
use loyalty_proto::metadata::{ADMIN_TOKEN_HEADER, CASHBOX_ID_HEADER, CASHBOX_SECRET_HEADER};
use loyalty_proto::metadata::{SIGNATURE_HEADER, SIGNED_AT_HEADER};
use loyalty_proto::pb;
use loyalty_proto::pb::admin_service_client::AdminServiceClient;
use prost::Message;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tonic::transport::Channel;

/// Sends raw bytes as the body of a method.
#[derive(Clone, Copy)]
pub(crate) struct RawCodec;

pub(crate) struct RawEncoder;
pub(crate) struct RawDecoder;

impl tonic::codec::Encoder for RawEncoder {
    type Item = Vec<u8>;
    type Error = tonic::Status;
    fn encode(
        &mut self,
        item: Vec<u8>,
        dst: &mut tonic::codec::EncodeBuf<'_>,
    ) -> Result<(), tonic::Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl tonic::codec::Decoder for RawDecoder {
    type Item = Vec<u8>;
    type Error = tonic::Status;
    fn decode(
        &mut self,
        src: &mut tonic::codec::DecodeBuf<'_>,
    ) -> Result<Option<Vec<u8>>, tonic::Status> {
        Ok(Some(src.copy_to_bytes(src.remaining()).to_vec()))
    }
}

impl tonic::codec::Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawEncoder;
    type Decoder = RawDecoder;
    fn encoder(&mut self) -> RawEncoder {
        RawEncoder
    }
    fn decoder(&mut self) -> RawDecoder {
        RawDecoder
    }
}

/// What a hostile request got back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Got {
    /// A gRPC error or a refusal outcome.
    Refused,
    /// A read that answered (reads change nothing).
    Read,
    /// A state-changing call that succeeded: a hole.
    Accepted,
}

fn outcome(r: Result<tonic::Response<pb::ChequeReply>, tonic::Status>) -> Got {
    match r {
        Ok(a) if a.get_ref().outcome == pb::Outcome::Ok as i32 => Got::Accepted,
        _ => Got::Refused,
    }
}

fn admin_outcome(r: Result<tonic::Response<pb::AdminReply>, tonic::Status>) -> Got {
    match r {
        Ok(a) if a.get_ref().outcome == pb::Outcome::Ok as i32 => Got::Accepted,
        _ => Got::Refused,
    }
}

/// The world the hostile requests aim at.
struct Target {
    channel: Channel,
    till: Till,
    signed: Till,
    signer: CashboxSigner,
    /// Operation ids the world was built with (for replays with other content).
    used_ops: Vec<String>,
    /// Those of them that belong to the signing cashbox (never readable by the other).
    their_ops: Vec<String>,
    /// The XML endpoint and the secret of the till that speaks it (login `hostile-xml`).
    xml: (std::net::SocketAddr, String),
}

/// A hostile XML document: random bytes, a truncated or too deep document, entity
/// declarations, or a well-formed request the rules refuse.
fn hostile_xml(rng: &mut StdRng, seed: u64) -> Vec<u8> {
    let envelope = |inner: &str| {
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n<XMLRequest><Version>3.2</Version>{inner}</XMLRequest>"
        )
    };
    let cheque = |points: &str| {
        format!(
            "<Payments><PaymentRequest OperationID=\"{}\" ElementID=\"1\" PurchaseID=\"X-{seed}\" Amount=\"{points}\"><Identifier Type=\"Auto\" Value=\"{CARD}\"/><Cheque ChequeDate=\"2026-11-23T12:00:00.000+03:00\"><ChequeLine PosID=\"1\" Amount=\"100.00\" Name=\"Хлеб\" GoodsId=\"bread\" Price=\"100.00\" Quantity=\"1.000\"/></Cheque></PaymentRequest></Payments>",
            op().replace('-', "")
        )
    };
    match rng.random_range(0..7) {
        0 => (0..rng.random_range(0..600)).map(|_| rng.random()).collect(),
        1 => {
            let doc = envelope(&cheque("10"));
            let cut = rng.random_range(0..doc.len());
            doc.into_bytes()[..cut].to_vec()
        }
        2 => {
            let depth = rng.random_range(9..40);
            envelope(&("<a>".repeat(depth) + &"</a>".repeat(depth))).into_bytes()
        }
        3 => "<?xml version=\"1.0\"?><!DOCTYPE r [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\">]><XMLRequest><Version>&b;</Version></XMLRequest>"
            .as_bytes()
            .to_vec(),
        4 => envelope(&cheque(pick(rng, &["100000", "-5", "abc", "60"]))).into_bytes(),
        5 => envelope(&format!(
            "<Confirms><ConfirmRequest OperationID=\"{}\" ElementID=\"1\" PurchaseID=\"{}\"/></Confirms>",
            op().replace('-', ""),
            pick(rng, &["NOPE", "C-1", ""])
        ))
        .into_bytes(),
        _ => envelope(&format!(
            "<Refunds><RefundRequest OperationID=\"{}\" ElementID=\"1\" PurchaseID=\"C-1\" RefundID=\"R-{seed}\"><RefundLine PosID=\"{}\" Quantity=\"{}\"/></RefundRequest></Refunds>",
            op().replace('-', ""),
            pick(rng, &["0", "9", "1"]),
            pick(rng, &["5.000", "-1", "x"])
        ))
        .into_bytes(),
    }
}

/// How the XML endpoint treated a document: refused whole (or by credentials), each
/// request refused, or a harmless read.
fn xml_outcome(status: u16, body: &str) -> Got {
    if status == 401 {
        return Got::Refused;
    }
    let Ok(doc) = loyalty_api::loymax::parse(body.as_bytes()) else {
        return Got::Accepted;
    };
    if doc.child("ErrorCode").map(|e| e.attr("#text")) != Some("0") {
        return Got::Refused;
    }
    let answered: Vec<&loyalty_api::loymax::Element> = doc
        .children
        .iter()
        .skip(1)
        .flat_map(|c| c.children.iter())
        .collect();
    if answered.iter().all(|a| a.attr("ErrorCode") != "0") {
        Got::Refused
    } else {
        Got::Accepted
    }
}

const BLOCKED_CARD: &str = "2770000000048";
/// Kinds of hostile request (see `hostile`).
const KINDS: u32 = 17;
const CASH_METHODS: [&str; 10] = [
    "Calculate",
    "AvailableAmount",
    "PayWithBonus",
    "RegisterPurchase",
    "Confirm",
    "Cancel",
    "Refund",
    "Balance",
    "GetOperation",
    "UploadOffline",
];

fn pick<'a>(rng: &mut StdRng, from: &[&'a str]) -> &'a str {
    from[rng.random_range(0..from.len())]
}

/// A cheque that is wrong in one random way.
fn malformed_cheque(rng: &mut StdRng) -> pb::Cheque {
    let mut c = cheque("X-1", CARD, vec![line("bread", "1", "10")]);
    match rng.random_range(0..13) {
        0 => {
            c.card = pick(rng, &["12a4", "", "1 2", "-1"]).to_owned()
                + &"9".repeat(rng.random_range(1..40))
        }
        1 => {
            c.lines[0].quantity = pick(rng, &["0", "-1", "1.0001", "abc", "", "1e3", "NaN"]).into()
        }
        2 => {
            c.lines[0].price = pick(
                rng,
                &["1.001", "-5", "1e3", "99999999999999999", "", " ", "0x10"],
            )
            .into()
        }
        3 => c.lines.clear(),
        4 => c.lines = vec![line("bread", "1", "1"); 501],
        5 => {
            c.local_time = pick(rng, &["", "2026-13-01T00:00:00", "yesterday", "2026-11-23"]).into()
        }
        6 => c.cheque_id = pick(rng, &["", "has space", "\u{0}", &"x".repeat(65)]).into(),
        7 => c.lines[0].product = pick(rng, &["", "with space", &"p".repeat(65)]).into(),
        8 => c.order = pick(rng, &["WEB 1", "web_1", &"o".repeat(33), "zakaz-№1"]).into(),
        // An order nobody created: refused, whatever the lines.
        9 => c.order = "WEB-404".into(),
        // Price and quantity each within bounds, their product beyond the largest amount.
        11 => c.lines = vec![line("bread", "1000000", "100000000000")],
        10 => {
            c.coupons = if rng.random_bool(0.5) {
                vec!["C-1".into(); 17]
            } else {
                vec!["C".repeat(257)]
            }
        }
        _ => c.card = "2770000000099".into(), // unknown card
    }
    c
}

fn bad_op(rng: &mut StdRng) -> String {
    pick(
        rng,
        &[
            "",
            "not-a-uuid",
            "00000000-0000-0000-0000-000000000000",
            "0191f2a4-7c1e-7b3a-9d2e-3f4a5b6c7d8",
            "zz91f2a4-7c1e-7b3a-9d2e-3f4a5b6c7d8e",
        ],
    )
    .into()
}

/// One hostile request, chosen and shaped by `seed`.
async fn hostile(t: &Target, seed: u64) -> Got {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut till = t.till.clone();
    match rng.random_range(0..KINDS) {
        // Malformed cheques and operation ids.
        0 => {
            let op = if rng.random_bool(0.2) {
                bad_op(&mut rng)
            } else {
                op()
            };
            let body = pb::RegisterPurchaseRequest {
                operation_id: op,
                slip_width: 0,
                cheque: Some(malformed_cheque(&mut rng)),
            };
            outcome(till.client.register_purchase(till.req(body)).await)
        }
        // Paying with points that are not there, or from cards that may not pay.
        1 => {
            let mut c = cheque(&format!("P-{seed}"), CARD, vec![line("bread", "1", "5000")]);
            let points = match rng.random_range(0..5) {
                0 => "2000".to_owned(),
                1 => "0".into(),
                2 => {
                    c.card = BLOCKED_CARD.into();
                    "1".into()
                }
                // An order is paid with the points reserved for it, never with a hold.
                3 => {
                    c.order = pick(&mut rng, &["WEB-1", "WEB-404"]).into();
                    "1".into()
                }
                _ => format!("-{}", rng.random_range(1..100)),
            };
            let body = pb::PayWithBonusRequest {
                operation_id: op(),
                slip_width: 0,
                cheque: Some(c),
                points,
            };
            outcome(till.client.pay_with_bonus(till.req(body)).await)
        }
        // Another cashbox's purchases.
        2 => {
            let theirs = pb::PurchaseRequest {
                operation_id: op(),
                slip_width: 0,
                cheque_id: "R-2".into(),
            };
            match rng.random_range(0..4) {
                0 => outcome(till.client.confirm(till.req(theirs)).await),
                1 => outcome(till.client.cancel(till.req(theirs)).await),
                2 => {
                    let body = pb::RefundRequest {
                        operation_id: op(),
                        refund_cheque_id: format!("RF-{seed}"),
                        purchase_cheque_id: "C-2".into(),
                        lines: vec![pb::RefundLine {
                            line_index: 0,
                            quantity: "1".into(),
                        }],
                        ..Default::default()
                    };
                    outcome(till.client.refund(till.req(body)).await)
                }
                _ => {
                    let theirs = t.their_ops[rng.random_range(0..t.their_ops.len())].clone();
                    let r = till
                        .client
                        .get_operation(till.req(pb::GetOperationRequest {
                            operation_id: theirs,
                        }))
                        .await;
                    match r {
                        Ok(a) if a.get_ref().found => Got::Accepted,
                        _ => Got::Read,
                    }
                }
            }
        }
        // Forged credentials on a request that would succeed.
        3 => {
            let body = pb::PurchaseRequest {
                operation_id: op(),
                slip_width: 0,
                cheque_id: "H-1".into(),
            };
            let mut r = tonic::Request::new(body);
            let md = r.metadata_mut();
            let (id, secret) = match rng.random_range(0..5) {
                0 => ("1".to_owned(), format!("{}x", t.till.secret)),
                1 => (SIGNED.to_string(), t.till.secret.clone()),
                2 => ("999".into(), t.till.secret.clone()),
                3 => ("one".into(), t.till.secret.clone()),
                _ => ("1".into(), String::new()),
            };
            md.insert(CASHBOX_ID_HEADER, id.parse().unwrap());
            if !secret.is_empty() {
                md.insert(CASHBOX_SECRET_HEADER, secret.parse().unwrap());
            }
            if rng.random_bool(0.5) {
                outcome(till.client.confirm(r).await)
            } else {
                outcome(till.client.cancel(r).await)
            }
        }
        // Bad signatures on a request of the signing cashbox that would succeed.
        4 => {
            let mut s = t.signed.clone();
            let body = pb::PurchaseRequest {
                operation_id: op(),
                slip_width: 0,
                cheque_id: "R-2".into(),
            };
            let mut r = s.req(body);
            match rng.random_range(0..6) {
                0 => {}
                1 => CashboxSigner::new(rng.random(), SIGNED).sign(
                    &mut r,
                    "Confirm",
                    signing::now_ms(),
                ),
                2 => t.signer.sign(
                    &mut r,
                    "Confirm",
                    signing::now_ms() - rng.random_range(301_000..10_000_000),
                ),
                3 => {
                    t.signer.sign(&mut r, "Confirm", signing::now_ms());
                    r.get_mut().cheque_id = "R-3".into();
                }
                4 => {
                    t.signer.sign(&mut r, "Cancel", signing::now_ms());
                }
                _ => {
                    let garbage: String = (0..rng.random_range(0..140))
                        .map(|_| pick(&mut rng, &["0", "f", "g", "-"]))
                        .collect();
                    let md = r.metadata_mut();
                    md.insert(
                        SIGNED_AT_HEADER,
                        signing::now_ms().to_string().parse().unwrap(),
                    );
                    if let Ok(v) = garbage.parse() {
                        md.insert(SIGNATURE_HEADER, v);
                    }
                }
            }
            outcome(s.client.confirm(r).await)
        }
        // Replays of the world's operation ids with other content.
        5 => {
            let used = t.used_ops[rng.random_range(0..t.used_ops.len())].clone();
            let body = pb::RegisterPurchaseRequest {
                operation_id: used,
                slip_width: 0,
                cheque: Some(cheque(
                    &format!("Y-{seed}"),
                    CARD,
                    vec![line("bread", "1", "7")],
                )),
            };
            outcome(till.client.register_purchase(till.req(body)).await)
        }
        // Random bytes as the body of a random method, with valid credentials.
        6 => {
            let len = rng.random_range(0..300);
            let mut body: Vec<u8> = (0..len).map(|_| rng.random()).collect();
            if rng.random_bool(0.3) {
                // Truncated real messages.
                body = pb::RegisterPurchaseRequest {
                    operation_id: op(),
                    slip_width: 0,
                    cheque: Some(cheque("Z-1", CARD, vec![line("bread", "1", "10")])),
                }
                .encode_to_vec();
                body.truncate(rng.random_range(0..body.len()));
            }
            let method = pick(&mut rng, &CASH_METHODS);
            let path = format!("/loyalty.v1.CashService/{method}");
            let mut grpc = tonic::client::Grpc::new(t.channel.clone());
            grpc.ready().await.unwrap();
            let r = grpc
                .unary(
                    till.req(body),
                    path.parse::<tonic::codegen::http::uri::PathAndQuery>()
                        .unwrap(),
                    RawCodec,
                )
                .await;
            match (r, method) {
                (Err(_), _) => Got::Refused,
                (Ok(_), "Calculate" | "AvailableAmount" | "Balance" | "GetOperation") => Got::Read,
                (Ok(a), "UploadOffline") => {
                    let reply = pb::OfflineBatchReply::decode(a.get_ref().as_slice()).unwrap();
                    let applied = reply.results.iter().any(|x| {
                        x.reply
                            .as_ref()
                            .is_some_and(|r| r.outcome == 0 && !r.replayed)
                    });
                    if applied {
                        Got::Accepted
                    } else {
                        Got::Refused
                    }
                }
                (Ok(a), _) => {
                    let reply = pb::ChequeReply::decode(a.get_ref().as_slice()).unwrap();
                    if reply.outcome == 0 {
                        Got::Accepted
                    } else {
                        Got::Refused
                    }
                }
            }
        }
        // Admin calls with a wrong token (a cashbox secret, a near miss, none).
        7 => {
            let body = pb::AdjustPointsRequest {
                operation_id: op(),
                card: CARD.into(),
                delta: "1000".into(),
                reason: "forged".into(),
            };
            let mut r = tonic::Request::new(body);
            let token = match rng.random_range(0..3) {
                0 => t.till.secret.clone(),
                1 => format!("{ADMIN_TOKEN} "),
                _ => String::new(),
            };
            if let Ok(v) = token.parse() {
                r.metadata_mut().insert(ADMIN_TOKEN_HEADER, v);
            }
            let mut admin = AdminServiceClient::new(t.channel.clone());
            admin_outcome(admin.adjust_points(r).await)
        }
        // Admin calls with the right token and wrong content.
        8 => {
            let mut admin = AdminServiceClient::new(t.channel.clone());
            match rng.random_range(0..4) {
                0 => {
                    let (delta, reason, card) = match rng.random_range(0..5) {
                        0 => ("-1000", "too much", CARD),
                        1 => ("5", "", CARD),
                        2 => (
                            pick(&mut rng, &["--5", "abc", "-", "1.001", "0"]),
                            "x",
                            CARD,
                        ),
                        3 => ("5", "x", "12ab"),
                        _ => ("5", "x", "2770000000099"),
                    };
                    let body = pb::AdjustPointsRequest {
                        operation_id: op(),
                        card: card.into(),
                        delta: delta.into(),
                        reason: reason.into(),
                    };
                    admin_outcome(admin.adjust_points(admin_req(body)).await)
                }
                1 => {
                    let (zeros, gs) = ("0".repeat(63), "g".repeat(64));
                    let key = pick(&mut rng, &["00", "xyz", &zeros, &gs]).to_owned();
                    let body = pb::SetCashboxKeyRequest {
                        operation_id: op(),
                        cashbox_id: 1,
                        public_key: key,
                    };
                    admin_outcome(admin.set_cashbox_key(admin_req(body)).await)
                }
                2 => {
                    let body = pb::IssueCardRequest {
                        operation_id: op(),
                        card: CARD.into(),
                        card_type: "Gold".into(),
                        status: pb::CardStatus::Activated.into(),
                        account: 0,
                        holder_name: "x".repeat(rng.random_range(0..400)),
                        holder_phone: String::new(),
                    };
                    admin_outcome(admin.issue_card(admin_req(body)).await)
                }
                _ => {
                    let body = pb::RegisterCashboxRequest {
                        operation_id: op(),
                        cashbox_id: pick(&mut rng, &["1", "2"]).parse().unwrap(),
                        store_id: 1,
                        kind: rng.random_range(0..5),
                        public_key: String::new(),
                        loymax_login: pick(&mut rng, &["", "till-1", "a b", "кассa", "x/y"]).into(),
                    };
                    admin_outcome(admin.register_cashbox(admin_req(body)).await)
                }
            }
        }
        // Offline uploads that claim points or discounts, or are too long.
        9 => {
            let n = if rng.random_bool(0.05) {
                1001
            } else {
                rng.random_range(1..20)
            };
            let items = (0..n)
                .map(|i| {
                    let (points_paid, discount) = if rng.random_bool(0.5) {
                        ("1".to_owned(), "0".to_owned())
                    } else {
                        ("0".to_owned(), "0.01".to_owned())
                    };
                    pb::OfflineItem {
                        operation_id: op(),
                        item: Some(pb::offline_item::Item::Purchase(pb::OfflinePurchase {
                            cheque: Some(cheque(
                                &format!("O-{seed}-{i}"),
                                CARD,
                                vec![line("bread", "1", "10")],
                            )),
                            points_paid,
                            discount,
                        })),
                    }
                })
                .collect();
            match till
                .client
                .upload_offline(till.req(pb::OfflineBatch { items }))
                .await
            {
                Ok(a)
                    if a.get_ref()
                        .results
                        .iter()
                        .any(|x| x.reply.as_ref().is_some_and(|r| r.outcome == 0)) =>
                {
                    Got::Accepted
                }
                _ => Got::Refused,
            }
        }
        // Refunds that ask for more than was bought, or lines that do not exist.
        10 => {
            let (index, qty) = match rng.random_range(0..3) {
                0 => (0, "2"),
                1 => (7, "1"),
                _ => (0, "0"),
            };
            let body = pb::RefundRequest {
                operation_id: op(),
                refund_cheque_id: format!("RF-{seed}"),
                purchase_cheque_id: "C-1".into(),
                lines: vec![pb::RefundLine {
                    line_index: index,
                    quantity: qty.into(),
                }],
                ..Default::default()
            };
            outcome(till.client.refund(till.req(body)).await)
        }
        // Identifiers that are malformed, forged or not this customer's: stripes without a
        // number, phones nobody registered, QR codes that are wrong, PINs that are wrong.
        12 => {
            use pb::IdentifierKind as K;
            let id = |kind: i32, value: String| pb::Identifier { kind, value };
            let ids = match rng.random_range(0..6) {
                0 => vec![id(K::Magstripe.into(), "%B^NOBODY^?".into())],
                1 => vec![id(
                    K::Phone.into(),
                    format!("+7999{:07}", rng.random_range(0..10_000_000)),
                )],
                2 => vec![id(
                    K::Qr.into(),
                    format!("{CARD}:{:06}", rng.random_range(0..1_000_000)),
                )],
                3 => vec![id(
                    K::Auto.into(),
                    pick(&mut rng, &["abc", "%", "+", "12:34"]).into(),
                )],
                4 => vec![id(rng.random_range(6..100), CARD.into())],
                _ => vec![id(K::Barcode.into(), BLOCKED_CARD.into())],
            };
            let c = pb::Cheque {
                identifiers: ids,
                pin: pick(&mut rng, &["", "0000", "12", "abcd"]).into(),
                ..cheque(&format!("I-{seed}"), "", vec![line("bread", "1", "5000")])
            };
            let body = pb::PayWithBonusRequest {
                operation_id: op(),
                slip_width: 0,
                cheque: Some(c),
                points: "1".into(),
            };
            outcome(till.client.pay_with_bonus(till.req(body)).await)
        }
        // Customer service that must be refused: replacing unknown or onto existing cards,
        // registering an activated card, favourites that do not exist, malformed PINs.
        13 => match rng.random_range(0..4) {
            0 => {
                let (old, new) = if rng.random_bool(0.5) {
                    ("2770000000994", "2770000000987")
                } else {
                    (CARD, BLOCKED_CARD)
                };
                let body = pb::ReplaceCardRequest {
                    operation_id: op(),
                    old_card: old.into(),
                    new_card: new.into(),
                };
                outcome(till.client.replace_card(till.req(body)).await)
            }
            1 => {
                let body = pb::RegisterCustomerRequest {
                    operation_id: op(),
                    card: CARD.into(),
                    name: "x".repeat(rng.random_range(0..300)),
                    phone: pick(&mut rng, &["", "123", "+79990001122"]).into(),
                    consent: true,
                    birth_date: String::new(),
                };
                outcome(till.client.register_customer(till.req(body)).await)
            }
            2 => {
                let body = pb::ChooseFavouritesRequest {
                    operation_id: op(),
                    card: CARD.into(),
                    products: (0..rng.random_range(1..14))
                        .map(|i| format!("nope-{i}"))
                        .collect(),
                };
                outcome(till.client.choose_favourites(till.req(body)).await)
            }
            _ => {
                let body = pb::SetCardPinRequest {
                    operation_id: op(),
                    card: CARD.into(),
                    pin: pick(&mut rng, &["1", "123456789", "12a4", " 1234"]).into(),
                    old_pin: String::new(),
                };
                outcome(till.client.set_card_pin(till.req(body)).await)
            }
        },
        // Hostile XML to the Loymax endpoint, with the right credentials or wrong ones.
        16 => {
            let (addr, secret) = &t.xml;
            let password = if rng.random_ratio(1, 8) {
                "wrong"
            } else {
                secret.as_str()
            };
            let body = hostile_xml(&mut rng, seed);
            let (status, answer) = post_xml(
                *addr,
                "/XmlExchange/SET/hostile-xml/",
                ("hostile-xml", password),
                &body,
            )
            .await;
            xml_outcome(status, &answer)
        }
        // Oversized messages (rarely: each is 5 MiB).
        _ if rng.random_ratio(1, 100) => {
            let big = pb::RegisterPurchaseRequest {
                operation_id: op(),
                slip_width: 0,
                cheque: Some(cheque(
                    "BIG",
                    CARD,
                    vec![line(&"p".repeat(5 << 20), "1", "1")],
                )),
            };
            outcome(till.client.register_purchase(till.req(big)).await)
        }
        // Confirming a cheque that was never registered or is already closed.
        _ => {
            let body = pb::PurchaseRequest {
                operation_id: op(),
                slip_width: 0,
                cheque_id: pick(&mut rng, &["C-1", "NOPE", "H-0"]).into(),
            };
            outcome(till.client.confirm(till.req(body)).await)
        }
    }
}

async fn balances(till: &mut Till, cards: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    for c in cards {
        let r = balance_of(till, *c).await;
        out.push(format!("{} {:?}", r.outcome, r.balance));
    }
    out
}

/// ≥ 10,000 malformed, oversized, forged, replayed and cross-cashbox requests against the
/// real server: none is accepted, and the state and the event log stay byte-for-byte equal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_requests_change_nothing() {
    let (server, mut admin, mut till, xml_addr) = world_with_xml().await;
    let xml_secret = register_xml_till(&mut admin, 77, "hostile-xml").await;
    let ch = channel(&server.url()).await;
    issue_card(&mut admin, BLOCKED_CARD, pb::CardStatus::Activated).await;
    ok(&admin
        .block_card(admin_req(pb::CardRequest {
            operation_id: op(),
            card: BLOCKED_CARD.into(),
        }))
        .await
        .unwrap()
        .into_inner());
    let (mut signed_till_, signer) = signed_till(&mut admin, ch.clone(), *b"hostile!").await;
    // Balances, a confirmed purchase, a pending hold and another cashbox's purchases.
    buy(&mut till, CARD, "C-1", vec![line("bread", "1", "2000")]).await;
    let mut used_ops = Vec::new();
    let hold = pb::PayWithBonusRequest {
        operation_id: op(),
        slip_width: 0,
        cheque: Some(cheque("H-1", CARD, vec![line("bread", "1", "300")])),
        points: "10".into(),
    };
    used_ops.push(hold.operation_id.clone());
    let held = till
        .client
        .pay_with_bonus(till.req(hold))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(held.outcome, pb::Outcome::Ok as i32, "{}", held.message);
    for (id, confirm) in [("C-2", true), ("R-2", false)] {
        let reg = register(id, CARD);
        used_ops.push(reg.operation_id.clone());
        let r = signed_till_
            .client
            .register_purchase(signed(&signed_till_, &signer, "RegisterPurchase", reg))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(r.outcome, pb::Outcome::Ok as i32, "{}", r.message);
        if confirm {
            let c = pb::PurchaseRequest {
                operation_id: op(),
                slip_width: 0,
                cheque_id: id.into(),
            };
            used_ops.push(c.operation_id.clone());
            let r = signed_till_
                .client
                .confirm(signed(&signed_till_, &signer, "Confirm", c))
                .await
                .unwrap()
                .into_inner();
            assert_eq!(r.outcome, pb::Outcome::Ok as i32, "{}", r.message);
        }
    }
    let their_ops = used_ops[1..].to_vec();
    let cards = [CARD, BLOCKED_CARD];
    let before = (digests(&mut admin).await, balances(&mut till, &cards).await);

    let target = std::sync::Arc::new(Target {
        channel: ch,
        till: till.clone(),
        signed: signed_till_,
        signer,
        used_ops,
        their_ops,
        xml: (xml_addr, xml_secret),
    });
    const REQUESTS: u64 = 10_240;
    const TASKS: u64 = 16;
    let base: u64 = std::env::var("LOYALTY_HOSTILE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    println!("hostile suite seed {base} (LOYALTY_HOSTILE_SEED={base} reproduces it)");
    let mut tasks = Vec::new();
    for task in 0..TASKS {
        let t = target.clone();
        tasks.push(tokio::spawn(async move {
            let mut got = Vec::new();
            for i in (task..REQUESTS).step_by(TASKS as usize) {
                let seed = base.wrapping_add(i);
                got.push((seed, hostile(&t, seed).await));
            }
            got
        }));
    }
    let mut refused = 0;
    let mut reads = 0;
    for t in tasks {
        for (seed, got) in t.await.unwrap() {
            match got {
                Got::Refused => refused += 1,
                Got::Read => reads += 1,
                Got::Accepted => panic!(
                    "hostile request {seed} (kind {}) was accepted",
                    StdRng::seed_from_u64(seed).random_range(0..KINDS)
                ),
            }
        }
    }
    println!("hostile requests: {refused} refused, {reads} harmless reads");
    assert_eq!(refused + reads, REQUESTS);
    assert!(refused > REQUESTS * 3 / 4);

    let after = (digests(&mut admin).await, balances(&mut till, &cards).await);
    assert_eq!(after, before, "state, log or balances changed");
    server.stop().await;
}

/// PIN guessing from many tills at once: after the fifth wrong PIN the card is locked, and
/// no till gets a PIN tried — not even the right one — until the lock ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pin_guessing_from_many_tills_at_once_meets_the_lock() {
    let (server, mut admin, mut till) = world_with(test_config()).await;
    buy(&mut till, CARD, "seed", vec![line("bread", "1", "2000")]).await;
    let set = till
        .client
        .set_card_pin(till.req(pb::SetCardPinRequest {
            operation_id: op(),
            card: CARD.into(),
            pin: "2468".into(),
            old_pin: String::new(),
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(set.outcome, pb::Outcome::Ok as i32, "{}", set.message);
    let ch = channel(&server.url()).await;
    let mut tasks = Vec::new();
    for t in 0..4u32 {
        let guesser = register_till(&mut admin, ch.clone(), 100 + t, pb::CashboxKind::Pos).await;
        tasks.push(tokio::spawn(async move {
            let mut codes = Vec::new();
            for i in 0..10u32 {
                let mut c = cheque(&format!("g{t}-{i}"), CARD, vec![line("bread", "1", "100")]);
                c.pin = format!("{:04}", 1000 + t * 10 + i);
                let mut client = guesser.client.clone();
                let r = client
                    .pay_with_bonus(guesser.req(pb::PayWithBonusRequest {
                        operation_id: op(),
                        slip_width: 0,
                        cheque: Some(c),
                        points: "1".into(),
                    }))
                    .await
                    .unwrap()
                    .into_inner();
                codes.push(r.outcome);
            }
            codes
        }));
    }
    let mut codes = Vec::new();
    for t in tasks {
        codes.extend(t.await.unwrap());
    }
    let count = |o: pb::Outcome| codes.iter().filter(|&&c| c == o as i32).count();
    assert_eq!(count(pb::Outcome::PinInvalid), 4, "{codes:?}");
    assert_eq!(count(pb::Outcome::PinLocked), 36, "{codes:?}");
    // The right PIN now: locked too.
    let mut c = cheque("right", CARD, vec![line("bread", "1", "100")]);
    c.pin = "2468".into();
    let r = till
        .client
        .pay_with_bonus(till.req(pb::PayWithBonusRequest {
            operation_id: op(),
            slip_width: 0,
            cheque: Some(c),
            points: "1".into(),
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.outcome, pb::Outcome::PinLocked as i32, "{}", r.message);
    // Five failures are in the card's history.
    let history = admin
        .history(admin_req(pb::HistoryRequest {
            card: CARD.into(),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    let failed = history
        .entries
        .iter()
        .filter(|e| e.event_type == "PinFailed")
        .count();
    assert_eq!(failed, 5);
}
