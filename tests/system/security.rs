//! Security through the real server: request and answer signatures, named operators in the
//! account history, and a suite of ≥ 10,000 hostile requests after which the state and the
//! event log are byte-for-byte what they were.

use crate::harness::*;
use bytes::{Buf, BufMut};
use loyalty_api::server::ServerConfig;
use loyalty_api::signing::{self, CashboxSigner};
use loyalty_proto::metadata::{ADMIN_TOKEN_HEADER, CASHBOX_ID_HEADER, CASHBOX_SECRET_HEADER};
use loyalty_proto::metadata::{ERROR_HEADER, SIGNATURE_HEADER, SIGNED_AT_HEADER};
use loyalty_proto::pb;
use loyalty_proto::pb::admin_service_client::AdminServiceClient;
use prost::Message;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tonic::transport::Channel;
use tonic::Code;

const SIGNED: u32 = 2;

/// The till of cashbox 2, which signs with a key registered at its registration.
async fn signed_till(
    admin: &mut AdminServiceClient<Channel>,
    channel: Channel,
    seed: [u8; 8],
) -> (Till, CashboxSigner) {
    let mut full = [0u8; 32];
    full[..8].copy_from_slice(&seed);
    let signer = CashboxSigner::new(full, SIGNED);
    let r = admin
        .register_cashbox(admin_req(pb::RegisterCashboxRequest {
            operation_id: op(),
            cashbox_id: SIGNED,
            store_id: 1,
            kind: pb::CashboxKind::Pos.into(),
            public_key: signer.public_hex(),
        }))
        .await
        .unwrap()
        .into_inner();
    ok(&r);
    let till = Till {
        client: pb::cash_service_client::CashServiceClient::new(channel),
        id: SIGNED,
        secret: r.cashbox_secret,
    };
    (till, signer)
}

fn signed<T: Message>(
    till: &Till,
    signer: &CashboxSigner,
    method: &str,
    body: T,
) -> tonic::Request<T> {
    let mut r = till.req(body);
    signer.sign(&mut r, method, signing::now_ms());
    r
}

fn refusal_token(s: &tonic::Status) -> &str {
    s.metadata()
        .get(ERROR_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

async fn digests(admin: &mut AdminServiceClient<Channel>) -> (String, String) {
    let v = admin
        .verify(admin_req(pb::VerifyRequest { rewrite: false }))
        .await
        .unwrap()
        .into_inner();
    assert!(v.equal, "{:?}", v.differences);
    (v.state_sha256, v.log_sha256)
}

fn register(id: &str, card: &str) -> pb::RegisterPurchaseRequest {
    pb::RegisterPurchaseRequest {
        operation_id: op(),
        slip_width: 0,
        cheque: Some(cheque(id, card, vec![line("bread", "1", "100")])),
    }
}

#[tokio::test]
async fn signed_requests_are_verified_and_answers_are_signed() {
    let (server, mut admin, till1) = world_with(test_config()).await;
    let ch = channel(&server.url()).await;
    let (mut till, signer) = signed_till(&mut admin, ch, *b"till-two").await;
    let server_key = admin
        .server_key(admin_req(pb::ServerKeyRequest {}))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(server_key.algorithm, "ed25519");
    let server_public = signing::public_key(&server_key.public_key).unwrap();

    // A signed request is accepted, and its answer verifies with the published key.
    let body = register("S-1", CARD);
    let answer = till
        .client
        .register_purchase(signed(&till, &signer, "RegisterPurchase", body.clone()))
        .await
        .unwrap();
    let at: i64 = answer
        .metadata()
        .get(SIGNED_AT_HEADER)
        .unwrap()
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let sig = answer
        .metadata()
        .get(SIGNATURE_HEADER)
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    let reply = answer.into_inner();
    assert_eq!(reply.outcome, pb::Outcome::Ok as i32, "{}", reply.message);
    let message = signing::answer_message(
        "/loyalty.v1.CashService/RegisterPurchase",
        SIGNED,
        at,
        &body.encode_to_vec(),
        &reply.encode_to_vec(),
    );
    assert!(signing::verify_answer(&server_public, &message, &sig));
    let mut forged = reply.clone();
    forged.message = "forged".into();
    let forged = signing::answer_message(
        "/loyalty.v1.CashService/RegisterPurchase",
        SIGNED,
        at,
        &body.encode_to_vec(),
        &forged.encode_to_vec(),
    );
    assert!(!signing::verify_answer(&server_public, &forged, &sig));

    // Answers to a cashbox that does not sign are not signed (unless sign_all_answers).
    let mut t1 = till1.clone();
    let plain = t1
        .client
        .balance(t1.req(pb::BalanceRequest {
            card: CARD.into(),
            identifiers: Vec::new(),
        }))
        .await
        .unwrap();
    assert!(!plain.metadata().contains_key(SIGNATURE_HEADER));

    let before = digests(&mut admin).await;
    let confirm = pb::PurchaseRequest {
        operation_id: op(),
        slip_width: 0,
        cheque_id: "S-1".into(),
    };
    let refused = |token: &'static str| {
        move |r: Result<tonic::Response<pb::ChequeReply>, tonic::Status>| {
            let s = r.expect_err("must be refused");
            assert_eq!(s.code(), Code::Unauthenticated, "{s:?}");
            assert_eq!(refusal_token(&s), token, "{s:?}");
        }
    };
    // Unsigned.
    refused("SIGNATURE_REQUIRED")(till.client.confirm(till.req(confirm.clone())).await);
    // Signed too long ago.
    let mut stale = till.req(confirm.clone());
    signer.sign(&mut stale, "Confirm", signing::now_ms() - 301_000);
    refused("SIGNATURE_STALE")(till.client.confirm(stale).await);
    // Signed by another key.
    let mut other = till.req(confirm.clone());
    CashboxSigner::new([9; 32], SIGNED).sign(&mut other, "Confirm", signing::now_ms());
    refused("SIGNATURE_INVALID")(till.client.confirm(other).await);
    // Signed for other content.
    let mut tampered = signed(&till, &signer, "Confirm", confirm.clone());
    tampered.get_mut().cheque_id = "S-2".into();
    refused("SIGNATURE_INVALID")(till.client.confirm(tampered).await);
    // Signed for another method.
    let mut cancel = till.req(confirm.clone());
    signer.sign(&mut cancel, "Confirm", signing::now_ms());
    refused("SIGNATURE_INVALID")(till.client.cancel(cancel).await);
    // Half of the headers.
    let mut half = signed(&till, &signer, "Confirm", confirm.clone());
    half.metadata_mut().remove(SIGNED_AT_HEADER);
    refused("SIGNATURE_MALFORMED")(till.client.confirm(half).await);
    // A cashbox without a key cannot sign.
    let mut keyless = t1.req(confirm.clone());
    CashboxSigner::new([9; 32], 1).sign(&mut keyless, "Confirm", signing::now_ms());
    refused("SIGNING_KEY_MISSING")(t1.client.confirm(keyless).await);
    assert_eq!(
        digests(&mut admin).await,
        before,
        "refusals changed nothing"
    );

    // A replay of the signed request answers the original; other content under its
    // operation id is a conflict, even when properly signed.
    let again = till
        .client
        .register_purchase(signed(&till, &signer, "RegisterPurchase", body.clone()))
        .await
        .unwrap()
        .into_inner();
    assert!(again.replayed);
    let mut changed = body.clone();
    changed.cheque.as_mut().unwrap().lines[0].price = "1".into();
    let conflict = till
        .client
        .register_purchase(signed(&till, &signer, "RegisterPurchase", changed))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(conflict.outcome, pb::Outcome::OperationConflict as i32);

    // Rotation: the old key stops working, the new one works.
    let rotated = CashboxSigner::new([3; 32], SIGNED);
    ok(&admin
        .set_cashbox_key(admin_req(pb::SetCashboxKeyRequest {
            operation_id: op(),
            cashbox_id: SIGNED,
            public_key: rotated.public_hex(),
        }))
        .await
        .unwrap()
        .into_inner());
    refused("SIGNATURE_INVALID")(
        till.client
            .confirm(signed(&till, &signer, "Confirm", confirm.clone()))
            .await,
    );
    let done = till
        .client
        .confirm(signed(&till, &rotated, "Confirm", confirm))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(done.outcome, pb::Outcome::Ok as i32, "{}", done.message);
    server.stop().await;
}

#[tokio::test]
async fn a_program_can_require_every_cashbox_to_sign() {
    let config = ServerConfig {
        signatures_required: true,
        sign_all_answers: true,
        ..test_config()
    };
    let (server, mut admin, mut till) = world_with(config).await;
    let s = till
        .client
        .register_purchase(till.req(register("U-1", CARD)))
        .await
        .expect_err("unsigned request refused");
    assert_eq!(s.code(), Code::Unauthenticated);
    assert_eq!(refusal_token(&s), "SIGNATURE_REQUIRED");
    // Once it has a key, it works, and (sign_all_answers) so would every other cashbox's
    // answers be signed.
    let signer = CashboxSigner::new([4; 32], till.id);
    ok(&admin
        .set_cashbox_key(admin_req(pb::SetCashboxKeyRequest {
            operation_id: op(),
            cashbox_id: till.id,
            public_key: signer.public_hex(),
        }))
        .await
        .unwrap()
        .into_inner());
    let answer = till
        .client
        .register_purchase(signed(
            &till,
            &signer,
            "RegisterPurchase",
            register("U-1", CARD),
        ))
        .await
        .unwrap();
    assert!(answer.metadata().contains_key(SIGNATURE_HEADER));
    assert_eq!(answer.into_inner().outcome, pb::Outcome::Ok as i32);
    server.stop().await;
}

#[tokio::test]
async fn admin_actions_name_the_operator_in_the_account_history() {
    let dir = tempfile::tempdir().unwrap();
    let operators = dir.path().join("operators");
    let alice_hash = loyalty_api::service::secret_hash("alice-token");
    std::fs::write(
        &operators,
        format!("# customer service\nalice {}\n", hex_of(&alice_hash)),
    )
    .unwrap();
    let config = ServerConfig {
        operators_file: Some(operators),
        ..test_config()
    };
    let (server, mut admin, mut till) = world_with(config).await;
    buy(&mut till, CARD, "H-1", vec![line("bread", "1", "2000")]).await;
    fn as_alice<T>(body: T) -> tonic::Request<T> {
        let mut r = tonic::Request::new(body);
        r.metadata_mut()
            .insert(ADMIN_TOKEN_HEADER, "alice-token".parse().unwrap());
        r
    }
    let adjusted = admin
        .adjust_points(as_alice(pb::AdjustPointsRequest {
            operation_id: op(),
            card: CARD.into(),
            delta: "-30.50".into(),
            reason: "returned goods outside the till".into(),
        }))
        .await
        .unwrap()
        .into_inner();
    ok(&adjusted);
    assert_eq!(adjusted.balance.unwrap().balance, "69.50");
    let block = pb::CardRequest {
        operation_id: op(),
        card: CARD.into(),
    };
    ok(&admin
        .block_card(as_alice(block))
        .await
        .unwrap()
        .into_inner());
    let mut wrong = tonic::Request::new(pb::StatusRequest {});
    wrong
        .metadata_mut()
        .insert(ADMIN_TOKEN_HEADER, "alice-token-x".parse().unwrap());
    assert_eq!(
        admin.status(wrong).await.unwrap_err().code(),
        Code::Unauthenticated
    );

    let history = admin
        .history(admin_req(pb::HistoryRequest {
            card: CARD.into(),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner()
        .entries;
    let seen: Vec<(&str, &str, &str)> = history
        .iter()
        .map(|e| {
            (
                e.actor.as_str(),
                e.event_type.as_str(),
                e.balance_delta.as_str(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("admin:admin", "AccountOpened", "0.00"),
            ("admin:admin", "CardIssued", "0.00"),
            ("cashbox:1", "PurchaseRegistered", "0.00"),
            ("cashbox:1", "PurchaseConfirmed", "100.00"),
            ("admin:alice", "PointsAdjusted", "-30.50"),
            ("admin:alice", "CardBlocked", "0.00"),
        ]
    );
    assert!(history[4]
        .detail
        .contains("returned goods outside the till"));
    // Paging, and the whole log with the cashbox registrations.
    let page = admin
        .history(admin_req(pb::HistoryRequest {
            card: CARD.into(),
            after_seq: history[3].seq,
            limit: 1,
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner()
        .entries;
    assert_eq!(page.len(), 1);
    assert_eq!(page[0].event_type, "PointsAdjusted");
    let all = admin
        .history(admin_req(pb::HistoryRequest::default()))
        .await
        .unwrap()
        .into_inner()
        .entries;
    assert!(all
        .iter()
        .any(|e| e.event_type == "CashboxRegistered" && e.actor == "admin:admin"));
    digests(&mut admin).await;
    server.stop().await;
}

fn hex_of(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Sends raw bytes as the body of a method.
#[derive(Clone, Copy)]
struct RawCodec;

struct RawEncoder;
struct RawDecoder;

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
}

const BLOCKED_CARD: &str = "2770000000048";
/// Kinds of hostile request (see `hostile`).
const KINDS: u32 = 16;
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
                };
                outcome(till.client.set_card_pin(till.req(body)).await)
            }
        },
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
        let r = till
            .client
            .balance(till.req(pb::BalanceRequest {
                card: (*c).into(),
                identifiers: Vec::new(),
            }))
            .await
            .unwrap()
            .into_inner();
        out.push(format!("{} {:?}", r.outcome, r.balance));
    }
    out
}

/// ≥ 10,000 malformed, oversized, forged, replayed and cross-cashbox requests against the
/// real server: none is accepted, and the state and the event log stay byte-for-byte equal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_requests_change_nothing() {
    let (server, mut admin, mut till) = world_with(test_config()).await;
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
