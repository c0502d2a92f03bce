//! The async forms: an ivm-core [`Pending`] as an asyncio future of the
//! running event loop. The call runs on ivm's worker pool; its result is
//! converted there (holding the interpreter only for that) and handed to the
//! loop with `call_soon_threadsafe`. Cancelling the future cancels the call
//! (ivm-core's `Canceler`).
//!
//! Sync calls release the interpreter for as long as JavaScript runs or the
//! caller waits for its turn on the isolate ([`detached`]).

use std::sync::{Arc, Mutex, PoisonError};

use ivm_core::Pending;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyCFunction;

use crate::errors::{OrRaise, to_py};

/// Runs `call` (a synchronous ivm-core call) with the interpreter released,
/// so that other Python threads run meanwhile, other isolates' JavaScript
/// included.
/// On the main thread, Ctrl-C stops the call's JavaScript and the call
/// raises `KeyboardInterrupt` (see `signals`).
pub(crate) fn detached<T: Send>(py: Python<'_>, call: impl FnOnce() -> ivm_core::Result<T> + Send) -> PyResult<T> {
    crate::errors::forget_callback_exception();
    crate::signals::watch(py);
    let result = py.detach(call);
    if let Err(ivm_core::Error::Canceled) = &result
        && let Some(raised) = crate::signals::take_raised()
    {
        return Err(raised);
    }
    result.or_raise(py)
}

/// An asyncio future settled with `pending`'s result, converted by `convert`
/// on the thread that finishes the call. With no event loop running yet
/// (`asyncio.run(context.eval_async(…))`), a coroutine that awaits it on
/// the loop that runs it: the call has started either way.
pub(crate) fn future<'py, T: Send + 'static>(
    py: Python<'py>,
    pending: Pending<T>,
    convert: impl FnOnce(Python<'_>, T) -> PyResult<Bound<'_, PyAny>> + Send + 'static,
) -> PyResult<Bound<'py, PyAny>> {
    let Ok(event_loop) = asyncio(py)?.call_method0("get_running_loop") else {
        let parts = Mutex::new(Some((pending, convert)));
        let make = PyCFunction::new_closure(py, None, None, move |args, _| -> PyResult<Py<PyAny>> {
            let taken = parts.lock().unwrap_or_else(PoisonError::into_inner).take();
            let (pending, convert) = taken
                .ok_or_else(|| crate::errors::usage_error(args.py(), "this awaitable has been awaited already"))?;
            future(args.py(), pending, convert).map(Bound::unbind)
        })?;
        return await_later(py)?.call1((make,));
    };
    let future = event_loop.call_method0("create_future")?;
    // A task that gives up on the call (cancelled, or timed out by
    // `asyncio.wait_for`) cancels it: it is skipped, or its JavaScript
    // stopped, instead of keeping the isolate busy for nobody.
    let canceler = pending.canceler();
    let on_done = PyCFunction::new_closure(py, None, None, move |args, _| -> PyResult<()> {
        if args.get_item(0)?.call_method0("cancelled")?.is_truthy()? {
            canceler.cancel();
        }
        Ok(())
    })?;
    future.call_method1("add_done_callback", (on_done,))?;
    let (event_loop, target) = (event_loop.unbind(), future.clone().unbind());
    pending.on_ready(move |result| {
        // Dropped if Python is shutting down: nobody is left to receive it.
        crate::interpreter::attach(|py| {
            let (ok, value) = match result.map_err(|error| to_py(py, error)).and_then(|value| convert(py, value)) {
                Ok(value) => (true, value.unbind()),
                Err(error) => (false, error.into_value(py).into_any()),
            };
            let settled = settle_function(py).and_then(|settle| {
                event_loop.bind(py).call_method1("call_soon_threadsafe", (settle, target, ok, value))
            });
            // The loop is closed: nobody is left to receive the result.
            drop(settled);
        });
    });
    Ok(future)
}

/// Sets an asyncio future's result or exception unless it was cancelled.
#[pyfunction]
fn settle(future: &Bound<'_, PyAny>, ok: bool, value: &Bound<'_, PyAny>) -> PyResult<()> {
    if future.call_method0("cancelled")?.is_truthy()? {
        return Ok(());
    }
    if ok { future.call_method1("set_result", (value,)) } else { future.call_method1("set_exception", (value,)) }?;
    Ok(())
}

/// `async def await_later(make): return await make()`: a coroutine for a
/// call made before any event loop ran.
fn await_later(py: Python<'_>) -> PyResult<&Bound<'_, PyAny>> {
    static AWAIT_LATER: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    AWAIT_LATER
        .get_or_try_init(py, || {
            let code = c"async def await_later(make):\n    return await make()\n";
            let module = PyModule::from_code(py, code, c"ivm/aio.py", c"ivm._await_later")?;
            Ok(module.getattr("await_later")?.unbind())
        })
        .map(|function| function.bind(py))
}

fn settle_function(py: Python<'_>) -> PyResult<&Bound<'_, PyAny>> {
    static SETTLE: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    SETTLE
        .get_or_try_init(py, || Ok(wrap_pyfunction!(settle, py)?.into_any().unbind()))
        .map(|function| function.bind(py))
}

/// What Python code JavaScript waits on answered (an async callback's
/// call, a module resolver's): `then` gets it at once for a plain value, or,
/// for a coroutine, once it has run on `event_loop` (the loop is told from
/// whatever thread this is).
pub(crate) fn when_ready(
    py: Python<'_>,
    answered: PyResult<Bound<'_, PyAny>>,
    event_loop: Option<&Py<PyAny>>,
    then: impl FnOnce(Python<'_>, PyResult<Bound<'_, PyAny>>) + Send + 'static,
) {
    let coroutine = match answered {
        Ok(value) => {
            let is_coroutine = py.import("inspect").and_then(|inspect| inspect.call_method1("iscoroutine", (&value,)));
            match is_coroutine.and_then(|answer| answer.is_truthy()) {
                Ok(true) => value,
                Ok(false) => return then(py, Ok(value)),
                Err(error) => return then(py, Err(error)),
            }
        }
        Err(error) => return then(py, Err(error)),
    };
    let then = Arc::new(Mutex::new(Some(then)));
    let later = Arc::clone(&then);
    let scheduled = (|| -> PyResult<()> {
        let Some(event_loop) = event_loop else {
            // Nothing will run it: close it rather than leave it unawaited.
            coroutine.call_method0("close")?;
            return Err(crate::errors::usage_error(
                py,
                "a coroutine needs the asyncio event loop that was running when it was made",
            ));
        };
        let running = asyncio(py)?.call_method1("run_coroutine_threadsafe", (coroutine, event_loop.bind(py)))?;
        let on_done = PyCFunction::new_closure(py, None, None, move |args, _| -> PyResult<()> {
            let done = args.get_item(0)?;
            // A cancelled coroutine's `result()` raises CancelledError.
            let outcome = done.call_method0("result");
            if let Some(then) = later.lock().unwrap_or_else(PoisonError::into_inner).take() {
                then(done.py(), outcome);
            }
            Ok(())
        })?;
        running.call_method1("add_done_callback", (on_done,))?;
        Ok(())
    })();
    if let Err(error) = scheduled {
        if let Some(then) = then.lock().unwrap_or_else(PoisonError::into_inner).take() {
            then(py, Err(error));
        }
    }
}

pub(crate) fn asyncio(py: Python<'_>) -> PyResult<&Bound<'_, PyModule>> {
    static ASYNCIO: PyOnceLock<Py<PyModule>> = PyOnceLock::new();
    ASYNCIO.get_or_try_init(py, || Ok(py.import("asyncio")?.unbind())).map(|module| module.bind(py))
}
