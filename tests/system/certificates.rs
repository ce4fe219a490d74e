//! Gift certificates through the real server: malformed requests refused with the field
//! named, an administrator's certificate paid with from two tills at once (exactly what is
//! on it is taken), a refund back onto it, and its status for tills and administrators.

use crate::harness::*;
use loyalty_proto::pb;

fn certificate_tender(code: &str, amount: &str) -> pb::Tender {
    pb::Tender {
        kind: pb::TenderKind::GiftCertificate.into(),
        amount: amount.into(),
        certificate: code.into(),
    }
}

fn cash(amount: &str) -> pb::Tender {
    pb::Tender {
        kind: pb::TenderKind::Cash.into(),
        amount: amount.into(),
        certificate: String::new(),
    }
}

/// Bread for 100.00 paid with these tenders.
fn bread(id: &str, tenders: Vec<pb::Tender>) -> pb::RegisterPurchaseRequest {
    pb::RegisterPurchaseRequest {
        operation_id: op(),
        cheque: Some(pb::Cheque {
            tenders,
            ..cheque(id, CARD, vec![line("bread", "1", "100")])
        }),
        slip_width: 0,
    }
}

async fn status(till: &mut Till, code: &str) -> pb::Certificate {
    let r = till
        .client
        .certificate_status(till.req(pb::CertificateStatusRequest { code: code.into() }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.outcome, pb::Outcome::Ok as i32, "{}", r.message);
    r.certificate.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_paid_with_at_two_tills_at_once_gives_exactly_what_is_on_it() {
    let (_server, mut admin, till) = world_with(test_config()).await;
    let ch = channel(&_server.url()).await;
    let other = register_till(&mut admin, ch, 2, pb::CashboxKind::Pos).await;
    // Malformed requests: refused before the engine, naming the field.
    let issue = |code: &str, amount: &str| pb::IssueCertificateRequest {
        operation_id: op(),
        code: code.into(),
        amount: amount.into(),
        valid_days: 365,
    };
    for (bad, field) in [
        (issue("gc-1", "100"), "code"),
        (issue("GC-1", "0"), "amount"),
    ] {
        let e = admin.issue_certificate(admin_req(bad)).await.unwrap_err();
        assert_eq!(e.code(), tonic::Code::InvalidArgument, "{field}");
        assert!(e.message().contains(field), "{field}: {}", e.message());
    }
    let mut wrong = bread("x", vec![cash("100")]);
    wrong.cheque.as_mut().unwrap().tenders[0].certificate = "GC-1".into();
    let e = till
        .client
        .clone()
        .register_purchase(till.req(wrong))
        .await
        .unwrap_err();
    assert!(
        e.message().contains("cheque.tenders[0].certificate"),
        "{}",
        e.message()
    );
    let issued = admin
        .issue_certificate(admin_req(issue("GC-1", "100")))
        .await
        .unwrap()
        .into_inner();
    ok(&issued);
    assert_eq!(issued.certificate.unwrap().balance, "100.00");

    // 2 × 10 cheques at once, each paying 30.00 with it: three are taken.
    let mut tasks = Vec::new();
    for t in [till.clone(), other.clone()] {
        for i in 0..10 {
            let mut t = t.clone();
            tasks.push(tokio::spawn(async move {
                let id = format!("g{}-{i}", t.id);
                let r = t
                    .client
                    .register_purchase(t.req(bread(
                        &id,
                        vec![certificate_tender("GC-1", "30"), cash("70")],
                    )))
                    .await
                    .unwrap()
                    .into_inner();
                (t, id, pb::Outcome::try_from(r.outcome).unwrap())
            }));
        }
    }
    let mut taken = Vec::new();
    for task in tasks {
        match task.await.unwrap() {
            (t, id, pb::Outcome::Ok) => taken.push((t, id)),
            (_, _, pb::Outcome::CertificateInsufficient) => {}
            (_, _, other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(taken.len(), 3);
    let mut reader = till.clone();
    let c = status(&mut reader, "GC-1").await;
    assert_eq!(
        (c.balance.as_str(), c.held.as_str(), c.spendable.as_str()),
        ("100.00", "90.00", "10.00")
    );
    for (t, id) in &mut taken {
        let r = t
            .client
            .confirm(t.req(pb::PurchaseRequest {
                operation_id: op(),
                cheque_id: id.clone(),
                slip_width: 0,
            }))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(r.outcome, pb::Outcome::Ok as i32, "{}", r.message);
    }
    // One cheque comes back whole: its 30.00 onto the certificate, 70.00 paid out.
    let (t, id) = &mut taken[0];
    let back = t
        .client
        .refund(t.req(refund("r-1", id, "1")))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(back.outcome, pb::Outcome::Ok as i32, "{}", back.message);
    let summary = back.refund.unwrap();
    assert_eq!(
        (
            summary.certificates_returned.as_str(),
            summary.money_to_pay_out.as_str()
        ),
        ("30.00", "70.00")
    );
    let c = status(&mut reader, "GC-1").await;
    assert_eq!((c.balance.as_str(), c.held.as_str()), ("40.00", "0.00"));
    // The administrator sees the same; an unknown code is an outcome, not an error.
    let seen = admin
        .certificate(admin_req(pb::CertificateStatusRequest {
            code: "GC-1".into(),
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(seen.certificate.unwrap(), c);
    let unknown = admin
        .certificate(admin_req(pb::CertificateStatusRequest {
            code: "GC-404".into(),
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(unknown.outcome, pb::Outcome::CertificateUnknown as i32);
}
