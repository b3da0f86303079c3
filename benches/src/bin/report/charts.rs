//! The SVG line charts (plotters, SVG backend only).

use std::collections::BTreeMap;
use std::path::Path;

use cache_benches::results::{LatencyPoint, ThroughputPoint};
use plotters::prelude::*;

use crate::fmt::{ns, tick_size};
use crate::Res;

pub(crate) const BLUE: RGBColor = RGBColor(31, 119, 180);

pub(crate) const ORANGE: RGBColor = RGBColor(255, 127, 14);

pub(crate) const GREY: RGBColor = RGBColor(110, 110, 110);

pub(crate) const GREEN: RGBColor = RGBColor(44, 160, 44);

pub(crate) const RED: RGBColor = RGBColor(214, 39, 40);

pub(crate) const PURPLE: RGBColor = RGBColor(148, 103, 189);

pub(crate) fn color_of(target: &str) -> RGBColor {
    match target {
        "memory" => BLUE,
        "moka (raw)" => ORANGE,
        "RwLock<HashMap> (raw)" => GREY,
        "cache-redis" => GREEN,
        "redis-rs (raw)" => PURPLE,
        "redis-benchmark" => RED,
        _ => BLACK,
    }
}

pub(crate) struct Series {
    pub(crate) name: String,
    pub(crate) color: RGBColor,
    pub(crate) dashed: bool,
    pub(crate) points: Vec<(f64, f64)>,
}

/// What a chart's axes say.
pub(crate) struct Axes<'a> {
    pub(crate) title: &'a str,
    pub(crate) x_desc: &'a str,
    pub(crate) y_desc: &'a str,
    pub(crate) log_y: bool,
    pub(crate) x_fmt: &'a dyn Fn(f64) -> String,
    pub(crate) y_fmt: &'a dyn Fn(f64) -> String,
}

/// A line chart with a logarithmic x axis (and optionally y axis).
pub(crate) fn chart(path: &Path, axes: &Axes<'_>, series: &[Series]) -> Res {
    let Axes {
        title,
        x_desc,
        y_desc,
        log_y,
        x_fmt,
        y_fmt,
    } = *axes;
    let pts = series.iter().flat_map(|s| s.points.iter());
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in pts {
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(y);
        y1 = y1.max(y);
    }
    if x0 > x1 {
        return Ok(()); // nothing to draw
    }
    if x0 == x1 {
        x1 = x0 * 2.0;
    }
    let e = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
    let root = SVGBackend::new(path, (760, 440)).into_drawing_area();
    root.fill(&WHITE).map_err(|x| e(&x))?;
    let mut builder = ChartBuilder::on(&root);
    builder
        .caption(title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(42)
        .y_label_area_size(80);
    let draw = |s: &Series| {
        let style = s.color.stroke_width(2);
        (s.points.clone(), style)
    };
    macro_rules! finish {
        ($chart:expr) => {{
            let mut c = $chart;
            c.configure_mesh()
                .x_desc(x_desc)
                .y_desc(y_desc)
                .x_label_formatter(&|x| x_fmt(*x))
                .y_label_formatter(&|y| y_fmt(*y))
                .light_line_style(WHITE.mix(0.0))
                .draw()
                .map_err(|x| e(&x))?;
            for s in series {
                let (points, style) = draw(s);
                let color = s.color;
                let anno = if s.dashed {
                    c.draw_series(DashedLineSeries::new(points.clone(), 6, 4, style))
                        .map_err(|x| e(&x))?
                } else {
                    c.draw_series(LineSeries::new(points.clone(), style))
                        .map_err(|x| e(&x))?
                };
                let dashed = s.dashed;
                anno.label(s.name.clone()).legend(move |(x, y)| {
                    let end = if dashed { x + 8 } else { x + 20 };
                    PathElement::new(vec![(x, y), (end, y)], color.stroke_width(2))
                });
                c.draw_series(
                    points
                        .iter()
                        .map(|&(x, y)| Circle::new((x, y), 3, color.filled())),
                )
                .map_err(|x| e(&x))?;
            }
            c.configure_series_labels()
                .position(SeriesLabelPosition::UpperLeft)
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK.mix(0.3))
                .draw()
                .map_err(|x| e(&x))?;
        }};
    }
    if log_y {
        let lo = (y0 * 0.7).max(1e-9);
        let hi = y1 * 1.5;
        finish!(builder
            .build_cartesian_2d((x0..x1).log_scale(), (lo..hi).log_scale())
            .map_err(|x| e(&x))?);
    } else {
        finish!(builder
            .build_cartesian_2d((x0..x1).log_scale(), 0.0..y1 * 1.1)
            .map_err(|x| e(&x))?);
    }
    root.present().map_err(|x| e(&x))?;
    Ok(())
}

pub(crate) fn throughput_chart(path: &Path, title: &str, points: &[&ThroughputPoint]) -> Res {
    let mut by: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    for p in points {
        by.entry(p.target.clone())
            .or_default()
            .push((f64::from(p.tasks), p.best()));
    }
    let series: Vec<Series> = order(by.into_iter())
        .map(|(name, mut pts)| {
            pts.sort_by(|a, b| a.0.total_cmp(&b.0));
            Series {
                color: color_of(&name),
                dashed: false,
                name,
                points: pts,
            }
        })
        .collect();
    let axes = Axes {
        title,
        x_desc: "concurrent tasks",
        y_desc: "operations per second",
        log_y: false,
        x_fmt: &|x| format!("{x:.0}"),
        y_fmt: &ops_per_sec,
    };
    chart(path, &axes, &series)
}

/// The backend first, then the baselines, in a fixed order.
pub(crate) fn order<T>(it: impl Iterator<Item = (String, T)>) -> impl Iterator<Item = (String, T)> {
    let rank = |n: &str| match n {
        "memory" | "cache-redis" => 0,
        "moka (raw)" | "redis-rs (raw)" => 1,
        _ => 2,
    };
    let mut v: Vec<_> = it.collect();
    v.sort_by_key(|(n, _)| rank(n));
    v.into_iter()
}

pub(crate) fn latency_chart(path: &Path, title: &str, points: &[&LatencyPoint]) -> Res {
    let mut by: BTreeMap<String, Vec<&LatencyPoint>> = BTreeMap::new();
    for p in points {
        by.entry(p.target.clone()).or_default().push(p);
    }
    let mut series = Vec::new();
    for (name, mut pts) in order(by.into_iter()) {
        pts.sort_by_key(|p| p.value_size);
        for (label, dashed, f) in [
            (
                "p50",
                false,
                (|p: &LatencyPoint| p.p50_ns) as fn(&LatencyPoint) -> u64,
            ),
            ("p99", true, |p: &LatencyPoint| p.p99_ns),
        ] {
            series.push(Series {
                name: format!("{name} {label}"),
                color: color_of(&name),
                dashed,
                points: pts
                    .iter()
                    .map(|p| (p.value_size as f64, f(p) as f64))
                    .collect(),
            });
        }
    }
    let axes = Axes {
        title,
        x_desc: "value size (bytes)",
        y_desc: "latency",
        log_y: true,
        x_fmt: &tick_size,
        y_fmt: &ns,
    };
    chart(path, &axes, &series)
}

/// An operations-per-second axis label: `1.2M`, `350k`.
pub(crate) fn ops_per_sec(y: f64) -> String {
    if y >= 1e6 {
        format!("{:.1}M", y / 1e6)
    } else {
        format!("{:.0}k", y / 1e3)
    }
}
