//! CPU profiles, as isolated-vm's `startCpuProfiler` / `stopCpuProfiler`.
//!
//! V8's sampler reaches only the thread that started it, and an isolate
//! runs on whichever thread has its turn, so (as isolated-vm does) a profile
//! is taken per entry into the isolate: while any title is being profiled,
//! each entry starts V8's profiler and its end stops it and keeps the
//! profile, tagged with the thread it ran on. Stopping a title hands over
//! the profiles kept since it started.
//!
//! The v8 crate binds no `CpuProfiler`: the profiles come from the
//! inspector protocol's `Profiler` domain, over a session ivm holds for
//! itself (`inspector::own_call`), and are given in isolated-vm's shape.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};

use serde::{Deserialize, Serialize};

use crate::this_thread::THREAD_NUMBER;
use crate::{Async, Error, Isolate, Pending, QueuedForm, Result};

/// The profiles of one thread's turn in the isolate (isolated-vm's
/// `ThreadCpuProfile`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ThreadCpuProfile {
    /// The thread the isolate ran on: a number per thread of the process,
    /// from 1 in the order threads first ran an isolate.
    pub thread_id: u64,
    pub profile: CpuProfile,
}

/// A CPU profile in the format of the DevTools protocol's
/// `Profiler.Profile`, which DevTools loads, with isolated-vm's two
/// departures: `scriptId` is a number, and each of `timeDeltas` is counted
/// from `startTime`, not from the sample before it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CpuProfile {
    /// When profiling started, in microseconds of a monotonic clock.
    pub start_time: f64,
    pub end_time: f64,
    /// The id of the node each sample found running.
    pub samples: Vec<u64>,
    /// When each sample was taken, in microseconds after `start_time`.
    pub time_deltas: Vec<f64>,
    pub nodes: Vec<ProfileNode>,
}

/// A node of a profile's call tree.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProfileNode {
    pub id: u64,
    pub hit_count: u64,
    /// The ids of the nodes it called.
    pub children: Vec<u64>,
    pub call_frame: CallFrame,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bailout_reason: Option<String>,
}

/// The function a profile node stands for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CallFrame {
    pub function_name: String,
    /// The script's `filename`.
    pub url: String,
    pub script_id: u64,
    /// From 0.
    pub line_number: i64,
    /// From 0.
    pub column_number: i64,
}

impl ThreadCpuProfile {
    /// `profiles` as a JSON array, in isolated-vm's shape: what the
    /// bindings hand their languages, and what DevTools loads (each
    /// element's `profile`).
    pub fn json(profiles: &[ThreadCpuProfile]) -> String {
        serde_json::to_string(profiles).unwrap_or_default()
    }
}

/// The titles being profiled in one isolate, and the profiles each has
/// gathered so far.
#[derive(Default)]
pub(crate) struct Profiler {
    /// Whether any title is being profiled: read on every entry.
    active: AtomicBool,
    titles: Mutex<Vec<(String, Vec<ThreadCpuProfile>)>>,
}

impl Profiler {
    fn start(&self, title: &str) {
        let mut titles = self.titles.lock().unwrap_or_else(PoisonError::into_inner);
        if !titles.iter().any(|(running, _)| running == title) {
            titles.push((title.to_owned(), Vec::new()));
        }
        self.active.store(true, Ordering::SeqCst);
    }

    fn stop(&self, title: &str) -> Vec<ThreadCpuProfile> {
        let mut titles = self.titles.lock().unwrap_or_else(PoisonError::into_inner);
        let profiles = titles
            .iter()
            .position(|(running, _)| running == title)
            .map(|index| titles.remove(index).1)
            .unwrap_or_default();
        self.active.store(!titles.is_empty(), Ordering::SeqCst);
        profiles
    }

    fn keep(&self, profile: &ThreadCpuProfile) {
        for (_, profiles) in self.titles.lock().unwrap_or_else(PoisonError::into_inner).iter_mut() {
            profiles.push(profile.clone());
        }
    }
}

/// Runs `f`, one entry into the isolate, under V8's profiler if a title is
/// being profiled.
pub(crate) fn profiled<R>(isolate: &mut v8::Isolate, profiler: &Profiler, f: impl FnOnce(&mut v8::Isolate) -> R) -> R {
    if !profiler.active.load(Ordering::SeqCst) {
        return f(isolate);
    }
    let started = crate::inspector::own_call(isolate, "Profiler.enable", serde_json::json!({})).is_some()
        && crate::inspector::own_call(isolate, "Profiler.start", serde_json::json!({})).is_some();
    let result = f(isolate);
    if started {
        let stopped = crate::inspector::own_call(isolate, "Profiler.stop", serde_json::json!({}));
        if let Some(profile) = stopped.and_then(|mut result| from_protocol(result.get_mut("profile")?.take())) {
            profiler.keep(&ThreadCpuProfile { thread_id: THREAD_NUMBER.with(|number| *number), profile });
        }
    }
    result
}

/// A `Profiler.Profile` of the protocol in isolated-vm's shape.
fn from_protocol(mut profile: serde_json::Value) -> Option<CpuProfile> {
    for node in profile.get_mut("nodes")?.as_array_mut()? {
        let node = node.as_object_mut()?;
        node.entry("children").or_insert_with(|| serde_json::json!([]));
        let frame = node.get_mut("callFrame")?.as_object_mut()?;
        let script_id = frame.get("scriptId")?.as_str()?.parse::<u64>().unwrap_or(0);
        frame.insert("scriptId".to_owned(), script_id.into());
    }
    let deltas = profile.get_mut("timeDeltas")?.as_array_mut()?;
    let mut since_start = 0.0;
    for delta in deltas.iter_mut() {
        since_start += delta.as_f64()?;
        *delta = since_start.into();
    }
    serde_json::from_value(profile).ok()
}

impl Isolate {
    /// Starts profiling the isolate's CPU use under `title`, as
    /// isolated-vm's `startCpuProfiler`: from now on each entry into the
    /// isolate is profiled, until [`stop_cpu_profiler`](Self::stop_cpu_profiler)
    /// with the same title. Starting a title already started does nothing.
    pub fn start_cpu_profiler(&self, title: &str) -> Result<()> {
        if self.is_disposed() {
            return Err(Error::Disposed);
        }
        self.inner.profiler.start(title);
        Ok(())
    }

    /// Stops profiling `title` and returns the profiles taken since it
    /// started, one per entry into the isolate (none for a title that was
    /// not started). It takes its turn with the isolate's other calls, so
    /// the calls queued before it are in its profiles.
    pub fn stop_cpu_profiler(&self, title: &str) -> Result<Vec<ThreadCpuProfile>> {
        // Stopped inside the entry, so that the entry's own profile is not
        // the title's.
        self.with_locker(|_| Ok(self.inner.profiler.stop(title)))
    }

    /// [`stop_cpu_profiler`](Self::stop_cpu_profiler), queued: isolated-vm's
    /// `stopCpuProfiler` returns a promise.
    pub fn stop_cpu_profiler_queued<F: QueuedForm>(
        &self,
        title: impl Into<String>,
    ) -> F::Output<Vec<ThreadCpuProfile>> {
        let (isolate, title) = (self.clone(), title.into());
        F::queue(self, move || isolate.stop_cpu_profiler(&title))
    }

    /// [`stop_cpu_profiler`](Self::stop_cpu_profiler), async.
    pub fn stop_cpu_profiler_async(&self, title: impl Into<String>) -> Pending<Vec<ThreadCpuProfile>> {
        self.stop_cpu_profiler_queued::<Async>(title)
    }
}
