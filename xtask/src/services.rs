//! The programs the tests start themselves. They are installed here when
//! missing (as root, with apt-get), and their absence is an error, never a
//! reason to skip: a suite that silently skipped Redis would pass in CI
//! without testing it.

use std::process::Command;

use crate::{run, Result};

/// (program, Debian package) pairs the test suite needs.
const NEEDED: &[(&str, &str)] = &[
    ("redis-server", "redis-server"),
    ("redis-cli", "redis-tools"),
    ("openssl", "openssl"),
];

fn present(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
        // `openssl --version` is not a valid command; `openssl version` is.
        || Command::new(program)
            .arg("version")
            .output()
            .is_ok_and(|o| o.status.success())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// Makes sure every program in [`NEEDED`] runs, installing what is missing.
pub(crate) fn ensure() -> Result {
    let missing: Vec<(&str, &str)> = NEEDED
        .iter()
        .copied()
        .filter(|(program, _)| !present(program))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let packages: Vec<&str> = missing.iter().map(|(_, p)| *p).collect();
    if is_root() && present_apt() {
        run(Command::new("apt-get").arg("update"))?;
        run(Command::new("apt-get")
            .args(["install", "-y", "--no-install-recommends"])
            .args(&packages)
            .env("DEBIAN_FRONTEND", "noninteractive"))?;
    }
    let still: Vec<&str> = missing
        .iter()
        .filter(|(program, _)| !present(program))
        .map(|(program, _)| *program)
        .collect();
    if still.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "the tests need {} (install with: sudo apt-get install -y {})",
            still.join(", "),
            packages.join(" ")
        ))
    }
}

fn present_apt() -> bool {
    Command::new("apt-get")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}
