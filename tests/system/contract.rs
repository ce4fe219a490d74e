//! What the contract promises a stock client, found broken from outside and fixed: a body
//! that does not decode is `INVALID_ARGUMENT`; reflection v1 and v1alpha list every service,
//! health included; a cheque over the programme's line limit gets the documented outcome
//! `TOO_MANY_LINES`; another cashbox reusing an operation id is a conflict that is not
//! presented as a stored answer.

use super::grpc::world;
use super::hostile::RawCodec;
use crate::harness::*;
use loyalty_proto::pb;
use prost::Message;
use tonic::Code;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_does_not_decode_is_an_invalid_argument() {
    let (server, _admin, till) = world().await;
    let ch = channel(&server.url()).await;
    let mut body = pb::RegisterPurchaseRequest {
        operation_id: op(),
        slip_width: 0,
        cheque: Some(cheque("D-1", CARD, vec![line("bread", "1", "10")])),
    }
    .encode_to_vec();
    body.truncate(body.len() - 3);
    for (method, body) in [
        ("RegisterPurchase", body),
        ("Calculate", vec![0xff, 0xff, 0xff]),
    ] {
        let mut grpc = tonic::client::Grpc::new(ch.clone());
        grpc.ready().await.unwrap();
        let status = grpc
            .unary(
                till.req(body),
                format!("/loyalty.v1.CashService/{method}")
                    .parse::<tonic::codegen::http::uri::PathAndQuery>()
                    .unwrap(),
                RawCodec,
            )
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{method}: {status:?}");
    }
    server.stop().await;
}

/// Asks the reflection service of version `$v` for its services and checks that `$want`
/// are among them (the two versions' generated types differ, their use does not).
macro_rules! assert_lists {
    ($v:ident, $ch:expr, $want:expr) => {{
        use tonic_reflection::pb::$v::{
            server_reflection_client::ServerReflectionClient,
            server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
            ServerReflectionRequest,
        };
        let req = ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::ListServices(String::new())),
        };
        let mut stream = ServerReflectionClient::new($ch)
            .server_reflection_info(tokio_stream::iter(vec![req]))
            .await
            .unwrap()
            .into_inner();
        let Some(MessageResponse::ListServicesResponse(list)) =
            stream.message().await.unwrap().unwrap().message_response
        else {
            panic!("{}: no list", stringify!($v))
        };
        let names: Vec<_> = list.service.iter().map(|s| s.name.as_str()).collect();
        assert!(
            $want.iter().all(|w| names.contains(w)),
            "{}: {names:?}",
            stringify!($v)
        );
    }};
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reflection_v1_and_v1alpha_list_every_service_with_health() {
    let (server, _admin, _till) = world().await;
    let ch = channel(&server.url()).await;
    let want = [
        "loyalty.v1.CashService",
        "loyalty.v1.AdminService",
        "grpc.health.v1.Health",
    ];
    assert_lists!(v1, ch.clone(), want);
    assert_lists!(v1alpha, ch, want);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cheque_over_the_line_limit_gets_its_outcome_code() {
    let (server, _admin, mut till) = world().await;
    let lines: Vec<pb::Line> = (0..501).map(|_| line("bread", "1", "1")).collect();
    let calc = till
        .client
        .calculate(till.req(pb::CalculateRequest {
            cheque: Some(cheque("L-1", CARD, lines.clone())),
            slip_width: 0,
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        calc.outcome,
        pb::Outcome::TooManyLines as i32,
        "{}",
        calc.message
    );
    let reg = till
        .client
        .register_purchase(till.req(pb::RegisterPurchaseRequest {
            operation_id: op(),
            slip_width: 0,
            cheque: Some(cheque("L-1", CARD, lines)),
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        reg.outcome,
        pb::Outcome::TooManyLines as i32,
        "{}",
        reg.message
    );
    assert!(!reg.replayed);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_cashboxs_operation_id_is_a_conflict_and_not_a_replay() {
    let (server, mut admin, mut till) = world().await;
    let ch = channel(&server.url()).await;
    let mut other = register_till(&mut admin, ch, 7, pb::CashboxKind::Pos).await;
    let id = op();
    let first = till
        .client
        .register_purchase(till.req(pb::RegisterPurchaseRequest {
            operation_id: id.clone(),
            slip_width: 0,
            cheque: Some(cheque("O-1", CARD, vec![line("bread", "1", "10")])),
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.outcome, pb::Outcome::Ok as i32);
    let theirs = other
        .client
        .register_purchase(other.req(pb::RegisterPurchaseRequest {
            operation_id: id,
            slip_width: 0,
            cheque: Some(cheque("O-1", CARD, vec![line("bread", "1", "10")])),
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(theirs.outcome, pb::Outcome::OperationConflict as i32);
    assert!(!theirs.replayed, "a conflict is not a stored answer");
    assert!(theirs.lines.is_empty() && theirs.holder.is_none());
    server.stop().await;
}
