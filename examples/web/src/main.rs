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
mod backend;
mod catalog;
mod config;

use std::process::ExitCode;
use std::sync::Arc;

use cache_hybrid::HybridCache;

use crate::app::{AppState, Counters};
use crate::catalog::Catalog;
use crate::config::{Config, ConfigError};

fn main() -> ExitCode {
    // `std::env::args` would panic on an argument that is not UTF-8.
    let args: Option<Vec<String>> = std::env::args_os()
        .skip(1)
        .map(|a| a.into_string().ok())
        .collect();
    let Some(args) = args else {
        eprintln!("cache-example-web: an argument is not valid UTF-8 (see --help)");
        return ExitCode::from(2);
    };
    let config = match Config::from_args(args, |k| std::env::var(k).ok()) {
        Ok(c) => c,
        Err(ConfigError::Help) => {
            print!("{}", config::usage());
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("cache-example-web: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cache-example-web: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cache-example-web: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(config: Config) -> Result<(), String> {
    // Fail fast on a wrong CACHE_URL; once running, a cache outage only
    // makes requests slower (see `app::cached_product`).
    let (cache, backend) = backend::open(&config).await?;

    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
    let local = listener
        .local_addr()
        .map_err(|e| format!("cannot read the listen address: {e}"))?;
    let server = config.name.clone().unwrap_or_else(|| local.to_string());

    let state = Arc::new(AppState {
        hybrid: HybridCache::new(cache),
        entry_options: app::entry_options(config.absolute, config.sliding),
        catalog: Catalog::new(config.upstream_delay),
        server: server.clone(),
        backend,
        counters: Counters::default(),
    });

    // The first line on stdout says where to connect (scripts and the
    // end-to-end test read it, which matters with port 0).
    println!("listening on http://{local}");
    eprintln!(
        "[{server}] cache {backend} ({}), absolute expiry {}, sliding {}, upstream delay {} ms",
        backend::redact(&config.cache_url),
        describe(config.absolute),
        describe(config.sliding),
        config.upstream_delay.as_millis(),
    );

    axum::serve(listener, app::router(state))
        .with_graceful_shutdown(shutdown_signal())
        .await
        .map_err(|e| format!("server error: {e}"))?;
    eprintln!("[{server}] shut down");
    Ok(())
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
