//! What every test of the real binary starts from.

use std::process::{Command, Stdio};

/// The `cachectl` binary with no standard input and none of the variables
/// it reads from the environment: each test chooses its own URL and flags,
/// and an inherited `CACHE_URL` must never leak in.
pub fn cachectl() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cachectl"));
    for var in [
        "CACHE_URL",
        "CACHE_INSTANCE_NAME",
        "CACHE_SQL_SCHEMA",
        "CACHE_SQL_TABLE",
    ] {
        cmd.env_remove(var);
    }
    cmd.stdin(Stdio::null());
    cmd
}
