//! Setting up what the flows use (products, offers, cashboxes, cards) through the admin
//! API of the server or the cluster's leader, and keeping it for the next run (`--reuse`).

use super::*;

pub(super) fn admin_req<T>(token: &str, body: T) -> anyhow::Result<tonic::Request<T>> {
    let mut r = tonic::Request::new(body);
    r.metadata_mut().insert(ADMIN_TOKEN_HEADER, token.parse()?);
    Ok(r)
}

/// The server that takes admin calls: the one, or the leader among replicas.
pub(super) async fn leader(servers: &[http::Uri], token: &str) -> anyhow::Result<usize> {
    for _ in 0..600 {
        for (i, s) in servers.iter().enumerate() {
            let Ok(mut admin) = AdminServiceClient::connect(s.clone()).await else {
                continue;
            };
            if admin
                .status(admin_req(token, pb::StatusRequest {})?)
                .await
                .is_ok()
            {
                return Ok(i);
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!("--server: none of {servers:?} takes admin calls")
}

/// A set-up cashbox: its id and secret.
pub(super) type Cashbox = (u32, String);

/// A setup kept by `--reuse`: the run's number (it names the cards) and the tills, if the
/// file is there; refused when it was made for other counts.
pub(super) fn read_setup(
    file: &std::path::Path,
    args: &Args,
) -> anyhow::Result<Option<(u64, Vec<Cashbox>)>> {
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).context(file.display().to_string()),
    };
    let mut lines = text.lines();
    let head: Vec<u64> = lines
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .map(|w| {
            w.parse()
                .context("--reuse: the first line is `run tills cards`")
        })
        .collect::<anyhow::Result<_>>()?;
    let [run, tills, cards] = head[..] else {
        bail!(
            "--reuse {}: the first line is `run tills cards`",
            file.display()
        );
    };
    if tills != u64::from(args.tills) || cards != args.cards {
        bail!(
            "--reuse {}: set up for {tills} tills and {cards} cards, not {} and {}",
            file.display(),
            args.tills,
            args.cards
        );
    }
    let kept = lines
        .map(|l| {
            let (id, secret) = l
                .split_once(' ')
                .context("--reuse: `cashbox secret` lines")?;
            Ok((id.parse()?, secret.to_owned()))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(Some((run, kept)))
}

pub(super) fn write_setup(
    file: &std::path::Path,
    args: &Args,
    run: u64,
    tills: &[(u32, String)],
) -> anyhow::Result<()> {
    let mut text = format!("{run} {} {}\n", args.tills, args.cards);
    for (id, secret) in tills {
        text.push_str(&format!("{id} {secret}\n"));
    }
    std::fs::write(file, text).with_context(|| file.display().to_string())
}

/// Prints how far a long setup step is, every tenth of it.
pub(super) fn progress(what: &str, done: u64, all: u64) {
    if all >= 1_000 && done.is_multiple_of(all / 10) {
        eprintln!("  {what}: {done} of {all}");
    }
}

pub(super) async fn setup(
    args: &Args,
    server: &http::Uri,
    token: &str,
    run: u64,
) -> anyhow::Result<Vec<(u32, String)>> {
    let mut admin = AdminServiceClient::connect(server.clone())
        .await
        .with_context(|| server.to_string())?;
    let products = (0..50)
        .map(|i| pb::Product {
            code: format!("p{i}"),
            name: format!("product {i}"),
            group: format!("g{}", i % 5),
            barcodes: vec![],
            min_price: "1".into(),
            promotional: false,
        })
        .collect();
    admin
        .import_products(admin_req(
            token,
            pb::ImportProductsRequest {
                operation_id: op(),
                products,
            },
        )?)
        .await?;
    for (id, effect, pct, group) in [
        (9001, pb::OfferEffect::Accrual, "5", ""),
        (9002, pb::OfferEffect::Discount, "10", "g1"),
    ] {
        let offer = pb::Offer {
            id,
            name: "load".into(),
            effect: effect.into(),
            percent: pct.into(),
            group: group.into(),
            valid_from: "2020-01-01T00:00:00".into(),
            valid_to: "2030-01-01T00:00:00".into(),
            enabled: true,
            ..Default::default()
        };
        admin
            .upsert_offer(admin_req(
                token,
                pb::UpsertOfferRequest {
                    operation_id: op(),
                    offer: Some(offer),
                },
            )?)
            .await?;
    }
    let base = (run % 1000) as u32 * 100_000 + 1_000_000;
    let mut tills = Vec::new();
    for i in 0..args.tills {
        let r = admin
            .register_cashbox(admin_req(
                token,
                pb::RegisterCashboxRequest {
                    operation_id: op(),
                    cashbox_id: base + i,
                    store_id: 1 + i / args.tills_per_store.max(1),
                    kind: pb::CashboxKind::Pos.into(),
                    public_key: String::new(),
                    loymax_login: xml_login(run, base + i),
                },
            )?)
            .await?
            .into_inner();
        if r.outcome != pb::Outcome::Ok as i32 {
            bail!("register cashbox: {}", r.message);
        }
        tills.push((base + i, r.cashbox_secret));
        progress("cashboxes", u64::from(i) + 1, u64::from(args.tills));
    }
    let ctx = Ctx {
        kind: FlowKind::Full,
        tills: vec![],
        tills_per_store: 1,
        streams: None,
        route: None,
        run,
        cards: args.cards,
        latencies: Mutex::new(Latencies::new(Instant::now())),
    };
    for n in 0..args.cards {
        admin
            .issue_card(admin_req(
                token,
                pb::IssueCardRequest {
                    operation_id: op(),
                    card: ctx.card(n),
                    card_type: "Load".into(),
                    status: pb::CardStatus::Activated.into(),
                    account: 0,
                    holder_name: String::new(),
                    holder_phone: String::new(),
                },
            )?)
            .await?;
        progress("cards", n + 1, args.cards);
    }
    Ok(tills)
}
