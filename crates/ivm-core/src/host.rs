//! Values of the host's language that JavaScript holds by `Reference` (a
//! Node object made into `new ivm.Reference(value)`, a Python object into
//! `ivm.Reference(obj)`), and the one rule of what such a Reference grants,
//! which every binding applies through [`HostObjects`].
//!
//! A Reference to a host value grants calling it, if it is callable, and
//! reading and writing its **own data**; nothing else:
//! - only an object's own data properties are read (a missing one is
//!   `undefined`); what it inherits (prototypes, Python's classes and
//!   modules) only with [`Grant::unsafe_inherit`];
//! - a getter or setter (a Python property or descriptor) is never run
//!   unless [`Grant::accessors`] allows it, and a write never runs a setter:
//!   it defines a data property;
//! - an object that intercepts access (a Proxy, anywhere on its prototype
//!   chain) is refused outright;
//! - a function's Reference can only be called: its properties (`constructor`,
//!   Python's `__globals__`) are not reachable;
//! - property keys are strings and array indices;
//! - what a call or a read returns crosses by the same rules: a primitive as
//!   itself, anything else as another Reference with the same grant.
//!
//! These are isolated-vm's rules for its Reference `get`, `set`, `delete` and
//! `apply`, with its error messages. The bindings say what their language's
//! objects are ([`HostObjects`]); nothing here knows a language.

use std::sync::Arc;

use ivm_marshal::{JsString, Structured, Value};

use crate::remote::Remote;
use crate::{ExternalCopy, TransferMode, Transferable};

/// What a Reference to a host value grants beyond calling it and its own
/// data. The host chooses it when it makes the Reference; code holding the
/// Reference cannot widen it, and every value reached through it carries it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Grant {
    inherit: bool,
    accessors: bool,
}

impl Grant {
    /// Own data only: isolated-vm's default.
    pub const fn new() -> Grant {
        Grant { inherit: false, accessors: false }
    }

    /// isolated-vm's `unsafeInherit`: reads also find what the value
    /// inherits (its prototype chain; in Python its class, and a module's or
    /// class's own attributes).
    pub const fn unsafe_inherit(mut self, inherit: bool) -> Grant {
        self.inherit = inherit;
        self
    }

    /// isolated-vm's `accessors`: reads run getters (Python's properties
    /// and descriptors, bound methods included).
    pub const fn accessors(mut self, accessors: bool) -> Grant {
        self.accessors = accessors;
        self
    }

    pub const fn inherits(self) -> bool {
        self.inherit
    }

    pub const fn runs_accessors(self) -> bool {
        self.accessors
    }
}

/// A property key, as isolated-vm takes them: a string, or an array index.
#[derive(Debug, Clone, PartialEq)]
pub enum Key {
    Name(JsString),
    Index(u32),
}

impl Key {
    /// The key `value` names; anything but a string or a `u32` number is
    /// refused with isolated-vm's "Invalid `key`".
    pub fn new(value: &Value) -> Result<Key, Refusal> {
        match value {
            Value::String(name) => Ok(Key::Name(name.clone())),
            Value::Number(n) if n.fract() == 0.0 && *n >= 0.0 && *n <= f64::from(u32::MAX) => Ok(Key::Index(*n as u32)),
            _ => Err(Refusal::InvalidKey),
        }
    }

    /// The key as a string (an index in decimal), as JavaScript compares
    /// property names.
    pub fn to_name(&self) -> std::borrow::Cow<'_, str> {
        match self {
            Key::Name(name) => name.to_string_lossy(),
            Key::Index(index) => index.to_string().into(),
        }
    }
}

/// Why an operation on a host value was refused. The messages are
/// isolated-vm's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    #[error("Reference is not an object")]
    NotAnObject,
    #[error("Reference is not a function")]
    NotAFunction,
    #[error("Invalid `key`")]
    InvalidKey,
    #[error("Object is or has proxy")]
    Proxy,
    #[error("Property is getter")]
    Getter,
    #[error("Set failed")]
    SetFailed,
    #[error("Delete failed")]
    DeleteFailed,
}

/// How an operation on a host value failed: refused by the rule, or failed
/// in the host's language (a getter or the function threw).
#[derive(Debug)]
pub enum Access<E> {
    Refused(Refusal),
    Host(E),
}

impl<E> From<Refusal> for Access<E> {
    fn from(refusal: Refusal) -> Access<E> {
        Access::Refused(refusal)
    }
}

/// What a host value is, as far as a Reference is concerned.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// A value that crosses as itself.
    Primitive(Value),
    /// Something callable: its Reference can only be called.
    Function,
    /// An object (isolated-vm counts a symbol as one).
    Object,
}

/// One of an object's own properties, found without running any of its code.
#[derive(Debug)]
pub enum Property<V> {
    Absent,
    Data(V),
    /// A getter or setter (a Python property or descriptor).
    Accessor,
}

/// The primitives a binding offers on its language's values, for the rule
/// above. Each runs on whatever thread may touch the language's values (Node's
/// thread, a thread holding Python's interpreter); none may run code of the
/// value's own unless its doc says so.
pub trait HostObjects {
    type Value: Clone;
    /// A failure in the language (an exception, a conversion that failed).
    type Error;

    fn kind(&mut self, value: &Self::Value) -> Result<Kind, Self::Error>;

    /// Whether property access on `object` runs code of its own choosing
    /// (a JavaScript Proxy). Such objects are refused.
    fn is_proxy(&mut self, object: &Self::Value) -> Result<bool, Self::Error>;

    /// Whether `object`'s own properties are shared by others, like what it
    /// inherits (a Python module or class): read only with
    /// [`Grant::unsafe_inherit`], never written or deleted without it.
    fn is_namespace(&mut self, object: &Self::Value) -> Result<bool, Self::Error>;

    /// `object`'s own property `key`.
    fn own_property(&mut self, object: &Self::Value, key: &Key) -> Result<Property<Self::Value>, Self::Error>;

    /// What `object` inherits from next (its prototype; a Python instance's
    /// class), if anything.
    fn parent(&mut self, object: &Self::Value) -> Result<Option<Self::Value>, Self::Error>;

    /// `object[key]` as the language reads it, getters run: only called when
    /// the grant allows accessors.
    fn read(&mut self, object: &Self::Value, key: &Key) -> Result<Self::Value, Self::Error>;

    /// Makes `key` an own data property of `object` holding `value`, running
    /// no setter (isolated-vm deletes the property and creates a data
    /// property). `false` when the language cannot without running code.
    fn define(&mut self, object: &Self::Value, key: &Key, value: Self::Value) -> Result<bool, Self::Error>;

    /// Deletes `object`'s own property `key`; `false` if it cannot be.
    fn remove(&mut self, object: &Self::Value, key: &Key) -> Result<bool, Self::Error>;

    /// Calls `function` with `receiver` as `this`.
    fn call(
        &mut self,
        function: &Self::Value,
        receiver: Self::Value,
        arguments: Vec<Self::Value>,
    ) -> Result<Self::Value, Self::Error>;

    /// A copy of `value`, to cross as data.
    fn copy(&mut self, value: &Self::Value) -> Result<Structured, Self::Error>;

    /// A value that came from an isolate (a copy, or one of the isolate's
    /// handles passed as itself), as a value of the language.
    fn materialise(&mut self, value: Transferable) -> Result<Self::Value, Self::Error>;

    /// `value` held by reference, under `grant`, to cross into an isolate.
    fn reference(&mut self, value: Self::Value, grant: Grant) -> Result<Arc<dyn Remote>, Self::Error>;

    /// What `value` crosses as if it is one of the library's own handles in
    /// the language (a Reference, an ExternalCopy, what `copyInto()` and
    /// `derefInto()` return): such values cross as what they stand for in
    /// every transfer mode but `Reference`, as isolated-vm's do. Asked only
    /// of objects. None by default.
    fn handle(&mut self, _value: &Self::Value) -> Result<Option<Transferable>, Self::Error> {
        Ok(None)
    }
}

type Outcome<H, T> = Result<T, Access<<H as HostObjects>::Error>>;

/// `target[key]` under `grant`; `None` when the grant finds nothing there
/// (JavaScript's `undefined`).
pub fn get<H: HostObjects>(host: &mut H, target: &H::Value, key: &Value, grant: Grant) -> Outcome<H, Option<H::Value>> {
    let key = accessed(host, target, key)?;
    let mut level = Some(target.clone());
    let mut own = true;
    while let Some(object) = level {
        // A namespace's own properties are what others inherit.
        let inherited = !own || host.is_namespace(&object).map_err(Access::Host)?;
        if grant.inherit || !inherited {
            match host.own_property(&object, &key).map_err(Access::Host)? {
                Property::Data(value) => return Ok(Some(value)),
                Property::Accessor if grant.accessors => {
                    return host.read(target, &key).map(Some).map_err(Access::Host);
                }
                Property::Accessor => return Err(Refusal::Getter.into()),
                Property::Absent => {}
            }
        }
        if !grant.inherit {
            break;
        }
        level = host.parent(&object).map_err(Access::Host)?;
        own = false;
    }
    Ok(None)
}

/// `target[key] = value` under `grant`, as an own data property.
pub fn set<H: HostObjects>(
    host: &mut H,
    target: &H::Value,
    key: &Value,
    value: H::Value,
    grant: Grant,
) -> Outcome<H, ()> {
    let key = accessed(host, target, key)?;
    if !writable(host, target, grant)? || !host.define(target, &key, value).map_err(Access::Host)? {
        return Err(Refusal::SetFailed.into());
    }
    Ok(())
}

/// `delete target[key]` under `grant`.
pub fn delete<H: HostObjects>(host: &mut H, target: &H::Value, key: &Value, grant: Grant) -> Outcome<H, ()> {
    let key = accessed(host, target, key)?;
    if !writable(host, target, grant)? || !host.remove(target, &key).map_err(Access::Host)? {
        return Err(Refusal::DeleteFailed.into());
    }
    Ok(())
}

/// Calls `target` with `receiver` as `this`.
pub fn apply<H: HostObjects>(
    host: &mut H,
    target: &H::Value,
    receiver: H::Value,
    arguments: Vec<H::Value>,
) -> Outcome<H, H::Value> {
    if host.kind(target).map_err(Access::Host)? != Kind::Function {
        return Err(Refusal::NotAFunction.into());
    }
    host.call(target, receiver, arguments).map_err(Access::Host)
}

/// How a value reached through a Reference leaves for an isolate, as the
/// operation's `result` option says: a primitive as itself and anything
/// else by Reference, under the same grant, by default.
pub fn leave<H: HostObjects>(
    host: &mut H,
    value: H::Value,
    mode: TransferMode,
    grant: Grant,
) -> Outcome<H, Transferable> {
    let kind = host.kind(&value).map_err(Access::Host)?;
    if mode != TransferMode::Reference
        && !matches!(kind, Kind::Primitive(_))
        && let Some(handle) = host.handle(&value).map_err(Access::Host)?
    {
        return Ok(handle);
    }
    Ok(match (mode, kind) {
        (TransferMode::Copy, _) => Transferable::Copy(host.copy(&value).map_err(Access::Host)?),
        (TransferMode::ExternalCopy, _) => ExternalCopy::new(host.copy(&value).map_err(Access::Host)?).into(),
        (TransferMode::Auto | TransferMode::CopyExceptFunctions, Kind::Primitive(primitive)) => {
            Transferable::from(primitive)
        }
        _ => Transferable::Remote(host.reference(value, grant).map_err(Access::Host)?),
    })
}

/// Carries out an operation that JavaScript in an isolate asked of the
/// host value `target` (see [`RemoteOp`](crate::RemoteOp)), under `grant`.
/// `Call` is not an operation of host values; `Apply` with `promise` is
/// carried out like one without (a binding that can wait for its
/// language's promises does so itself, with [`apply`] and [`leave`]).
pub fn perform<H: HostObjects>(
    host: &mut H,
    target: &H::Value,
    grant: Grant,
    op: crate::RemoteOp,
) -> Outcome<H, Transferable> {
    use crate::RemoteOp;
    match op {
        RemoteOp::Copy { .. } => Ok(Transferable::Copy(host.copy(target).map_err(Access::Host)?)),
        RemoteOp::Get { key, result, .. } => match get(host, target, &key, grant)? {
            Some(value) => leave(host, value, result, grant),
            None => Ok(Value::Undefined.into()),
        },
        RemoteOp::Set { key, value, .. } => {
            let value = host.materialise(Transferable::Copy(value)).map_err(Access::Host)?;
            set(host, target, &key, value, grant)?;
            Ok(Value::Bool(true).into())
        }
        RemoteOp::Delete { key } => {
            delete(host, target, &key, grant)?;
            Ok(Value::Bool(true).into())
        }
        RemoteOp::Apply { receiver, arguments, result, .. } => {
            let receiver = host.materialise(Transferable::Copy(receiver)).map_err(Access::Host)?;
            let arguments =
                arguments.into_iter().map(|argument| host.materialise(argument)).collect::<Result<Vec<_>, _>>();
            let returned = apply(host, target, receiver, arguments.map_err(Access::Host)?)?;
            leave(host, returned, result, grant)
        }
        RemoteOp::Call { .. } | RemoteOp::CopyInto { .. } => Err(Refusal::NotAFunction.into()),
    }
}

/// The key of a property access on `target`, after the checks every access
/// shares: a valid key, an object, and no Proxy on its prototype chain.
fn accessed<H: HostObjects>(host: &mut H, target: &H::Value, key: &Value) -> Outcome<H, Key> {
    let key = Key::new(key)?;
    if host.kind(target).map_err(Access::Host)? != Kind::Object {
        return Err(Refusal::NotAnObject.into());
    }
    let mut level = Some(target.clone());
    while let Some(object) = level {
        if host.is_proxy(&object).map_err(Access::Host)? {
            return Err(Refusal::Proxy.into());
        }
        level = host.parent(&object).map_err(Access::Host)?;
    }
    Ok(key)
}

/// Whether `target`'s own properties may change under `grant`.
fn writable<H: HostObjects>(host: &mut H, target: &H::Value, grant: Grant) -> Outcome<H, bool> {
    Ok(grant.inherit || !host.is_namespace(target).map_err(Access::Host)?)
}

#[cfg(test)]
mod tests {
    //! The rule over a toy object model: objects with own properties
    //! (data or accessor), a parent, and flags.

    use std::collections::HashMap;

    use super::*;

    #[derive(Clone, Debug, PartialEq)]
    enum Toy {
        Primitive(Value),
        Function(&'static str),
        Object(usize),
    }

    #[derive(Default)]
    struct Shape {
        own: HashMap<String, Slot>,
        parent: Option<usize>,
        proxy: bool,
        namespace: bool,
        frozen: bool,
    }

    enum Slot {
        Data(Toy),
        Getter(Toy),
    }

    #[derive(Default)]
    struct World {
        objects: Vec<Shape>,
    }

    impl World {
        fn add(&mut self, shape: Shape) -> Toy {
            self.objects.push(shape);
            Toy::Object(self.objects.len() - 1)
        }

        fn shape(&mut self, toy: &Toy) -> &mut Shape {
            let Toy::Object(index) = toy else { panic!("not an object") };
            &mut self.objects[*index]
        }
    }

    impl HostObjects for World {
        type Value = Toy;
        type Error = String;

        fn kind(&mut self, value: &Toy) -> Result<Kind, String> {
            Ok(match value {
                Toy::Primitive(primitive) => Kind::Primitive(primitive.clone()),
                Toy::Function(_) => Kind::Function,
                Toy::Object(_) => Kind::Object,
            })
        }

        fn is_proxy(&mut self, object: &Toy) -> Result<bool, String> {
            Ok(self.shape(object).proxy)
        }

        fn is_namespace(&mut self, object: &Toy) -> Result<bool, String> {
            Ok(self.shape(object).namespace)
        }

        fn own_property(&mut self, object: &Toy, key: &Key) -> Result<Property<Toy>, String> {
            Ok(match self.shape(object).own.get(key.to_name().as_ref()) {
                None => Property::Absent,
                Some(Slot::Data(value)) => Property::Data(value.clone()),
                Some(Slot::Getter(_)) => Property::Accessor,
            })
        }

        fn parent(&mut self, object: &Toy) -> Result<Option<Toy>, String> {
            Ok(self.shape(object).parent.map(Toy::Object))
        }

        fn read(&mut self, object: &Toy, key: &Key) -> Result<Toy, String> {
            let mut level = Some(object.clone());
            while let Some(at) = level {
                match self.shape(&at).own.get(key.to_name().as_ref()) {
                    Some(Slot::Data(value) | Slot::Getter(value)) => return Ok(value.clone()),
                    None => level = self.shape(&at).parent.map(Toy::Object),
                }
            }
            Ok(Toy::Primitive(Value::Undefined))
        }

        fn define(&mut self, object: &Toy, key: &Key, value: Toy) -> Result<bool, String> {
            let shape = self.shape(object);
            if shape.frozen {
                return Ok(false);
            }
            shape.own.insert(key.to_name().into_owned(), Slot::Data(value));
            Ok(true)
        }

        fn remove(&mut self, object: &Toy, key: &Key) -> Result<bool, String> {
            let shape = self.shape(object);
            if shape.frozen {
                return Ok(false);
            }
            shape.own.remove(key.to_name().as_ref());
            Ok(true)
        }

        fn call(&mut self, function: &Toy, _receiver: Toy, arguments: Vec<Toy>) -> Result<Toy, String> {
            match function {
                Toy::Function("throws") => Err("thrown".into()),
                _ => Ok(Toy::Primitive(Value::Number(arguments.len() as f64))),
            }
        }

        fn copy(&mut self, value: &Toy) -> Result<Structured, String> {
            match value {
                Toy::Primitive(primitive) => Ok(Structured::from(primitive.clone())),
                _ => Err("uncopyable".into()),
            }
        }

        fn materialise(&mut self, value: Transferable) -> Result<Toy, String> {
            value.into_value().map(Toy::Primitive).ok_or_else(|| "not a primitive".to_owned())
        }

        fn reference(&mut self, _value: Toy, _grant: Grant) -> Result<Arc<dyn Remote>, String> {
            Err("no references in the toy".into())
        }
    }

    fn undefined() -> Toy {
        Toy::Primitive(Value::Undefined)
    }

    fn number(n: f64) -> Toy {
        Toy::Primitive(Value::Number(n))
    }

    fn name(key: &str) -> Value {
        Value::String(JsString::from(key))
    }

    /// An object `{ own: 1, get getter() { return 2 }, method }` whose
    /// prototype has `inherited: 3` and a getter `inheritedGetter`.
    fn sample(world: &mut World) -> Toy {
        let parent = world.add(Shape {
            own: HashMap::from([
                ("inherited".to_owned(), Slot::Data(number(3.0))),
                ("inheritedGetter".to_owned(), Slot::Getter(number(4.0))),
                ("constructor".to_owned(), Slot::Data(Toy::Function("Object"))),
            ]),
            ..Shape::default()
        });
        let Toy::Object(parent) = parent else { unreachable!() };
        world.add(Shape {
            own: HashMap::from([
                ("own".to_owned(), Slot::Data(number(1.0))),
                ("getter".to_owned(), Slot::Getter(number(2.0))),
                ("method".to_owned(), Slot::Data(Toy::Function("method"))),
            ]),
            parent: Some(parent),
            ..Shape::default()
        })
    }

    #[test]
    fn own_data_only_by_default() {
        let mut world = World::default();
        let object = sample(&mut world);
        let grant = Grant::new();
        assert_eq!(get(&mut world, &object, &name("own"), grant).unwrap(), Some(number(1.0)));
        assert_eq!(get(&mut world, &object, &name("inherited"), grant).unwrap(), None);
        assert_eq!(get(&mut world, &object, &name("constructor"), grant).unwrap(), None);
        assert!(matches!(get(&mut world, &object, &name("getter"), grant), Err(Access::Refused(Refusal::Getter))));
    }

    #[test]
    fn grants_widen_reads() {
        let mut world = World::default();
        let object = sample(&mut world);
        let inherit = Grant::new().unsafe_inherit(true);
        assert_eq!(get(&mut world, &object, &name("inherited"), inherit).unwrap(), Some(number(3.0)));
        assert_eq!(get(&mut world, &object, &name("constructor"), inherit).unwrap(), Some(Toy::Function("Object")));
        assert!(matches!(
            get(&mut world, &object, &name("inheritedGetter"), inherit),
            Err(Access::Refused(Refusal::Getter))
        ));
        let both = inherit.accessors(true);
        assert_eq!(get(&mut world, &object, &name("inheritedGetter"), both).unwrap(), Some(number(4.0)));
        let accessors = Grant::new().accessors(true);
        assert_eq!(get(&mut world, &object, &name("getter"), accessors).unwrap(), Some(number(2.0)));
        assert_eq!(get(&mut world, &object, &name("inheritedGetter"), accessors).unwrap(), None);
    }

    #[test]
    fn functions_are_only_callable() {
        let mut world = World::default();
        let function = Toy::Function("log");
        for grant in [Grant::new(), Grant::new().unsafe_inherit(true).accessors(true)] {
            assert!(matches!(
                get(&mut world, &function, &name("constructor"), grant),
                Err(Access::Refused(Refusal::NotAnObject))
            ));
            let value = undefined();
            assert!(matches!(
                set(&mut world, &function, &name("x"), value, grant),
                Err(Access::Refused(Refusal::NotAnObject))
            ));
        }
        let receiver = undefined();
        assert_eq!(apply(&mut world, &function, receiver, vec![number(1.0)]).unwrap(), number(1.0));
        let object = sample(&mut world);
        let receiver = undefined();
        assert!(matches!(apply(&mut world, &object, receiver, vec![]), Err(Access::Refused(Refusal::NotAFunction))));
        let receiver = undefined();
        assert!(matches!(apply(&mut world, &Toy::Function("throws"), receiver, vec![]), Err(Access::Host(_))));
    }

    #[test]
    fn proxies_anywhere_on_the_chain_are_refused() {
        let mut world = World::default();
        let proxy = world.add(Shape { proxy: true, ..Shape::default() });
        let Toy::Object(proxy_index) = proxy else { unreachable!() };
        let above_proxy = world.add(Shape { parent: Some(proxy_index), ..Shape::default() });
        for target in [proxy, above_proxy] {
            for grant in [Grant::new(), Grant::new().unsafe_inherit(true).accessors(true)] {
                assert!(matches!(get(&mut world, &target, &name("x"), grant), Err(Access::Refused(Refusal::Proxy))));
                assert!(matches!(delete(&mut world, &target, &name("x"), grant), Err(Access::Refused(Refusal::Proxy))));
            }
        }
    }

    #[test]
    fn keys_are_strings_and_indices() {
        let mut world = World::default();
        let object = sample(&mut world);
        for key in [Value::Number(1.5), Value::Number(-1.0), Value::Null, Value::Bool(true), Value::Undefined] {
            assert!(matches!(get(&mut world, &object, &key, Grant::new()), Err(Access::Refused(Refusal::InvalidKey))));
        }
        let value = number(7.0);
        set(&mut world, &object, &Value::Number(3.0), value, Grant::new()).unwrap();
        assert_eq!(get(&mut world, &object, &name("3"), Grant::new()).unwrap(), Some(number(7.0)));
    }

    #[test]
    fn writes_define_own_data_and_namespaces_need_inherit() {
        let mut world = World::default();
        let object = sample(&mut world);
        set(&mut world, &object, &name("inherited"), number(9.0), Grant::new()).unwrap();
        assert_eq!(get(&mut world, &object, &name("inherited"), Grant::new()).unwrap(), Some(number(9.0)));
        set(&mut world, &object, &name("getter"), number(8.0), Grant::new()).unwrap();
        assert_eq!(get(&mut world, &object, &name("getter"), Grant::new()).unwrap(), Some(number(8.0)));
        delete(&mut world, &object, &name("own"), Grant::new()).unwrap();
        assert_eq!(get(&mut world, &object, &name("own"), Grant::new()).unwrap(), None);

        let frozen = world.add(Shape { frozen: true, ..Shape::default() });
        let value = number(1.0);
        assert!(matches!(
            set(&mut world, &frozen, &name("x"), value, Grant::new()),
            Err(Access::Refused(Refusal::SetFailed))
        ));
        assert!(matches!(
            delete(&mut world, &frozen, &name("x"), Grant::new()),
            Err(Access::Refused(Refusal::DeleteFailed))
        ));

        let module = world.add(Shape {
            own: HashMap::from([("getpid".to_owned(), Slot::Data(Toy::Function("getpid")))]),
            namespace: true,
            ..Shape::default()
        });
        assert_eq!(get(&mut world, &module, &name("getpid"), Grant::new()).unwrap(), None);
        let value = number(1.0);
        assert!(matches!(
            set(&mut world, &module, &name("getpid"), value, Grant::new()),
            Err(Access::Refused(Refusal::SetFailed))
        ));
        let inherit = Grant::new().unsafe_inherit(true);
        assert_eq!(get(&mut world, &module, &name("getpid"), inherit).unwrap(), Some(Toy::Function("getpid")));
    }

    #[test]
    fn results_leave_as_primitives_copies_or_references() {
        let mut world = World::default();
        let left = leave(&mut world, number(2.0), TransferMode::Auto, Grant::new()).unwrap();
        assert!(matches!(left, Transferable::Copy(copy) if copy.as_primitive() == Some(&Value::Number(2.0))));
        let object = sample(&mut world);
        // The toy has no references: that an object goes by Reference shows
        // as the toy's refusal to make one.
        assert!(matches!(leave(&mut world, object.clone(), TransferMode::Auto, Grant::new()), Err(Access::Host(_))));
        assert!(matches!(
            leave(&mut world, Toy::Function("f"), TransferMode::Auto, Grant::new()),
            Err(Access::Host(_))
        ));
        assert!(
            matches!(leave(&mut world, object, TransferMode::Copy, Grant::new()), Err(Access::Host(m)) if m == "uncopyable")
        );
    }
}
