//! The `ivm` command as a user runs it.

use std::path::PathBuf;
use std::process::{Command, Output};

fn ivm(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ivm")).args(args).output().expect("run ivm")
}

fn script(name: &str, code: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ivm-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, code).unwrap();
    path
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn run_prints_the_completion_value() {
    let path = script("value.js", "const xs = [1, 2, 3];\nxs.map(x => x * 2).join(',')");
    let out = ivm(&["run", path.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "2,4,6\n");

    let path = script("object.js", "({ ok: true })");
    let out = ivm(&["run", path.to_str().unwrap()]);
    assert_eq!(text(&out.stdout).split_whitespace().collect::<String>(), "{\"ok\":true}");
}

#[test]
fn run_reports_errors_with_the_file_in_the_stack() {
    let path = script("throws.js", "\nthrow new RangeError('too far');");
    let out = ivm(&["run", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.starts_with("RangeError: too far"), "{stderr}");
    assert!(stderr.contains("throws.js:2:"), "{stderr}");
}

#[test]
fn run_enforces_the_limits() {
    let spin = script("spin.js", "for (;;) {}");
    let out = ivm(&["run", spin.to_str().unwrap(), "--timeout", "50"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("Script execution timed out."));

    let hog = script("hog.js", "const a = []; while (true) a.push(new Array(1e5).fill(1));");
    let out = ivm(&["run", hog.to_str().unwrap(), "--memory-limit", "16"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("memory limit"), "{}", text(&out.stderr));
}

#[test]
fn bad_usage_exits_with_2() {
    for args in
        [&[][..], &["run"], &["run", "a.js", "--timeout"], &["run", "a.js", "--memory-limit", "x"], &["frobnicate"]]
    {
        let out = ivm(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(text(&out.stderr).contains("usage:"));
    }
    let out = ivm(&["run", "/nonexistent/file.js"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("cannot read"));
    let too_small = script("one.js", "1");
    let out = ivm(&["run", too_small.to_str().unwrap(), "--memory-limit", "4"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("`memory_limit` must be a whole number of MiB from 8"), "{}", text(&out.stderr));
}

#[test]
fn demo_shows_parallelism_limits_and_survival() {
    let out = ivm(&["demo"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("9007199187632128"), "{stdout}");
    assert!(stdout.contains("due to memory limit"));
    assert!(stdout.contains("Script execution timed out."));
    assert!(stdout.contains("1 + 1 = 2"));
}
