//! CPU profiles, as isolated-vm's `startCpuProfiler` / `stopCpuProfiler`
//! give them: one per entry into the isolate while a title is profiled.

use futures_executor::block_on;
use ivm::{Error, EvalOptions, Isolate, IsolateOptions, ThreadCpuProfile};

const BUSY: &str = "function busyLoop() { let x = 0; for (let i = 0; i < 2e7; i++) x += i % 7; return x } busyLoop()";

#[test]
fn a_profile_names_the_functions_that_ran() {
    let isolate = Isolate::new(IsolateOptions::new()).unwrap();
    let context = isolate.create_context().unwrap();
    isolate.start_cpu_profiler("busy").unwrap();
    context.eval(BUSY, &EvalOptions::new()).unwrap();
    let profiles = isolate.stop_cpu_profiler("busy").unwrap();
    assert!(!profiles.is_empty(), "no profile of the entry that ran busyLoop");
    let profile = &profiles.iter().find(|p| p.profile.nodes.iter().any(|n| n.call_frame.function_name == "busyLoop"));
    let profile = &profile.expect("busyLoop is in a profile").profile;
    assert!(profile.end_time >= profile.start_time);
    assert_eq!(profile.samples.len(), profile.time_deltas.len());
    assert!(!profile.samples.is_empty(), "the sampler took no sample of a busy loop");
    // Each sample names a node, and each time is counted from the start.
    assert!(profile.samples.iter().all(|id| profile.nodes.iter().any(|n| n.id == *id)));
    assert!(profile.time_deltas.windows(2).all(|pair| pair[0] <= pair[1]));
    // The tree is whole: every child is a node.
    assert!(profile.nodes.iter().flat_map(|n| &n.children).all(|id| profile.nodes.iter().any(|n| n.id == *id)));
    let json: serde_json::Value = serde_json::from_str(&ThreadCpuProfile::json(&profiles)).unwrap();
    let first = &json[0];
    assert!(first["threadId"].is_u64() && first["profile"]["nodes"][0]["callFrame"]["scriptId"].is_u64(), "{json}");
}

#[test]
fn only_profiled_titles_gather_profiles() {
    let isolate = Isolate::new(IsolateOptions::new()).unwrap();
    let context = isolate.create_context().unwrap();
    // Not started: nothing, and the isolate is not profiled.
    context.eval("1", &EvalOptions::new()).unwrap();
    assert_eq!(isolate.stop_cpu_profiler("never").unwrap(), vec![]);
    isolate.start_cpu_profiler("a").unwrap();
    context.eval("1", &EvalOptions::new()).unwrap();
    isolate.start_cpu_profiler("b").unwrap();
    context.eval("2", &EvalOptions::new()).unwrap();
    let b = isolate.stop_cpu_profiler("b").unwrap();
    let a = isolate.stop_cpu_profiler("a").unwrap();
    // "a" saw every entry "b" saw, and those before "b" started.
    assert!(!b.is_empty() && a.len() > b.len(), "a: {} profiles, b: {}", a.len(), b.len());
    assert!(b.iter().all(|profile| a.contains(profile)));
    // Stopped is stopped: a second stop has nothing.
    assert_eq!(isolate.stop_cpu_profiler("a").unwrap(), vec![]);
}

#[test]
fn the_async_stop_takes_its_turn_after_calls_queued_before_it() {
    let isolate = Isolate::new(IsolateOptions::new()).unwrap();
    let context = isolate.create_context().unwrap();
    isolate.start_cpu_profiler("queued").unwrap();
    let run = context.eval_async(BUSY, EvalOptions::new());
    let profiles = block_on(isolate.stop_cpu_profiler_async("queued")).unwrap();
    block_on(run).unwrap();
    assert!(profiles.iter().any(|p| p.profile.nodes.iter().any(|n| n.call_frame.function_name == "busyLoop")));
}

#[test]
fn a_disposed_isolate_is_not_profiled() {
    let isolate = Isolate::new(IsolateOptions::new()).unwrap();
    isolate.dispose().unwrap();
    assert!(matches!(isolate.start_cpu_profiler("x"), Err(Error::Disposed)));
    assert!(matches!(isolate.stop_cpu_profiler("x"), Err(Error::Disposed)));
}

#[test]
fn an_isolate_with_an_inspector_is_profiled_too() {
    let isolate = Isolate::new(IsolateOptions::new().inspector(true)).unwrap();
    let context = isolate.create_context().unwrap();
    isolate.start_cpu_profiler("t").unwrap();
    context.eval(BUSY, &EvalOptions::new()).unwrap();
    let profiles = isolate.stop_cpu_profiler("t").unwrap();
    assert!(profiles.iter().any(|p| p.profile.nodes.iter().any(|n| n.call_frame.function_name == "busyLoop")));
}
