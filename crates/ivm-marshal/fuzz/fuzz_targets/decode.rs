//! Fuzzes `wire::decode` with arbitrary bytes: it must return, never panic,
//! and whatever it accepts must be canonical (it re-encodes to the very bytes
//! it was read from) and stable (the re-encoding decodes to the same graph).
#![no_main]

use bytes::Bytes;
use ivm_marshal::wire::{Encoded, decode, encode};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let input = Encoded { bytes: Bytes::copy_from_slice(data), shared: Vec::new() };
    let Ok(graph) = decode(&input) else { return };
    let encoded = encode(&graph);
    assert_eq!(encoded.bytes, input.bytes, "an accepted encoding is not canonical");
    let again = decode(&encoded).expect("a fresh encoding decodes");
    // Compared as bytes: graphs holding NaN are never `==` to themselves.
    assert_eq!(encode(&again).bytes, encoded.bytes, "re-encoding is not stable");
});
