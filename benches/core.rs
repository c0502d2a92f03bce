//! The core operations' costs: eval of `1+2`, a two-argument call through a
//! Reference, and a fresh isolate's create + context + eval + dispose.

use criterion::{Criterion, criterion_group, criterion_main};
use ivm::{EvalOptions, Isolate, IsolateOptions, RunOptions, Value};

fn core(c: &mut Criterion) {
    ivm::initialize();
    let isolate = Isolate::new(IsolateOptions::new()).expect("isolate");
    let context = isolate.create_context().expect("context");
    let options = EvalOptions::new();
    c.bench_function("eval 1+2", |b| {
        b.iter(|| {
            let result = context.eval("1+2", &options).expect("eval");
            assert_eq!(result, Value::Number(3.0));
        });
    });

    let add = context
        .eval("(function add(a, b) { return a + b; })", &options)
        .expect("eval")
        .into_reference()
        .expect("a function comes back as a reference");
    let run = RunOptions::new();
    let arguments = [1.into(), 2.into()];
    c.bench_function("reference apply(a, b)", |b| {
        b.iter(|| {
            let result = add.apply((), &arguments, &run).expect("apply");
            assert_eq!(result, Value::Number(3.0));
        });
    });

    c.bench_function("isolate create+context+eval+dispose", |b| {
        b.iter(|| {
            let isolate = Isolate::new(IsolateOptions::new()).expect("isolate");
            let context = isolate.create_context().expect("context");
            let result = context.eval("1+2", &options).expect("eval");
            assert_eq!(result, Value::Number(3.0));
            isolate.dispose().expect("dispose");
        });
    });
}

criterion_group!(benches, core);
criterion_main!(benches);
