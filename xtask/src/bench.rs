//! `cargo xtask bench`: benchmarks and the performance report.

use crate::Result;

pub(crate) fn run(_args: &[String]) -> Result {
    Err("bench is not implemented yet".into())
}
