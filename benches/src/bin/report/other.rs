//! The other backends' criterion benches, each beside its own raw baselines.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::figures::Figure;
use crate::fmt::ns;
use crate::hybrid::{HIT, MISS};
use crate::inputs::Estimate;
use crate::postgres::GROUP_PREFIX;

/// The function ids of the memory benches (everything else is another backend's).
pub(crate) const MEMORY_IDS: [&str; 4] = ["memory", "moka", "rwlock", "moka_tti"];

/// The other backends' criterion benches (benches/benches/redis.rs,
/// sqlserver.rs), each beside the raw baselines of its own group.
pub(crate) fn other_criterion(
    md: &mut String,
    c: &BTreeMap<String, Estimate>,
    figures: &mut Vec<Figure>,
) {
    let mut groups: BTreeMap<String, Vec<(String, &Estimate)>> = BTreeMap::new();
    for (id, e) in c {
        let mut parts = id.splitn(3, '/');
        let (Some(group), Some(func)) = (parts.next(), parts.next()) else {
            continue;
        };
        // The memory, hybrid and PostgreSQL benches have sections of their own.
        if MEMORY_IDS.contains(&func)
            || [HIT, MISS].contains(&group)
            || group.starts_with(GROUP_PREFIX)
        {
            continue;
        }
        let rest = parts.next().map(|v| format!("/{v}")).unwrap_or_default();
        groups
            .entry(format!("{group}{rest}"))
            .or_default()
            .push((func.to_string(), e));
    }
    if groups.is_empty() {
        return;
    }
    let _ = writeln!(md, "## Other backends: single calls (criterion)\n");
    let _ = writeln!(
        md,
        "From the other bench targets in `benches/benches/` (their own baselines, \
         written by each backend's engineer), run in the same `cargo xtask bench`. \
         `cache` is the backend; the others are raw clients issuing the same commands. \
         The ratio is the cache's time over this row's (above 1x: the cache is slower).\n"
    );
    let _ = writeln!(
        md,
        "| benchmark | function | mean (95% CI) | cache / this |"
    );
    let _ = writeln!(md, "|---|---|---:|---:|");
    for (group, funcs) in &groups {
        let cache = funcs
            .iter()
            .find(|(f, _)| f == "cache")
            .map(|(_, e)| e.mean);
        for (f, e) in funcs {
            let r = match cache {
                Some(m) if f != "cache" => format!("{:.2}x", m / e.mean),
                _ => "-".into(),
            };
            let _ = writeln!(
                md,
                "| {group} | {f} | {} ({}–{}) | {r} |",
                ns(e.mean),
                ns(e.lower),
                ns(e.upper)
            );
        }
    }
    md.push('\n');
    figures.push(Figure {
        figure: "other single calls",
        kind: "wall clock",
        harness: "criterion (`benches/benches/*.rs`)",
        runtime: "one tokio runtime per bench (see each bench's header)",
        command: "the backend's call / a raw client sending the same commands",
        concurrency: "1 (the `throughput_*` groups: as named)",
        like_for_like: true,
    });
}
