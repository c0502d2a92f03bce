//! The core operations' costs: eval of `1+2`, a two-argument call through a
//! Reference (synchronous, and an async round trip through the worker
//! pool), a fresh isolate's create + context + eval + dispose, and
//! isolated-vm's parallel sum on one isolate and on one per worker, and
//! issue 7's startup costs: an isolate booted from a snapshot against a
//! plain one, a checkout from a warm pool, and compiling with and without
//! V8's code cache.

use criterion::{Criterion, criterion_group};
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

/// Startup costs: a plain isolate against one booted from a snapshot of a
/// library, a warm pool's checkout, and compiling a sizeable script with
/// and without its code cache.
fn startup(c: &mut Criterion) {
    use ivm::{IsolatePool, ScriptOrigin, SnapshotOptions, SnapshotScript, SnapshotWorker};
    // A library worth snapshotting, as bundles are: thousands of functions
    // to parse and compile, and some state built at load.
    let functions: String = (1..3000u32)
        .map(|i| {
            format!(
                "function f{i}(x) {{ const parts = [x, {i}, 'f{i}']; let total = 0; \
                 for (const part of parts) total += typeof part === 'number' ? part : part.length; \
                 return total > 0 ? x * {i} + f{}(x) - total + total : f{}(x); }}\n",
                i - 1,
                i - 1
            )
        })
        .collect();
    let library = functions
        + "function f0(x) { return x; }\n"
        + "var table = Array.from({ length: 1000 }, (_, i) => ({ id: i, name: 'item' + i }));";
    let worker = SnapshotWorker::new(std::env::current_exe().expect("the bench's own path")).arg(SNAPSHOT_WORKER);
    let snapshot = ivm::create_snapshot(
        &[SnapshotScript::new(library.clone(), ScriptOrigin::new("library.js"))],
        None,
        &SnapshotOptions::new().worker(worker),
    )
    .expect("snapshot");
    let options = EvalOptions::new();
    let mut group = c.benchmark_group("startup");
    group.bench_function("isolate+context+library from source", |b| {
        b.iter(|| {
            let isolate = Isolate::new(IsolateOptions::new()).expect("isolate");
            let context = isolate.create_context().expect("context");
            context.eval(&library, &options).expect("library");
            assert_eq!(context.eval("f3(1) + table.length", &options).expect("call"), Value::Number(1007.0));
        });
    });
    group.bench_function("isolate+context+library from a snapshot", |b| {
        b.iter(|| {
            let isolate = Isolate::new(IsolateOptions::new().snapshot(snapshot.clone())).expect("isolate");
            let context = isolate.create_context().expect("context");
            assert_eq!(context.eval("f3(1) + table.length", &options).expect("call"), Value::Number(1007.0));
        });
    });
    let pool = IsolatePool::new(IsolateOptions::new().snapshot(snapshot.clone()), 4).expect("pool");
    // The latency of a checkout from a full pool (the pool's refill between
    // checkouts is not timed: it is off the request's path).
    group.bench_function("pool checkout", |b| {
        b.iter_custom(|iterations| {
            let mut total = std::time::Duration::ZERO;
            for _ in 0..iterations {
                while pool.ready() < pool.size() {
                    std::thread::sleep(std::time::Duration::from_micros(200));
                }
                let started = std::time::Instant::now();
                let pooled = pool.checkout().expect("checkout");
                total += started.elapsed();
                std::hint::black_box(pooled.context());
            }
            total
        });
    });
    let isolate = Isolate::new(IsolateOptions::new()).expect("isolate");
    let cache = isolate
        .compile_script(&library, &CompileOptions::new().produce_cached_data(true))
        .expect("compile")
        .cached_data()
        .expect("a code cache")
        .to_vec();
    // Each compile in an isolate of its own, as with the cache below: V8
    // would otherwise answer a second compile of the same source from its
    // in-memory cache. Isolates are made and torn down outside the timing.
    group.bench_function("compile without a code cache", |b| {
        b.iter_batched_ref(
            || Isolate::new(IsolateOptions::new()).expect("isolate"),
            |isolate| isolate.compile_script(&library, &CompileOptions::new()).expect("compile"),
            criterion::BatchSize::PerIteration,
        );
    });
    group.bench_function("compile with a code cache", |b| {
        b.iter_batched_ref(
            || Isolate::new(IsolateOptions::new()).expect("isolate"),
            |isolate| {
                let script = isolate
                    .compile_script(&library, &CompileOptions::new().cached_data(cache.clone()))
                    .expect("compile");
                assert_eq!(script.cached_data_rejected(), Some(false));
                script
            },
            criterion::BatchSize::PerIteration,
        );
    });
    group.finish();
}

/// The argument that makes this bench binary a snapshot worker (what
/// `create_snapshot` starts) instead of running benchmarks.
const SNAPSHOT_WORKER: &str = "--ivm-snapshot-worker";

criterion_group!(benches, core, parallel_sum, startup);

fn main() {
    if std::env::args().any(|arg| arg == SNAPSHOT_WORKER) {
        std::process::exit(ivm::serve_snapshot_worker());
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
