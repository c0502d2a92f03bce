//! Property tests of the wire format: every valid graph (any object kinds,
//! references anywhere in the arena, cycles included) survives
//! `decode(encode(g))`, and the encoding of what comes back is byte for byte
//! the encoding that went in.
//!
//! SharedArrayBuffers are left out: they hold V8 backing stores, which the
//! unit tests in `wire.rs` cover.

use bytes::Bytes;
use ivm_marshal::wire::{Encoded, FORMAT_VERSION, decode, encode};
use ivm_marshal::{BigInt, Buffer, ErrorKind, JsString, Object, ObjectId, Structured, Value, ViewKind};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;

/// Strings of both representations; UTF-16 ones often hold a lone surrogate.
fn js_string() -> impl Strategy<Value = JsString> {
    prop_oneof![
        3 => any::<String>().prop_map(JsString::from),
        1 => Just(JsString::from("")),
        2 => (vec(any::<u16>(), 0..8), 0xD800u16..=0xDFFF, any::<prop::sample::Index>()).prop_map(
            |(mut units, surrogate, at)| {
                let at = at.index(units.len() + 1);
                units.insert(at, surrogate);
                JsString::from_utf16(units)
            }
        ),
    ]
}

fn bigint() -> impl Strategy<Value = BigInt> {
    (any::<bool>(), vec(any::<u64>(), 0..4)).prop_map(|(negative, words)| BigInt::from_words(negative, words))
}

/// Any number, with the special ones (NaN payloads, -0, infinities) often.
fn number() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<u64>().prop_map(f64::from_bits),
        select(vec![0.0, -0.0, f64::NAN, -f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 1.0, -1.5]),
        any::<i32>().prop_map(f64::from),
    ]
}

/// A value of a graph of `objects` objects: a reference may point anywhere
/// in the arena, the object holding it included.
fn value(objects: usize) -> BoxedStrategy<Value> {
    let primitive = prop_oneof![
        Just(Value::Undefined),
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        number().prop_map(Value::Number),
        js_string().prop_map(Value::String),
        bigint().prop_map(Value::BigInt),
    ];
    if objects == 0 {
        primitive.boxed()
    } else {
        let reference = (0..objects as u32).prop_map(|i| Value::Object(ObjectId(i)));
        prop_oneof![1 => primitive, 1 => reference].boxed()
    }
}

fn properties(objects: usize) -> impl Strategy<Value = Vec<(JsString, Value)>> {
    vec((js_string(), value(objects)), 0..4)
}

/// An object before views are pointed at buffers: a view only knows which
/// buffer it wants (`choice`, modulo the graph's buffers) and where in it.
#[derive(Debug, Clone)]
enum Spec {
    Object(Object),
    View { kind: ViewKind, choice: usize, start: usize, len: usize },
}

fn spec(objects: usize) -> impl Strategy<Value = Spec> {
    let array = (vec((0u32..4, value(objects)), 0..6), prop_oneof![0u32..3, Just(u32::MAX / 2)], properties(objects))
        .prop_map(|(gaps, extra, properties)| {
            let mut next = 0u32;
            let elements: Vec<(u32, Value)> = gaps
                .into_iter()
                .map(|(gap, value)| {
                    let index = next + gap;
                    next = index + 1;
                    (index, value)
                })
                .collect();
            Object::Array { length: next.saturating_add(extra), elements, properties }
        });
    let error = (select(ErrorKind::ALL.to_vec()), prop::option::of(js_string()), prop::option::of(js_string()))
        .prop_flat_map(move |(kind, message, stack)| {
            prop::option::of(value(objects)).prop_map(move |cause| Object::Error {
                kind,
                message: message.clone(),
                stack: stack.clone(),
                cause,
            })
        });
    let object = prop_oneof![
        properties(objects).prop_map(Object::Plain),
        array,
        number().prop_map(Object::Date),
        (js_string(), "[dgimsuvy]{0,4}").prop_map(|(source, flags)| Object::RegExp { source, flags }),
        any::<bool>().prop_map(Object::BooleanObject),
        number().prop_map(Object::NumberObject),
        js_string().prop_map(Object::StringObject),
        bigint().prop_map(Object::BigIntObject),
        vec((value(objects), value(objects)), 0..4).prop_map(Object::Map),
        vec(value(objects), 0..4).prop_map(Object::Set),
        vec(any::<u8>(), 0..48).prop_map(|bytes| Object::ArrayBuffer(Buffer::from(bytes))),
        error,
    ];
    prop_oneof![
        4 => object.prop_map(Spec::Object),
        1 => (select(ViewKind::ALL.to_vec()), any::<usize>(), any::<usize>(), any::<usize>())
            .prop_map(|(kind, choice, start, len)| Spec::View { kind, choice, start, len }),
    ]
}

/// Points each view at one of the graph's ArrayBuffers, within its bounds
/// (or makes it an empty buffer where the graph has none).
fn resolve(specs: Vec<Spec>) -> Vec<Object> {
    let buffers: Vec<(u32, usize)> = specs
        .iter()
        .enumerate()
        .filter_map(|(i, spec)| match spec {
            Spec::Object(Object::ArrayBuffer(buffer)) => Some((i as u32, buffer.len())),
            _ => None,
        })
        .collect();
    specs
        .into_iter()
        .map(|spec| match spec {
            Spec::Object(object) => object,
            Spec::View { kind, choice, start, len } => {
                if buffers.is_empty() {
                    return Object::ArrayBuffer(Buffer::from(Bytes::new()));
                }
                let (buffer, buffer_len) = buffers[choice % buffers.len()];
                let size = kind.element_size();
                let fits = buffer_len / size;
                let start = start % (fits + 1);
                let length = len % (fits - start + 1);
                Object::View { kind, buffer: ObjectId(buffer), byte_offset: start * size, length }
            }
        })
        .collect()
}

fn graph() -> impl Strategy<Value = Structured> {
    (0usize..10).prop_flat_map(|objects| {
        (vec(spec(objects), objects), value(objects)).prop_map(|(specs, root)| {
            Structured::new(root, resolve(specs)).expect("generated graphs are valid by construction")
        })
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn graphs_round_trip(graph in graph()) {
        let encoded = encode(&graph);
        let decoded = decode(&encoded).map_err(|e| TestCaseError::fail(e.to_string()))?;
        // NaN != NaN, so bytes are the comparison that holds for every graph.
        prop_assert_eq!(&encode(&decoded).bytes, &encoded.bytes);
        if !format!("{graph:?}").contains("NaN") {
            prop_assert_eq!(&decoded, &graph);
        }
    }

    #[test]
    fn truncated_and_extended_encodings_fail(graph in graph(), cut in any::<prop::sample::Index>(), extra in 1usize..4) {
        let encoded = encode(&graph);
        let len = cut.index(encoded.bytes.len());
        let truncated = Encoded { bytes: encoded.bytes.slice(..len), shared: vec![] };
        prop_assert!(decode(&truncated).is_err(), "a truncation to {} bytes decoded", len);
        let mut longer = encoded.bytes.to_vec();
        longer.extend(std::iter::repeat_n(0, extra));
        let longer = Encoded { bytes: longer.into(), shared: vec![] };
        prop_assert!(decode(&longer).is_err(), "an encoding with {} trailing bytes decoded", extra);
    }

    #[test]
    fn mutated_encodings_never_panic(
        graph in graph(),
        edits in vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    ) {
        let mut bytes = encode(&graph).bytes.to_vec();
        for (at, byte) in edits {
            let at = at.index(bytes.len());
            bytes[at] = byte;
        }
        let mutated = Encoded { bytes: bytes.into(), shared: vec![] };
        // Whatever decodes is a valid graph with exactly that encoding.
        if let Ok(graph) = decode(&mutated) {
            prop_assert_eq!(encode(&graph).bytes, mutated.bytes);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(tail in vec(any::<u8>(), 0..128)) {
        // Behind a valid header, so that the bytes reach the object decoder.
        let mut bytes = b"IVMW".to_vec();
        bytes.push(FORMAT_VERSION);
        bytes.extend(tail);
        let input = Encoded { bytes: bytes.into(), shared: vec![] };
        if let Ok(graph) = decode(&input) {
            prop_assert_eq!(encode(&graph).bytes, input.bytes);
        }
    }
}
