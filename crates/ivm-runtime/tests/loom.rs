//! Model checks of the strand state machine under every interleaving loom
//! explores: work queued from several threads runs exactly once, in each
//! thread's order, one piece at a time, and the strand ends idle. Run by
//! `cargo xtask test` as `RUSTFLAGS="--cfg loom" cargo test -p ivm-runtime
//! --test loom --release`.

#![cfg(loom)]

use std::sync::Arc as StdArc;

use loom::sync::Arc;
use loom::sync::Mutex;
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::thread;

use ivm_runtime::{Schedule, Strand};

/// Runs each scheduled strand on a thread of its own, as a pool worker would.
struct ThreadPerRun {
    threads: std::sync::Mutex<Vec<thread::JoinHandle<()>>>,
}

impl Schedule for ThreadPerRun {
    fn schedule(&self, strand: Strand) {
        let handle = thread::spawn(move || strand.run());
        self.threads.lock().unwrap().push(handle);
    }
}

impl ThreadPerRun {
    fn new() -> StdArc<ThreadPerRun> {
        StdArc::new(ThreadPerRun { threads: std::sync::Mutex::new(Vec::new()) })
    }

    /// Joins every run, including those scheduled by runs.
    fn join(&self) {
        loop {
            let Some(handle) = self.threads.lock().unwrap().pop() else { return };
            handle.join().unwrap();
        }
    }
}

/// Records what ran, and checks that nothing ran concurrently.
#[derive(Clone)]
struct Log {
    entries: Arc<Mutex<Vec<u32>>>,
    inside: Arc<AtomicUsize>,
}

impl Log {
    fn new() -> Log {
        Log { entries: Arc::new(Mutex::new(Vec::new())), inside: Arc::new(AtomicUsize::new(0)) }
    }

    fn record(&self, entry: u32) {
        assert_eq!(self.inside.fetch_add(1, Ordering::SeqCst), 0, "work of one strand overlapped");
        self.entries.lock().unwrap().push(entry);
        self.inside.fetch_sub(1, Ordering::SeqCst);
    }

    fn entries(&self) -> Vec<u32> {
        self.entries.lock().unwrap().clone()
    }
}

/// A strand on a thread-per-run scheduler, and a log to record into.
fn setup() -> (StdArc<ThreadPerRun>, Strand, Log) {
    let scheduler = ThreadPerRun::new();
    let strand = Strand::new(scheduler.clone());
    (scheduler, strand, Log::new())
}

#[test]
fn tasks_from_two_threads_run_once_each_in_order() {
    loom::model(|| {
        let (scheduler, strand, log) = setup();
        let other = {
            let (strand, log) = (strand.clone(), log.clone());
            thread::spawn(move || {
                for entry in [10, 11] {
                    let log = log.clone();
                    strand.spawn(move || log.record(entry));
                }
            })
        };
        let log_here = log.clone();
        strand.spawn(move || log_here.record(0));
        other.join().unwrap();
        scheduler.join();
        let entries = log.entries();
        assert_eq!(entries.len(), 3);
        let theirs: Vec<u32> = entries.iter().copied().filter(|e| *e >= 10).collect();
        assert_eq!(theirs, [10, 11], "one thread's tasks keep their order");
        assert!(strand.is_idle());
    });
}

#[test]
fn a_synchronous_turn_waits_for_earlier_tasks_and_blocks_later_ones() {
    loom::model(|| {
        let (scheduler, strand, log) = setup();
        let log_task = log.clone();
        strand.spawn(move || log_task.record(1));
        let racer = {
            let (strand, log) = (strand.clone(), log.clone());
            thread::spawn(move || strand.spawn(move || log.record(3)))
        };
        strand.enter(|| log.record(2)).unwrap();
        racer.join().unwrap();
        scheduler.join();
        let entries = log.entries();
        assert_eq!(entries.len(), 3);
        assert_eq!(entries[0], 1, "the turn came after the task queued before it");
        assert!(strand.is_idle());
    });
}

#[test]
fn two_synchronous_callers_take_turns() {
    loom::model(|| {
        let (scheduler, strand, log) = setup();
        let other = {
            let (strand, log) = (strand.clone(), log.clone());
            thread::spawn(move || strand.enter(|| log.record(2)).unwrap())
        };
        strand.enter(|| log.record(1)).unwrap();
        other.join().unwrap();
        scheduler.join();
        let mut entries = log.entries();
        entries.sort_unstable();
        assert_eq!(entries, [1, 2]);
        assert!(strand.is_idle());
    });
}
