//! `cargo xtask`: the one entry point that builds, tests and benchmarks every
//! part of ivm. It owns the environment those builds need (the V8 mirror) so
//! that no command depends on a developer's shell.
//!
//! It must stay free of dependencies and of ivm's own crates, so that it
//! builds in seconds on a fresh machine.

mod dist;
mod report;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

const HELP: &str = "\
cargo xtask <command>
  demo    build the ivm command in release mode and run `ivm demo`
  node [--release]
          build the Node addon into bindings/node/ivm.node
  python [--release]
          build the Python package and pip-install it into target/py-venv
  lint    check formatting (cargo fmt --check) and run clippy over every
          target with warnings denied
  test    run `lint`, then every test suite (Rust workspace tests with tidy
          checks, loom models, the Node suite on the machine's Node and on
          Node 24, the Python suite with pytest)
  bench [CRITERION ARGS]
          run the benchmarks and print ratios against isolated-vm (from npm),
          then compare the Node addon with isolated-vm in Node 24 and in the
          machine's Node (benches/node/compare.js), and the Python package
          with mini-racer from PyPI (benches/python/compare.py), and write
          docs/BENCHMARKS.md and docs/benchmarks.svg from the run
  peer-tests
          run the Node drop-in tests (tests/node/dropin-*.test.js) against
          isolated-vm 7.0.1 in Node 24 (from npm) instead of ivm: the peer
          passing them shows they specify isolated-vm's behaviour
  soak [SECONDS]
          run the hardening suite's long forms in release mode (10,000
          create/use/dispose cycles, ten times the floods, and a soak of
          SECONDS, default 3600) and record the results in docs/HARDENING.md
  dist    build every release artifact into target/dist (the npm packages
          in napi-rs's layout and their tarballs, the Python wheel and
          sdist, the crates), stripped, and print their sizes
  pack-node
          pack the npm packages with the debug addon into target/npm-pack
          (what tests/node/packaging.test.js installs)
  fuzz [SECONDS]
          fuzz the wire decoder with cargo-fuzz (installed if missing) for
          SECONDS (default 600); see docs/FUZZING.md
  help    print this";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = workspace_root();
    let env = BuildEnv::detect(&root);
    let result = match args.first().map(String::as_str) {
        Some("demo") => cargo(&env, &["run", "--release", "--package", "ivm-cli", "--bin", "ivm", "--", "demo"]),
        Some("node") => build_node_addon(&env, args.get(1).is_some_and(|a| a == "--release")).map(drop),
        Some("python") => install_python_package(&env, args.get(1).is_some_and(|a| a == "--release")).map(drop),
        Some("lint") => lint(&env),
        Some("test") => test(&env),
        Some("bench") => bench(&env, &args[1..]),
        Some("peer-tests") => peer_tests(&env),
        Some("fuzz") => fuzz(&env, args.get(1).map(String::as_str)),
        Some("dist") => dist::dist(&env),
        Some("pack-node") => pack_node(&env),
        Some("soak") => soak(&env, args.get(1).map(String::as_str)),
        Some("help" | "--help" | "-h") | None => {
            println!("{HELP}");
            Ok(())
        }
        Some(other) => Err(format!("unknown command {other:?}\n{HELP}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}

fn workspace_root() -> PathBuf {
    let manifest_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest_dir.parent().map(Path::to_path_buf).unwrap_or(manifest_dir)
}

/// The environment every build gets.
struct BuildEnv {
    root: PathBuf,
    vars: Vec<(String, String)>,
}

impl BuildEnv {
    fn detect(root: &Path) -> BuildEnv {
        let mut vars = Vec::new();
        // The v8 crate downloads its prebuilt library from GitHub unless told
        // of a mirror. Use the one beside the checkout where it exists, and
        // leave users elsewhere to the normal download.
        if std::env::var_os("RUSTY_V8_MIRROR").is_none() {
            let mirror = root.join("../shared/rusty_v8");
            if let Ok(mirror) = mirror.canonicalize() {
                vars.push(("RUSTY_V8_MIRROR".to_owned(), mirror.display().to_string()));
            }
        }
        BuildEnv { root: root.to_path_buf(), vars }
    }

    fn command(&self, program: &str) -> Command {
        let mut command = Command::new(program);
        command.current_dir(&self.root).envs(self.vars.iter().map(|(k, v)| (k, v)));
        command
    }
}

fn run(mut command: Command) -> Result<(), String> {
    let shown = format!("{command:?}");
    eprintln!("xtask: running {shown}");
    let status = command.status().map_err(|e| format!("could not start {shown}: {e}"))?;
    if status.success() { Ok(()) } else { Err(format!("{shown} failed with {status}")) }
}

fn cargo(env: &BuildEnv, args: &[&str]) -> Result<(), String> {
    let mut command = env.command(&std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()));
    command.args(args);
    run(command)
}

/// The checks rusty_v8's CI runs on every change: rustfmt, and clippy with
/// warnings denied, so that the lints the workspace declares are real.
fn lint(env: &BuildEnv) -> Result<(), String> {
    let format = cargo(env, &["fmt", "--all", "--check"]);
    let clippy = cargo(env, &["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"]);
    format.and(clippy)
}

fn test(env: &BuildEnv) -> Result<(), String> {
    let lint = lint(env);
    let mut tally = Tally::default();
    // A failed check counts as a failed test in the closing line.
    tally.failed += u64::from(lint.is_err());
    let rust = cargo_test(env, &["--workspace", "--exclude", "xtask", "--exclude", "ivm-benches"], None, &mut tally);
    // ivm-runtime's strands under loom, in a target directory of their own
    // so that `--cfg loom` does not invalidate the main build. A preemption
    // bound of 3 finds the bugs that matter in seconds instead of minutes.
    let loom = cargo_test(
        env,
        &["--package", "ivm-runtime", "--test", "loom", "--release"],
        Some(&[("RUSTFLAGS", "--cfg loom"), ("CARGO_TARGET_DIR", "target/loom"), ("LOOM_MAX_PREEMPTIONS", "3")]),
        &mut tally,
    );
    let node = build_node_addon(env, false).and_then(|_| node_tests(env, &mut tally));
    let python = install_python_package(env, false).and_then(|python| python_tests(env, &python, &mut tally));
    // One closing line for every suite together, in the form CI reads.
    println!("tests: {} passed, {} failed, {} skipped", tally.passed, tally.failed, tally.ignored);
    lint.and(rust).and(loom).and(node).and(python)
}

/// What the Python suite needs besides ivm, installed into the virtual
/// environment from PyPI (websockets: a real client for the inspector;
/// maturin: the packaging test builds the wheel).
const PYTHON_TEST_TOOLS: [&str; 5] = ["pytest", "pytest-timeout", "mypy", "websockets", "maturin"];

/// The virtual environment the Python package is installed into and tested
/// in (`target/py-venv`), made with the machine's `python3` on first use.
/// Returns its interpreter.
fn python_venv(env: &BuildEnv, tools: &[&str]) -> Result<PathBuf, String> {
    let venv = env.root.join("target/py-venv");
    let python = venv.join("bin/python");
    if !python.exists() {
        let mut create = env.command("python3");
        create.args(["-m", "venv"]).arg(&venv);
        run(create)?;
    }
    let missing: Vec<&str> = tools.iter().copied().filter(|tool| !python_has(env, &python, tool)).collect();
    if !missing.is_empty() {
        let mut install = env.command(&python.display().to_string());
        install.args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check"]).args(&missing);
        run(install)?;
    }
    Ok(python)
}

/// Whether `package` is installed for `python`.
fn python_has(env: &BuildEnv, python: &Path, package: &str) -> bool {
    let mut show = env.command(&python.display().to_string());
    show.args(["-m", "pip", "show", "--quiet", package]).stdout(std::process::Stdio::null());
    show.stderr(std::process::Stdio::null()).status().is_ok_and(|status| status.success())
}

/// Builds the Python package and installs it into `target/py-venv` the way
/// users do, `pip install ./bindings/python` (maturin, fetched by pip, is
/// the build backend). Tests build with the dev profile, which shares the
/// workspace's debug build; `--release` is for benchmarks.
fn install_python_package(env: &BuildEnv, release: bool) -> Result<PathBuf, String> {
    let python = python_venv(env, &PYTHON_TEST_TOOLS)?;
    let mut install = env.command(&python.display().to_string());
    install.args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--force-reinstall", "--no-deps"]);
    install.arg("./bindings/python");
    if !release {
        install.env("MATURIN_PEP517_ARGS", "--profile dev");
    }
    run(install)?;
    Ok(python)
}

/// Runs `tests/python` with pytest.
fn python_tests(env: &BuildEnv, python: &Path, tally: &mut Tally) -> Result<(), String> {
    let mut command = env.command(&python.display().to_string());
    command.args(["-m", "pytest", "tests/python", "-q", "-p", "no:cacheprovider"]);
    run_counting(command, |line| tally.add_pytest_line(line))
}

/// Builds the Node addon and puts it where `bindings/node/index.js` loads it.
fn build_node_addon(env: &BuildEnv, release: bool) -> Result<PathBuf, String> {
    let mut args = vec!["build", "--package", "ivm-node"];
    if release {
        args.push("--release");
    }
    cargo(env, &args)?;
    let built = env.root.join("target").join(if release { "release" } else { "debug" }).join("libivm_node.so");
    let addon = env.root.join("bindings/node/ivm.node");
    // Copied through a new file: a running Node may have the old one mapped.
    let _ = std::fs::remove_file(&addon);
    std::fs::copy(&built, &addon).map_err(|e| format!("copying {} to {}: {e}", built.display(), addon.display()))?;
    Ok(addon)
}

/// The npm packages with the debug addon, packed into `target/npm-pack`
/// for the packaging test to install.
fn pack_node(env: &BuildEnv) -> Result<(), String> {
    // Built, not copied to bindings/node: tests running meanwhile load that.
    cargo(env, &["build", "--package", "ivm-node"])?;
    let addon = env.root.join("target/debug/libivm_node.so");
    let out = env.root.join("target/npm-pack");
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    dist::pack_npm(env, &addon, &out, false).map(drop)
}

/// Node 24 from npm (the `node` package carries its binary), installed once
/// into `target/node24`: the Node suite runs on it and on the machine's Node.
fn node24(env: &BuildEnv) -> Result<PathBuf, String> {
    let dir = env.root.join("target/node24");
    let node = dir.join("node_modules/node/bin/node");
    if !node.exists() {
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let mut install = env.command("npm");
        install.current_dir(&dir).args(["install", "--no-audit", "--no-fund", "--loglevel=error", "--prefix", "."]);
        install.arg("node@24");
        run(install)?;
    }
    if node.exists() { Ok(node) } else { Err(format!("npm did not install {}", node.display())) }
}

/// Runs `tests/node` with `node --test` on the machine's Node and on Node 24.
fn node_tests(env: &BuildEnv, tally: &mut Tally) -> Result<(), String> {
    let mut result = node_suite(env, "node", tally);
    match node24(env) {
        Ok(node) => result = result.and(node_suite(env, &node.display().to_string(), tally)),
        Err(why) => {
            tally.failed += 1;
            result = result.and(Err(format!("Node 24 is not available: {why}")));
        }
    }
    result
}

fn node_suite(env: &BuildEnv, node: &str, tally: &mut Tally) -> Result<(), String> {
    // Files by name: Node 20 reads a folder argument as a folder, Node 22
    // and later as a glob pattern.
    let mut files: Vec<String> = std::fs::read_dir(env.root.join("tests/node"))
        .map_err(|e| format!("tests/node: {e}"))?
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter(|name| name.ends_with(".test.js"))
        .map(|name| format!("tests/node/{name}"))
        .collect();
    files.sort();
    let mut command = env.command(node);
    command.args(["--test", "--test-reporter=tap"]).args(&files);
    run_counting(command, |line| tally.add_tap_line(line))
}

/// The long forms of `tests/hardening.rs`; their summary lines (RSS over
/// the cycles and the soak) go to docs/HARDENING.md.
fn soak(env: &BuildEnv, seconds: Option<&str>) -> Result<(), String> {
    let seconds = seconds.unwrap_or("3600");
    seconds.parse::<u64>().map_err(|_| format!("SECONDS must be a whole number, not {seconds:?}"))?;
    let started = std::time::Instant::now();
    let mut command = env.command("cargo");
    command.args(["test", "--release", "--package", "ivm-tests", "--test", "hardening", "--", "--nocapture"]);
    command.env("IVM_HARDENING_SCALE", "10").env("IVM_SOAK_SECONDS", seconds);
    let mut summary = Vec::new();
    let mut vectors = Vec::new();
    let mut outcome = String::new();
    let ran = run_counting(command, |line| {
        if line.starts_with("cycles:") || line.starts_with("soak:") || line.starts_with("vectors:") {
            summary.push(line.to_owned());
        } else if let Some((_, row)) = line.split_once("vector: ") {
            vectors.push(row.to_owned());
        } else if line.starts_with("test result:") {
            outcome = line.to_owned();
        }
    });
    let mut markdown = String::from("# Hardening: the long forms\n\n");
    markdown.push_str(&format!(
        "Written by `cargo xtask soak {seconds}` from its last run ({}, {:.0} minutes); do not edit by hand. \
         The short forms of the same tests run in CI (`tests/hardening.rs`, \
         and the conformance cases' escapes and resource attacks in all three \
         front-ends).\n\n## Machine\n\n{}\n\n## Results\n\n",
        report::shell(&["date", "-u", "+%Y-%m-%d %H:%M UTC"]).unwrap_or_default(),
        started.elapsed().as_secs_f64() / 60.0,
        report::machine()
    ));
    for line in &summary {
        markdown.push_str(&format!("- {line}\n"));
    }
    markdown.push_str(&format!("- {}\n", if ran.is_ok() { outcome.as_str() } else { "the run FAILED" }));
    markdown.push_str(
        "\n## Attacks on the memory limit\n\nEach in a 32 MiB isolate, in a process of its own: its peak growth \
         over the process's baseline, and what stayed resident after dispose. The bound is twice the limit plus \
         64 MiB at the peak and 16 MiB after. *Filed* is what the attack cost when it was reported, before the \
         fixes.\n\n| attack | filed | peak growth | after dispose | outcome |\n|---|---:|---:|---:|---|\n",
    );
    for row in &vectors {
        markdown.push_str(&format!("| {row} |\n"));
    }
    std::fs::write(env.root.join("docs/HARDENING.md"), markdown)
        .map_err(|e| format!("writing docs/HARDENING.md: {e}"))?;
    println!("xtask: wrote docs/HARDENING.md");
    ran
}

/// Runs the wire decoder's cargo-fuzz target for `seconds`. cargo-fuzz needs
/// nightly compiler flags; `RUSTC_BOOTSTRAP` lets the stable toolchain accept
/// them, so no second toolchain is needed.
fn fuzz(env: &BuildEnv, seconds: Option<&str>) -> Result<(), String> {
    let seconds: u64 = seconds.unwrap_or("600").parse().map_err(|_| format!("not a number of seconds: {seconds:?}"))?;
    let installed = env.command("cargo").args(["fuzz", "--version"]).output().is_ok_and(|o| o.status.success());
    if !installed {
        cargo(env, &["install", "cargo-fuzz", "--locked"])?;
    }
    let mut command = env.command("cargo");
    command.current_dir(env.root.join("crates/ivm-marshal/fuzz")).env("RUSTC_BOOTSTRAP", "1").args([
        "fuzz",
        "run",
        "decode",
        "--",
        &format!("-max_total_time={seconds}"),
        "-print_final_stats=1",
    ]);
    run(command)
}

/// Test counts summed over every runner's closing lines.
#[derive(Default)]
struct Tally {
    passed: u64,
    failed: u64,
    ignored: u64,
}

impl Tally {
    /// Adds one of the closing lines of Node's TAP reporter ("# pass 12").
    fn add_tap_line(&mut self, line: &str) {
        let mut words = line.split_whitespace();
        let (Some("#"), Some(kind), Some(count), None) = (words.next(), words.next(), words.next(), words.next())
        else {
            return;
        };
        let Ok(count) = count.parse::<u64>() else { return };
        match kind {
            "pass" => self.passed += count,
            "fail" => self.failed += count,
            "skipped" | "todo" => self.ignored += count,
            _ => {}
        }
    }

    /// Adds pytest's closing line ("3 failed, 40 passed, 1 skipped in 2.10s",
    /// with `-q`; between rows of `=` without it).
    fn add_pytest_line(&mut self, line: &str) {
        let line = line.trim_matches(|c: char| c == '=' || c.is_whitespace());
        let Some((counts, duration)) = line.rsplit_once(" in ") else { return };
        if !duration
            .split_whitespace()
            .next()
            .is_some_and(|d| d.ends_with('s') && d[..d.len() - 1].parse::<f64>().is_ok())
        {
            return;
        }
        for part in counts.split(", ") {
            let mut words = part.split_whitespace();
            let (Some(count), Some(kind), None) =
                (words.next().and_then(|n| n.parse::<u64>().ok()), words.next(), words.next())
            else {
                return;
            };
            match kind {
                "passed" | "xpassed" => self.passed += count,
                "failed" | "error" | "errors" => self.failed += count,
                "skipped" | "xfailed" | "deselected" => self.ignored += count,
                _ => {}
            }
        }
    }

    /// Adds a libtest closing line ("test result: ok. 3 passed; 0 failed; 1 ignored; …").
    fn add_libtest_line(&mut self, line: &str) {
        let Some(counts) = line.strip_prefix("test result: ").and_then(|rest| rest.split_once(". ")) else {
            return;
        };
        for part in counts.1.split(';') {
            let mut words = part.split_whitespace();
            let (Some(count), Some(kind)) = (words.next().and_then(|n| n.parse::<u64>().ok()), words.next()) else {
                continue;
            };
            match kind {
                "passed" => self.passed += count,
                "failed" => self.failed += count,
                "ignored" => self.ignored += count,
                _ => {}
            }
        }
    }
}

/// Runs `cargo test` (with `vars` added to the environment) with its output
/// passed through, counting results.
fn cargo_test(env: &BuildEnv, args: &[&str], vars: Option<&[(&str, &str)]>, tally: &mut Tally) -> Result<(), String> {
    let mut command = env.command(&std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()));
    command.arg("test").args(args).arg("--no-fail-fast");
    command.envs(vars.unwrap_or_default().iter().copied());
    run_counting(command, |line| tally.add_libtest_line(line))
}

/// Runs `command` with its output passed through, handing each line of it
/// to `count`.
fn run_counting(mut command: Command, mut count: impl FnMut(&str)) -> Result<(), String> {
    use std::io::{BufRead, BufReader};
    command.stdout(std::process::Stdio::piped());
    let shown = format!("{command:?}");
    eprintln!("xtask: running {shown}");
    let mut child = command.spawn().map_err(|e| format!("could not start {shown}: {e}"))?;
    if let Some(stdout) = child.stdout.take() {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            println!("{line}");
            count(&line);
        }
    }
    let status = child.wait().map_err(|e| e.to_string())?;
    if status.success() { Ok(()) } else { Err(format!("{shown} failed with {status}")) }
}

/// The operations the benchmarks measure, by criterion id; the peer scripts
/// in `benches/peers/` report the same ids.
const BENCHMARKS: [&str; 6] = [
    "eval 1+2",
    "reference apply(a, b)",
    "async apply round trip",
    "isolate create+context+eval+dispose",
    "marshal/ExternalCopy 64MiB ArrayBuffer",
    "marshal/copy 10k objects out and in",
];

fn bench(env: &BuildEnv, extra: &[String]) -> Result<(), String> {
    let mut args = vec!["bench", "--package", "ivm-benches", "--bench", "core", "--bench", "marshal"];
    // Criterion's arguments may come after a `--`, as cargo's own commands
    // take them (`cargo xtask bench -- --measurement-time 2`). That one is
    // dropped: criterion rejects a second `--` after the one added here.
    let extra = extra.strip_prefix(&["--".to_owned()][..]).unwrap_or(extra);
    if !extra.is_empty() {
        args.push("--");
        args.extend(extra.iter().map(String::as_str));
    }
    cargo(env, &args)?;
    let mut comparisons = Vec::new();
    let mut notes = Vec::new();
    let ours: Vec<Option<f64>> = BENCHMARKS.iter().map(|id| criterion_mean_ns(&env.root, id)).collect();
    let peer = match isolated_vm_results(env) {
        Ok(peer) => Some(peer),
        Err(why) => {
            eprintln!("xtask: isolated-vm not measured: {why}");
            None
        }
    };
    println!("\n| operation | ivm | {} | ivm is faster by |", peer.as_ref().map_or("isolated-vm", |p| p.name.as_str()));
    println!("|---|---|---|---|");
    for (id, ours) in BENCHMARKS.iter().zip(ours) {
        let theirs = peer.as_ref().and_then(|p| json_number_after(&p.json, &format!("\"{id}\":")));
        let ratio = match (ours, theirs) {
            (Some(ours), Some(theirs)) if ours > 0.0 => {
                comparisons.push(report::Comparison {
                    section: format!(
                        "Rust: ivm's core vs {} in Node 24",
                        peer.as_ref().map_or("isolated-vm", |p| p.name.as_str())
                    ),
                    operation: (*id).to_owned(),
                    ivm_ns: ours,
                    peer_ns: theirs,
                    goal: None,
                });
                format!("{:.2}x", theirs / ours)
            }
            _ => "-".to_owned(),
        };
        println!("| {id} | {} | {} | {ratio} |", format_ns(ours), format_ns(theirs));
    }
    let one = criterion_mean_ns(&env.root, "runtime/parallel sum on 1 isolates");
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    let many = criterion_mean_ns(&env.root, &format!("runtime/parallel sum on {workers} isolates"));
    if let (Some(one), Some(many)) = (one, many) {
        let note = format!(
            "Parallel sum of 0..2^27: {} on one isolate, {} on {workers} (one per worker): {:.2}x speedup on {workers} cores.",
            format_ns(Some(one)),
            format_ns(Some(many)),
            one / many,
        );
        println!("\n{note}");
        notes.push(note);
    }
    let memcpy = criterion_mean_ns(&env.root, "marshal/memcpy 64MiB");
    let external_copy = criterion_mean_ns(&env.root, "marshal/ExternalCopy 64MiB ArrayBuffer");
    if let (Some(memcpy), Some(external_copy)) = (memcpy, external_copy) {
        let note = format!(
            "ExternalCopy of 64 MiB runs at {:.0}% of this machine's memcpy bandwidth ({} vs {}).",
            100.0 * memcpy / external_copy,
            format_ns(Some(external_copy)),
            format_ns(Some(memcpy)),
        );
        println!("\n{note}");
        notes.push(note);
    }
    let targets = startup_report(&env.root);
    // The comparison scripts append their rows here (IVM_BENCH_RESULTS).
    let results = env.root.join("target/bench-results.tsv");
    let _ = std::fs::remove_file(&results);
    compare_in_node(env, &results);
    compare_in_python(env, &results);
    comparisons.extend(report::read_comparisons(&results));
    report::write(&env.root, &comparisons, &targets, &notes)
}

/// The startup benchmarks against their goals: booting from a snapshot at
/// most half the time of building the same state from source, a warm
/// pool's checkout under 50 µs, and what a code cache saves.
fn startup_report(root: &Path) -> Vec<report::Target> {
    let time = |id: &str| criterion_mean_ns(root, &format!("startup/{id}"));
    let source = time("isolate+context+library from source");
    let snapshot = time("isolate+context+library from a snapshot");
    let checkout = time("pool checkout");
    let (cold, cached) = (time("compile without a code cache"), time("compile with a code cache"));
    let mut targets = Vec::new();
    if let (Some(source), Some(snapshot)) = (source, snapshot) {
        targets.push(report::Target {
            what: "isolate + context + a library, from a snapshot ÷ from source".into(),
            result: format!("{} ÷ {} = {:.2}x", format_ns(Some(snapshot)), format_ns(Some(source)), snapshot / source),
            goal: "≤ 0.5x".into(),
            met: Some(snapshot / source <= 0.5),
        });
    }
    if let Some(checkout) = checkout {
        targets.push(report::Target {
            what: "pool checkout".into(),
            result: format_ns(Some(checkout)),
            goal: "< 50 µs".into(),
            met: Some(checkout < 50_000.0),
        });
    }
    if let (Some(cold), Some(cached)) = (cold, cached) {
        targets.push(report::Target {
            what: "compile with a code cache ÷ without".into(),
            result: format!("{} ÷ {} = {:.2}x", format_ns(Some(cached)), format_ns(Some(cold)), cached / cold),
            goal: "-".into(),
            met: None,
        });
    }
    println!("\n| startup | result | goal | |");
    println!("|---|---|---|---|");
    for target in &targets {
        println!("| {} | {} | {} | {} |", target.what, target.result, target.goal, target.verdict());
    }
    targets
}

/// Runs `benches/python/compare.py`, which times ivm's Python package (a
/// release build) and mini-racer (from PyPI) side by side in one
/// interpreter. Skipped, with why, when either cannot be installed.
fn compare_in_python(env: &BuildEnv, results: &Path) {
    let python = install_python_package(env, true).and_then(|_| python_venv(env, &["mini-racer"]));
    let python = match python {
        Ok(python) => python,
        Err(why) => {
            eprintln!("xtask: the Python package is not compared with mini-racer: {why}");
            return;
        }
    };
    let mut command = env.command(&python.display().to_string());
    command.arg("benches/python/compare.py").env("IVM_BENCH_RESULTS", results);
    if let Err(why) = run(command) {
        eprintln!("xtask: the comparison with mini-racer failed (its output above says why): {why}");
    }
}

/// Runs `benches/node/compare.js`, which times the same operations through
/// ivm's Node addon and through isolated-vm in one Node process, on Node 24
/// (against isolated-vm 7.0.1) and on the machine's Node (against
/// isolated-vm 5.0.4, the last release for Node 20). The criterion figures
/// above time ivm's core without Node; these are what a user of the addon
/// sees. Each part that cannot run is reported and skipped: the Rust
/// benchmarks above stand on their own.
fn compare_in_node(env: &BuildEnv, results: &Path) {
    // The release build gets a copy of its own for these runs, named to
    // bindings/node/index.js by IVM_NODE_ADDON: `cargo xtask test` puts a
    // debug build at bindings/node/ivm.node, and one run beside the bench
    // would otherwise swap the library under it unseen.
    let addon = env.root.join("target/bench-node/ivm.node");
    let copied = build_node_addon(env, true).and_then(|_| {
        let built = env.root.join("target/release/libivm_node.so");
        std::fs::create_dir_all(env.root.join("target/bench-node")).map_err(|e| e.to_string())?;
        let _ = std::fs::remove_file(&addon);
        std::fs::copy(&built, &addon).map_err(|e| format!("copying {} to {}: {e}", built.display(), addon.display()))
    });
    if let Err(why) = copied {
        eprintln!("xtask: ivm's Node addon did not build, so it is not compared with isolated-vm: {why}");
        return;
    }
    compare_on(env, &addon, results, "Node 24", node24_peers(env));
    compare_on(env, &addon, results, "the machine's Node", machine_node_peers(env));
}

/// Runs compare.js with `addon` and with `peer`'s Node and isolated-vm (or
/// says why not).
fn compare_on(env: &BuildEnv, addon: &Path, results: &Path, which: &str, peer: Result<(String, PathBuf), String>) {
    let (node, dir) = match peer {
        Ok(found) => found,
        Err(why) => {
            eprintln!("xtask: isolated-vm for {which} is not available, so that comparison is skipped: {why}");
            return;
        }
    };
    let mut command = env.command(&node);
    // isolated-vm needs `--no-node-snapshot` on Node 20 and later; ivm needs
    // no flag. `--expose-gc` lets the script start each measurement on a
    // collected heap.
    command.args(["--no-node-snapshot", "--expose-gc", "benches/node/compare.js"]);
    command.arg(format!("--ivm={}", env.root.join("bindings/node").display()));
    command.arg(format!("--isolated-vm={}", dir.display()));
    command.env("IVM_NODE_ADDON", addon).env("IVM_BENCH_RESULTS", results);
    if let Err(why) = run(command) {
        eprintln!("xtask: the comparison on {which} failed (its output above says why): {why}");
    }
}

/// Installs `benches/peers/package.json` (isolated-vm 7.0.1, which ships
/// prebuilt binaries, and the `node` package carrying Node 24) into
/// `target/bench-peers` unless it is there, and returns that Node and the
/// directory.
fn node24_peers(env: &BuildEnv) -> Result<(String, PathBuf), String> {
    let dir = env.root.join("target/bench-peers");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    for file in ["package.json", "isolated-vm.js"] {
        std::fs::copy(env.root.join("benches/peers").join(file), dir.join(file)).map_err(|e| format!("{file}: {e}"))?;
    }
    let node = dir.join("node_modules/.bin/node");
    if !node.exists() || !dir.join("node_modules/isolated-vm").exists() {
        let mut install = env.command("npm");
        install.current_dir(&dir).args(["install", "--no-audit", "--no-fund", "--loglevel=error"]);
        run(install)?;
    }
    if node.exists() {
        Ok((node.display().to_string(), dir))
    } else {
        Err(format!("npm did not install {}", node.display()))
    }
}

/// Runs the drop-in tests against isolated-vm in Node 24, installed as the
/// benchmarks install it. `--no-node-snapshot` is what isolated-vm asks of
/// Node 20 and later.
fn peer_tests(env: &BuildEnv) -> Result<(), String> {
    let (node, dir) = node24_peers(env)?;
    let tests = dropin_tests(&env.root)?;
    let mut command = env.command(&node);
    command
        .current_dir(&env.root)
        .env("IVM_PEER", dir.join("node_modules/isolated-vm"))
        .args(["--no-node-snapshot", "--test", "--test-reporter=spec"])
        .args(tests);
    run(command)
}

/// The Node suite's drop-in test files, which use only isolated-vm's API.
fn dropin_tests(root: &Path) -> Result<Vec<String>, String> {
    let dir = root.join("tests/node");
    let mut tests: Vec<String> = std::fs::read_dir(&dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter(|name| name.starts_with("dropin-") && name.ends_with(".test.js"))
        .map(|name| format!("tests/node/{name}"))
        .collect();
    tests.sort();
    if tests.is_empty() {
        return Err("no tests/node/dropin-*.test.js".to_owned());
    }
    Ok(tests)
}

/// Installs `benches/peers/node20/package.json` (isolated-vm 5.0.4) into
/// `target/bench-peers-node20` for the machine's `node` unless it is built
/// there, and returns `node` and the directory.
///
/// isolated-vm 5 ships no binaries in its package: its install script asks
/// GitHub for one (prebuild-install) and else compiles with node-gyp, which
/// in turn downloads Node's headers. Neither download is possible everywhere
/// (not on this project's machines), so the prebuilt download is skipped
/// (`npm_config_build_from_source`) and node-gyp is pointed at the headers
/// that come with the machine's Node (`npm_config_nodedir`) where they exist.
/// The compile takes a few minutes, once.
fn machine_node_peers(env: &BuildEnv) -> Result<(String, PathBuf), String> {
    let dir = env.root.join("target/bench-peers-node20");
    let package = dir.join("node_modules/isolated-vm");
    let binary = package.join("out/isolated_vm.node");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let manifest = env.root.join("benches/peers/node20/package.json");
    std::fs::copy(&manifest, dir.join("package.json")).map_err(|e| format!("{}: {e}", manifest.display()))?;
    let nodedir = node_headers_dir(env);
    let with_headers = |command: &mut Command| {
        command.env("npm_config_build_from_source", "true");
        if let Some(nodedir) = &nodedir {
            command.env("npm_config_nodedir", nodedir);
        }
    };
    if !binary.exists() {
        let mut install = env.command("npm");
        install.current_dir(&dir).args(["install", "--no-audit", "--no-fund", "--loglevel=error"]);
        with_headers(&mut install);
        run(install)?;
    }
    // npm skips install scripts where it is configured to (ignore-scripts),
    // leaving the package unbuilt: build it directly then.
    if !binary.exists() && package.exists() {
        let mut build = env.command("npx");
        build.current_dir(&package).args(["--yes", "node-gyp", "rebuild", "--release", "-j", "max"]);
        with_headers(&mut build);
        run(build)?;
    }
    if binary.exists() { Ok(("node".to_owned(), dir)) } else { Err(format!("{} was not built", binary.display())) }
}

/// The directory that holds the machine's Node headers as node-gyp wants
/// them (`include/node/common.gypi`): the install prefix of `node` itself,
/// as Linux distributions' packages lay it out. None where they are absent.
fn node_headers_dir(env: &BuildEnv) -> Option<PathBuf> {
    let output = env.command("node").args(["-p", "process.execPath"]).output().ok()?;
    let node = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim()).canonicalize().ok()?;
    let prefix = node.parent()?.parent()?;
    prefix.join("include/node/common.gypi").exists().then(|| prefix.to_path_buf())
}

struct PeerResults {
    name: String,
    json: String,
}

/// Runs `benches/peers/isolated-vm.js` with isolated-vm on the Node it ships
/// binaries for (both from npm, see `node24_peers`) and returns its report.
fn isolated_vm_results(env: &BuildEnv) -> Result<PeerResults, String> {
    let (node, dir) = node24_peers(env)?;
    let mut command = env.command(&node);
    command.current_dir(&dir).arg("isolated-vm.js");
    eprintln!("xtask: running {command:?}");
    let output = command.output().map_err(|e| format!("could not run node: {e}"))?;
    if !output.status.success() {
        return Err(format!("isolated-vm.js failed: {}", String::from_utf8_lossy(&output.stderr)));
    }
    let json = String::from_utf8_lossy(&output.stdout).into_owned();
    let name =
        json.split("\"peer\":\"").nth(1).and_then(|rest| rest.split('"').next()).unwrap_or("isolated-vm").to_owned();
    Ok(PeerResults { name, json })
}

/// Criterion's estimate for a benchmark in nanoseconds: the slope of its
/// linear fit where it has one (the figure it prints), else the mean.
fn criterion_mean_ns(root: &Path, id: &str) -> Option<f64> {
    let path = root.join("target/criterion").join(id).join("new/estimates.json");
    let text = std::fs::read_to_string(path).ok()?;
    let estimate = |name: &str| {
        let section = &text[text.find(&format!("\"{name}\":{{"))?..];
        json_number_after(section, "\"point_estimate\":")
    };
    estimate("slope").or_else(|| estimate("mean"))
}

/// The number that follows the first `key` in `text`: enough JSON for the
/// flat reports read here, without a dependency.
fn json_number_after(text: &str, key: &str) -> Option<f64> {
    let rest = text[text.find(key)? + key.len()..].trim_start();
    let end =
        rest.find(|c: char| !(c.is_ascii_digit() || matches!(c, '.' | '-' | '+' | 'e' | 'E'))).unwrap_or(rest.len());
    rest[..end].parse().ok()
}

fn format_ns(ns: Option<f64>) -> String {
    ns.map_or_else(|| "-".to_owned(), report::format_ns)
}
