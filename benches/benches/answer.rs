//! The server's side of an answer: a registration's and a confirmation's replies (3-line
//! cheque, a card) converted to the wire message and encoded, as every till call and every
//! stream operation is answered.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use loyalty_benches::{purchase, setup};
use loyalty_core::execute;
use loyalty_core::model::{Program, UnixMillis};
use loyalty_core::state::MemState;
use prost::Message;

fn bench(c: &mut Criterion) {
    let program = Program::default();
    let mut state = MemState::default();
    for req in setup(4) {
        assert!(execute(&mut state, &program, &req, UnixMillis(0))
            .reply
            .is_ok());
    }
    let [register, confirm] = purchase(1, 1, 3);
    let registered = execute(&mut state, &program, &register, UnixMillis(0)).reply;
    let confirmed = execute(&mut state, &program, &confirm, UnixMillis(0)).reply;
    assert!(registered.is_ok() && confirmed.is_ok());
    let mut g = c.benchmark_group("answer");
    g.throughput(Throughput::Elements(1));
    for (name, reply) in [("register", registered), ("confirm", confirmed)] {
        g.bench_function(format!("{name}_3_lines"), |b| {
            b.iter(|| loyalty_api::convert::reply(reply.clone(), false).encode_to_vec())
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
