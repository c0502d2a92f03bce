//! The cost of copies: an ExternalCopy of a 64 MiB ArrayBuffer against the
//! machine's memcpy of the same size (measured in the same run), and a
//! 10,000-object array copied out of an isolate and into another.

use criterion::{Criterion, criterion_group, criterion_main};
use ivm::{EvalOptions, ExternalCopy, ExternalCopyOptions, Isolate, IsolateOptions, TransferMode, Value};

const BUFFER_BYTES: usize = 64 << 20;

fn marshal(c: &mut Criterion) {
    ivm::initialize();
    let mut group = c.benchmark_group("marshal");
    group.sample_size(20);

    let source = vec![7u8; BUFFER_BYTES];
    let mut destination = vec![0u8; BUFFER_BYTES];
    group.bench_function("memcpy 64MiB", |b| {
        b.iter(|| {
            destination.copy_from_slice(std::hint::black_box(&source));
            std::hint::black_box(&destination);
        });
    });

    let isolate = Isolate::new(IsolateOptions::new().memory_limit(512)).expect("isolate");
    let context = isolate.create_context().expect("context");
    let buffer = context
        .eval("new Uint8Array(64 << 20).fill(7).buffer", &EvalOptions::new())
        .expect("buffer")
        .into_reference()
        .expect("reference");
    group.bench_function("ExternalCopy 64MiB ArrayBuffer", |b| {
        b.iter(|| {
            let copy = ExternalCopy::from_reference(&buffer, &ExternalCopyOptions::new()).expect("copy");
            assert_eq!(copy.size() >> 20, 64);
        });
    });

    let objects = context
        .eval(
            "Array.from({ length: 10000 }, (_, i) => ({ id: i, name: 'item ' + i, tags: ['a', 'b', String(i)], v: i * 1.5 }))",
            &EvalOptions::new(),
        )
        .expect("objects")
        .into_reference()
        .expect("reference");
    let other = Isolate::new(IsolateOptions::new().memory_limit(512)).expect("isolate");
    let other_context = other.create_context().expect("context");
    group.bench_function("copy 10k objects out", |b| {
        b.iter(|| objects.copy().expect("copy out"));
    });
    let copied = objects.copy().expect("copy out");
    group.bench_function("copy 10k objects in", |b| {
        b.iter(|| {
            let length = other_context
                .eval_closure("return $0.length", &[copied.clone().into()], &EvalOptions::new())
                .expect("copy in");
            assert_eq!(length, Value::Number(10000.0));
        });
    });
    group.bench_function("copy 10k objects out and in", |b| {
        b.iter(|| {
            let copy = objects.copy().expect("copy out");
            let length = other_context
                .eval_closure("return $0.length", &[copy.into()], &EvalOptions::new().result(TransferMode::Copy))
                .expect("copy in");
            assert_eq!(length, Value::Number(10000.0));
        });
    });
    group.finish();
}

criterion_group!(benches, marshal);
criterion_main!(benches);
