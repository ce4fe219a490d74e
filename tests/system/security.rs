//! Security through the real server: request and answer signatures, named operators in the
//! account history, and a suite of ≥ 10,000 hostile requests after which the state and the
//! event log are byte-for-byte what they were.

use crate::harness::*;
use loyalty_api::server::ServerConfig;
use loyalty_api::signing::{self, CashboxSigner};
use loyalty_proto::metadata::ADMIN_TOKEN_HEADER;
use loyalty_proto::metadata::{ERROR_HEADER, SIGNATURE_HEADER, SIGNED_AT_HEADER};
use loyalty_proto::pb;
use loyalty_proto::pb::admin_service_client::AdminServiceClient;
use prost::Message;
use tonic::transport::Channel;
use tonic::Code;

pub(crate) const SIGNED: u32 = 2;

/// The till of cashbox 2, which signs with a key registered at its registration.
pub(crate) async fn signed_till(
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
            loymax_login: String::new(),
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

pub(crate) fn signed<T: Message>(
    till: &Till,
    signer: &CashboxSigner,
    method: &str,
    body: T,
) -> tonic::Request<T> {
    let mut r = till.req(body);
    signer.sign(&mut r, method, signing::now_ms());
    r
}

pub(crate) fn refusal_token(s: &tonic::Status) -> &str {
    s.metadata()
        .get(ERROR_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

pub(crate) async fn digests(admin: &mut AdminServiceClient<Channel>) -> (String, String) {
    let v = admin
        .verify(admin_req(pb::VerifyRequest { rewrite: false }))
        .await
        .unwrap()
        .into_inner();
    assert!(v.equal, "{:?}", v.differences);
    (v.state_sha256, v.log_sha256)
}

pub(crate) fn register(id: &str, card: &str) -> pb::RegisterPurchaseRequest {
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
            as_of: String::new(),
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

pub(crate) fn hex_of(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
