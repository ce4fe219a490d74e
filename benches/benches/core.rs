//! The pure core: decide + apply per command against in-memory state.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use loyalty_benches::{cheque, purchase, setup};
use loyalty_core::decide::calculate;
use loyalty_core::execute;
use loyalty_core::ids::CashboxId;
use loyalty_core::model::{Program, UnixMillis};
use loyalty_core::state::MemState;

fn world(program: &Program) -> MemState {
    let mut state = MemState::default();
    for req in setup(4) {
        assert!(execute(&mut state, program, &req, UnixMillis(0))
            .reply
            .is_ok());
    }
    // Give every card enough points (about 150) that every hold of one point succeeds.
    for n in 0..loyalty_benches::CARDS {
        for req in purchase(1_000_000 + n, 1, 50) {
            assert!(execute(&mut state, program, &req, UnixMillis(0))
                .reply
                .is_ok());
        }
    }
    state
}

fn bench(c: &mut Criterion) {
    let program = Program::default();
    let base = world(&program);
    let mut g = c.benchmark_group("core");
    g.throughput(Throughput::Elements(1));
    for lines in [1usize, 10, 50] {
        let ch = cheque("calc", 7, lines);
        g.bench_function(format!("calculate_{lines}_lines"), |b| {
            b.iter(|| {
                calculate(
                    &base,
                    &program,
                    CashboxId(1),
                    &ch,
                    UnixMillis(1_800_000_000_000),
                )
            })
        });
    }
    // A campaign of 100 offers on a 50-line cheque.
    let mut campaign = base.clone();
    for (i, command) in loyalty_benches::campaign(100).into_iter().enumerate() {
        let req = loyalty_core::command::Request {
            op: loyalty_core::ids::OpId(900_000 + i as u128),
            actor: loyalty_core::command::Actor::Admin(
                loyalty_core::ids::OperatorName::new("ops").expect("operator name"),
            ),
            command,
        };
        let r = execute(&mut campaign, &program, &req, UnixMillis(0)).reply;
        assert!(r.is_ok(), "{}", r.message);
    }
    let ch = cheque("calc", 7, 50);
    let r = calculate(&campaign, &program, CashboxId(1), &ch, UnixMillis(0));
    assert!(r.is_ok() && !r.messages.is_empty(), "{}", r.message);
    // The campaign's "N + M" offers and bundles take part (ids 1000 + i).
    let applied = |every: u32, kind: u32| {
        r.lines
            .iter()
            .flat_map(|l| &l.offers)
            .any(|o| o.0 >= 1000 && (o.0 - 1000) % every == kind)
    };
    assert!(applied(10, 4), "no N + M offer applied");
    assert!(applied(20, 9), "no bundle applied");
    g.bench_function("calculate_50_lines_100_offers", |b| {
        b.iter(|| calculate(&campaign, &program, CashboxId(1), &ch, UnixMillis(0)))
    });
    let mut n = 0u64;
    let mut state = base.clone();
    g.bench_function("register_and_confirm_5_lines", |b| {
        b.iter(|| {
            n += 1;
            for req in purchase(n, 2, 5) {
                assert!(execute(&mut state, &program, &req, UnixMillis(0))
                    .reply
                    .is_ok());
            }
        })
    });
    g.bench_function("pay_with_bonus_then_cancel_5_lines", |b| {
        b.iter(|| {
            n += 1;
            let hold = loyalty_benches::hold(n, 3, 5);
            let held = execute(&mut state, &program, &hold, UnixMillis(0));
            assert!(held.reply.is_ok(), "{}", held.reply.message);
            execute(
                &mut state,
                &program,
                &loyalty_benches::cancel(&hold),
                UnixMillis(0),
            )
        })
    });
    let replay = purchase(1_000_000, 1, 50);
    g.bench_function("idempotent_replay", |b| {
        b.iter(|| execute(&mut state, &program, &replay[0], UnixMillis(0)))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
