//! Under `panic = "abort"`, a blocking call inside a runtime returns
//! `Unsupported`: the process neither aborts nor prints anything on stderr
//! nor fires the panic hook. The probe is built as a crate of its own, since
//! the panic strategy is a whole-build setting.

use std::path::{Path, PathBuf};
use std::process::Command;

#[test]
fn blocking_inside_a_runtime_under_panic_abort_is_an_error_and_exit_0() {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("blocking-abort-probe");
    std::fs::create_dir_all(dir.join("src")).unwrap();
    let manifest = format!(
        r#"[package]
name = "blocking-abort-probe"
version = "0.0.0"
edition = "2021"
publish = false

[dependencies]
cache-abstractions = {{ path = {here:?} }}
tokio = {{ version = "1", features = ["rt-multi-thread"] }}

[profile.dev]
panic = "abort"

[workspace]
"#,
        here = here.display().to_string()
    );
    std::fs::write(dir.join("Cargo.toml"), manifest).unwrap();
    std::fs::copy(
        here.join("tests/abort_probe/probe.rs"),
        dir.join("src/main.rs"),
    )
    .unwrap();
    // The workspace's lock file pins the same versions, so no network is needed.
    std::fs::copy(here.join("../../Cargo.lock"), dir.join("Cargo.lock")).unwrap();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let target = dir.join("target");
    let build = Command::new(&cargo)
        .args(["build", "--quiet", "--offline"])
        .current_dir(&dir)
        .env("CARGO_TARGET_DIR", &target)
        .env_remove("RUSTFLAGS")
        .output()
        .unwrap();
    assert!(
        build.status.success(),
        "probe did not build: {}",
        String::from_utf8_lossy(&build.stderr)
    );
    let run = Command::new(target.join("debug/blocking-abort-probe"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        run.status.success(),
        "status {:?}: {stdout} {stderr}",
        run.status
    );
    assert_eq!(
        stdout.trim(),
        "[Some(Unsupported), Some(Unsupported), Some(Unsupported)]"
    );
    assert_eq!(stderr, "", "nothing on stderr, no panic hook");
}
