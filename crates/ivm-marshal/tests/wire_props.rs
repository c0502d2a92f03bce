//! Property tests of the wire format: every valid graph (any object kinds,
//! references anywhere in the arena, cycles included) survives
//! `decode(encode(g))`, and the encoding of what comes back is byte for byte
//! the encoding that went in.
//!
//! SharedArrayBuffers are left out: they hold V8 backing stores, which the
//! unit tests in `wire.rs` cover.

mod support;

use ivm_marshal::wire::{Encoded, FORMAT_VERSION, decode, encode};
use proptest::collection::vec;
use proptest::prelude::*;
use support::{graph, has_nan};

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn graphs_round_trip(graph in graph()) {
        let encoded = encode(&graph);
        let decoded = decode(&encoded).map_err(|e| TestCaseError::fail(e.to_string()))?;
        // NaN != NaN, so bytes are the comparison that holds for every graph.
        prop_assert_eq!(&encode(&decoded).bytes, &encoded.bytes);
        if !has_nan(&graph) {
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
