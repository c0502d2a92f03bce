//! The cost of copies: an ExternalCopy of a 64 MiB ArrayBuffer against the
//! machine's memcpy of the same size (measured in the same run), a
//! 10,000-object array copied out of an isolate and into another (and to and
//! from the host's value model), and the same array through ivm's wire
//! format against V8's own ValueSerializer (the measurement behind the
//! choice of formats, see docs/ARCHITECTURE.md).

use criterion::{Criterion, criterion_group, criterion_main};
use ivm::{CopyOptions, EvalOptions, ExternalCopy, ExternalCopyOptions, Isolate, IsolateOptions, RunOptions, Value};

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
    // What isolated-vm's `new ExternalCopy(objects).copy()` does: out of
    // one isolate, into another (V8's format all the way).
    let length = other_context
        .eval("(v) => v.length", &EvalOptions::new())
        .expect("function")
        .into_reference()
        .expect("reference");
    group.bench_function("copy 10k objects out and in", |b| {
        b.iter(|| {
            let copy = ExternalCopy::from_reference(&objects, &ExternalCopyOptions::new()).expect("copy out");
            let n = length
                .apply((), &[copy.copy_into(&CopyOptions::new().release(true)).unwrap()], &RunOptions::new())
                .expect("copy in");
            assert_eq!(n, Value::Number(10000.0));
        });
    });
    // The host's side: the same array to the value model and back.
    group.bench_function("10k objects to the value model", |b| {
        b.iter(|| objects.copy().expect("copy out"));
    });
    let copied = objects.copy().expect("copy out");
    group.bench_function("10k objects from the value model", |b| {
        b.iter(|| {
            let n = length.apply((), &[copied.clone().into()], &RunOptions::new()).expect("copy in");
            assert_eq!(n, Value::Number(10000.0));
        });
    });
    wire_against_value_serializer(&mut group, &context, &other_context);
    group.finish();
}

/// The 10,000-object array to bytes in one isolate and back to a value in
/// another: through ivm's value model and wire format, and through V8's
/// ValueSerializer. Both run inside already entered contexts, so the
/// figures are the formats' costs alone.
fn wire_against_value_serializer(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    source: &ivm::Context,
    destination: &ivm::Context,
) {
    use ivm_marshal::wire;

    source
        .eval(
            "globalThis.objects = Array.from({ length: 10000 }, (_, i) => ({ id: i, name: 'item ' + i, tags: ['a', 'b', String(i)], v: i * 1.5 }))",
            &EvalOptions::new(),
        )
        .expect("objects");
    let encode_ours = || {
        source
            .enter(|scope| {
                let value = global_property(scope, "objects");
                wire::encode(&ivm_marshal::from_v8(scope, value, Default::default()).expect("from_v8"))
            })
            .expect("enter")
    };
    let encode_v8 = || {
        source
            .enter(|scope| {
                let value = global_property(scope, "objects");
                let serializer = v8::ValueSerializer::new(scope, Box::new(Delegate));
                v8::ValueSerializerHelper::write_header(&serializer);
                let context = scope.get_current_context();
                assert_eq!(serializer.write_value(context, value), Some(true));
                serializer.release()
            })
            .expect("enter")
    };
    let ours = encode_ours();
    let theirs = encode_v8();
    println!("wire format: 10k objects take {} bytes in ivm's format, {} in V8's", ours.bytes.len(), theirs.len());

    group.bench_function("wire encode 10k objects", |b| b.iter(encode_ours));
    group.bench_function("ValueSerializer encode 10k objects", |b| b.iter(encode_v8));
    group.bench_function("wire decode 10k objects", |b| {
        b.iter(|| {
            destination
                .enter(|scope| {
                    let graph = wire::decode(&ours).expect("decode");
                    ivm_marshal::to_v8(scope, &graph).expect("to_v8").is_array()
                })
                .expect("enter")
        });
    });
    group.bench_function("ValueSerializer decode 10k objects", |b| {
        b.iter(|| {
            destination
                .enter(|scope| {
                    let deserializer = v8::ValueDeserializer::new(scope, Box::new(Delegate), &theirs);
                    let context = scope.get_current_context();
                    assert_eq!(v8::ValueDeserializerHelper::read_header(&deserializer, context), Some(true));
                    deserializer.read_value(context).expect("read_value").is_array()
                })
                .expect("enter")
        });
    });
}

fn global_property<'s>(scope: &mut v8::PinScope<'s, '_>, name: &str) -> v8::Local<'s, v8::Value> {
    let global = scope.get_current_context().global(scope);
    let key = v8::String::new(scope, name).expect("key");
    global.get(scope, key.into()).expect("property")
}

/// V8's serializer and deserializer need a delegate; plain data needs
/// nothing from it.
struct Delegate;

impl v8::ValueSerializerImpl for Delegate {
    fn throw_data_clone_error<'s>(&self, scope: &mut v8::PinScope<'s, '_>, message: v8::Local<'s, v8::String>) {
        let error = v8::Exception::error(scope, message);
        scope.throw_exception(error);
    }
}

impl v8::ValueDeserializerImpl for Delegate {}

criterion_group!(benches, marshal);
criterion_main!(benches);
