//! Offers, coupons, messages and e-commerce pick-up through the real server: a cheque with
//! several offers, a coupon and messages; the coupon used up; a coupon issued and printed;
//! an online order bought out as promised.

use crate::harness::*;
use loyalty_proto::pb;

fn offer(id: u32, effect: pb::OfferEffect) -> pb::Offer {
    pb::Offer {
        id,
        name: format!("offer {id}"),
        effect: effect.into(),
        valid_from: "2020-01-01T00:00:00".into(),
        valid_to: "2030-01-01T00:00:00".into(),
        enabled: true,
        ..Default::default()
    }
}

async fn upsert(admin: &mut AdminServiceClient, o: pb::Offer) {
    ok(&admin
        .upsert_offer(admin_req(pb::UpsertOfferRequest {
            operation_id: op(),
            offer: Some(o),
        }))
        .await
        .unwrap()
        .into_inner());
}

type AdminServiceClient = pb::admin_service_client::AdminServiceClient<tonic::transport::Channel>;

fn with_coupons(id: &str, lines: Vec<pb::Line>, coupons: &[&str]) -> pb::Cheque {
    pb::Cheque {
        coupons: coupons.iter().map(|c| c.to_string()).collect(),
        ..cheque(id, CARD, lines)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cheque_with_several_offers_a_coupon_and_messages() {
    let (server, mut admin, mut till) = world_with(test_config()).await;
    // The standard program: 10% off dairy, 5% accrual. Add a coupon series and coupons
    // generated for this customer.
    ok(&admin
        .set_coupon_series(admin_req(pb::SetCouponSeriesRequest {
            operation_id: op(),
            series: Some(pb::CouponSeries {
                id: 7,
                name: "Bread 15".into(),
                uses: 1,
                valid_days: 30,
            }),
        }))
        .await
        .unwrap()
        .into_inner());
    let issued = admin
        .issue_coupons(admin_req(pb::IssueCouponsRequest {
            operation_id: op(),
            series: 7,
            count: 2,
            card: CARD.into(),
            expires: "2026-12-31T00:00:00".into(),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    ok(&issued);
    assert_eq!(issued.coupons.len(), 2);
    let code = issued.coupons[0].clone();
    // 15.00 off bread with a coupon of series 7; 3 points per dairy line for Gold cards;
    // a coupon for cheques of 300.00 or more; a message on the cheque; a weekend message
    // for the cashier (23 November 2026 is a Monday).
    upsert(
        &mut admin,
        pb::Offer {
            fixed: "15".into(),
            fixed_per: pb::FixedPer::Target.into(),
            products: vec!["bread".into()],
            coupon_series: 7,
            priority: 5,
            ..offer(20, pb::OfferEffect::Discount)
        },
    )
    .await;
    upsert(
        &mut admin,
        pb::Offer {
            fixed: "3".into(),
            fixed_per: pb::FixedPer::Line.into(),
            groups: vec!["dairy".into()],
            card_types: vec!["Gold".into()],
            ..offer(21, pb::OfferEffect::Accrual)
        },
    )
    .await;
    upsert(
        &mut admin,
        pb::Offer {
            issue_coupon_series: 7,
            min_total: "300".into(),
            ..offer(22, pb::OfferEffect::IssueCoupon)
        },
    )
    .await;
    upsert(
        &mut admin,
        pb::Offer {
            message: "You saved {discount}; balance {balance}".into(),
            ..offer(23, pb::OfferEffect::MessageCheque)
        },
    )
    .await;
    upsert(
        &mut admin,
        pb::Offer {
            message: "Weekend tasting at the wine shelf".into(),
            weekdays: vec![6, 7],
            ..offer(24, pb::OfferEffect::MessageCashier)
        },
    )
    .await;
    // A malformed offer is refused with the field named.
    let bad = admin
        .upsert_offer(admin_req(pb::UpsertOfferRequest {
            operation_id: op(),
            offer: Some(pb::Offer {
                percent: "5".into(),
                fixed: "5".into(),
                ..offer(25, pb::OfferEffect::Discount)
            }),
        }))
        .await
        .unwrap_err();
    assert_eq!(bad.code(), tonic::Code::InvalidArgument);
    assert!(bad.message().contains("offer.percent"), "{}", bad.message());

    let lines = || vec![line("milk", "2", "100"), line("bread", "1", "150")];
    let preview = till
        .client
        .calculate(till.req(pb::CalculateRequest {
            cheque: Some(with_coupons("O-1", lines(), &[&format!("coupon:{code}")])),
            slip_width: 32,
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        preview.outcome,
        pb::Outcome::Ok as i32,
        "{}",
        preview.message
    );
    let discounts: Vec<&str> = preview.lines.iter().map(|l| l.discount.as_str()).collect();
    assert_eq!(discounts, ["20.00", "15.00"]);
    assert_eq!(preview.lines[0].offers, [1, 2, 21]);
    assert_eq!(preview.lines[1].offers, [20, 2]);
    let t = preview.totals.clone().unwrap();
    assert_eq!(
        (t.discount.as_str(), t.accrual.as_str()),
        ("35.00", "18.75")
    );
    assert_eq!(
        preview.cashier_messages,
        ["the purchase earns a coupon: Bread 15"]
    );
    // The balance once the purchase is made: 18.75 earned on a new card.
    assert_eq!(preview.cheque_messages[0], "You saved 35.00; balance 18.75");
    assert!(preview.slip.iter().all(|l| l.chars().count() == 32));

    let reg = till
        .client
        .register_purchase(till.req(pb::RegisterPurchaseRequest {
            operation_id: op(),
            cheque: Some(with_coupons("O-1", lines(), &[&format!("coupon:{code}")])),
            slip_width: 40,
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reg.outcome, pb::Outcome::Ok as i32, "{}", reg.message);
    assert_eq!(reg.coupons_used, std::slice::from_ref(&code));
    assert_eq!(reg.coupons_issued.len(), 1);
    let printed = &reg.coupons_issued[0];
    assert_eq!((printed.series, printed.name.as_str()), (7, "Bread 15"));
    assert_eq!(printed.expires, "2026-12-23T12:00:00");
    assert_eq!(printed.ean13.len(), 13);
    assert!(printed.ean13.starts_with(&printed.code));
    assert_eq!(printed.qr_payload, format!("coupon:{}", printed.code));
    assert!(printed.qr_matrix.len() >= 29);
    assert!(reg.slip.iter().any(|l| l.starts_with(&printed.code)));
    let conf = till
        .client
        .confirm(till.req(pb::PurchaseRequest {
            operation_id: op(),
            cheque_id: "O-1".into(),
            slip_width: 0,
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(conf.balance.unwrap().balance, "18.75");

    // The coupon was single-use: the next cheque goes through at full price, with a note;
    // so does one with an unknown coupon.
    for (id, shown, note) in [
        ("O-2", code.clone(), format!("coupon {code}: already used")),
        (
            "O-3",
            "NOT-A-COUPON".into(),
            "coupon NOT-A-COUPON: unknown coupon".into(),
        ),
    ] {
        let r = till
            .client
            .register_purchase(till.req(pb::RegisterPurchaseRequest {
                operation_id: op(),
                cheque: Some(with_coupons(id, vec![line("bread", "1", "150")], &[&shown])),
                slip_width: 0,
            }))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(r.outcome, pb::Outcome::Ok as i32, "{}", r.message);
        assert_eq!(r.totals.unwrap().discount, "0.00");
        assert_eq!(r.cashier_messages, [note]);
    }
    // The coupon the purchase issued works for this customer next time.
    let next = till
        .client
        .calculate(till.req(pb::CalculateRequest {
            cheque: Some(with_coupons(
                "O-4",
                vec![line("bread", "1", "150")],
                &[&printed.ean13[..12]],
            )),
            slip_width: 0,
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(next.lines[0].discount, "15.00");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_online_order_is_picked_up_as_promised() {
    let (server, mut admin, mut till) = world_with(test_config()).await;
    // 20.00 points to reserve.
    buy(&mut till, CARD, "seed", vec![line("bread", "1", "400")]).await;
    let create = |order: &str, points: &str| {
        admin_req(pb::CreateOrderRequest {
            operation_id: op(),
            order: order.into(),
            card: CARD.into(),
            lines: vec![
                pb::OrderLine {
                    product: "milk".into(),
                    quantity: "1".into(),
                    price: "100".into(),
                    discount: "30".into(),
                },
                pb::OrderLine {
                    product: "bread".into(),
                    quantity: "2".into(),
                    price: "50".into(),
                    discount: String::new(),
                },
            ],
            points: points.into(),
        })
    };
    let too_many = admin
        .create_order(create("WEB-7", "25"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(too_many.outcome, pb::Outcome::InsufficientPoints as i32);
    ok(&admin
        .create_order(create("WEB-7", "10"))
        .await
        .unwrap()
        .into_inner());
    let fetch = |till: &Till| {
        till.req(pb::FetchOrderRequest {
            order: "WEB-7".into(),
            local_time: "2026-11-23T15:00:00".into(),
        })
    };
    let r = fetch(&till);
    let fetched = till.client.fetch_order(r).await.unwrap().into_inner();
    assert_eq!(
        fetched.outcome,
        pb::Outcome::Ok as i32,
        "{}",
        fetched.message
    );
    assert_eq!(fetched.order_status, pb::OrderStatus::Open as i32);
    assert_eq!(fetched.balance.clone().unwrap().held, "10.00");
    let t = fetched.totals.unwrap();
    // The promised 30.00 off milk, not the program's 10%; 10 points; 5% on the rest.
    assert_eq!(
        (
            t.amount.as_str(),
            t.discount.as_str(),
            t.paid.as_str(),
            t.to_pay.as_str()
        ),
        ("200.00", "30.00", "10.00", "160.00")
    );
    assert_eq!(t.accrual, "8.00");
    // The till rings the order's lines up and registers the cheque with the order.
    let lines: Vec<pb::Line> = fetched
        .lines
        .iter()
        .map(|l| line(&l.product, &l.quantity, &l.price))
        .collect();
    let pickup = pb::Cheque {
        order: "WEB-7".into(),
        ..cheque("W-1", "", lines)
    };
    let done = buy_cheque(&mut till, pickup).await;
    assert_eq!(done.totals.unwrap().paid, "10.00");
    let b = done.balance.unwrap();
    assert_eq!((b.balance.as_str(), b.held.as_str()), ("18.00", "0.00"));
    let r = fetch(&till);
    let again = till.client.fetch_order(r).await.unwrap().into_inner();
    assert_eq!(again.outcome, pb::Outcome::OrderWrongState as i32);
    assert_eq!(again.order_status, pb::OrderStatus::PickedUp as i32);
    server.stop().await;
}
