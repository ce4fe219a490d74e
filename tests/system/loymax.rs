//! The Loymax-compatible XML endpoint through a real HTTP/1.1 exchange with the real
//! server: hand-written documents as a till's Loymax module posts them, answers compared by
//! element names, attributes and the order of repeated children.

use crate::harness::*;
use loyalty_api::loymax::{parse, Element, XML_BYTES_MAX};
use loyalty_proto::pb;

fn balances(requests: &[(&str, &str, &str)]) -> Vec<u8> {
    let items: String = requests
        .iter()
        .map(|(op, element, card)| {
            format!(
                "<BalanceRequest OperationID=\"{op}\" OperationDate=\"2026-12-06T12:00:00.000+03:00\" ElementID=\"{element}\"><Identifier Type=\"Auto\" Value=\"{card}\"/></BalanceRequest>"
            )
        })
        .collect();
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n<XMLRequest><Version>3.2</Version><Balances>{items}</Balances></XMLRequest>"
    )
    .into_bytes()
}

fn attr<'a>(e: &'a Element, name: &str) -> &'a str {
    e.attributes
        .iter()
        .find(|(k, _)| k == name)
        .map_or("", |(_, v)| v.as_str())
}

fn error_code(doc: &Element) -> &str {
    attr(&doc.children[0], "#text")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_till_s_loymax_module_asks_balances_over_xml() {
    let (server, mut admin, mut till, xml_addr) = world_with_xml().await;
    // A till registered with a Loymax login, and a second one.
    let mut secrets = Vec::new();
    for (id, login) in [(7, "set10-till-7"), (8, "set10-till-8")] {
        secrets.push(register_xml_till(&mut admin, id, login).await);
    }
    // A customer with a Cyrillic name and 50.00 points.
    let r = admin
        .issue_card(admin_req(pb::IssueCardRequest {
            operation_id: op(),
            card: "2770000000024".into(),
            card_type: "Золотая".into(),
            status: pb::CardStatus::Activated.into(),
            account: 0,
            holder_name: "Анна Иванова".into(),
            holder_phone: String::new(),
        }))
        .await
        .unwrap()
        .into_inner();
    ok(&r);
    buy(
        &mut till,
        "2770000000024",
        "c1",
        vec![line("bread", "1", "1000.00")],
    )
    .await;
    let path = "/XmlExchange/SET/set10-till-7/";
    let me = ("set10-till-7", secrets[0].as_str());

    // Two requests in one container: answered each, in order.
    let (status, body) = post_xml(
        xml_addr,
        path,
        me,
        &balances(&[
            ("0123456789abcdef0123456789abcdef", "1", "2770000000024"),
            ("fedcba9876543210fedcba9876543210", "2", "2770000000999"),
        ]),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>"));
    let doc = parse(body.as_bytes()).unwrap();
    assert_eq!(doc.name, "XMLResponse");
    assert_eq!(
        doc.children
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>(),
        ["ErrorCode", "Balances"]
    );
    assert_eq!(error_code(&doc), "0");
    let answers = &doc.children[1].children;
    assert_eq!(answers.len(), 2);
    let first = &answers[0];
    assert_eq!(first.name, "BalanceResponse");
    assert_eq!(
        (
            attr(first, "BonusAmount"),
            attr(first, "Currency"),
            attr(first, "OperationID"),
            attr(first, "ElementID"),
            attr(first, "ErrorCode"),
        ),
        ("50.00", "RUB", "0123456789abcdef0123456789abcdef", "1", "0")
    );
    let items: Vec<(&str, &str)> = first.children[0]
        .children
        .iter()
        .map(|i| (attr(i, "Name"), attr(i, "#text")))
        .collect();
    assert_eq!(first.children[0].name, "IdentifierData");
    assert_eq!(
        items,
        [
            ("Holder", "Анна Иванова"),
            ("CardType", "Золотая"),
            ("MaskedNumber", "*********0024")
        ]
    );
    // An unknown card: that request's own error code (our outcome), the document's is 0.
    let second = &answers[1];
    assert_eq!(attr(second, "ElementID"), "2");
    assert_eq!(
        attr(second, "ErrorCode"),
        (pb::Outcome::CardUnknown as i32).to_string()
    );
    assert!(!attr(second, "ErrorMessage").is_empty());

    // A cheque to price, with Cyrillic names, three-decimal quantities and a line the till
    // discounted on its own: the answer is what the same gRPC Calculate answers.
    let calc = "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n<XMLRequest><Version>3.2</Version><Calculates><CalculateRequest OperationID=\"11111111111111111111111111111111\" OperationDate=\"2026-12-06T12:00:00.000+03:00\" ElementID=\"1\" PurchaseID=\"100500\"><Identifier Type=\"Auto\" Value=\"2770000000024\"/><Cheque ChequeDate=\"2026-12-06T12:00:00.000+03:00\"><ChequeLine PosID=\"1\" Amount=\"179.80\" Name=\"Молоко 3,2%\" GoodsId=\"milk\" Price=\"89.90\" Quantity=\"2.000\"/><ChequeLine PosID=\"2\" Amount=\"40.00\" Name=\"Хлеб бородинский\" GoodsId=\"bread\" Price=\"45.00\" Quantity=\"1.000\"/></Cheque></CalculateRequest></Calculates></XMLRequest>";
    let (status, body) = post_xml(xml_addr, path, me, calc.as_bytes()).await;
    assert_eq!(status, 200, "{body}");
    let doc = parse(body.as_bytes()).unwrap();
    assert_eq!(error_code(&doc), "0", "{body}");
    let answer = &doc.children[1].children[0];
    assert_eq!(
        (
            answer.name.as_str(),
            attr(answer, "ErrorCode"),
            attr(answer, "ElementID")
        ),
        ("CalculateResponse", "0", "1"),
        "{body}"
    );
    let mut grpc_lines = vec![
        line("milk", "2.000", "89.90"),
        line("bread", "1.000", "45.00"),
    ];
    grpc_lines[1].discount = "5.00".into();
    let mut same = cheque("100500", "", grpc_lines);
    same.identifiers = vec![pb::Identifier {
        kind: pb::IdentifierKind::Auto.into(),
        value: "2770000000024".into(),
    }];
    same.local_time = "2026-12-06T12:00:00".into();
    let by_grpc = till
        .client
        .calculate(till.req(pb::CalculateRequest {
            cheque: Some(same),
            slip_width: 0,
        }))
        .await
        .unwrap()
        .into_inner();
    let t = by_grpc.totals.unwrap();
    assert_eq!(
        [
            attr(answer, "Amount"),
            attr(answer, "Discount"),
            attr(answer, "AmountToPay"),
            attr(answer, "Accrual"),
            attr(answer, "MaxBonusPayment"),
        ],
        [
            t.amount.as_str(),
            t.discount.as_str(),
            t.to_pay.as_str(),
            t.accrual.as_str(),
            t.redeem_max.as_str()
        ]
    );
    let lines: Vec<[&str; 3]> = answer
        .children
        .iter()
        .filter(|c| c.name == "ChequeLine")
        .map(|l| [attr(l, "PosID"), attr(l, "Discount"), attr(l, "Accrual")])
        .collect();
    let expected: Vec<[String; 3]> = by_grpc
        .lines
        .iter()
        .map(|l| {
            [
                (l.index + 1).to_string(),
                l.discount.clone(),
                l.accrual.clone(),
            ]
        })
        .collect();
    assert_eq!(
        lines,
        expected
            .iter()
            .map(|[a, b, c]| [a.as_str(), b.as_str(), c.as_str()])
            .collect::<Vec<_>>()
    );
    assert_ne!(
        attr(answer, "Discount"),
        "0.00",
        "the milk's offer and the till's 5.00"
    );

    // A coupon nobody issued does not fail the cheque: the cashier is told.
    let with_coupon = calc.replace("</Cheque>", "<Coupon Number=\"NO-SUCH-COUPON\"/></Cheque>");
    let (_, body) = post_xml(xml_addr, path, me, with_coupon.as_bytes()).await;
    let doc = parse(body.as_bytes()).unwrap();
    let answer = &doc.children[1].children[0];
    assert_eq!(attr(answer, "ErrorCode"), "0", "{body}");
    let told: Vec<&str> = answer
        .children
        .iter()
        .filter(|c| c.name == "Message" && attr(c, "To") == "Cashier")
        .map(|c| attr(c, "#text"))
        .collect();
    assert!(told.iter().any(|t| t.contains("NO-SUCH-COUPON")), "{body}");

    // The card is replaced at the till: the account, and its 50.00 points, move to the new
    // card; the old one is refused as replaced.
    let replace = "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n<XMLRequest><Version>3.2</Version><CardReplacements><ReplaceCardRequest OperationID=\"22222222222222222222222222222222\" OperationDate=\"2026-12-06T12:00:00.000+03:00\" ElementID=\"1\" OldCardNumber=\"2770000000024\" NewCardNumber=\"2770000000031\"/></CardReplacements></XMLRequest>";
    let (_, body) = post_xml(xml_addr, path, me, replace.as_bytes()).await;
    let doc = parse(body.as_bytes()).unwrap();
    assert_eq!(
        attr(&doc.children[1].children[0], "ErrorCode"),
        "0",
        "{body}"
    );
    let (_, body) = post_xml(
        xml_addr,
        path,
        me,
        &balances(&[
            ("33333333333333333333333333333331", "1", "2770000000031"),
            ("33333333333333333333333333333332", "2", "2770000000024"),
        ]),
    )
    .await;
    let doc = parse(body.as_bytes()).unwrap();
    let answers = &doc.children[1].children;
    assert_eq!(attr(&answers[0], "BonusAmount"), "50.00", "{body}");
    assert_eq!(
        attr(&answers[1], "ErrorCode"),
        (pb::Outcome::CardReplaced as i32).to_string(),
        "{body}"
    );

    // Credentials: a wrong password, a login that is not the URL's, another cashbox's login
    // in the URL — all refused before the document is read.
    let wrong = [
        (path, ("set10-till-7", "not-the-secret")),
        (path, ("set10-till-8", secrets[1].as_str())),
        (
            "/XmlExchange/SET/set10-till-8/",
            ("set10-till-8", secrets[0].as_str()),
        ),
        ("/XmlExchange/SET/nobody/", ("nobody", secrets[0].as_str())),
    ];
    for (p, auth) in wrong {
        let (status, body) = post_xml(
            xml_addr,
            p,
            auth,
            &balances(&[("00", "1", "2770000000024")]),
        )
        .await;
        assert_eq!(status, 401, "{p} {body}");
        assert_eq!(error_code(&parse(body.as_bytes()).unwrap()), "2");
    }

    // Documents refused whole: malformed, a DTD with an entity, an operation not served, a
    // wrong version, too large.
    let refused: [(&[u8], &str); 5] = [
        (b"<XMLRequest><Version>3.2</Version><Balances>", "1"),
        (
            b"<!DOCTYPE r [<!ENTITY x \"y\">]><XMLRequest><Version>&x;</Version></XMLRequest>",
            "1",
        ),
        (
            b"<XMLRequest><Version>3.2</Version><Coupons><CouponRequest/></Coupons></XMLRequest>",
            "3",
        ),
        (b"<XMLRequest><Version>2.0</Version></XMLRequest>", "5"),
        (&vec![b' '; XML_BYTES_MAX + 1], "4"),
    ];
    for (doc, code) in refused {
        let (status, body) = post_xml(xml_addr, path, me, doc).await;
        assert_eq!(status, 200, "{body}");
        let answer = parse(body.as_bytes()).unwrap();
        assert_eq!(error_code(&answer), code, "{body}");
        assert_eq!(answer.children.len(), 1, "nothing but the error: {body}");
    }
    server.stop().await;
}

/// A purchase paid partly with points, through XML: payment (a hold), discount (the
/// cheque registered), confirmation; a resend of the same `OperationID` answers the same
/// and changes nothing; an operation sent by XML and then by gRPC with the same id is one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_purchase_through_xml_is_idempotent_by_operation_id_across_both_protocols() {
    let (server, mut admin, mut till, xml_addr) = world_with_xml().await;
    let secret = register_xml_till(&mut admin, 9, "till-9").await;
    // The customer earns 50.00 points at the gRPC till.
    buy(&mut till, CARD, "g1", vec![line("bread", "1", "1000.00")]).await;
    let path = "/XmlExchange/SET/till-9/";
    let me = ("till-9", secret.as_str());
    let doc = |container: &str, item: &str, attrs: &str, inner: &str| {
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n<XMLRequest><Version>3.2</Version><{container}><{item} OperationDate=\"2026-12-06T12:00:00.000+03:00\" ElementID=\"1\" {attrs}>{inner}</{item}></{container}></XMLRequest>"
        )
    };
    let lines = format!(
        "<Identifier Type=\"Auto\" Value=\"{CARD}\"/><Cheque ChequeDate=\"2026-11-23T12:00:00.000+03:00\"><ChequeLine PosID=\"7\" Amount=\"100.00\" Name=\"Хлеб\" GoodsId=\"bread\" Price=\"100.00\" Quantity=\"1.000\"/></Cheque>"
    );
    let answer = |body: &str| {
        let d = parse(body.as_bytes()).unwrap();
        assert_eq!(error_code(&d), "0", "{body}");
        d.children[1].children[0].clone()
    };
    // How many points may pay it: half of the 100.00 cheque (the programme's share), all
    // of it spendable.
    let ask = doc(
        "AvailableAmounts",
        "AvailableAmountRequest",
        "OperationID=\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa0\" PurchaseID=\"x-1\"",
        &lines,
    );
    let (_, body) = post_xml(xml_addr, path, me, ask.as_bytes()).await;
    let a = answer(&body);
    assert_eq!(
        (
            a.name.as_str(),
            attr(&a, "AvailableAmount"),
            attr(&a, "BonusAmount")
        ),
        ("AvailableAmountResponse", "50.00", "50.00"),
        "{body}"
    );
    // Pay 20 points: held.
    let pay = doc(
        "Payments",
        "PaymentRequest",
        "OperationID=\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa1\" PurchaseID=\"x-1\" Amount=\"20.00\"",
        &lines,
    );
    let (_, body) = post_xml(xml_addr, path, me, pay.as_bytes()).await;
    let a = answer(&body);
    assert_eq!(
        (a.name.as_str(), attr(&a, "ErrorCode")),
        ("PaymentResponse", "0"),
        "{body}"
    );
    assert_eq!(attr(&a, "BonusAmount"), "30.00", "{body}");
    let line = a.children.iter().find(|c| c.name == "ChequeLine").unwrap();
    assert_eq!(
        (attr(line, "PosID"), attr(line, "BonusPayment")),
        ("7", "20.00")
    );
    // Register and confirm.
    let register = doc(
        "Discounts",
        "DiscountRequest",
        "OperationID=\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa2\" PurchaseID=\"x-1\"",
        &lines,
    );
    let (_, body) = post_xml(xml_addr, path, me, register.as_bytes()).await;
    assert_eq!(attr(&answer(&body), "ErrorCode"), "0", "{body}");
    let confirm = doc(
        "Confirms",
        "ConfirmRequest",
        "OperationID=\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa3\" PurchaseID=\"x-1\"",
        "",
    );
    let (_, first) = post_xml(xml_addr, path, me, confirm.as_bytes()).await;
    let a = answer(&first);
    // 50 − 20 paid + 5 % of the 80.00 paid in money.
    assert_eq!(attr(&a, "BonusAmount"), "34.00", "{first}");
    // The resend: the same answer, nothing applied twice.
    let (_, again) = post_xml(xml_addr, path, me, confirm.as_bytes()).await;
    assert_eq!(answer(&again), a);
    let balance = |till: &mut Till| {
        let req = till.req(pb::BalanceRequest {
            card: CARD.into(),
            identifiers: Vec::new(),
            as_of: String::new(),
        });
        let mut client = till.client.clone();
        async move {
            client
                .balance(req)
                .await
                .unwrap()
                .into_inner()
                .balance
                .unwrap()
                .spendable
        }
    };
    assert_eq!(balance(&mut till).await, "34.00");
    // The bread comes back: the 80.00 paid in money out, the 20 points back, the 4 points
    // of accrual taken back.
    let refund = doc(
        "Refunds",
        "RefundRequest",
        "OperationID=\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa4\" PurchaseID=\"x-1\" RefundID=\"r-1\"",
        "<RefundLine PosID=\"1\" Quantity=\"1.000\"/>",
    );
    let (_, body) = post_xml(xml_addr, path, me, refund.as_bytes()).await;
    let a = answer(&body);
    assert_eq!(
        (
            a.name.as_str(),
            attr(&a, "RefundAmount"),
            attr(&a, "BonusReturned"),
            attr(&a, "AccrualReversed"),
            attr(&a, "BonusAmount"),
        ),
        ("RefundResponse", "80.00", "20.00", "4.00", "50.00"),
        "{body}"
    );
    // A hold cancelled: its points come back.
    let hold = doc(
        "Payments",
        "PaymentRequest",
        "OperationID=\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa5\" PurchaseID=\"x-2\" Amount=\"15.00\"",
        &lines,
    );
    let (_, body) = post_xml(xml_addr, path, me, hold.as_bytes()).await;
    assert_eq!(attr(&answer(&body), "BonusAmount"), "35.00", "{body}");
    let cancel = doc(
        "Cancels",
        "CancelRequest",
        "OperationID=\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa6\" PurchaseID=\"x-2\"",
        "",
    );
    let (_, body) = post_xml(xml_addr, path, me, cancel.as_bytes()).await;
    let a = answer(&body);
    assert_eq!(
        (
            a.name.as_str(),
            attr(&a, "ErrorCode"),
            attr(&a, "BonusAmount")
        ),
        ("CancelResponse", "0", "50.00"),
        "{body}"
    );
    // The gRPC till's sale refunded at the XML till, named by its cashbox.
    let other = doc(
        "Refunds",
        "RefundRequest",
        "OperationID=\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa7\" PurchaseID=\"g1\" SaleCashboxID=\"1\" RefundID=\"r-2\"",
        "<RefundLine PosID=\"1\" Quantity=\"0.500\"/>",
    );
    let (_, body) = post_xml(xml_addr, path, me, other.as_bytes()).await;
    let a = answer(&body);
    // Half the 1000.00 bread: 500.00 out, 25.00 of accrual back.
    assert_eq!(
        (
            attr(&a, "RefundAmount"),
            attr(&a, "AccrualReversed"),
            attr(&a, "BonusAmount")
        ),
        ("500.00", "25.00", "25.00"),
        "{body}"
    );
    // A cheque rung up while the till was offline: its accrual credited once uploaded; one
    // that claims points paid offline is refused.
    for (id, paid, code) in [
        ("cccccccccccccccccccccccccccccc01", "", "0"),
        (
            "cccccccccccccccccccccccccccccc02",
            "5.00",
            &(pb::Outcome::OfflineRedemptionRefused as i32).to_string()[..],
        ),
    ] {
        let offline = doc(
            "OfflineCheques",
            "OfflineChequeRequest",
            &format!("OperationID=\"{id}\" PurchaseID=\"off-{id}\" BonusPayment=\"{paid}\""),
            &lines,
        );
        let (_, body) = post_xml(xml_addr, path, me, offline.as_bytes()).await;
        let d = parse(body.as_bytes()).unwrap();
        let a = &d.children[1].children[0];
        assert_eq!(
            (a.name.as_str(), attr(a, "ErrorCode")),
            ("OfflineChequeResponse", code),
            "{body}"
        );
    }
    assert_eq!(balance(&mut till).await, "30.00");
    // The same operation by XML, then by gRPC with the same id from the same cashbox: the
    // gRPC call is the XML one's replay.
    let cancel_xml = doc(
        "Cancels",
        "CancelRequest",
        "OperationID=\"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb1\" PurchaseID=\"nothing-here\"",
        "",
    );
    let (_, body) = post_xml(xml_addr, path, me, cancel_xml.as_bytes()).await;
    let a = answer(&body);
    assert_eq!(
        attr(&a, "ErrorCode"),
        (pb::Outcome::PurchaseUnknown as i32).to_string()
    );
    let mut as_grpc = till.clone();
    as_grpc.id = 9;
    as_grpc.secret = secret.clone();
    let r = as_grpc
        .client
        .clone()
        .cancel(as_grpc.req(pb::PurchaseRequest {
            operation_id: "bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbb1".into(),
            cheque_id: "nothing-here".into(),
            slip_width: 0,
        }))
        .await
        .unwrap()
        .into_inner();
    assert!(r.replayed, "one operation, whichever protocol sent it");
    assert_eq!(r.outcome, pb::Outcome::PurchaseUnknown as i32);
    server.stop().await;
}
