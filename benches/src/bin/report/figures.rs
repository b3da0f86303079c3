//! "What each figure compares": one row per figure of the run, written by
//! the module that draws the figure, so the table changes with the code.

use std::fmt::Write as _;

/// One figure: what it is and how it was measured.
pub(crate) struct Figure {
    /// The figure or table, as the report names it.
    pub(crate) figure: &'static str,
    /// Wall clock, instruction counts, resident memory, ...
    pub(crate) kind: &'static str,
    /// The program that measured it.
    pub(crate) harness: &'static str,
    /// The runtime flavour (none, current-thread tokio, multi-thread tokio, ...).
    pub(crate) runtime: &'static str,
    /// The command or call on each side.
    pub(crate) command: &'static str,
    /// Concurrent tasks (or threads, or connections).
    pub(crate) concurrency: &'static str,
    /// Like for like (same harness, runtime, command, concurrency on both sides)?
    pub(crate) like_for_like: bool,
}

pub(crate) fn figures_table(md: &mut String, rows: &[Figure]) {
    if rows.is_empty() {
        return;
    }
    let _ = writeln!(md, "## What each figure compares\n");
    let _ = writeln!(
        md,
        "Written by the report generator from the sections of this run, so it describes \
         what was measured. \"Like for like\" means the backend and its baseline ran in the \
         same harness and runtime, with the same command and concurrency, alternating; a \
         ratio between figures that are not like for like says as much about the harnesses \
         as about the code. Only instruction and allocation counts compare across machines; \
         wall-clock figures compare only within this run.\n"
    );
    let _ = writeln!(
        md,
        "| figure | kind | harness | runtime | command | concurrency | like for like |"
    );
    let _ = writeln!(md, "|---|---|---|---|---|---|---|");
    for f in rows {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} | {} |",
            f.figure,
            f.kind,
            f.harness,
            f.runtime,
            f.command,
            f.concurrency,
            if f.like_for_like { "yes" } else { "**no**" }
        );
    }
    md.push('\n');
}
