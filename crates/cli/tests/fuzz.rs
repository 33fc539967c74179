//! Coverage-guided fuzzing of every parser of outside input, for a bounded time: the `fuzz/`
//! crate's libFuzzer targets (the `/ws` header framing, the upload decoder front, plugins.yml
//! loading with env expansion, the plugin wire protocol), each run from its seed corpus in
//! `fuzz/corpus/<target>/` — which holds every input that once crashed, so each is replayed
//! as a regression test on every run — and then mutated for [`SECONDS_PER_TARGET`].
//!
//! cargo-fuzz is installed into `target/tools` on first use, and the targets are built into
//! `target/fuzz` without a sanitizer (`--sanitizer none`: the code under test is safe Rust, and
//! a sanitizer needs a nightly standard library); `RUSTC_BOOTSTRAP=1` lets the stable compiler
//! take the instrumentation flags. A crash fails the test, naming the input libFuzzer saved
//! and how to replay it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// How long each target mutates after replaying its corpus.
const SECONDS_PER_TARGET: u32 = 20;

const TARGETS: [&str; 4] = ["ws_header", "upload_decode", "plugins_yml", "wire_protocol"];

/// The version `fuzz/Cargo.lock`'s libfuzzer-sys is known to work with.
const CARGO_FUZZ_VERSION: &str = "0.13.2";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"))
}

fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

fn run(command: &mut Command, what: &str) -> Output {
    let output = command
        .output()
        .unwrap_or_else(|error| panic!("{what}: cannot start: {error}"));
    if !output.status.success() {
        panic!(
            "{what} failed ({}):\n{}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            tail(&output.stderr, 6_000)
        );
    }
    output
}

fn tail(bytes: &[u8], chars: usize) -> String {
    let text = String::from_utf8_lossy(bytes);
    let start = text.len().saturating_sub(chars);
    let start = (start..text.len())
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(start);
    text[start..].to_owned()
}

fn cargo_fuzz() -> PathBuf {
    let tools = target_dir().join("tools");
    let binary = tools.join("bin/cargo-fuzz");
    let installed = Command::new(&binary)
        .arg("--version")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).contains(CARGO_FUZZ_VERSION));
    if !installed {
        run(
            cargo()
                .args(["install", "cargo-fuzz", "--locked", "--version"])
                .arg(CARGO_FUZZ_VERSION)
                .arg("--root")
                .arg(&tools),
            "installing cargo-fuzz",
        );
    }
    binary
}

#[test]
fn every_parser_of_outside_input_survives_its_fuzzer() {
    let root = root();
    let fuzz_target_dir = target_dir().join("fuzz");
    let cargo_fuzz = cargo_fuzz();
    let fuzz = |args: &[&str]| {
        let mut command = Command::new(&cargo_fuzz);
        command
            .current_dir(&root)
            .env("RUSTC_BOOTSTRAP", "1")
            .args(args)
            .args(["--fuzz-dir", "fuzz", "--sanitizer", "none", "--target-dir"])
            .arg(&fuzz_target_dir);
        command
    };
    run(&mut fuzz(&["build"]), "building the fuzz targets");

    let mut crashes = Vec::new();
    for target in TARGETS {
        let seeds = root.join("fuzz/corpus").join(target);
        assert!(
            seeds.read_dir().is_ok_and(|mut dir| dir.next().is_some()),
            "{target} has no seed corpus in {}",
            seeds.display()
        );
        // A fresh working corpus each run, so what this run finds does not leak into the
        // next and the seeds stay the only committed inputs.
        let work = fuzz_target_dir.join("corpus").join(target);
        let artifacts = fuzz_target_dir.join("artifacts").join(target);
        for dir in [&work, &artifacts] {
            let _ = std::fs::remove_dir_all(dir);
            std::fs::create_dir_all(dir).expect("a fuzz working folder");
        }
        let output = fuzz(&["run", target])
            .arg(&work)
            .arg(&seeds)
            .arg("--")
            .arg(format!("-max_total_time={SECONDS_PER_TARGET}"))
            .arg(format!("-artifact_prefix={}/", artifacts.display()))
            // An input that takes 10 s or 2 GiB is a hang or a bomb, and a failure.
            .args(["-timeout=10", "-rss_limit_mb=2048", "-print_final_stats=1"])
            .output()
            .expect("cargo fuzz run starts");
        let log = tail(&output.stderr, 4_000);
        let runs = log
            .lines()
            .find_map(|line| line.strip_prefix("stat::number_of_executed_units:"))
            .map(str::trim)
            .unwrap_or("?");
        eprintln!("{target}: {runs} inputs in {SECONDS_PER_TARGET} s");
        if !output.status.success() {
            crashes.push(format!(
                "{target} ({}): copy the input from {} into fuzz/corpus/{target}/ and add a \
                 regression test; replay it with `RUSTC_BOOTSTRAP=1 target/tools/bin/cargo-fuzz \
                 run --fuzz-dir fuzz --sanitizer none {target} <input>`\n{log}",
                output.status,
                artifacts.display()
            ));
        }
    }
    assert!(crashes.is_empty(), "{}", crashes.join("\n\n"));
}
