//! An example web service showing what a distributed cache is for.
//!
//! `GET /products/{id}` answers from a slow upstream (a simulated catalog
//! that takes 300 ms per lookup) through an `Arc<dyn DistributedCache>`,
//! with absolute and sliding expiry. Run two of these on Redis and a product
//! looked up through one is served by the other without touching the
//! upstream; restart one and the cache is still there. On `memory://` each
//! server caches on its own.
//!
//! ```text
//! cargo run -p cache-example-web                          # memory://, port 3000
//! CACHE_URL=redis://127.0.0.1:6380 LISTEN=127.0.0.1:3001 SERVER_NAME=a cargo run -p cache-example-web
//! ```
//!
//! See `docs/getting-started.md` for the walk-through and `--help` for the
//! settings. The pattern itself is [`app::cached_product`].

mod app;
mod catalog;
mod config;
mod telemetry;

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;

use cache_hybrid::HybridCache;
use clap::error::ErrorKind as ClapErrorKind;
use clap::Parser;
use distcache::{ErrorKind, Scrubber};

use crate::app::{AppState, Counters};
use crate::catalog::Catalog;
use crate::config::{BackplaneMode, Config};

/// The variables that may hold a URL with a password.
const SECRET_VARS: &[&str] = &["CACHE_URL"];

fn main() -> ExitCode {
    // Built first: everything printed from here on goes through it, clap's
    // messages included (they echo mistyped arguments as given).
    let scrubber = Scrubber::from_args_and_env(SECRET_VARS);
    let config = match Config::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let text = scrubber.scrub(&e.render().to_string());
            return match e.kind() {
                ClapErrorKind::DisplayHelp | ClapErrorKind::DisplayVersion => {
                    let _ = std::io::stdout().lock().write_all(text.as_bytes());
                    ExitCode::SUCCESS
                }
                _ => {
                    let _ = std::io::stderr().lock().write_all(text.as_bytes());
                    ExitCode::from(2)
                }
            };
        }
    };
    let say = |line: &str| eprintln!("{}", scrubber.scrub(&format!("cache-example-web: {line}")));
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            say(&format!("cannot start the runtime: {e}"));
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve(config, scrubber.clone())) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(e)) => {
            say(&e);
            ExitCode::from(2)
        }
        Err(Failure::Runtime(e)) => {
            say(&e);
            ExitCode::FAILURE
        }
    }
}

/// Why the server stopped early.
enum Failure {
    /// A setting is wrong (exit 2).
    Usage(String),
    /// The server could not run (exit 1).
    Runtime(String),
}

async fn serve(config: Config, scrubber: Scrubber) -> Result<(), Failure> {
    // Settings are checked before anything starts: a wrong CACHE_URL or an
    // expiry no cache accepts stops the server here. The cache itself
    // connects on first use; a cache that is down only makes requests
    // slower (see `app::cached_product`) and shows in `/health`.
    let entry_options = config.entry_options().map_err(Failure::Usage)?;
    let cache = distcache::open_with(&config.cache_url, &config.open_options())
        .map_err(|e| Failure::Usage(format!("CACHE_URL: {e}")))?;
    let backend = distcache::backend_of(&config.cache_url).unwrap_or("unknown");
    // Logs (RUST_LOG, default info) and the /metrics recorder, installed
    // before the cache is wrapped: the wrapper registers its metrics then.
    let metrics = telemetry::install(&scrubber).map_err(Failure::Runtime)?;
    let cache = telemetry::instrument(cache, backend);

    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| Failure::Runtime(format!("cannot listen on {}: {e}", config.listen)))?;
    let local = listener
        .local_addr()
        .map_err(|e| Failure::Runtime(format!("cannot read the listen address: {e}")))?;
    let server = config.name.clone().unwrap_or_else(|| local.to_string());

    let (hybrid, backplane) = hybrid_cache(&config, &cache, backend)?;
    let state = Arc::new(AppState {
        hybrid,
        backplane,
        cache,
        entry_options,
        catalog: Catalog::new(config.upstream_delay),
        server: server.clone(),
        backend,
        cache_timeout: config.cache_timeout,
        counters: Counters::default(),
        scrubber,
    });

    // The first line on stdout says where to connect (scripts and the
    // end-to-end test read it, which matters with port 0).
    println!("listening on http://{local}");
    state.log(&format!(
        "cache {backend} ({}), backplane {backplane}, absolute expiry {}, sliding {}, upstream delay {} ms",
        distcache::redact(&config.cache_url),
        describe(config.absolute()),
        describe(config.sliding()),
        config.upstream_delay.as_millis(),
    ));
    // Say now, not at the first request, if the cache cannot be reached;
    // a login the server rejects will not get better by itself: stop.
    match tokio::time::timeout(config.cache_timeout, state.cache.ping()).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) if matches!(e.kind(), ErrorKind::Authentication | ErrorKind::Config) => {
            return Err(Failure::Usage(format!("the cache refused: {e}")));
        }
        Ok(Err(e)) => state.log(&format!(
            "warning: the cache is unavailable ({e}); serving from the upstream until it answers"
        )),
        Err(_) => state.log(
            "warning: the cache did not answer within the cache timeout; \
             serving from the upstream until it does",
        ),
    }

    let router = app::router(Arc::clone(&state)).merge(telemetry::metrics_route(metrics));
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown_signal())
        .await
        .map_err(|e| Failure::Runtime(format!("server error: {e}")))?;
    state.log("shut down");
    Ok(())
}
/// The hybrid cache in front of `cache`, with the backplane `--backplane`
/// asks for, and that backplane's name (for `/stats` and the log).
///
/// With a backplane, an update on one instance (`PUT /products/{id}`)
/// evicts every other instance's local copy within milliseconds; without
/// one, the others serve their local copy until it expires.
fn hybrid_cache(
    config: &Config,
    cache: &Arc<dyn distcache::DistributedCache>,
    backend: &str,
) -> Result<(HybridCache, &'static str), Failure> {
    let builder = HybridCache::builder().distributed(Arc::clone(cache));
    let wanted = match config.backplane {
        BackplaneMode::Off => false,
        BackplaneMode::Auto => backend == "redis",
        BackplaneMode::Redis | BackplaneMode::Tracking if backend == "redis" => true,
        BackplaneMode::Redis | BackplaneMode::Tracking => {
            return Err(Failure::Usage(format!(
                "--backplane redis and tracking need a Redis CACHE_URL, not {backend}"
            )))
        }
    };
    let built = if wanted {
        match redis_backplane(config) {
            Ok((backplane, name)) => builder.backplane(backplane).build().map(|h| (h, name)),
            // auto: a Redis the backplane cannot use (cluster nodes) runs
            // without one, as any other backend does.
            Err(e) if config.backplane == BackplaneMode::Auto => {
                eprintln!("cache-example-web: no backplane: {e}");
                HybridCache::builder()
                    .distributed(Arc::clone(cache))
                    .build()
                    .map(|h| (h, "off"))
            }
            Err(e) => return Err(Failure::Usage(format!("--backplane: {e}"))),
        }
    } else {
        builder.build().map(|h| (h, "off"))
    };
    built.map_err(|e| Failure::Runtime(format!("cannot build the cache: {e}")))
}

/// A backplane and its name for `/stats`.
type Named = (Arc<dyn cache_hybrid::Backplane>, &'static str);

#[cfg(feature = "redis")]
fn redis_backplane(config: &Config) -> distcache::Result<Named> {
    // The cache's own settings: same server, credentials, timeouts, and the
    // instance name (every instance sharing the keys shares the channel;
    // server-assisted mode tracks the keys under it).
    let tracking = config.backplane == BackplaneMode::Tracking;
    let backplane = distcache::cache_redis::RedisBackplane::from_url(
        &config.cache_url,
        &config.open_options(),
    )?
    .server_assisted(tracking);
    let name = if tracking { "redis-tracking" } else { "redis" };
    Ok((Arc::new(backplane), name))
}

#[cfg(not(feature = "redis"))]
fn redis_backplane(_: &Config) -> distcache::Result<Named> {
    Err(distcache::Error::config("built without the redis feature"))
}

fn describe(d: Option<std::time::Duration>) -> String {
    d.map_or_else(|| "off".to_string(), |d| format!("{} s", d.as_secs_f64()))
}

/// Resolves on ctrl-c or SIGTERM; in-flight requests then finish before
/// the server exits.
async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut sigterm) => {
                sigterm.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}
