//! `cargo xtask`: the one entry point that builds, tests and benchmarks every
//! part of ivm. It owns the environment those builds need (the V8 mirror) so
//! that no command depends on a developer's shell.
//!
//! It must stay free of dependencies and of ivm's own crates, so that it
//! builds in seconds on a fresh machine.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

const HELP: &str = "\
cargo xtask <command>
  demo    build the ivm command in release mode and run `ivm demo`
  test    run every test suite (Rust workspace tests, including tidy checks)
  bench   run the benchmarks and compare with the peers installed from npm
  help    print this";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = workspace_root();
    let env = BuildEnv::detect(&root);
    let result = match args.first().map(String::as_str) {
        Some("demo") => cargo(&env, &["run", "--release", "--package", "ivm-cli", "--bin", "ivm", "--", "demo"]),
        Some("test") => test(&env),
        Some("bench") => bench(&env, &args[1..]),
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

fn test(env: &BuildEnv) -> Result<(), String> {
    cargo(env, &["test", "--workspace", "--exclude", "xtask", "--exclude", "ivm-benches", "--no-fail-fast"])
}

fn bench(env: &BuildEnv, extra: &[String]) -> Result<(), String> {
    let mut args = vec!["bench", "--package", "ivm-benches"];
    if !extra.is_empty() {
        args.push("--");
        args.extend(extra.iter().map(String::as_str));
    }
    cargo(env, &args)
}
