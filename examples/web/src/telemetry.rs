//! Logs through `tracing-subscriber`, and every cache operation traced and
//! counted (`cache_abstractions::Instrumented`), served at `/metrics` in
//! Prometheus text. Names: docs/observability.md.

use std::io::Write;
use std::sync::Arc;

use axum::http::header::CONTENT_TYPE;
use axum::routing::get;
use axum::Router;
use cache_abstractions::InstrumentExt;
use distcache::{DistributedCache, Scrubber};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

/// Installs the log subscriber (stderr, `RUST_LOG`, default `info`) and the
/// Prometheus recorder; the handle renders `/metrics`.
pub fn install(scrubber: &Scrubber) -> Result<PrometheusHandle, String> {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(Scrubbed(scrubber.clone()))
        .try_init()
        .map_err(|e| format!("cannot install the log subscriber: {e}"))?;
    PrometheusBuilder::new()
        .install_recorder()
        .map_err(|e| format!("cannot install the metrics recorder: {e}"))
}

/// The cache, traced and measured under its OpenTelemetry system name.
pub fn instrument(cache: Arc<dyn DistributedCache>, backend: &str) -> Arc<dyn DistributedCache> {
    let system = match backend {
        "sqlserver" => "microsoft.sql_server",
        "postgres" => "postgresql",
        other => other,
    };
    Arc::new(cache.instrumented(system))
}

/// `GET /metrics`: Prometheus text exposition format.
pub fn metrics_route(handle: PrometheusHandle) -> Router {
    Router::new().route(
        "/metrics",
        get(move || {
            let text = handle.render();
            async move { ([(CONTENT_TYPE, "text/plain; version=0.0.4")], text) }
        }),
    )
}

/// Log lines go through the scrubber like everything else printed: a
/// backend's event could quote a URL.
struct Scrubbed(Scrubber);

/// One log line, written out scrubbed when the formatter is done with it.
struct Line<'a>(&'a Scrubber, Vec<u8>);

impl<'a> MakeWriter<'a> for Scrubbed {
    type Writer = Line<'a>;
    fn make_writer(&'a self) -> Line<'a> {
        Line(&self.0, Vec::new())
    }
}

impl Write for Line<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.1.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for Line<'_> {
    fn drop(&mut self) {
        let text = self.0.scrub(&String::from_utf8_lossy(&self.1));
        let _ = std::io::stderr().lock().write_all(text.as_bytes());
    }
}
