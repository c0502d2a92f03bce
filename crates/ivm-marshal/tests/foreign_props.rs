//! Property tests of the bytes ivm exchanges with another V8 in the process
//! (Node's): every graph written for a reader of format 15 or 16 reads back
//! as the same graph, ArrayBuffers travelling beside the bytes; bytes kept
//! as they came are handed on with a header the reader accepts.

mod support;

use bytes::Bytes;
use ivm_marshal::foreign::{LATEST_VERSION, OLDEST_VERSION, read, serialized, write, write_serialized};
use ivm_marshal::{Structured, Value};
use proptest::prelude::*;
use support::{as_in_an_isolate, graph, has_nan};

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn graphs_round_trip_for_every_reader(graph in graph(), version in OLDEST_VERSION..=LATEST_VERSION) {
        let graph = as_in_an_isolate(&graph);
        let written = write(&graph, version).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&written.bytes[..2], &[0xFF, u8::try_from(version).unwrap()]);
        let back = read(Bytes::from(written.bytes.clone()), written.array_buffers)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        // What was read writes the same bytes again.
        let again = write(&back, version).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&again.bytes, &written.bytes);
        if !has_nan(&graph) {
            prop_assert_eq!(back, graph);
        }
    }

    #[test]
    fn kept_bytes_are_handed_on_for_an_older_reader(graph in graph()) {
        let written = write(&graph, LATEST_VERSION).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assume!(written.array_buffers.is_empty());
        let kept = serialized(Bytes::from(written.bytes.clone())).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let older = write_serialized(&kept, OLDEST_VERSION).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(older.bytes[1], u8::try_from(OLDEST_VERSION).unwrap());
        prop_assert_eq!(&older.bytes[2..], &written.bytes[2..]);
        let same = write_serialized(&kept, LATEST_VERSION).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(same.bytes, written.bytes);
    }
}

#[test]
fn bytes_of_other_formats_are_refused() {
    for bad in [&b""[..], b"\xFF", b"\xFF\x0E_", b"\xFF\x11_", b"{}"] {
        assert!(serialized(Bytes::copy_from_slice(bad)).is_err(), "{bad:?}");
        assert!(read(Bytes::copy_from_slice(bad), Vec::new()).is_err(), "{bad:?}");
    }
    assert!(write(&Structured::from(Value::Null), 14).is_err());
    assert_eq!(read(Bytes::from_static(b"\xFF\x0F_"), Vec::new()).unwrap(), Structured::from(Value::Undefined));
}
