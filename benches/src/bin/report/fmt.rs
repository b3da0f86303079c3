//! Number formats and the targets table every section adds rows to.

use std::fmt::Write as _;

pub(crate) struct TargetRow {
    pub(crate) what: String,
    pub(crate) measured: String,
    pub(crate) ratio: f64,
    pub(crate) limit: String,
    pub(crate) pass: Option<bool>,
}

pub(crate) fn verdict(pass: Option<bool>) -> &'static str {
    match pass {
        Some(true) => "**pass**",
        Some(false) => "**MISS**",
        None => "info",
    }
}

pub(crate) fn targets_table(md: &mut String, rows: &[TargetRow]) {
    let _ = writeln!(md, "## Targets\n");
    let _ = writeln!(md, "| target | measured | ratio | limit | result |");
    let _ = writeln!(md, "|---|---|---:|---|---|");
    for r in rows {
        let ratio = if r.ratio.is_finite() {
            format!("{:.2}x", r.ratio)
        } else {
            "-".into()
        };
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} |",
            r.what,
            r.measured,
            ratio,
            r.limit,
            verdict(r.pass)
        );
    }
    md.push('\n');
}

pub(crate) fn ns(x: f64) -> String {
    if !x.is_finite() {
        "-".into()
    } else if x >= 1e6 {
        format!("{:.2} ms", x / 1e6)
    } else if x >= 1e3 {
        format!("{:.2} µs", x / 1e3)
    } else {
        format!("{x:.0} ns")
    }
}

pub(crate) fn rate(x: f64) -> String {
    if x >= 1e6 {
        format!("{:.2} M/s", x / 1e6)
    } else {
        format!("{:.0} k/s", x / 1e3)
    }
}

/// An axis tick on the (decimal) log scale of value sizes.
pub(crate) fn tick_size(x: f64) -> String {
    if x >= 1e6 {
        format!("{:.0} MB", x / 1e6)
    } else if x >= 1e3 {
        format!("{:.0} kB", x / 1e3)
    } else {
        format!("{x:.0} B")
    }
}

pub(crate) fn size(b: u64) -> String {
    if b >= 1 << 20 && b.is_multiple_of(1 << 20) {
        format!("{} MiB", b >> 20)
    } else if b >= 1 << 10 && b.is_multiple_of(1 << 10) {
        format!("{} KiB", b >> 10)
    } else {
        format!("{b} B")
    }
}

/// A latency, or `-` where the tool did not report it (0).
pub(crate) fn opt_ns(x: u64) -> String {
    if x == 0 {
        "-".into()
    } else {
        ns(x as f64)
    }
}

pub(crate) fn rank(target: &str) -> u8 {
    match target {
        "memory" | "cache-redis" => 0,
        "moka (raw)" | "redis-rs (raw)" => 1,
        _ => 2,
    }
}
