//! The core operations' costs: eval of `1+2`, a two-argument call through a
//! Reference (synchronous, and an async round trip through the worker
//! pool), a fresh isolate's create + context + eval + dispose, and
//! isolated-vm's parallel sum on one isolate and on one per worker.

use criterion::{Criterion, criterion_group, criterion_main};
use futures_executor::block_on;
use ivm::{CompileOptions, Context, EvalOptions, Executor, Isolate, IsolateOptions, Reference, RunOptions, Value};

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

    c.bench_function("async apply round trip", |b| {
        b.iter(|| {
            let result = block_on(add.apply_async((), arguments.to_vec(), RunOptions::new())).expect("apply");
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

/// isolated-vm's example: the sum of 0..2^27, in one isolate and split
/// across one isolate per worker, each slice an async call on the pool.
fn parallel_sum(c: &mut Criterion) {
    const N: f64 = 134_217_728.0;
    const SUM: &str = "function sum(min, max) { let s = 0; for (let i = min; i < max; ++i) s += i; return s; }";
    let workers = Executor::global().workers();
    let sum_in = |_| -> (Context, Reference) {
        let isolate = Isolate::new(IsolateOptions::new()).expect("isolate");
        let context = isolate.create_context().expect("context");
        isolate
            .compile_script(SUM, &CompileOptions::new())
            .expect("compile")
            .run(&context, &RunOptions::new())
            .expect("run");
        let sum = context.global().expect("global").get("sum", &RunOptions::new()).expect("get");
        (context, sum.into_reference().expect("a function"))
    };
    let mut group = c.benchmark_group("runtime");
    group.sample_size(10);
    for isolates in [1, workers] {
        let sums: Vec<_> = (0..isolates).map(sum_in).collect();
        group.bench_function(format!("parallel sum on {isolates} isolates"), |b| {
            b.iter(|| {
                let slice = N / isolates as f64;
                let pending: Vec<_> = sums
                    .iter()
                    .enumerate()
                    .map(|(i, (_, sum))| {
                        let (min, max) = ((slice * i as f64).floor(), (slice * (i + 1) as f64).floor());
                        sum.apply_async((), vec![min.into(), max.into()], RunOptions::new())
                    })
                    .collect();
                let total: f64 = pending
                    .into_iter()
                    .map(|p| block_on(p).expect("sum").as_value().and_then(Value::as_f64).expect("a number"))
                    .sum();
                assert_eq!(total, N * (N - 1.0) / 2.0);
            });
        });
    }
    group.finish();
}

criterion_group!(benches, core, parallel_sum);
criterion_main!(benches);
