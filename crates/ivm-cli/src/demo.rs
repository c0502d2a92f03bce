//! `ivm demo`: what ivm is for, in a few seconds.

use std::time::{Duration, Instant};

use ivm::{CompileOptions, Error, EvalOptions, Isolate, IsolateOptions, RunOptions, Value};

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
/// isolates on their own threads.
fn parallel_sum() -> Result<(), CliError> {
    const N: f64 = 134_217_728.0;
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get()).clamp(2, 8);
    println!("1. Parallel isolates: sum of 0..2^27");

    let start = Instant::now();
    let single = sum_in_new_isolate(0.0, N)?;
    println!("   one isolate:        {single} in {:?}", start.elapsed());

    let start = Instant::now();
    let slices: Vec<_> = (0..threads)
        .map(|i| {
            let (min, max) = ((N / threads as f64 * i as f64).floor(), (N / threads as f64 * (i + 1) as f64).floor());
            std::thread::spawn(move || sum_in_new_isolate(min, max))
        })
        .collect();
    let mut total = 0.0;
    for slice in slices {
        total += slice.join().map_err(|_| CliError::Failed("a worker thread panicked".into()))??;
    }
    println!("   {threads} isolates, {threads} threads: {total} in {:?}", start.elapsed());
    if total != single {
        return Err(CliError::Failed(format!("parallel sum {total} differs from {single}")));
    }
    Ok(())
}

fn sum_in_new_isolate(min: f64, max: f64) -> Result<f64, CliError> {
    let isolate = Isolate::new(IsolateOptions::new())?;
    let context = isolate.create_context()?;
    isolate.compile_script(SUM, &CompileOptions::new())?.run(&context, &RunOptions::new())?;
    let sum = context.global()?.get("sum", &RunOptions::new())?;
    let sum = sum.as_reference().ok_or_else(|| CliError::Failed("sum is not a function".into()))?;
    let result = sum.apply((), &[min.into(), max.into()], &RunOptions::new())?;
    let total = result.as_value().and_then(Value::as_f64);
    isolate.dispose()?;
    total.ok_or_else(|| CliError::Failed(format!("sum returned {result}")))
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
