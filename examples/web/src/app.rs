//! The HTTP service: routes, handlers, and the get-or-compute pattern.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use cache_hybrid::{FactoryError, HybridCache, HybridEntryOptions, Source};
use distcache::{DistributedCache, EntryOptions, ErrorKind, Scrubber};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::catalog::{Catalog, Product};

/// Everything a request handler needs, shared by all requests.
#[derive(Debug)]
pub struct AppState {
    /// The cache. Any backend: the handlers never know which.
    pub cache: Arc<dyn DistributedCache>,
    /// A local tier with stampede protection in front of `cache`: what
    /// `/products` reads through.
    pub hybrid: HybridCache,
    /// The backplane between instances: `redis`, `redis-tracking` or `off`, for `/stats`.
    pub backplane: &'static str,
    /// When cached products expire.
    pub entry_options: EntryOptions,
    /// The slow upstream the cache protects.
    pub catalog: Catalog,
    /// This server's name, reported in every response.
    pub server: String,
    /// Which backend `cache` is (`memory`, `redis`), for `/stats` and `/health`.
    pub backend: &'static str,
    /// The longest `/health` waits for the cache's answer.
    pub cache_timeout: Duration,
    /// Counters for `/stats`.
    pub counters: Counters,
    /// Hides the secrets of the settings in every log line.
    pub scrubber: Scrubber,
}

impl AppState {
    /// One log line on stderr, prefixed with this server's name, with every
    /// secret of the settings hidden.
    pub fn log(&self, line: &str) {
        eprintln!(
            "{}",
            self.scrubber.scrub(&format!("[{}] {line}", self.server))
        );
    }
}

/// How requests were served, for `/stats`.
#[derive(Debug, Default)]
pub struct Counters {
    hits: AtomicU64,
    misses: AtomicU64,
    cache_errors: AtomicU64,
}

/// Builds the entry options from the configured expiry. Both are optional;
/// with both, an entry lives until nobody has read it for `sliding`, and
/// never longer than `absolute` after it was cached.
pub fn entry_options(absolute: Option<Duration>, sliding: Option<Duration>) -> EntryOptions {
    let mut options = EntryOptions::new();
    if let Some(after) = absolute {
        options = options.expires_in(after);
    }
    if let Some(window) = sliding {
        options = options.sliding(window);
    }
    options
}

/// The routes:
///
/// - `GET /products/{id}`: the product, through the cache.
/// - `PUT /products/{id}`: changes a product's name or price (a JSON body
///   with `name` and/or `price_cents`); every instance serves the change
///   at once (the backplane evicts their local copies).
/// - `GET /stats`: this server's upstream call count and cache counters.
/// - `GET /health`: the server is up; `cache` says whether the cache
///   answers (through [`DistributedCache::ping`]).
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/products/{id}", get(get_product).put(put_product))
        .route("/stats", get(stats))
        .route("/health", get(health))
        .fallback(not_found)
        .with_state(state)
}

/// Where a response's product came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CacheOutcome {
    /// Served from the cache; the upstream was not called.
    Hit,
    /// Not in the cache: fetched from the upstream, then cached.
    Miss,
    /// The cache failed; fetched from the upstream without it.
    Unavailable,
}

impl CacheOutcome {
    /// `hit`, `miss` or `unavailable`, as in the JSON responses.
    pub fn as_str(self) -> &'static str {
        match self {
            CacheOutcome::Hit => "hit",
            CacheOutcome::Miss => "miss",
            CacheOutcome::Unavailable => "unavailable",
        }
    }
}

/// The body of `GET /products/{id}`.
#[derive(Debug, Serialize)]
struct ProductResponse<'a> {
    /// The server that answered this request.
    served_by: &'a str,
    /// Whether the product came from the cache.
    cache: CacheOutcome,
    /// Which tier of the cache answered: `local` (this process), `shared`
    /// (the distributed cache), or `none` (the upstream was called).
    tier: &'static str,
    /// How long this request took.
    elapsed_ms: u64,
    /// The product, including which server computed it and when.
    product: Product,
}

/// Get-or-create through [`HybridCache`]: the pattern a distributed cache
/// exists for, with a local tier and stampede protection. Copy this.
///
/// 1. This server's local copy, else the shared cache (whichever server
///    cached the product, every server sees it).
/// 2. On a miss, the expensive lookup, **once** however many requests for
///    the product arrive at the same time: they all wait for that one call.
/// 3. The result goes to both tiers with expiry, so the next request, on
///    any server, skips step 2.
///
/// The cache is an optimisation, not the source of truth: when the shared
/// cache fails, this serves from the upstream and reports
/// [`CacheOutcome::Unavailable`] instead of failing the request.
pub async fn cached_product(state: &AppState, id: u64) -> (Option<Product>, CacheOutcome) {
    let (product, outcome, _) = cached_product_from(state, id).await;
    (product, outcome)
}

/// The cache key of a product. Versioned: if `Product` ever changes shape,
/// bump it and old entries are simply never read again. (Unreadable
/// entries, from another version or another app, are misses and get
/// overwritten.)
fn product_key(id: u64) -> String {
    format!("product:v1:{id}")
}

/// [`cached_product`], also saying which tier answered.
async fn cached_product_from(
    state: &AppState,
    id: u64,
) -> (Option<Product>, CacheOutcome, Option<Source>) {
    let key = product_key(id);
    let options = HybridEntryOptions::new().distributed(state.entry_options.clone());
    let (catalog, server) = (state.catalog.clone(), state.server.clone());
    // The hybrid cache absorbs a shared-cache outage; its error counter says
    // whether this request met one (approximate under concurrency: it only
    // labels the response).
    let errors_before = state.hybrid.stats().distributed_errors;
    let fetched = state
        .hybrid
        .get_or_create(&key, &options, move || async move {
            // Unknown ids are an error, so they are not cached. (A real
            // service might cache "not found" too, with a short expiry.)
            catalog.fetch(id, &server).await.ok_or(UnknownProduct)
        })
        .await;
    let cache_failed = state.hybrid.stats().distributed_errors > errors_before;
    if cache_failed {
        // Computed while the shared cache was down: don't keep it locally,
        // so once the cache is back every server agrees on one value again.
        state.log(&format!(
            "{key}: the shared cache failed; served without it"
        ));
        state.hybrid.evict_local(&key).await;
    }
    match fetched {
        Ok(f) => {
            let outcome = match f.source {
                Source::Local | Source::Distributed => CacheOutcome::Hit,
                _ if cache_failed => CacheOutcome::Unavailable,
                _ => CacheOutcome::Miss,
            };
            (Some(f.value), outcome, Some(f.source))
        }
        Err(e) if is_unknown_product(&e) => (None, CacheOutcome::Miss, None),
        Err(e) => {
            state.log(&format!("cache failed, using the upstream: {e}"));
            let product = state.catalog.fetch(id, &state.server).await;
            (product, CacheOutcome::Unavailable, None)
        }
    }
}

/// The upstream has no such product (the factory's error: not cached).
#[derive(Debug)]
struct UnknownProduct;

impl std::fmt::Display for UnknownProduct {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("no such product")
    }
}

impl std::error::Error for UnknownProduct {}

fn is_unknown_product(e: &distcache::Error) -> bool {
    std::error::Error::source(e)
        .and_then(|s| s.downcast_ref::<FactoryError>())
        .is_some_and(|f| f.inner().is::<UnknownProduct>())
}

/// The product id of the path, or why it is not one (answered as a 400
/// with a JSON body: bad input is never a panic).
fn product_id(id: Result<Path<String>, PathRejection>) -> Result<u64, String> {
    match id {
        Ok(Path(raw)) => raw
            .parse::<u64>()
            .map_err(|_| format!("product id must be a positive integer, not '{raw}'")),
        Err(rejection) => Err(rejection.body_text()),
    }
}

/// `GET /products/{id}`.
async fn get_product(
    State(state): State<Arc<AppState>>,
    id: Result<Path<String>, PathRejection>,
) -> Response {
    let started = Instant::now();
    let id = match product_id(id) {
        Ok(id) => id,
        Err(why) => return error(StatusCode::BAD_REQUEST, why),
    };

    let (product, outcome, source) = cached_product_from(&state, id).await;
    let counter = match outcome {
        CacheOutcome::Hit => &state.counters.hits,
        CacheOutcome::Miss => &state.counters.misses,
        CacheOutcome::Unavailable => &state.counters.cache_errors,
    };
    counter.fetch_add(1, Ordering::Relaxed);
    let elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    state.log(&format!(
        "GET /products/{id} -> {} in {elapsed_ms} ms{}",
        outcome.as_str(),
        if product.is_none() {
            " (not found)"
        } else {
            ""
        },
    ));

    match product {
        Some(product) => Json(ProductResponse {
            served_by: &state.server,
            cache: outcome,
            tier: match source {
                Some(Source::Local) => "local",
                Some(Source::Distributed) => "shared",
                _ => "none",
            },
            elapsed_ms,
            product,
        })
        .into_response(),
        None => error(StatusCode::NOT_FOUND, format!("no product {id}")),
    }
}

/// The body of `PUT /products/{id}`: the fields to change.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProductUpdate {
    name: Option<String>,
    price_cents: Option<u64>,
}

/// The answer to `PUT /products/{id}`.
#[derive(Debug, Serialize)]
struct UpdateResponse<'a> {
    served_by: &'a str,
    elapsed_ms: u64,
    /// The product as stored now.
    product: Product,
}

/// `PUT /products/{id}`: changes a product and writes it through the
/// hybrid cache. `HybridCache::set` writes this instance's local tier and
/// the shared cache, then publishes on the backplane, so every other
/// instance drops its local copy and reads the new value on its next
/// request.
///
/// The simulated catalog is read-only: the change lives in the cache until
/// the entry expires (a real service would write its database first, then
/// the cache).
async fn put_product(
    State(state): State<Arc<AppState>>,
    id: Result<Path<String>, PathRejection>,
    update: Result<Json<ProductUpdate>, JsonRejection>,
) -> Response {
    let started = Instant::now();
    let id = match product_id(id) {
        Ok(id) => id,
        Err(why) => return error(StatusCode::BAD_REQUEST, why),
    };
    let update = match update {
        Ok(Json(update)) => update,
        Err(rejection) => return error(StatusCode::BAD_REQUEST, rejection.body_text()),
    };
    let Some(mut product) = cached_product(&state, id).await.0 else {
        return error(StatusCode::NOT_FOUND, format!("no product {id}"));
    };
    if let Some(name) = update.name {
        product.name = name;
    }
    if let Some(price) = update.price_cents {
        product.price_cents = price;
    }
    product.computed_by = state.server.clone();
    product.computed_at_ms = crate::catalog::now_ms();
    let key = product_key(id);
    let options = HybridEntryOptions::new().distributed(state.entry_options.clone());
    if let Err(e) = state.hybrid.set(&key, &product, &options).await {
        // Not in the shared cache: don't serve it from here either.
        state.hybrid.evict_local(&key).await;
        state.log(&format!("PUT /products/{id}: the shared cache failed: {e}"));
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the cache is unavailable; the update was not stored".to_string(),
        );
    }
    let elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    state.log(&format!("PUT /products/{id} -> stored in {elapsed_ms} ms"));
    Json(UpdateResponse {
        served_by: &state.server,
        elapsed_ms,
        product,
    })
    .into_response()
}

/// The body of `GET /stats`.
#[derive(Debug, Serialize)]
struct Stats<'a> {
    served_by: &'a str,
    backend: &'a str,
    /// `redis` (pub/sub between instances), `redis-tracking` (and the
    /// server's invalidations), or `off`.
    backplane: &'a str,
    /// Invalidations heard from other instances (each evicted a local copy).
    backplane_messages: u64,
    /// How often this server really called the upstream.
    upstream_calls: u64,
    hits: u64,
    misses: u64,
    cache_errors: u64,
}

/// `GET /stats`.
async fn stats(State(state): State<Arc<AppState>>) -> Response {
    let c = &state.counters;
    Json(Stats {
        served_by: &state.server,
        backend: state.backend,
        backplane: state.backplane,
        backplane_messages: state.hybrid.stats().backplane_messages,
        upstream_calls: state.catalog.calls(),
        hits: c.hits.load(Ordering::Relaxed),
        misses: c.misses.load(Ordering::Relaxed),
        cache_errors: c.cache_errors.load(Ordering::Relaxed),
    })
    .into_response()
}

/// `GET /health`: always 200 while the server runs (it serves from the
/// upstream when the cache is down); `status` is `ok`, or `degraded` when the
/// cache does not answer its [`ping`](DistributedCache::ping) within the
/// cache timeout. Only the error's kind is shown, never its text.
async fn health(State(state): State<Arc<AppState>>) -> Json<serde_json::Value> {
    let cache = match tokio::time::timeout(state.cache_timeout, state.cache.ping()).await {
        Ok(Ok(())) => json!({ "backend": state.backend, "status": "ok" }),
        Ok(Err(e)) => {
            json!({ "backend": state.backend, "status": "unavailable", "error": e.kind().to_string() })
        }
        Err(_) => {
            json!({ "backend": state.backend, "status": "unavailable", "error": ErrorKind::Timeout.to_string() })
        }
    };
    let status = if cache["status"] == "ok" {
        "ok"
    } else {
        "degraded"
    };
    Json(json!({ "status": status, "cache": cache }))
}

/// Any other path.
async fn not_found() -> Response {
    error(
        StatusCode::NOT_FOUND,
        "no such route; try GET or PUT /products/{id}, GET /stats or /health".to_string(),
    )
}

fn error(status: StatusCode, message: String) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use distcache::cache_memory::MemoryCache;
    use distcache::{async_trait, Bytes, Capabilities, DistributedCacheExt, Error, Result};

    fn state(cache: Arc<dyn DistributedCache>) -> AppState {
        AppState {
            hybrid: HybridCache::new(Arc::clone(&cache)),
            backplane: "off",
            cache,
            entry_options: entry_options(Some(Duration::from_secs(60)), None),
            catalog: Catalog::new(Duration::ZERO),
            server: "t".into(),
            backend: "test",
            cache_timeout: Duration::from_secs(1),
            counters: Counters::default(),
            scrubber: Scrubber::default(),
        }
    }

    /// A cache whose server is down.
    #[derive(Debug)]
    struct Down;

    #[async_trait]
    impl DistributedCache for Down {
        async fn get(&self, _: &str) -> Result<Option<Bytes>> {
            Err(Error::new(ErrorKind::Connection, "connection refused"))
        }
        async fn set(&self, _: &str, _: Bytes, _: &EntryOptions) -> Result<()> {
            Err(Error::new(ErrorKind::Connection, "connection refused"))
        }
        async fn refresh(&self, _: &str) -> Result<()> {
            Err(Error::new(ErrorKind::Connection, "connection refused"))
        }
        async fn remove(&self, _: &str) -> Result<()> {
            Err(Error::new(ErrorKind::Connection, "connection refused"))
        }
        fn capabilities(&self) -> Capabilities {
            Capabilities::new()
        }
    }

    #[tokio::test]
    async fn miss_then_hit() {
        let s = state(Arc::new(MemoryCache::new()));
        let (first, o1) = cached_product(&s, 5).await;
        let (second, o2) = cached_product(&s, 5).await;
        assert_eq!((o1, o2), (CacheOutcome::Miss, CacheOutcome::Hit));
        assert_eq!(first, second);
        assert_eq!(s.catalog.calls(), 1);
    }

    #[tokio::test]
    async fn unknown_ids_are_not_cached() {
        let s = state(Arc::new(MemoryCache::new()));
        assert_eq!(cached_product(&s, 0).await.0, None);
        assert_eq!(cached_product(&s, 0).await.0, None);
        assert_eq!(s.catalog.calls(), 2);
    }

    #[tokio::test]
    async fn cache_down_falls_back_to_the_upstream() {
        let s = state(Arc::new(Down));
        let (product, outcome) = cached_product(&s, 5).await;
        assert_eq!(outcome, CacheOutcome::Unavailable);
        assert_eq!(product.map(|p| p.id), Some(5));
    }

    #[tokio::test]
    async fn unreadable_entry_is_a_miss_and_gets_replaced() {
        let cache = Arc::new(MemoryCache::new());
        cache
            .set_string("product:v1:5", "not json", &EntryOptions::new())
            .await
            .unwrap();
        let s = state(cache);
        assert_eq!(cached_product(&s, 5).await.1, CacheOutcome::Miss);
        assert_eq!(cached_product(&s, 5).await.1, CacheOutcome::Hit);
    }

    #[tokio::test]
    async fn health_reports_the_cache_through_ping() {
        let up = Arc::new(state(Arc::new(MemoryCache::new())));
        let body = health(State(up)).await.0;
        assert_eq!(body["status"], "ok", "{body}");
        assert_eq!(body["cache"]["status"], "ok", "{body}");
        let down = Arc::new(state(Arc::new(Down)));
        let body = health(State(down)).await.0;
        assert_eq!(body["status"], "degraded", "{body}");
        assert_eq!(body["cache"]["error"], "connection error", "{body}");
        assert!(!body.to_string().contains("refused"), "kind only: {body}");
    }

    #[tokio::test]
    async fn put_changes_what_get_serves() {
        let s = Arc::new(state(Arc::new(MemoryCache::new())));
        let put = |id: &str, update| {
            put_product(
                State(Arc::clone(&s)),
                Ok(Path(id.to_string())),
                Ok(Json(update)),
            )
        };
        let update = |price| ProductUpdate {
            name: Some("Renamed".into()),
            price_cents: Some(price),
        };
        assert_eq!(put("5", update(1)).await.status(), StatusCode::OK);
        let (product, outcome) = cached_product(&s, 5).await;
        let product = product.unwrap();
        assert_eq!(outcome, CacheOutcome::Hit);
        assert_eq!((product.name.as_str(), product.price_cents), ("Renamed", 1));
        assert_eq!(product.computed_by, "t");
        assert_eq!(put("0", update(2)).await.status(), StatusCode::NOT_FOUND);
        assert_eq!(put("x", update(2)).await.status(), StatusCode::BAD_REQUEST);
        let down = Arc::new(state(Arc::new(Down)));
        let refused = put_product(State(down), Ok(Path("5".into())), Ok(Json(update(3)))).await;
        assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    }

    #[test]
    fn expiry_settings_map_to_entry_options() {
        let o = entry_options(Some(Duration::from_secs(3)), Some(Duration::from_secs(1)));
        assert_eq!(
            o.absolute_expiration_relative_to_now(),
            Some(Duration::from_secs(3))
        );
        assert_eq!(o.sliding_expiration(), Some(Duration::from_secs(1)));
        assert!(entry_options(None, None).is_empty());
    }
}
