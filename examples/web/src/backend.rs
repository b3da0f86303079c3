//! Choosing the cache backend from `CACHE_URL`. This is the only place
//! that names a backend; everything else holds an `Arc<dyn DistributedCache>`.

use std::sync::Arc;

use cache_abstractions::DistributedCache;

/// Opens the cache `url` names. `instance_name` prefixes every key in a
/// shared backend, so several apps can share one server without collisions.
///
/// Returns the cache and a short name for the backend (`memory`, `redis`).
pub async fn open(
    url: &str,
    instance_name: &str,
) -> Result<(Arc<dyn DistributedCache>, &'static str), String> {
    let scheme = url
        .split_once("://")
        .map(|(s, _)| s.to_ascii_lowercase())
        .unwrap_or_default();
    match scheme.as_str() {
        // In-process: every server has its own cache (fine for one server, or tests).
        "memory" => Ok((Arc::new(cache_memory::MemoryCache::new()), "memory")),
        "redis" | "rediss" => open_redis(url, instance_name)
            .await
            .map(|cache| (cache, "redis")),
        _ => Err(format!(
            "CACHE_URL '{}' is not supported; use memory:// or redis://host:port",
            redact(url)
        )),
    }
}

#[cfg(feature = "redis")]
async fn open_redis(url: &str, instance_name: &str) -> Result<Arc<dyn DistributedCache>, String> {
    let cache = cache_redis::RedisCache::builder()
        .url(url)
        .instance_name(instance_name)
        .build()
        .await
        .map_err(|e| format!("cannot open Redis at {}: {e}", redact(url)))?;
    Ok(Arc::new(cache))
}

#[cfg(not(feature = "redis"))]
async fn open_redis(url: &str, _: &str) -> Result<Arc<dyn DistributedCache>, String> {
    Err(format!(
        "CACHE_URL '{}' needs the `redis` feature (on by default); rebuild without --no-default-features",
        redact(url)
    ))
}

/// `url` with the password in `user:password@` replaced by `***`, for messages.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
            let hidden = if userinfo.contains(':') { ":***" } else { "" };
            format!("{scheme}://{user}{hidden}@{host}{tail}")
        }
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_reach_messages() {
        assert_eq!(
            redact("redis://user:s3cret@host:6380/0"),
            "redis://user:***@host:6380/0"
        );
        assert_eq!(redact("rediss://:s3cret@host/"), "rediss://:***@host/");
        assert_eq!(redact("redis://host:6380"), "redis://host:6380");
        assert_eq!(redact("memory://"), "memory://");
    }

    #[tokio::test]
    async fn unknown_scheme_is_an_error() {
        let err = open("ftp://user:pw@x", "p:").await.unwrap_err();
        assert!(err.contains("not supported"), "{err}");
        assert!(!err.contains("pw"), "{err}");
        assert!(open("memory://", "p:").await.is_ok());
    }
}
