//! Runs the Python SDK's own test suite (`sdk/python/tests`, standard-library unittest), so the
//! one test command covers both sides of the wire protocol.

#[test]
fn the_python_sdk_test_suite_passes() {
    let sdk = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../sdk/python");
    let output = std::process::Command::new("python3")
        .args(["-m", "unittest", "discover", "-s", "tests"])
        .current_dir(&sdk)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .expect("python3 runs");
    let report = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "python3 -m unittest discover -s tests (in {}):\n{report}",
        sdk.display()
    );
    let ran = report
        .lines()
        .find(|line| line.starts_with("Ran "))
        .unwrap_or("");
    let count: usize = ran
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(count >= 50, "the SDK suite ran {count} tests: {ran}");
    eprintln!("python sdk: {ran}");
}
