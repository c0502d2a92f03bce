//! A deterministic fuzz smoke test of `wire::decode` for CI: valid encodings,
//! mutated the ways real corruption and hostile senders mutate them, must
//! decode to `Ok` or `Err`, never panic. It is a fixed-seed stand-in for the
//! cargo-fuzz target (see docs/FUZZING.md), cheap enough to run on every
//! change; the fuzzer explores far more, for as long as it is given.

use std::panic::AssertUnwindSafe;

use ivm_marshal::wire::{Encoded, decode, encode};
use ivm_marshal::{BigInt, Buffer, ErrorKind, JsString, Object, ObjectId, Structured, Value, ViewKind};

const ITERATIONS: usize = 50_000;

/// xorshift64*: small, fast and the same everywhere, so a failure reproduces
/// from the iteration number alone.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number below `n` (which must not be 0).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn obj(i: u32) -> Value {
    Value::Object(ObjectId(i))
}

/// Valid graphs that between them use every tag of the format.
fn seeds() -> Vec<Vec<u8>> {
    let lone = JsString::from_utf16(vec![0x61, 0xDC00]);
    let rich = Structured::new(
        obj(0),
        vec![
            Object::Plain(vec![
                ("u".into(), Value::Undefined),
                ("n".into(), Value::Null),
                ("b".into(), Value::Bool(true)),
                ("f".into(), Value::Bool(false)),
                ("x".into(), Value::Number(-0.0)),
                ("s".into(), "héllo".into()),
                (lone.clone(), Value::String(lone.clone())),
                ("big".into(), Value::BigInt(BigInt::from_words(true, vec![u64::MAX, 3]))),
                ("self".into(), obj(0)),
                ("list".into(), obj(1)),
                ("map".into(), obj(2)),
            ]),
            Object::Array {
                length: 300,
                elements: vec![(0, obj(0)), (1, Value::Number(f64::NAN)), (299, obj(3))],
                properties: vec![("p".into(), obj(4))],
            },
            Object::Map(vec![(obj(5), obj(6)), (obj(7), obj(8)), ("k".into(), obj(9))]),
            Object::Date(1.7e12),
            Object::RegExp { source: "^a+$".into(), flags: "gi".into() },
            Object::BooleanObject(true),
            Object::NumberObject(f64::INFINITY),
            Object::StringObject(lone),
            Object::BigIntObject(BigInt::from(-1i64)),
            Object::Set(vec![obj(10), obj(11), obj(12), obj(13), Value::Null]),
            Object::Error {
                kind: ErrorKind::RangeError,
                message: Some("too far".into()),
                stack: Some("at f (x.js:1:2)".into()),
                cause: Some(obj(9)),
            },
            Object::ArrayBuffer(Buffer::from((0u8..32).collect::<Vec<_>>())),
            Object::View { kind: ViewKind::Uint16, buffer: ObjectId(11), byte_offset: 2, length: 7 },
            Object::View { kind: ViewKind::DataView, buffer: ObjectId(11), byte_offset: 5, length: 20 },
        ],
    );
    let dense = Structured::new(
        obj(0),
        vec![Object::Array {
            length: 40,
            elements: (0..40).map(|i| (i, Value::Number(f64::from(i)))).collect(),
            properties: vec![],
        }],
    );
    let chain =
        Structured::new(obj(0), (0..20u32).map(|i| Object::Plain(vec![("next".into(), obj((i + 1) % 20))])).collect());
    let buffers = Structured::new(
        obj(1),
        vec![Object::ArrayBuffer(Buffer::from(vec![0xee; 64])), Object::Set((0..16).map(obj).collect())]
            .into_iter()
            .chain(ViewKind::ALL.iter().map(|&kind| Object::View {
                kind,
                buffer: ObjectId(0),
                byte_offset: 8,
                length: 2,
            }))
            .chain([Object::Error { kind: ErrorKind::Error, message: None, stack: None, cause: None }])
            .collect(),
    );
    let primitive = Ok(Structured::from(Value::BigInt(BigInt::from(i128::MAX))));
    [rich, dense, chain, buffers, primitive]
        .into_iter()
        .map(|graph| encode(&graph.expect("seed graphs are valid")).bytes.to_vec())
        .collect()
}

/// Varints that claim far more than any input holds, or overflow.
const HUGE_VARINTS: [&[u8]; 5] = [
    &[0x80, 0x80, 0x80, 0x80, 0x10],                               // 2^32
    &[0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x10],       // 2^60
    &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01], // u64::MAX
    &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f], // overflows
    &[0xff, 0xff, 0xff, 0xff, 0x0f],                               // u32::MAX
];

fn mutate(rng: &mut Rng, bytes: &mut Vec<u8>, seeds: &[Vec<u8>]) {
    // Every mutation below but insertion needs a byte to work on.
    if bytes.is_empty() {
        bytes.push(rng.next() as u8);
        return;
    }
    let at = rng.below(bytes.len());
    match rng.below(8) {
        0 => bytes[at] ^= 1 << rng.below(8),
        1 => bytes[at] = rng.next() as u8,
        2 => bytes.insert(at, rng.next() as u8),
        3 => {
            bytes.remove(at);
        }
        4 => bytes.truncate(at),
        5 => {
            // A length, count or index replaced by a huge one.
            let huge = HUGE_VARINTS[rng.below(HUGE_VARINTS.len())];
            let end = (at + 1 + rng.below(4)).min(bytes.len());
            bytes.splice(at..end, huge.iter().copied());
        }
        6 => {
            // A run of another encoding spliced in (or over) this one.
            let other = &seeds[rng.below(seeds.len())];
            let from = rng.below(other.len());
            let to = (from + 1 + rng.below(16)).min(other.len());
            let end = if rng.below(2) == 0 { at } else { (at + to - from).min(bytes.len()) };
            bytes.splice(at..end, other[from..to].iter().copied());
        }
        _ => {
            // A run of this encoding repeated.
            let to = (at + 1 + rng.below(8)).min(bytes.len());
            let run = bytes[at..to].to_vec();
            bytes.splice(to..to, run);
        }
    }
}

#[test]
fn mutated_encodings_never_panic() {
    let seeds = seeds();
    for seed in &seeds {
        assert!(decode(&Encoded { bytes: seed.clone().into(), shared: vec![] }).is_ok());
    }
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let (mut decoded, mut refused) = (0usize, 0usize);
    for iteration in 0..ITERATIONS {
        let mut bytes = seeds[rng.below(seeds.len())].clone();
        for _ in 0..1 + rng.below(4) {
            mutate(&mut rng, &mut bytes, &seeds);
        }
        let input = Encoded { bytes: bytes.into(), shared: vec![] };
        let result = std::panic::catch_unwind(AssertUnwindSafe(|| decode(&input)));
        let Ok(result) = result else {
            panic!("iteration {iteration}: decode panicked on {:02x?}", &input.bytes[..]);
        };
        // Anything that decodes must be canonical.
        match result {
            Ok(graph) => {
                decoded += 1;
                assert_eq!(
                    encode(&graph).bytes,
                    input.bytes,
                    "iteration {iteration}: decoded bytes re-encode differently"
                );
            }
            Err(_) => refused += 1,
        }
    }
    println!("{ITERATIONS} mutated encodings: {decoded} decoded, {refused} refused");
    // Both outcomes must be reached, or the mutations test nothing.
    assert!(decoded > ITERATIONS / 100, "only {decoded} decoded");
    assert!(refused > ITERATIONS / 2, "only {refused} refused");
}
