//! `ivm demo`: what ivm is for, in a few seconds.

use std::time::{Duration, Instant};

use futures_executor::block_on;
use ivm::{
    CompileOptions, Error, EvalOptions, Executor, Isolate, IsolateOptions, Reference, RunOptions, Transferable, Value,
};

use crate::CliError;

const SUM: &str = "function sum(min, max) { let s = 0; for (let i = min; i < max; ++i) s += i; return s; }";

pub(crate) fn run() -> Result<(), CliError> {
    parallel_sum()?;
    memory_limit()?;
    timeout()?;
    println!("\nThe host process survived all of it.");
    Ok(())
}

/// isolated-vm's example: sum 0..2^27 in one isolate, then split across
/// isolates whose async calls run in parallel on the worker pool.
fn parallel_sum() -> Result<(), CliError> {
    const N: f64 = 134_217_728.0;
    let workers = Executor::global().workers();
    println!("1. Parallel isolates: sum of 0..2^27");

    let one = SumIsolate::new()?;
    let start = Instant::now();
    let single = one.sum(0.0, N)?;
    println!("   one isolate:  {single} in {:?}", start.elapsed());

    let isolates = (0..workers.max(2)).map(|_| SumIsolate::new()).collect::<Result<Vec<_>, _>>()?;
    let start = Instant::now();
    let slice = N / isolates.len() as f64;
    let pending: Vec<_> = isolates
        .iter()
        .enumerate()
        .map(|(i, isolate)| {
            let (min, max) = ((slice * i as f64).floor(), (slice * (i + 1) as f64).floor());
            isolate.function.apply_async((), vec![min.into(), max.into()], RunOptions::new())
        })
        .collect();
    let mut total = 0.0;
    for result in pending {
        total += number(block_on(result)?)?;
    }
    println!("   {} isolates on a pool of {workers} worker threads: {total} in {:?}", isolates.len(), start.elapsed());
    if total != single {
        return Err(CliError::Failed(format!("parallel sum {total} differs from {single}")));
    }
    Ok(())
}

/// An isolate with isolated-vm's `sum` function in it.
struct SumIsolate {
    isolate: Isolate,
    function: Reference,
}

impl SumIsolate {
    fn new() -> Result<SumIsolate, CliError> {
        let isolate = Isolate::new(IsolateOptions::new())?;
        let context = isolate.create_context()?;
        isolate.compile_script(SUM, &CompileOptions::new())?.run(&context, &RunOptions::new())?;
        let function = context.global()?.get("sum", &RunOptions::new())?;
        let function = function.into_reference().ok_or_else(|| CliError::Failed("sum is not a function".into()))?;
        Ok(SumIsolate { isolate, function })
    }

    fn sum(&self, min: f64, max: f64) -> Result<f64, CliError> {
        number(self.function.apply((), &[min.into(), max.into()], &RunOptions::new())?)
    }
}

impl Drop for SumIsolate {
    fn drop(&mut self) {
        let _ = self.isolate.dispose();
    }
}

fn number(result: Transferable) -> Result<f64, CliError> {
    result.as_value().and_then(Value::as_f64).ok_or_else(|| CliError::Failed(format!("sum returned {result}")))
}

fn memory_limit() -> Result<(), CliError> {
    println!("\n2. Memory limit: hostile code allocating without end in a 16 MB isolate");
    let isolate = Isolate::new(IsolateOptions::new().memory_limit(16))?;
    let context = isolate.create_context()?;
    let start = Instant::now();
    let hostile = "const hoard = []; while (true) hoard.push(new Array(100000).fill(Math.random()));";
    match context.eval(hostile, &EvalOptions::new()) {
        Err(Error::MemoryLimit) => println!(
            "   stopped after {:?}: \"{}\"; isolate disposed: {}",
            start.elapsed(),
            Error::MemoryLimit,
            isolate.is_disposed()
        ),
        other => return Err(CliError::Failed(format!("expected a memory-limit error, got {other:?}"))),
    }
    Ok(())
}

fn timeout() -> Result<(), CliError> {
    println!("\n3. Timeout: `while (true) {{}}` with a 100 ms timeout");
    let isolate = Isolate::new(IsolateOptions::new())?;
    let context = isolate.create_context()?;
    let start = Instant::now();
    match context.eval("while (true) {}", &EvalOptions::new().timeout(Duration::from_millis(100))) {
        Err(Error::Timeout) => println!("   stopped after {:?}: \"{}\"", start.elapsed(), Error::Timeout),
        other => return Err(CliError::Failed(format!("expected a timeout, got {other:?}"))),
    }
    let after = context.eval("1 + 1", &EvalOptions::new())?;
    println!("   the same isolate then evaluates 1 + 1 = {after}");
    Ok(())
}
