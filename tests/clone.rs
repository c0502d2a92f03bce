//! Structured clone across isolates: every kind of value, identity and
//! cycles, uncloneable values, ExternalCopy, transfer lists and
//! SharedArrayBuffers.

use std::time::{Duration, Instant};

use ivm::{
    CopyOptions, Error, EvalOptions, ExternalCopy, ExternalCopyOptions, MarshalError, Object, Reference, RunOptions,
    Structured, TransferMode, Value,
};
use ivm_tests::{eval, isolate_and_context};
use proptest::prelude::*;

#[path = "../crates/ivm-marshal/tests/support/mod.rs"]
mod support;

/// A value with one of everything structured clone supports, shared
/// references and a cycle included. NaN is left out so that copies compare
/// equal with `==`; it has its own test.
const EVERYTHING: &str = r#"
(() => {
  const shared = { shared: true };
  const buffer = new ArrayBuffer(16);
  new Uint8Array(buffer).set([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]);
  const holey = [1, , 3];
  holey.extra = 'kept';
  const sparse = [];
  sparse[1000000] = 'far';
  const error = new RangeError('out of range', { cause: shared });
  const v = {
    undef: undefined, nul: null, yes: true, no: false, int: 42, neg0: -0, inf: -Infinity, big: -(2n ** 100n),
    ascii: 'plain', wide: 'snow ☃ and 𝄞', lone: 'a\uD800b',
    date: new Date(1700000000000), re: /a+b/gimsuy,
    bool: new Boolean(false), num: new Number(3.5), str: new String('boxed'), bigobj: Object(7n),
    holey, sparse,
    map: new Map([[shared, 'value'], ['key', shared]]), set: new Set([1, 'two', shared]),
    buffer,
    u8: new Uint8Array(buffer, 4, 8), i16: new Int16Array(buffer, 2, 3), f64: new Float64Array(buffer, 8, 1),
    u8c: new Uint8ClampedArray(buffer), i8: new Int8Array(buffer), u16: new Uint16Array(buffer),
    i32: new Int32Array(buffer), u32: new Uint32Array(buffer), f32: new Float32Array(buffer),
    b64: new BigInt64Array(buffer), bu64: new BigUint64Array(buffer), dv: new DataView(buffer, 1, 5),
    error, type: new TypeError('t'), plainError: new Error('e'),
    a: shared, b: shared,
  };
  v.self = v;
  return v;
})()
"#;

/// Checks, inside the isolate that received it, that `$0` is EVERYTHING.
const CHECK_EVERYTHING: &str = r#"
const v = $0;
const fails = [];
const check = (ok, what) => { if (!ok) fails.push(what); };
check(v.self === v, 'cycle');
check(v.a === v.b && v.a.shared === true, 'shared reference');
check(v.undef === undefined && 'undef' in v && v.nul === null && v.yes === true && v.no === false, 'primitives');
check(v.int === 42 && Object.is(v.neg0, -0) && v.inf === -Infinity && v.big === -(2n ** 100n), 'numbers');
check(v.ascii === 'plain' && v.wide === 'snow ☃ and 𝄞', 'strings');
check(v.lone.length === 3 && v.lone.charCodeAt(1) === 0xD800, 'lone surrogate');
check(v.date instanceof Date && v.date.getTime() === 1700000000000, 'date');
check(v.re instanceof RegExp && v.re.source === 'a+b' && v.re.flags === 'gimsuy', 'regexp');
check(v.bool instanceof Boolean && v.bool.valueOf() === false, 'Boolean object');
check(v.num instanceof Number && v.num.valueOf() === 3.5, 'Number object');
check(v.str instanceof String && v.str.valueOf() === 'boxed', 'String object');
check(typeof v.bigobj === 'object' && v.bigobj.valueOf() === 7n, 'BigInt object');
check(Array.isArray(v.holey) && v.holey.length === 3 && !(1 in v.holey) && v.holey[2] === 3 && v.holey.extra === 'kept', 'holey array');
check(v.sparse.length === 1000001 && v.sparse[1000000] === 'far' && Object.keys(v.sparse).length === 1, 'sparse array');
check(v.map instanceof Map && v.map.get(v.a) === 'value' && v.map.get('key') === v.a, 'map');
check(v.set instanceof Set && v.set.has(1) && v.set.has('two') && v.set.has(v.a) && v.set.size === 3, 'set');
check(v.buffer instanceof ArrayBuffer && v.buffer.byteLength === 16 && new Uint8Array(v.buffer)[15] === 16, 'buffer');
check(v.u8 instanceof Uint8Array && v.u8.buffer === v.buffer && v.u8.byteOffset === 4 && v.u8.length === 8 && v.u8[0] === 5, 'u8 view');
check(v.i16 instanceof Int16Array && v.i16.buffer === v.buffer && v.i16.byteOffset === 2 && v.i16.length === 3, 'i16 view');
check(v.f64 instanceof Float64Array && v.f64.byteOffset === 8, 'f64 view');
for (const [key, type] of [['u8c', Uint8ClampedArray], ['i8', Int8Array], ['u16', Uint16Array], ['i32', Int32Array],
    ['u32', Uint32Array], ['f32', Float32Array], ['b64', BigInt64Array], ['bu64', BigUint64Array]]) {
  check(v[key] instanceof type && v[key].buffer === v.buffer && v[key].byteLength === 16, key);
}
check(v.dv instanceof DataView && v.dv.buffer === v.buffer && v.dv.byteOffset === 1 && v.dv.byteLength === 5, 'data view');
new Uint8Array(v.buffer)[4] = 99;
check(v.u8[0] === 99, 'views share their buffer');
check(v.error instanceof RangeError && v.error.message === 'out of range' && v.error.cause === v.a, 'error with cause');
check(typeof v.error.stack === 'string' && v.error.stack.includes('out of range'), 'error stack');
check(v.type instanceof TypeError && v.plainError instanceof Error && v.plainError.message === 'e', 'error kinds');
fails.join(', ')
"#;

fn reference(t: ivm::Transferable) -> Reference {
    t.into_reference().expect("a reference")
}

#[test]
fn every_kind_of_value_crosses_between_isolates() {
    let (_a, source) = isolate_and_context();
    let (_b, destination) = isolate_and_context();
    let original = reference(eval(&source, EVERYTHING));
    let copy = original.copy().unwrap();

    // isolate -> isolate (by copy)
    let fails = destination
        .eval_closure(
            CHECK_EVERYTHING.replace("fails.join", "return fails.join").as_str(),
            &[copy.clone().into()],
            &EvalOptions::new(),
        )
        .unwrap();
    assert_eq!(fails, Value::from(""), "{fails}");

    // isolate -> ExternalCopy -> isolate
    let external = ExternalCopy::from_reference(&original, &ExternalCopyOptions::new()).unwrap();
    let fails = destination
        .eval_closure(
            CHECK_EVERYTHING.replace("fails.join", "return fails.join").as_str(),
            &[external.clone().into()],
            &EvalOptions::new(),
        )
        .unwrap();
    assert_eq!(fails, Value::from(""), "{fails}");
    assert_eq!(external.copy(&CopyOptions::new()).unwrap(), copy, "the external copy holds the same graph");

    // and back out: the copy of the copy is the same graph.
    let arrived = destination
        .eval_closure("return $0", &[copy.clone().into()], &EvalOptions::new().result(TransferMode::Copy))
        .unwrap();
    assert_eq!(arrived.into_copy().unwrap(), copy);
}

#[test]
fn float16_arrays_and_views_over_shared_memory_cross() {
    let (_a, source) = isolate_and_context();
    let (_b, destination) = isolate_and_context();
    let value = reference(eval(
        &source,
        "({ half: new Float16Array([1.5, -2]), shared: new Int32Array(new SharedArrayBuffer(16), 4, 2) })",
    ));
    let copy = value.copy().unwrap();
    let check = destination
        .eval_closure(
            "const v = $0; return v.half instanceof Float16Array && v.half[0] === 1.5 && v.half[1] === -2 \
             && v.shared instanceof Int32Array && v.shared.buffer instanceof SharedArrayBuffer \
             && v.shared.byteOffset === 4 && v.shared.length === 2",
            &[copy.into()],
            &EvalOptions::new(),
        )
        .unwrap();
    assert_eq!(check, Value::Bool(true));
}

#[test]
fn numbers_keep_nan_and_negative_zero() {
    let (_a, context) = isolate_and_context();
    let copy =
        context.eval("[NaN, -0, 0]", &EvalOptions::new().result(TransferMode::Copy)).unwrap().into_copy().unwrap();
    let Object::Array { elements, .. } = &copy.objects()[0] else { panic!("{copy:?}") };
    assert!(elements[0].1.as_f64().unwrap().is_nan());
    assert!(elements[1].1.as_f64().unwrap().is_sign_negative());
    assert!(elements[2].1.as_f64().unwrap().is_sign_positive());
}

#[test]
fn uncloneable_values_are_data_clone_errors_with_a_path() {
    let (_isolate, context) = isolate_and_context();
    let cases = [
        ("({ handlers: [1, 2, () => {}] })", "function", "value.handlers[2]"),
        ("({ s: Symbol('x') })", "Symbol", "value.s"),
        ("({ deep: { weak: new WeakMap() } })", "weak collection", "value.deep.weak"),
        ("({ p: new Proxy({}, {}) })", "Proxy", "value.p"),
        ("({ promise: Promise.resolve(1) })", "Promise", "value.promise"),
        ("new Map([['k', function f() {}]])", "function", "value.<map value 0>"),
        ("new Set([Symbol.iterator])", "Symbol", "value.<set value 0>"),
        ("({ 'odd key': { ws: new WeakSet() } })", "weak collection", "value[\"odd key\"].ws"),
        ("new Error('e', { cause: () => 1 })", "function", "value.cause"),
        // Objects the public API cannot tell from plain ones, which V8's
        // serializer refuses and the walk then locates.
        ("[new WeakRef({})]", "#<WeakRef>", "value[0]"),
        ("({ f: new FinalizationRegistry(() => {}) })", "#<FinalizationRegistry>", "value.f"),
        ("({ c: [new Intl.Collator()] })", "#<Collator>", "value.c[0]"),
        ("({ it: [].values() })", "[object Array Iterator]", "value.it"),
        ("[1, 'abc'[Symbol.iterator]()]", "[object String Iterator]", "value[1]"),
    ];
    for (code, what, path) in cases {
        for mode in [TransferMode::Copy, TransferMode::ExternalCopy] {
            let result = context.eval(code, &EvalOptions::new().result(mode));
            match result {
                Err(Error::Marshal(MarshalError::DataClone { what: w, path: p, .. })) => {
                    assert!(w.contains(what), "{code}: {w}");
                    assert_eq!(p, path, "{code}");
                }
                other => panic!("{code} ({mode:?}): expected a DataCloneError, got {other:?}"),
            }
        }
    }
    // V8's own description of the refused value, as its DataCloneError
    // words it (for front-ends that repeat that message).
    let described = [
        ("({ a: [function f(x) { return x }] })", "function f(x) { return x }"),
        ("({ p: Promise.resolve() })", "#<Promise>"),
        ("[Symbol('s')]", "Symbol(s)"),
        ("({ w: new WeakMap() })", "#<WeakMap>"),
        ("({ p: new Proxy({}, {}) })", "#<Object>"),
    ];
    for (code, expected) in described {
        match context.eval(code, &EvalOptions::new().result(TransferMode::Copy)) {
            Err(Error::Marshal(MarshalError::DataClone { described, .. })) => assert_eq!(described, expected, "{code}"),
            other => panic!("{code}: expected a DataCloneError, got {other:?}"),
        }
    }
    // An arguments object is refused too, though without a precise path.
    let arguments =
        context.eval("(function () { return arguments; })(1)", &EvalOptions::new().result(TransferMode::Copy));
    assert!(matches!(arguments, Err(Error::Marshal(MarshalError::DataClone { .. }))), "{arguments:?}");
    // The isolate is untouched by the failures.
    assert_eq!(eval(&context, "1 + 1"), Value::Number(2.0));
}

#[test]
fn a_throwing_getter_fails_the_copy_with_its_error() {
    let (_isolate, context) = isolate_and_context();
    let result = context
        .eval("({ get bad() { throw new TypeError('no peeking'); } })", &EvalOptions::new().result(TransferMode::Copy));
    match result {
        Err(Error::Js(error)) => assert_eq!((error.name.as_str(), error.message.as_str()), ("TypeError", "no peeking")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn deep_nesting_does_not_overflow_the_host_stack() {
    let (_a, source) = isolate_and_context();
    let (_b, destination) = isolate_and_context();
    let deep = reference(eval(&source, "let v = null; for (let i = 0; i < 200000; i++) v = [v]; v"));
    let copy = deep.copy().unwrap();
    assert_eq!(copy.objects().len(), 200000);
    let depth = destination
        .eval_closure("let d = 0; for (let v = $0; v; v = v[0]) d++; return d", &[copy.into()], &EvalOptions::new())
        .unwrap();
    assert_eq!(depth, Value::Number(200000.0));
}

#[test]
fn hostile_graphs_from_the_host_are_rejected() {
    let dangling = Structured::new(Value::Object(ivm::ObjectId(3)), vec![]);
    assert!(matches!(dangling, Err(MarshalError::Invalid(_))));
}

#[test]
fn transfer_moves_a_buffer_in_constant_time_and_detaches_the_source() {
    let (_a, source) = isolate_and_context();
    let (_b, destination) = isolate_and_context();
    let mut timings = Vec::new();
    for size in [64 << 10, 64 << 20] {
        let buffer = reference(eval(
            &source,
            &format!("globalThis.buf = new ArrayBuffer({size}); new Uint8Array(buf)[{size} - 1] = 7; buf"),
        ));
        let start = Instant::now();
        let external =
            ExternalCopy::from_reference(&buffer, &ExternalCopyOptions::new().transfer(buffer.clone())).unwrap();
        let moved = external.copy_into(&CopyOptions::new().transfer_in(true)).unwrap();
        destination.global().unwrap().set("moved", moved, &RunOptions::new()).unwrap();
        timings.push(start.elapsed());
        assert_eq!(eval(&source, "buf.byteLength"), Value::Number(0.0), "the source is detached");
        let last = eval(&destination, &format!("new Uint8Array(moved)[{size} - 1]"));
        assert_eq!(last, Value::Number(7.0));
        assert!(external.is_released());
    }
    // Moving 1000 times the data may not take 1000 times as long: allow a
    // generous factor for noise, far below what copying 64 MiB costs.
    assert!(
        timings[1] < timings[0] * 20 + Duration::from_millis(5),
        "64 KiB: {:?}, 64 MiB: {:?}",
        timings[0],
        timings[1]
    );
}

#[test]
fn bad_transfer_lists_are_errors() {
    let (_isolate, context) = isolate_and_context();
    let buffer = reference(eval(&context, "globalThis.b = new ArrayBuffer(8); b"));
    let twice = ExternalCopy::from_reference(
        &buffer,
        &ExternalCopyOptions::new().transfer(buffer.clone()).transfer(buffer.clone()),
    );
    assert!(matches!(twice, Err(Error::Marshal(MarshalError::Transfer(_)))), "{twice:?}");
    let not_a_buffer = reference(eval(&context, "({})"));
    let wrong = ExternalCopy::from_reference(&buffer, &ExternalCopyOptions::new().transfer(not_a_buffer));
    assert!(matches!(wrong, Err(Error::Marshal(MarshalError::Transfer(_)))), "{wrong:?}");
    assert_eq!(eval(&context, "b.byteLength"), Value::Number(8.0), "a failed transfer detaches nothing");
    ExternalCopy::from_reference(&buffer, &ExternalCopyOptions::new().transfer(buffer.clone())).unwrap();
    let detached = ExternalCopy::from_reference(&buffer, &ExternalCopyOptions::new().transfer(buffer.clone()));
    assert!(matches!(detached, Err(Error::Marshal(MarshalError::Transfer(_)))), "{detached:?}");
}

#[test]
fn shared_array_buffers_share_memory_across_threads_and_outlive_their_creator() {
    let (creator, source) = isolate_and_context();
    let shared = source
        .eval(
            "globalThis.sab = new SharedArrayBuffer(8); new Int32Array(sab)[0] = 1; sab",
            &EvalOptions::new().result(TransferMode::Copy),
        )
        .unwrap()
        .into_copy()
        .unwrap();
    let (_other, destination) = isolate_and_context();
    let in_destination = destination
        .eval_closure("globalThis.view = new Int32Array($0); return $0", &[shared.clone().into()], &EvalOptions::new())
        .unwrap();
    assert_eq!(reference(in_destination).type_of().unwrap(), "object");

    // One isolate waits on another thread; the other notifies through the
    // shared memory with Atomics.
    let waiter = {
        let destination = destination.clone();
        std::thread::spawn(move || {
            destination.eval("Atomics.wait(view, 1, 0, 5000); Atomics.load(view, 1)", &EvalOptions::new()).unwrap()
        })
    };
    std::thread::sleep(Duration::from_millis(50));
    eval(&source, "const v = new Int32Array(sab); Atomics.store(v, 1, 42); Atomics.notify(v, 1)");
    assert_eq!(waiter.join().unwrap(), Value::Number(42.0));

    creator.dispose().unwrap();
    assert_eq!(eval(&destination, "view[0] + view[1]"), Value::Number(43.0), "memory outlives its creator");
    assert_eq!(eval(&destination, "Atomics.add(view, 0, 1); view[0]"), Value::Number(2.0));
}

#[test]
fn external_copies_are_counted_and_released() {
    let (_isolate, context) = isolate_and_context();
    let before = ivm::total_external_size();
    let big = reference(eval(&context, "new ArrayBuffer(1 << 20)"));
    let copy = ExternalCopy::from_reference(&big, &ExternalCopyOptions::new()).unwrap();
    assert!(copy.size() >= 1 << 20);
    assert!(ivm::total_external_size() >= before + (1 << 20));
    let clone = copy.clone();
    copy.release();
    assert!(clone.is_released(), "clones share the copy");
    assert!(matches!(clone.copy(&CopyOptions::new()), Err(Error::Released("Copy has been released"))));
    let passed = clone.copy_into(&CopyOptions::new());
    assert!(matches!(passed, Err(Error::Released("Copy has been released"))), "{passed:?}");

    let host_made = ExternalCopy::new(Structured::from(Value::from("from the host")));
    let inside = context
        .eval_closure(
            "return $0 + '!'",
            &[host_made.copy_into(&CopyOptions::new().release(true)).unwrap()],
            &EvalOptions::new(),
        )
        .unwrap();
    assert_eq!(inside, Value::from("from the host!"));
    assert!(host_made.is_released(), "release: the copy is released, its value gone into the transferable");
}

#[test]
fn results_can_come_back_as_external_copies() {
    let (_a, source) = isolate_and_context();
    let (_b, destination) = isolate_and_context();
    let external = source
        .eval("({ list: [1, 2, 3] })", &EvalOptions::new().result(TransferMode::ExternalCopy))
        .unwrap()
        .into_external_copy()
        .unwrap();
    let sum = destination
        .eval_closure("return $0.list.reduce((a, b) => a + b)", &[external.into()], &EvalOptions::new())
        .unwrap();
    assert_eq!(sum, Value::Number(6.0));
    let reference = reference(eval(&source, "[1]"));
    assert_eq!(reference.get(0, &RunOptions::new().result(TransferMode::Copy)).unwrap(), Value::Number(1.0));
}

#[test]
fn returned_promises_are_followed_when_asked() {
    let (_isolate, context) = isolate_and_context();
    let follow = EvalOptions::new().promise(true);
    assert_eq!(context.eval("Promise.resolve(41).then(x => x + 1)", &follow).unwrap(), Value::Number(42.0));
    let chained = context.eval("(async () => { await null; await null; return 'done'; })()", &follow).unwrap();
    assert_eq!(chained, Value::from("done"));
    let copied = context
        .eval("Promise.resolve({ list: [1, 2] })", &follow.clone().result(TransferMode::Copy))
        .unwrap()
        .into_copy()
        .unwrap();
    assert_eq!(copied.objects().len(), 2);

    match context.eval("Promise.reject(new TypeError('refused'))", &follow) {
        Err(Error::Js(error)) => assert_eq!((error.name.as_str(), error.message.as_str()), ("TypeError", "refused")),
        other => panic!("{other:?}"),
    }
    match context.eval("(async () => { throw 'plain'; })()", &follow) {
        Err(Error::Js(error)) => assert_eq!(error.thrown, Some(Value::from("plain"))),
        other => panic!("{other:?}"),
    }
    let never = context.eval("new Promise(() => {})", &follow);
    assert!(matches!(never, Err(Error::InvalidArgument(_))), "{never:?}");
    let spin = context
        .eval("Promise.resolve().then(() => { for (;;) {} })", &follow.clone().timeout(Duration::from_millis(50)));
    assert!(matches!(spin, Err(Error::Timeout)), "{spin:?}");

    let unfollowed = context.eval("Promise.resolve(1)", &EvalOptions::new()).unwrap();
    assert_eq!(reference(unfollowed).type_of().unwrap(), "object");
    let applied = reference(eval(&context, "(async (a) => a * 2)"))
        .apply((), &[21.into()], &RunOptions::new().promise(true))
        .unwrap();
    assert_eq!(applied, Value::Number(42.0));
}

#[test]
fn transfer_out_moves_the_value_itself_and_refuses_anything_else() {
    let (_a, source) = isolate_and_context();
    let (_b, destination) = isolate_and_context();
    let view = reference(eval(&source, "globalThis.bytes = new Uint8Array(1 << 20).fill(3); bytes.subarray(8, 16)"));
    let external = ExternalCopy::from_reference(&view, &ExternalCopyOptions::new().transfer_out(true)).unwrap();
    assert_eq!(eval(&source, "bytes.length + bytes.buffer.byteLength"), Value::Number(0.0), "detached");
    let arrived = destination
        .eval_closure(
            "return [$0 instanceof Uint8Array, $0.byteOffset, $0.length, $0.buffer.byteLength, $0[0]].join()",
            &[external.copy_into(&CopyOptions::new().transfer_in(true)).unwrap()],
            &EvalOptions::new(),
        )
        .unwrap();
    assert_eq!(arrived, Value::from("true,8,8,1048576,3"), "the view keeps its place in the moved buffer");
    assert!(external.is_released(), "transfer_in releases the copy");

    let plain = reference(eval(&source, "({ a: 1 })"));
    let refused = ExternalCopy::from_reference(&plain, &ExternalCopyOptions::new().transfer_out(true));
    assert!(matches!(refused, Err(Error::Marshal(MarshalError::Transfer(_)))), "{refused:?}");
}

#[test]
fn copies_to_the_host_release_or_hand_over_as_asked() {
    let (_isolate, context) = isolate_and_context();
    let value = reference(eval(&context, "({ list: [1, 2], buffer: new ArrayBuffer(4) })"));
    let external = ExternalCopy::from_reference(&value, &ExternalCopyOptions::new()).unwrap();
    let first = external.copy(&CopyOptions::new()).unwrap();
    assert_eq!(external.copy(&CopyOptions::new()).unwrap(), first, "a plain copy leaves the external copy alive");
    assert_eq!(external.copy(&CopyOptions::new().release(true)).unwrap(), first);
    assert!(external.is_released());

    // transfer_in moves ArrayBuffer memory only: a copy of an object (its
    // buffers copied in) is copied and stays, as in isolated-vm...
    let external = ExternalCopy::from_reference(&value, &ExternalCopyOptions::new()).unwrap();
    assert_eq!(external.copy(&CopyOptions::new().transfer_in(true)).unwrap(), first);
    assert!(!external.is_released(), "a copy with no buffer of its own to move stays");
    assert_eq!(external.copy(&CopyOptions::new()).unwrap(), first);

    // ...while a copy of an ArrayBuffer hands its memory over, and later
    // uses say so in isolated-vm's words.
    let buffer = reference(eval(&context, "new Uint8Array([1, 2, 3]).buffer"));
    let external = ExternalCopy::from_reference(&buffer, &ExternalCopyOptions::new()).unwrap();
    assert!(external.copy(&CopyOptions::new().transfer_in(true)).is_ok());
    assert!(external.is_released() && external.was_handed_over());
    assert!(matches!(external.copy(&CopyOptions::new()), Err(Error::Released("Array buffer is invalid"))));
    external.release();
    assert!(matches!(external.copy(&CopyOptions::new()), Err(Error::Released("Array buffer is invalid"))));
}

#[test]
fn external_copies_encode_to_bytes_and_back() {
    let (_a, source) = isolate_and_context();
    let (_b, destination) = isolate_and_context();
    let original = reference(eval(&source, EVERYTHING));
    let external = ExternalCopy::from_reference(&original, &ExternalCopyOptions::new()).unwrap();
    let encoded = external.encode().unwrap();
    assert_eq!(&encoded.bytes[..4], b"IVMW");
    let decoded = ExternalCopy::decode(&encoded).unwrap();
    let fails = destination
        .eval_closure(
            CHECK_EVERYTHING.replace("fails.join", "return fails.join").as_str(),
            &[decoded.copy_into(&CopyOptions::new()).unwrap()],
            &EvalOptions::new(),
        )
        .unwrap();
    assert_eq!(fails, Value::from(""), "{fails}");

    let mut corrupt = encoded.bytes.to_vec();
    corrupt.truncate(corrupt.len() / 2);
    let corrupt = ivm::wire::Encoded { bytes: corrupt.into(), shared: encoded.shared.clone() };
    assert!(matches!(ExternalCopy::decode(&corrupt), Err(Error::Wire(_))));
    external.release();
    assert!(matches!(external.encode(), Err(Error::Released("Copy has been released"))));
}

#[test]
fn nested_transfers_and_shared_memory_cross_through_external_copies() {
    let (_a, source) = isolate_and_context();
    let (_b, destination) = isolate_and_context();
    let value = reference(eval(
        &source,
        "globalThis.buf = new Uint8Array(1 << 20).fill(9).buffer;
         globalThis.sab = new SharedArrayBuffer(8);
         ({ data: new Uint8Array(buf, 16), again: buf, shared: new Int32Array(sab), n: 1 })",
    ));
    let buffer = reference(eval(&source, "buf"));
    let external = ExternalCopy::from_reference(&value, &ExternalCopyOptions::new().transfer(buffer)).unwrap();
    assert_eq!(eval(&source, "buf.byteLength"), Value::Number(0.0), "the listed buffer is detached");

    // Materialised twice: copies, each with its own buffer, both sharing `sab`.
    let check =
        "return [$0.data.byteOffset, $0.data[0], $0.again === $0.data.buffer, $0.again.byteLength, $0.n].join()";
    for _ in 0..2 {
        let seen =
            destination.eval_closure(check, &[external.copy_into(&CopyOptions::new()).unwrap()], &EvalOptions::new());
        assert_eq!(seen.unwrap(), Value::from("16,9,true,1048576,1"));
    }
    destination
        .eval_closure(
            "globalThis.moved = $0",
            &[external.copy_into(&CopyOptions::new().transfer_in(true)).unwrap()],
            &EvalOptions::new(),
        )
        .unwrap();
    assert!(external.is_released());
    eval(&destination, "Atomics.store(moved.shared, 0, 7)");
    assert_eq!(eval(&source, "new Int32Array(sab)[0]"), Value::Number(7.0), "shared memory stays shared");
    assert_eq!(eval(&destination, "moved.again.byteLength"), Value::Number(1048576.0));
}

#[test]
fn values_v8_cannot_round_trip_still_copy() {
    let (_a, source) = isolate_and_context();
    let (_b, destination) = isolate_and_context();
    // An error that is its own cause: V8's deserializer cannot rebuild it,
    // so the copy is built object by object instead.
    let error = reference(eval(&source, "const e = new TypeError('loop'); e.cause = e; e"));
    let external = ExternalCopy::from_reference(&error, &ExternalCopyOptions::new()).unwrap();
    let seen = destination
        .eval_closure(
            "return $0 instanceof TypeError && $0.cause === $0 && $0.message",
            &[external.copy_into(&CopyOptions::new()).unwrap()],
            &EvalOptions::new(),
        )
        .unwrap();
    assert_eq!(seen, Value::from("loop"));
    let copy = error.copy().unwrap();
    let seen = destination.eval_closure("return $0.cause === $0", &[copy.into()], &EvalOptions::new()).unwrap();
    assert_eq!(seen, Value::Bool(true));
}

#[test]
fn a_getter_that_never_returns_times_out_the_copy() {
    let (_isolate, context) = isolate_and_context();
    let options = EvalOptions::new().timeout(Duration::from_millis(50));
    for mode in [TransferMode::Copy, TransferMode::ExternalCopy] {
        let spin = context.eval("({ a: 1, get b() { for (;;) {} } })", &options.clone().result(mode));
        assert!(matches!(spin, Err(Error::Timeout)), "{mode:?}: {spin:?}");
        assert_eq!(eval(&context, "1 + 1"), Value::Number(2.0), "the isolate stays usable");
    }
}

#[test]
fn class_instances_arrive_as_plain_objects_with_their_getters_read() {
    let (_a, source) = isolate_and_context();
    let (_b, destination) = isolate_and_context();
    let point = reference(eval(
        &source,
        "class Point { constructor() { this.x = 1; } get norm() { return 5; } }
         const p = new Point(); Object.defineProperty(p, 'y', { get() { return 2; }, enumerable: true });
         Object.defineProperty(p, 'hidden', { value: 3, enumerable: false }); p",
    ));
    let check = "return [Object.getPrototypeOf($0) === Object.prototype, Object.keys($0).join('|'), $0.y].join()";
    let copied = destination.eval_closure(check, &[point.copy().unwrap().into()], &EvalOptions::new()).unwrap();
    assert_eq!(copied, Value::from("true,x|y,2"), "own enumerable properties only, getters read, no prototype");
    let external = ExternalCopy::from_reference(&point, &ExternalCopyOptions::new()).unwrap();
    let materialised = destination.eval_closure(check, &[external.into()], &EvalOptions::new()).unwrap();
    assert_eq!(materialised, Value::from("true,x|y,2"));
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 200,
        // Failing cases are kept beside this file and replayed first.
        failure_persistence: Some(Box::new(proptest::test_runner::FileFailurePersistence::WithSource("proptest-regressions"))),
        ..ProptestConfig::default()
    })]

    /// Any graph the host builds goes into an isolate and comes back out as
    /// JavaScript holds it, through V8's own serializer and deserializer and
    /// ivm's reader and writer of their format (or the walk and build where
    /// V8's cannot).
    #[test]
    fn arbitrary_graphs_survive_an_isolate(graph in support::graph()) {
        let graph = support::as_in_an_isolate(&graph);
        prop_assume!(!support::has_nan(&graph));
        let context = round_trip_context();
        let back = context
            .enter(|scope| {
                let value = ivm_marshal::to_v8(scope, &graph)?;
                ivm_marshal::from_v8(scope, value, Default::default())
            })
            .unwrap()
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        // Arena order is the copy's own business (the walk and V8's
        // serializer number a root view and its buffer differently).
        prop_assert_eq!(support::as_in_an_isolate(&back), graph);
    }
}

/// One context for every case: a fresh isolate per case would dominate the
/// run time.
fn round_trip_context() -> ivm::Context {
    static CONTEXT: std::sync::OnceLock<(ivm::Isolate, ivm::Context)> = std::sync::OnceLock::new();
    CONTEXT.get_or_init(isolate_and_context).1.clone()
}
