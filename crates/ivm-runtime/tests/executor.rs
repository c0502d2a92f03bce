//! The worker pool and strands, with plain closures for work: order per
//! strand, many strands on few threads, synchronous turns, re-entrancy,
//! panics, and result futures.

#![cfg(not(loom))]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::Duration;

use futures_executor::block_on;
use ivm_runtime::{Busy, Canceled, Executor, oneshot};

fn log() -> Arc<Mutex<Vec<u32>>> {
    Arc::new(Mutex::new(Vec::new()))
}

#[test]
fn tasks_and_synchronous_turns_run_in_the_order_they_were_queued() {
    let executor = Executor::new(2);
    let strand = executor.strand();
    let seen = log();
    for round in 0..50 {
        for i in 0..4 {
            let seen = Arc::clone(&seen);
            strand.spawn(move || {
                // Slow enough that later work queues up behind it.
                std::thread::sleep(Duration::from_micros(50));
                seen.lock().unwrap().push(round * 10 + i);
            });
        }
        strand.enter(|| seen.lock().unwrap().push(round * 10 + 4)).unwrap();
        let (sender, receiver) = oneshot();
        let seen_async = Arc::clone(&seen);
        strand.spawn(move || {
            seen_async.lock().unwrap().push(round * 10 + 5);
            sender.send(());
        });
        if round % 2 == 0 {
            block_on(receiver).unwrap();
        }
    }
    strand.enter(|| ()).unwrap();
    let expected: Vec<u32> = (0..50).flat_map(|round| (0..6).map(move |i| round * 10 + i)).collect();
    assert_eq!(*seen.lock().unwrap(), expected);
}

#[test]
fn a_thousand_strands_share_a_fixed_pool() {
    let executor = Executor::new(2);
    let done = Arc::new(AtomicUsize::new(0));
    let threads = Arc::new(Mutex::new(std::collections::HashSet::new()));
    let receivers: Vec<_> = (0..1000)
        .map(|_| {
            let strand = executor.strand();
            let (sender, receiver) = oneshot();
            let (done, threads) = (Arc::clone(&done), Arc::clone(&threads));
            strand.spawn(move || {
                done.fetch_add(1, Ordering::SeqCst);
                threads.lock().unwrap().insert(std::thread::current().id());
                sender.send(());
            });
            receiver
        })
        .collect();
    for receiver in receivers {
        block_on(receiver).unwrap();
    }
    assert_eq!(done.load(Ordering::SeqCst), 1000);
    assert!(threads.lock().unwrap().len() <= executor.workers(), "no thread beyond the pool's ran work");
}

#[test]
fn synchronous_callers_from_many_threads_take_turns() {
    let executor = Executor::new(2);
    let strand = executor.strand();
    let inside = Arc::new(AtomicUsize::new(0));
    let barrier = Arc::new(Barrier::new(8));
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let (strand, inside, barrier) = (strand.clone(), Arc::clone(&inside), Arc::clone(&barrier));
            std::thread::spawn(move || {
                barrier.wait();
                for _ in 0..100 {
                    strand
                        .enter(|| {
                            assert_eq!(inside.fetch_add(1, Ordering::SeqCst), 0, "one at a time");
                            inside.fetch_sub(1, Ordering::SeqCst);
                        })
                        .unwrap();
                    strand.spawn(|| {});
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    strand.enter(|| ()).unwrap();
    assert!(strand.is_idle());
}

#[test]
fn entering_again_runs_at_once_and_another_strand_is_refused() {
    let executor = Executor::new(1);
    let (a, b) = (executor.strand(), executor.strand());
    let nested = a.enter(|| a.enter(|| 42).unwrap()).unwrap();
    assert_eq!(nested, 42, "re-entering the strand one holds runs at once");
    assert_eq!(a.enter(|| b.enter(|| ())), Ok(Err(Busy)), "waiting on another strand could deadlock");
    let (sender, receiver) = oneshot();
    let inner = a.clone();
    a.spawn(move || sender.send(inner.enter(|| 7)));
    assert_eq!(block_on(receiver).unwrap(), Ok(7), "a task may make synchronous calls on its own strand");
}

#[test]
fn a_panicking_task_cancels_its_result_and_the_strand_goes_on() {
    let executor = Executor::new(1);
    let strand = executor.strand();
    let (sender, receiver) = oneshot::<u32>();
    strand.spawn(move || {
        let _sender = sender;
        panic!("task failed");
    });
    let (after, after_receiver) = oneshot();
    strand.spawn(move || after.send(1));
    assert_eq!(block_on(receiver), Err(Canceled));
    assert_eq!(block_on(after_receiver), Ok(1));
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| strand.enter(|| panic!("turn failed"))));
    assert!(panicked.is_err());
    assert_eq!(strand.enter(|| 5), Ok(5), "a panicking turn still hands the strand on");
}

#[test]
fn busy_strands_yield_to_others() {
    // One worker: a strand with endless work must not keep another waiting
    // for all of it.
    let executor = Executor::new(1);
    let (busy, other) = (executor.strand(), executor.strand());
    let ran = Arc::new(AtomicUsize::new(0));
    for _ in 0..1000 {
        let ran = Arc::clone(&ran);
        busy.spawn(move || {
            std::thread::sleep(Duration::from_micros(20));
            ran.fetch_add(1, Ordering::SeqCst);
        });
    }
    let (sender, receiver) = oneshot();
    let seen = Arc::clone(&ran);
    other.spawn(move || sender.send(seen.load(Ordering::SeqCst)));
    assert!(block_on(receiver).unwrap() < 1000, "the other strand ran before the busy one finished");
}

#[test]
fn a_waiting_caller_runs_its_wait_hook_until_its_turn() {
    let executor = Executor::new(1);
    let strand = executor.strand();
    // The task ahead waits for work only the waiting thread can do, as an
    // isolate's async call waits for its host's event-loop thread.
    let (ask, asked) = std::sync::mpsc::channel::<()>();
    let (answer, answered) = std::sync::mpsc::channel::<()>();
    strand.spawn(move || {
        ask.send(()).unwrap();
        answered.recv().unwrap();
    });
    let served = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&served);
    ivm_runtime::set_wait_hook(Some(std::rc::Rc::new(move || {
        if asked.try_recv().is_ok() {
            answer.send(()).unwrap();
            count.fetch_add(1, Ordering::SeqCst);
        }
    })));
    assert_eq!(strand.enter(|| "my turn").unwrap(), "my turn");
    ivm_runtime::set_wait_hook(None);
    assert_eq!(served.load(Ordering::SeqCst), 1, "the hook served the task ahead");
}

#[test]
fn a_worker_waiting_in_place_for_queued_work_has_a_stand_in_run_it() {
    // One worker: its strand's task waits for a task of a second strand,
    // which waits in turn for a third's. Without stand-ins the one worker
    // would wait for work only it could run.
    let executor = Executor::new(1);
    let (first, second, third) = (executor.strand(), executor.strand(), executor.strand());
    let (done, finished) = std::sync::mpsc::channel();
    first.spawn(move || {
        let on_worker = ivm_runtime::on_worker_thread();
        let value = ivm_runtime::block_in_place(|| {
            let (sender, receiver) = std::sync::mpsc::channel();
            second.spawn(move || {
                let inner = ivm_runtime::block_in_place(|| {
                    let (sender, receiver) = std::sync::mpsc::channel();
                    third.spawn(move || sender.send(40).unwrap());
                    receiver.recv().unwrap()
                });
                sender.send(inner + 2).unwrap();
            });
            receiver.recv().unwrap()
        });
        done.send((on_worker, value)).unwrap();
    });
    let (on_worker, value) = finished.recv_timeout(Duration::from_secs(20)).expect("the waits ended");
    assert!(on_worker);
    assert_eq!(value, 42);
    // The pool works on as before once the stand-ins are gone.
    let strand = executor.strand();
    let (sender, receiver) = oneshot();
    strand.spawn(move || sender.send(ivm_runtime::on_worker_thread()));
    assert!(block_on(receiver).unwrap());
}

#[test]
fn waiting_in_place_off_the_pool_only_waits() {
    assert!(!ivm_runtime::on_worker_thread());
    assert_eq!(ivm_runtime::block_in_place(|| 7), 7);
}
