//! Points with a life through the real server: an accrual pending by the server's
//! settings, the balance answer's pending points and next expiry, and the balance as of a
//! later time, with bad times refused as the wire's error.

use crate::harness::*;
use loyalty_api::server::ServerConfig;
use loyalty_proto::pb;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_accrual_is_pending_and_the_balance_as_of_later_shows_it_spendable() {
    let (server, _admin, mut till) = world_with(ServerConfig {
        points_pending_secs: 3600,
        points_lifetime_secs: 7200,
        ..test_config()
    })
    .await;
    let conf = buy(&mut till, CARD, "c1", vec![line("bread", "1", "1000.00")]).await;
    let b = conf.balance.unwrap();
    assert_eq!(
        (b.spendable.as_str(), b.pending.as_str()),
        ("0.00", "50.00")
    );
    let expiry = chrono::DateTime::parse_from_rfc3339(&b.next_expiry).unwrap();
    assert_eq!(b.next_expiry_points, "50.00");
    let ask = |as_of: String| pb::BalanceRequest {
        card: CARD.into(),
        identifiers: Vec::new(),
        as_of,
    };
    // An hour and a minute on, the lot has matured; after its expiry, it is gone.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let later = chrono::DateTime::from_timestamp_millis(now + 62 * 60 * 1000)
        .unwrap()
        .to_rfc3339();
    let r = till
        .client
        .balance(till.req(ask(later)))
        .await
        .unwrap()
        .into_inner();
    let b = r.balance.unwrap();
    assert_eq!(
        (b.spendable.as_str(), b.pending.as_str()),
        ("50.00", "0.00")
    );
    let gone = (expiry + chrono::Duration::seconds(1)).to_rfc3339();
    let r = till
        .client
        .balance(till.req(ask(gone)))
        .await
        .unwrap()
        .into_inner();
    let b = r.balance.unwrap();
    assert_eq!((b.spendable.as_str(), b.pending.as_str()), ("0.00", "0.00"));
    // A time that is not RFC 3339 is the wire's error; a past time the outcome's.
    let bad = till.client.balance(till.req(ask("tomorrow".into()))).await;
    let err = bad.unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    assert!(err.message().contains("as_of"), "{}", err.message());
    let past = till
        .client
        .balance(till.req(ask("2020-01-01T00:00:00+03:00".into())))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(past.outcome, pb::Outcome::AmountInvalid as i32);
    server.stop().await;
}
