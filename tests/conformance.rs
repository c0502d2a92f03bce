//! The cross-language conformance cases (`tests/conformance/cases.json`,
//! which the Node and Python suites run too), through the Rust API: values,
//! errors, sandbox escapes and resource attacks, each in a fresh isolate.

use std::time::Duration;

use std::sync::{Arc, Mutex, PoisonError};

use ivm::host::{self, Access, Grant, HostObjects, Key, Kind, Property};
use ivm::{
    BigInt, Buffer, Callback, CallbackResult, Error, EvalOptions, Isolate, IsolateOptions, JsString, Object, ObjectId,
    Remote, RemoteOp, Resolver, RunOptions, Structured, TransferMode, Transferable, Value, ViewKind,
};
use ivm_tests::repo_root;
use serde_json::{Map, Value as Json, json};

fn cases() -> Vec<Json> {
    let text = std::fs::read_to_string(repo_root().join("tests/conformance/cases.json")).unwrap();
    serde_json::from_str::<Json>(&text).unwrap().as_array().unwrap().clone()
}

#[test]
fn every_conformance_case_holds_in_rust() {
    let failures: Vec<String> = cases()
        .iter()
        .filter_map(|case| run_case(case).err().map(|why| format!("{}: {why}", case["name"].as_str().unwrap())))
        .collect();
    assert!(failures.is_empty(), "{} case(s) failed:\n{}", failures.len(), failures.join("\n"));
}

fn run_case(case: &Json) -> Result<(), String> {
    let options = &case["options"];
    let mut isolate_options = IsolateOptions::new();
    if let Some(limit) = options["memory_limit_mb"].as_u64() {
        isolate_options = isolate_options.memory_limit(limit as usize);
    }
    let isolate = Isolate::new(isolate_options).map_err(|e| e.to_string())?;
    let context = isolate.create_context().map_err(|e| e.to_string())?;
    let global = context.global().map_err(|e| e.to_string())?;
    let host = Callback::new(|arguments| Ok(Transferable::from(format!("host:{}", arguments.len()))));
    let host_throws = Callback::new(|_| Err("from host".into()));
    global.set("host", host, &RunOptions::new()).map_err(|e| e.to_string())?;
    global.set("hostThrows", host_throws, &RunOptions::new()).map_err(|e| e.to_string())?;
    for (name, thing) in [("hostLog", Thing::Function("log")), ("hostObject", host_object())] {
        let remote: Arc<dyn Remote> = Arc::new(RustValue { thing, grant: Grant::new() });
        global.set(name, Transferable::Remote(remote), &RunOptions::new()).map_err(|e| e.to_string())?;
    }

    let mut eval_options = EvalOptions::new();
    if options["copy"] == true {
        eval_options = eval_options.result(TransferMode::Copy);
    }
    if options["promise"] == true {
        eval_options = eval_options.promise(true);
    }
    if let Some(ms) = options["timeout_ms"].as_u64() {
        eval_options = eval_options.timeout(Duration::from_millis(ms));
    }
    let code = case["code"].as_str().unwrap();
    let outcome = match case.get("input") {
        Some(input) => context.eval_closure(code, &[Transferable::from(structured(input))], &eval_options),
        None => context.eval(code, &eval_options),
    };

    match (outcome, case.get("expect"), case.get("throws")) {
        (Ok(result), Some(expected), None) => {
            let actual = match result {
                Transferable::Copy(copy) => tagged(&copy, copy.root()),
                other => return Err(format!("expected a copy, got {other:?}")),
            };
            if !same(&actual, expected) {
                return Err(format!("expected {expected}, got {actual}"));
            }
        }
        (Err(error), None, Some(throws)) => check_error(&error, throws)?,
        (Ok(result), _, Some(throws)) => return Err(format!("expected {throws}, got {result:?}")),
        (Err(error), Some(expected), _) => return Err(format!("expected {expected}, got error {error:?}")),
        _ => return Err("a case needs `expect` or `throws`".into()),
    }

    match case["after"].as_str() {
        Some("usable") => {
            let two = context.eval("1 + 1", &EvalOptions::new()).map_err(|e| format!("not usable after: {e}"))?;
            if two.into_value() != Some(Value::Number(2.0)) {
                return Err("the isolate gave a wrong answer afterwards".into());
            }
        }
        Some("disposed") if !isolate.is_disposed() => return Err("the isolate should be disposed".into()),
        _ => {}
    }
    if !isolate.is_disposed() {
        isolate.dispose().map_err(|e| e.to_string())?;
    }
    Ok(())
}

fn check_error(error: &Error, throws: &Json) -> Result<(), String> {
    if error.class_name() != throws["class"] {
        return Err(format!("expected a {} error, got {error:?}", throws["class"]));
    }
    let (name, message) = match error {
        Error::Js(js) => (Some(js.name.as_str()), js.message.clone()),
        other => (None, other.to_string()),
    };
    if let Some(expected) = throws["name"].as_str()
        && name != Some(expected)
    {
        return Err(format!("expected a {expected}, got {error:?}"));
    }
    if let Some(expected) = throws["message"].as_str()
        && message != expected
    {
        return Err(format!("expected the message {expected:?}, got {message:?}"));
    }
    Ok(())
}

/// Compares a result with an expectation: numbers by value, so that an
/// integral double equals a JSON integer.
fn same(actual: &Json, expected: &Json) -> bool {
    match (actual, expected) {
        (Json::Number(a), Json::Number(b)) => a.as_f64() == b.as_f64(),
        (Json::Array(a), Json::Array(b)) => a.len() == b.len() && a.iter().zip(b).all(|(a, b)| same(a, b)),
        (Json::Object(a), Json::Object(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|((ka, va), (kb, vb))| ka == kb && same(va, vb))
        }
        _ => actual == expected,
    }
}

/// A copied value in the cases' tagged JSON.
fn tagged(copy: &Structured, value: &Value) -> Json {
    match value {
        Value::Undefined => json!({ "$undefined": true }),
        Value::Null => Json::Null,
        Value::Bool(b) => Json::Bool(*b),
        Value::Number(n) if n.is_nan() => json!({ "$number": "NaN" }),
        Value::Number(n) if n.is_infinite() => json!({ "$number": if *n > 0.0 { "Infinity" } else { "-Infinity" } }),
        Value::Number(n) if *n == 0.0 && n.is_sign_negative() => json!({ "$number": "-0" }),
        Value::Number(n) => json!(n),
        Value::String(s) => Json::String(s.to_string_lossy().into_owned()),
        Value::BigInt(b) => json!({ "$bigint": b.to_i128().expect("the cases' bigints fit in 128 bits").to_string() }),
        Value::Object(id) => tagged_object(copy, copy.object(*id).expect("an object of the graph")),
        other => json!({ "unexpected": format!("{other:?}") }),
    }
}

fn tagged_object(copy: &Structured, object: &Object) -> Json {
    let properties = |properties: &[(JsString, Value)]| {
        Json::Object(
            properties.iter().map(|(k, v)| (k.to_string_lossy().into_owned(), tagged(copy, v))).collect::<Map<_, _>>(),
        )
    };
    match object {
        Object::Plain(entries) => properties(entries),
        Object::Array { length, elements, .. } => {
            let mut items = vec![json!({ "$undefined": true }); *length as usize];
            for (index, value) in elements {
                items[*index as usize] = tagged(copy, value);
            }
            Json::Array(items)
        }
        Object::Date(ms) => json!({ "$date": ms }),
        Object::Map(entries) => {
            json!({ "$map": entries.iter().map(|(k, v)| json!([tagged(copy, k), tagged(copy, v)])).collect::<Vec<_>>() })
        }
        Object::Set(values) => json!({ "$set": values.iter().map(|v| tagged(copy, v)).collect::<Vec<_>>() }),
        Object::ArrayBuffer(buffer) => json!({ "$arraybuffer": buffer.as_slice() }),
        Object::View { kind: ViewKind::Uint8, buffer, byte_offset, length } => match copy.object(*buffer) {
            Some(Object::ArrayBuffer(bytes)) => {
                json!({ "$uint8array": &bytes.as_slice()[*byte_offset..byte_offset + length] })
            }
            other => json!({ "unexpected view buffer": format!("{other:?}") }),
        },
        Object::Error { kind, message, .. } => json!({ "$error": {
            "name": kind.name(),
            "message": message.as_ref().map(|m| m.to_string_lossy().into_owned()).unwrap_or_default(),
        } }),
        other => json!({ "unexpected": format!("{other:?}") }),
    }
}

/// A case's input (tagged JSON) as a copy to pass in.
fn structured(input: &Json) -> Structured {
    let mut objects = Vec::new();
    let root = build(input, &mut objects);
    Structured::new(root, objects).expect("a well-formed graph")
}

fn build(json: &Json, objects: &mut Vec<Object>) -> Value {
    let add = |objects: &mut Vec<Object>, object: Object| {
        objects.push(object);
        Value::Object(ObjectId(u32::try_from(objects.len() - 1).unwrap()))
    };
    match json {
        Json::Null => Value::Null,
        Json::Bool(b) => Value::Bool(*b),
        Json::Number(n) => Value::Number(n.as_f64().unwrap()),
        Json::String(s) => Value::String(JsString::from(s.as_str())),
        Json::Array(items) => {
            let elements = items.iter().enumerate().map(|(i, item)| (i as u32, build(item, objects))).collect();
            add(objects, Object::Array { length: items.len() as u32, elements, properties: Vec::new() })
        }
        Json::Object(map) => {
            if let Some(digits) = map.get("$bigint").and_then(Json::as_str) {
                let n: i128 = digits.parse().unwrap();
                let magnitude = n.unsigned_abs();
                return Value::BigInt(BigInt::from_words(n < 0, vec![magnitude as u64, (magnitude >> 64) as u64]));
            }
            if let Some(ms) = map.get("$date").and_then(Json::as_f64) {
                return add(objects, Object::Date(ms));
            }
            if let Some(entries) = map.get("$map").and_then(Json::as_array) {
                let entries = entries.iter().map(|pair| (build(&pair[0], objects), build(&pair[1], objects))).collect();
                return add(objects, Object::Map(entries));
            }
            if let Some(values) = map.get("$set").and_then(Json::as_array) {
                let values = values.iter().map(|value| build(value, objects)).collect();
                return add(objects, Object::Set(values));
            }
            if let Some(bytes) = map.get("$arraybuffer").and_then(Json::as_array) {
                let bytes: Vec<u8> = bytes.iter().map(|b| b.as_u64().unwrap() as u8).collect();
                return add(objects, Object::ArrayBuffer(Buffer::from(bytes)));
            }
            let properties = map.iter().map(|(k, v)| (JsString::from(k.as_str()), build(v, objects))).collect();
            add(objects, Object::Plain(properties))
        }
    }
}

/// The Rust host's own objects, which the cases reach through `hostLog`
/// and `hostObject` (tests/conformance/README.md): fields that are data or
/// getters, and a parent to inherit from. Rust has no objects of its own
/// to reflect on, so this is the smallest model ivm-core's host rule can be
/// applied to, as a Rust program exposing its values would.
#[derive(Clone, Debug)]
enum Thing {
    Primitive(Value),
    /// A function by name: `log` counts its arguments, others return their
    /// name.
    Function(&'static str),
    Object(Arc<Mutex<Fields>>),
}

#[derive(Debug, Default)]
struct Fields {
    own: Vec<(String, Slot)>,
    parent: Option<Thing>,
}

#[derive(Debug, Clone)]
enum Slot {
    Data(Thing),
    Getter(Thing),
}

fn object(own: Vec<(&str, Slot)>, parent: Option<Thing>) -> Thing {
    let own = own.into_iter().map(|(name, slot)| (name.to_owned(), slot)).collect();
    Thing::Object(Arc::new(Mutex::new(Fields { own, parent })))
}

fn data(value: impl Into<Value>) -> Slot {
    Slot::Data(Thing::Primitive(value.into()))
}

fn host_object() -> Thing {
    let prototype =
        object(vec![("inherited", data("inherited")), ("constructor", Slot::Data(Thing::Function("Object")))], None);
    let generator_prototype = object(vec![("next", Slot::Data(Thing::Function("next")))], None);
    object(
        vec![
            ("name", data("box")),
            ("data", Slot::Data(object(vec![("n", data(1.0))], Some(prototype.clone())))),
            ("list", Slot::Data(object(vec![("0", data(1.0)), ("1", data(2.0))], Some(prototype.clone())))),
            ("method", Slot::Data(Thing::Function("method"))),
            ("generator", Slot::Data(object(vec![], Some(generator_prototype)))),
            ("secret", Slot::Getter(Thing::Primitive(Value::from("secret")))),
        ],
        Some(prototype),
    )
}

fn fields(thing: &Thing) -> Result<std::sync::MutexGuard<'_, Fields>, String> {
    match thing {
        Thing::Object(fields) => Ok(fields.lock().unwrap_or_else(PoisonError::into_inner)),
        _ => Err("not an object".into()),
    }
}

struct Things;

impl HostObjects for Things {
    type Value = Thing;
    type Error = String;

    fn kind(&mut self, value: &Thing) -> Result<Kind, String> {
        Ok(match value {
            Thing::Primitive(primitive) => Kind::Primitive(primitive.clone()),
            Thing::Function(_) => Kind::Function,
            Thing::Object(_) => Kind::Object,
        })
    }

    fn is_proxy(&mut self, _object: &Thing) -> Result<bool, String> {
        Ok(false)
    }

    fn is_namespace(&mut self, _object: &Thing) -> Result<bool, String> {
        Ok(false)
    }

    fn own_property(&mut self, object: &Thing, key: &Key) -> Result<Property<Thing>, String> {
        let fields = fields(object)?;
        Ok(match fields.own.iter().find(|(name, _)| *name == key.to_name()) {
            None => Property::Absent,
            Some((_, Slot::Data(value))) => Property::Data(value.clone()),
            Some((_, Slot::Getter(_))) => Property::Accessor,
        })
    }

    fn parent(&mut self, object: &Thing) -> Result<Option<Thing>, String> {
        Ok(fields(object)?.parent.clone())
    }

    fn read(&mut self, object: &Thing, key: &Key) -> Result<Thing, String> {
        let fields = fields(object)?;
        match fields.own.iter().find(|(name, _)| *name == key.to_name()) {
            Some((_, Slot::Data(value) | Slot::Getter(value))) => Ok(value.clone()),
            None => Ok(Thing::Primitive(Value::Undefined)),
        }
    }

    fn define(&mut self, object: &Thing, key: &Key, value: Thing) -> Result<bool, String> {
        let mut fields = fields(object)?;
        fields.own.retain(|(name, _)| *name != key.to_name());
        fields.own.push((key.to_name().into_owned(), Slot::Data(value)));
        Ok(true)
    }

    fn remove(&mut self, object: &Thing, key: &Key) -> Result<bool, String> {
        fields(object)?.own.retain(|(name, _)| *name != key.to_name());
        Ok(true)
    }

    fn call(&mut self, function: &Thing, _receiver: Thing, arguments: Vec<Thing>) -> Result<Thing, String> {
        match function {
            Thing::Function("log") => Ok(Thing::Primitive(Value::Number(arguments.len() as f64))),
            Thing::Function(name) => Ok(Thing::Primitive(Value::from(*name))),
            _ => Err("not a function".into()),
        }
    }

    fn copy(&mut self, value: &Thing) -> Result<Structured, String> {
        match value {
            Thing::Primitive(primitive) => Ok(Structured::from(primitive.clone())),
            _ => Err("only primitives are copied".into()),
        }
    }

    fn materialise(&mut self, value: Transferable) -> Result<Thing, String> {
        value.into_value().map(Thing::Primitive).ok_or_else(|| "only primitives come in".to_owned())
    }

    fn reference(&mut self, thing: Thing, grant: Grant) -> Result<Arc<dyn Remote>, String> {
        Ok(Arc::new(RustValue { thing, grant }))
    }
}

/// A [`Thing`] held by an isolate through a `Reference`.
#[derive(Debug)]
struct RustValue {
    thing: Thing,
    grant: Grant,
}

impl Remote for RustValue {
    fn type_of(&self) -> String {
        match &self.thing {
            Thing::Primitive(value) => value.type_of().to_owned(),
            Thing::Function(_) => "function".to_owned(),
            Thing::Object(_) => "object".to_owned(),
        }
    }

    fn call(&self, op: RemoteOp) -> CallbackResult {
        host::perform(&mut Things, &self.thing, self.grant, op).map_err(|access| match access {
            Access::Refused(refusal) => refusal.into(),
            Access::Host(message) => message.into(),
        })
    }

    fn call_async(&self, op: RemoteOp, resolver: Resolver) {
        match self.call(op) {
            Ok(value) => resolver.resolve(value),
            Err(message) => resolver.reject(message),
        }
    }
}
