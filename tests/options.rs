//! Every numeric option of the Rust API, driven with the values a careless
//! or hostile caller passes (zero, the largest values, one past them, and
//! random ones): each call ends in a clear error or a correct result, never
//! a panic. The bindings' own suites do the same with their languages'
//! numbers (NaN, infinities, fractions, 1e22).

use std::time::Duration;

use futures_executor::block_on;
use ivm::numeric::{MAX_MEMORY_LIMIT_MB, MAX_TIMEOUT};
use ivm::{
    CompileOptions, Error, EvalOptions, Isolate, IsolateOptions, IsolatePool, MIN_MEMORY_LIMIT_MB, RunOptions,
    ScriptOrigin, Transferable, Value,
};
use proptest::prelude::*;

/// Durations at and around every edge.
fn edge_durations() -> Vec<Duration> {
    vec![
        Duration::ZERO,
        Duration::from_nanos(1),
        Duration::from_micros(1500),
        Duration::from_secs(5),
        MAX_TIMEOUT,
        MAX_TIMEOUT + Duration::from_nanos(1),
        Duration::from_secs(u64::MAX / 2),
        Duration::MAX,
    ]
}

/// What a call with `timeout` may end in: its result (the timeout is long
/// enough, or none), a timeout (zero or a nanosecond), or a clear refusal
/// (past [`MAX_TIMEOUT`]).
fn check(timeout: Duration, outcome: ivm::Result<Transferable>, expected: f64) {
    match outcome {
        Ok(value) => assert_eq!(value, Value::Number(expected), "{timeout:?}"),
        Err(Error::Timeout) => assert!(timeout < Duration::from_millis(1), "{timeout:?} timed out"),
        Err(Error::InvalidArgument(message)) => {
            assert!(timeout > MAX_TIMEOUT, "{timeout:?}: {message}");
            assert!(message.starts_with("`timeout` must be at most"), "{message}");
        }
        Err(other) => panic!("{timeout:?}: {other:?}"),
    }
}

/// Every call that takes a timeout, with `timeout`.
fn every_call_with(timeout: Duration) {
    let isolate = Isolate::new(IsolateOptions::new()).unwrap();
    let context = isolate.create_context().unwrap();
    let eval = EvalOptions::new().timeout(timeout);
    let run = RunOptions::new().timeout(timeout);
    check(timeout, context.eval("6 * 7", &eval), 42.0);
    check(timeout, context.eval_closure("return $0 * 2", &[Value::from(21.0).into()], &eval), 42.0);
    check(timeout, block_on(context.eval_async("6 * 7", eval.clone())), 42.0);
    check(timeout, block_on(context.eval_async("Promise.resolve(42)", eval.clone().promise(true))), 42.0);
    let script = isolate.compile_script("6 * 7", &CompileOptions::new()).unwrap();
    check(timeout, script.run(&context, &run), 42.0);
    let global = context.global().unwrap();
    check(timeout, global.set("n", 42.0, &run).map(|done| Value::Number(if done { 42.0 } else { 0.0 }).into()), 42.0);
    check(timeout, global.get("n", &run), 42.0);
    let double = context.eval("(x) => x * 2", &EvalOptions::new()).unwrap().into_reference().unwrap();
    check(timeout, double.apply(Value::Undefined, &[Value::from(21.0).into()], &run), 42.0);
    check(timeout, block_on(double.apply_async(Value::Undefined, vec![Value::from(21.0).into()], run.clone())), 42.0);
    let cpu = EvalOptions::new().cpu_limit(timeout);
    match context.eval("6 * 7", &cpu) {
        Ok(value) => assert_eq!(value, Value::Number(42.0)),
        Err(Error::CpuLimit) => assert!(timeout < Duration::from_millis(1), "{timeout:?}"),
        Err(Error::InvalidArgument(message)) => assert!(timeout > MAX_TIMEOUT && message.contains("cpu_limit")),
        Err(other) => panic!("cpu_limit {timeout:?}: {other:?}"),
    }
    isolate.dispose().unwrap();
}

#[test]
fn timeouts_at_every_edge_end_in_a_result_or_a_clear_error() {
    for timeout in edge_durations() {
        every_call_with(timeout);
    }
}

#[test]
fn memory_limits_out_of_range_are_refused() {
    for mb in [0, 1, MIN_MEMORY_LIMIT_MB - 1, MAX_MEMORY_LIMIT_MB + 1, usize::MAX / 2, usize::MAX] {
        let made = Isolate::new(IsolateOptions::new().memory_limit(mb));
        assert!(matches!(&made, Err(Error::InvalidArgument(m)) if m.starts_with("`memory_limit` must be")), "{mb}");
        let pool = IsolatePool::new(IsolateOptions::new().memory_limit(mb), 1);
        assert!(matches!(pool, Err(Error::InvalidArgument(_))), "{mb}");
    }
    let isolate = Isolate::new(IsolateOptions::new().memory_limit(MIN_MEMORY_LIMIT_MB)).unwrap();
    assert_eq!(isolate.create_context().unwrap().eval("1 + 1", &EvalOptions::new()).unwrap(), Value::Number(2.0));
}

#[test]
fn offsets_at_their_edges_compile() {
    let isolate = Isolate::new(IsolateOptions::new()).unwrap();
    let context = isolate.create_context().unwrap();
    for (line, column) in [(0, 0), (i32::MAX, i32::MAX), (i32::MIN, i32::MIN), (-1, -1)] {
        let origin = ScriptOrigin::new("edge.js").line_offset(line).column_offset(column);
        let script = isolate.compile_script("6 * 7", &CompileOptions::new().origin(origin.clone())).unwrap();
        assert_eq!(script.run(&context, &RunOptions::new()).unwrap(), Value::Number(42.0));
        let thrown = context.eval("throw new Error('x')", &EvalOptions::new().origin(origin));
        assert!(matches!(thrown, Err(Error::Js(_))), "{line}, {column}");
    }
}

#[test]
fn a_pool_of_no_isolates_is_refused() {
    assert!(matches!(IsolatePool::new(IsolateOptions::new(), 0), Err(Error::InvalidArgument(_))));
}

#[test]
fn shared_memory_too_large_for_the_system_is_an_error() {
    assert!(ivm::SharedBuffer::new(usize::MAX).is_err());
    assert!(ivm::SharedBuffer::new(1 << 62).is_err());
    assert_eq!(ivm::SharedBuffer::new(0).unwrap().byte_length(), 0);
    assert_eq!(ivm::SharedBuffer::new(16).unwrap().byte_length(), 16);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn random_timeouts_end_in_a_result_or_a_clear_error(seconds in any::<u64>(), nanos in 0u32..1_000_000_000) {
        every_call_with(Duration::new(seconds >> (seconds % 64), nanos));
    }
}

#[test]
fn the_numbers_bindings_pass_are_checked_once_in_the_core() {
    use ivm::numeric::{Unit, duration, integer, memory_limit};
    for value in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -1.0, 1e22, 2f64.powi(53), f64::MAX] {
        assert!(duration("timeout", value, Unit::Milliseconds).is_err(), "{value}");
        assert!(duration("timeout", value, Unit::Seconds).is_err(), "{value}");
        assert!(integer("port", value, 0, 65535).is_err(), "{value}");
        assert!(memory_limit("memoryLimit", value).is_err(), "{value}");
    }
    assert!(integer("port", 1.5, 0, 65535).is_err());
    assert!(memory_limit("memoryLimit", 64.5).is_err());
    assert_eq!(memory_limit("memoryLimit", 64.0), Ok(64));
}
