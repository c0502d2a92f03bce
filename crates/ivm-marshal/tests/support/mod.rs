//! Value graphs for property tests, shared by ivm-marshal's wire tests and
//! the isolate round-trip tests in `tests/clone.rs` (which include this file
//! by path): a strategy for arbitrary valid graphs, and what a graph looks
//! like once it has been through an isolate.

#![allow(dead_code, unreachable_pub)]

use std::collections::HashSet;

use bytes::Bytes;
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

pub fn graph() -> impl Strategy<Value = Structured> {
    (0usize..10).prop_flat_map(|objects| {
        (vec(spec(objects), objects), value(objects)).prop_map(|(specs, root)| {
            Structured::new(root, resolve(specs)).expect("generated graphs are valid by construction")
        })
    })
}

/// Whether any number in the graph is NaN (which is never `==` itself).
pub fn has_nan(graph: &Structured) -> bool {
    format!("{graph:?}").contains("NaN")
}

/// The graph as JavaScript would hold it: what a trip into an isolate and
/// back must give. Keys are unique and never array indices (JavaScript
/// orders those first), Map keys and Set values are unique under
/// SameValueZero with -0 read as 0, dates are time-clipped, RegExps are
/// valid, errors have a stack, and objects are numbered in the order a
/// copy out of an isolate meets them (depth first from the root), which
/// drops those the root cannot reach.
pub fn as_in_an_isolate(graph: &Structured) -> Structured {
    let (root, objects) = graph.clone().into_parts();
    let objects: Vec<Object> = objects.into_iter().map(normalise).collect();
    renumber(&root, &objects)
}

fn unique_keys(properties: Vec<(JsString, Value)>) -> Vec<(JsString, Value)> {
    let mut seen = HashSet::new();
    properties
        .into_iter()
        .map(|(key, value)| {
            let key = match key.as_str() {
                Some(s) if s.parse::<u32>().is_ok() => JsString::from(format!("k{s}")),
                _ => key,
            };
            (key, value)
        })
        .filter(|(key, _)| seen.insert(key.clone()))
        .collect()
}

/// SameValueZero identity of a Map key or Set value.
fn zero_key(value: &Value) -> String {
    match value {
        Value::Number(n) if *n == 0.0 => "n0".to_owned(),
        other => format!("{other:?}"),
    }
}

fn positive_zero(value: Value) -> Value {
    match value {
        // Adding +0 turns -0 into +0 and leaves every other number alone.
        Value::Number(n) => Value::Number(n + 0.0),
        other => other,
    }
}

fn normalise(object: Object) -> Object {
    match object {
        Object::Plain(properties) => Object::Plain(unique_keys(properties)),
        Object::Array { length, elements, properties } => {
            Object::Array { length, elements, properties: unique_keys(properties) }
        }
        Object::Map(entries) => {
            let mut seen = HashSet::new();
            Object::Map(
                entries
                    .into_iter()
                    .filter(|(k, _)| seen.insert(zero_key(k)))
                    .map(|(k, v)| (positive_zero(k), v))
                    .collect(),
            )
        }
        Object::Set(values) => {
            let mut seen = HashSet::new();
            Object::Set(values.into_iter().filter(|v| seen.insert(zero_key(v))).map(positive_zero).collect())
        }
        Object::RegExp { flags, .. } => {
            let mut kept = String::new();
            for flag in ['d', 'g', 'i', 'm', 's', 'u', 'y'] {
                if flags.contains(flag) {
                    kept.push(flag);
                }
            }
            Object::RegExp { source: "a+(b|c)".into(), flags: kept }
        }
        // TimeClip: whole milliseconds within ±8.64e15, else NaN.
        Object::Date(time) if time.abs() <= 8.64e15 => Object::Date(time.trunc() + 0.0),
        Object::Date(_) => Object::Date(f64::NAN),
        Object::Error { kind, message, stack, cause } => {
            // An error copied without a stack gets the one its new isolate
            // gives it, which a test cannot predict: give each one.
            Object::Error { kind, message, stack: Some(stack.unwrap_or_else(|| "".into())), cause }
        }
        other => other,
    }
}

/// Renumbers depth first from the root, children in order, a view's buffer
/// before the view.
fn renumber(root: &Value, objects: &[Object]) -> Structured {
    let mut order: Vec<Option<u32>> = vec![None; objects.len()];
    let mut visited = Vec::new();
    let mut stack = vec![root.clone()];
    while let Some(value) = stack.pop() {
        let Value::Object(id) = value else { continue };
        if order[id.index()].is_some() {
            continue;
        }
        if let Object::View { buffer, .. } = &objects[id.index()]
            && order[buffer.index()].is_none()
        {
            order[buffer.index()] = Some(visited.len() as u32);
            visited.push(*buffer);
        }
        order[id.index()] = Some(visited.len() as u32);
        visited.push(id);
        let mut children = Vec::new();
        match &objects[id.index()] {
            Object::Array { elements, properties, .. } => {
                children.extend(elements.iter().map(|(_, v)| v.clone()));
                children.extend(properties.iter().map(|(_, v)| v.clone()));
            }
            other => other.for_each_child(|child| children.push(child.clone())),
        }
        stack.extend(children.into_iter().rev());
    }
    let map = |value: &Value| match value {
        Value::Object(id) => Value::Object(ObjectId(order[id.index()].expect("reachable"))),
        other => other.clone(),
    };
    let renumbered = visited
        .iter()
        .map(|id| match &objects[id.index()] {
            Object::Plain(properties) => Object::Plain(properties.iter().map(|(k, v)| (k.clone(), map(v))).collect()),
            Object::Array { length, elements, properties } => Object::Array {
                length: *length,
                elements: elements.iter().map(|(i, v)| (*i, map(v))).collect(),
                properties: properties.iter().map(|(k, v)| (k.clone(), map(v))).collect(),
            },
            Object::Map(entries) => Object::Map(entries.iter().map(|(k, v)| (map(k), map(v))).collect()),
            Object::Set(values) => Object::Set(values.iter().map(map).collect()),
            Object::View { kind, buffer, byte_offset, length } => Object::View {
                kind: *kind,
                buffer: ObjectId(order[buffer.index()].expect("reachable")),
                byte_offset: *byte_offset,
                length: *length,
            },
            Object::Error { kind, message, stack, cause } => Object::Error {
                kind: *kind,
                message: message.clone(),
                stack: stack.clone(),
                cause: cause.as_ref().map(map),
            },
            other => other.clone(),
        })
        .collect();
    Structured::new(map(root), renumbered).expect("a renumbered graph is valid")
}
