//! The single-key commands, written against any [`DistributedCache`] and
//! any output, so they are tested in-process against the memory backend.

use std::io::{self, Write};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use distcache::{Bytes, DistributedCache, EntryInfo, EntryOptions};
use serde_json::json;

use crate::cli::ExpiryArgs;
use crate::failure::{Failure, Outcome};

/// The entry options the expiry flags ask for (validated by the cache, not here,
/// so every backend reports the same `InvalidOptions` error).
pub fn entry_options(expiry: &ExpiryArgs) -> EntryOptions {
    let mut options = EntryOptions::new();
    if let Some(at) = expiry.absolute_at {
        options = options.expires_at(at);
    }
    if let Some(after) = expiry.absolute_in {
        options = options.expires_in(after);
    }
    if let Some(window) = expiry.sliding {
        options = options.sliding(window);
    }
    options
}

/// The message for a miss, with a hint when the cache is in-process.
fn miss(cache: &dyn DistributedCache, key: &str) -> Outcome {
    let hint = if cache.capabilities().shared {
        ""
    } else {
        " (memory:// lives only for one cachectl run, so it starts empty every time)"
    };
    Outcome::Miss(format!("no entry under key {key:?}{hint}"))
}

/// Writes `bytes` to `out`; a reader that went away (`| head`) is not an error.
fn emit(out: &mut dyn Write, bytes: &[u8]) -> Result<(), Failure> {
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(Failure::cache(format!("cannot write to stdout: {e}"))),
    }
}

/// `get KEY`: the raw value to `out`.
pub async fn get(
    cache: &dyn DistributedCache,
    key: &str,
    out: &mut dyn Write,
) -> Result<Outcome, Failure> {
    match cache.get(key).await? {
        Some(value) => {
            emit(out, &value)?;
            Ok(Outcome::Ok)
        }
        None => Ok(miss(cache, key)),
    }
}

/// `set KEY VALUE`.
pub async fn set(
    cache: &dyn DistributedCache,
    key: &str,
    value: Bytes,
    options: &EntryOptions,
) -> Result<Outcome, Failure> {
    cache.set(key, value, options).await?;
    Ok(Outcome::Ok)
}

/// `refresh KEY`.
pub async fn refresh(cache: &dyn DistributedCache, key: &str) -> Result<Outcome, Failure> {
    cache.refresh(key).await?;
    Ok(Outcome::Ok)
}

/// `remove KEY`.
pub async fn remove(cache: &dyn DistributedCache, key: &str) -> Result<Outcome, Failure> {
    cache.remove(key).await?;
    Ok(Outcome::Ok)
}

/// `inspect KEY`: size and expiry as stored, as a table or JSON.
pub async fn inspect(
    cache: &dyn DistributedCache,
    key: &str,
    json: bool,
    out: &mut dyn Write,
) -> Result<Outcome, Failure> {
    let Some(info) = cache.inspect(key).await? else {
        return Ok(miss(cache, key));
    };
    let text = if json {
        let mut s = inspect_json(key, &info, SystemTime::now()).to_string();
        s.push('\n');
        s
    } else {
        inspect_table(key, &info, SystemTime::now())
    };
    emit(out, text.as_bytes())?;
    Ok(Outcome::Ok)
}

/// Whole seconds from `now` until `at` (negative when past), rounded to the nearest.
fn secs_until(at: SystemTime, now: SystemTime) -> f64 {
    match at.duration_since(now) {
        Ok(d) => d.as_secs_f64(),
        Err(e) => -e.duration().as_secs_f64(),
    }
}

/// `in 4m 59s` / `expired 3s ago`.
fn relative(at: SystemTime, now: SystemTime) -> String {
    let secs = secs_until(at, now);
    let rounded = Duration::from_secs(secs.abs().round() as u64);
    if secs >= 0.0 {
        format!("in {}", humantime::format_duration(rounded))
    } else {
        format!("{} ago", humantime::format_duration(rounded))
    }
}

/// `at` within what RFC 3339 (and .NET) can write: from the Unix epoch to
/// 9999-12-31T23:59:59Z; `true` when it was later and moved back. .NET
/// writes instants past year 9999 for `TimeSpan.MaxValue` windows, and
/// formatting one as is fails.
fn printable(at: SystemTime) -> (SystemTime, bool) {
    let latest = distcache::max_absolute_expiration();
    if at > latest {
        (latest, true)
    } else {
        (at.max(UNIX_EPOCH), false)
    }
}

fn instant_millis(at: SystemTime) -> String {
    humantime::format_rfc3339_millis(printable(at).0).to_string()
}

/// `2030-01-01T00:00:00Z (in 3h)`, or `... or later` past year 9999.
fn instant_row(at: SystemTime, now: SystemTime) -> String {
    let (shown, later) = printable(at);
    let or_later = if later { " or later" } else { "" };
    format!(
        "{}{or_later} ({})",
        humantime::format_rfc3339_seconds(shown),
        relative(at, now)
    )
}

/// The `inspect` table.
pub fn inspect_table(key: &str, info: &EntryInfo, now: SystemTime) -> String {
    let absolute = match info.absolute_expiration {
        Some(at) => instant_row(at, now),
        None => "none".into(),
    };
    let sliding = match info.sliding_expiration {
        Some(w) => humantime::format_duration(w).to_string(),
        None => "none".into(),
    };
    let expires = match info.expires_at {
        Some(at) => instant_row(at, now),
        None => "never".into(),
    };
    format!(
        "key         {key:?}\n\
         size        {size} bytes\n\
         absolute    {absolute}\n\
         sliding     {sliding}\n\
         expires at  {expires}\n",
        size = info.size
    )
}

/// The `inspect --json` object. Instants are RFC 3339 UTC with milliseconds;
/// durations are milliseconds; absent settings are `null`.
pub fn inspect_json(key: &str, info: &EntryInfo, now: SystemTime) -> serde_json::Value {
    json!({
        "key": key,
        "size": info.size,
        "absolute_expiration": info.absolute_expiration.map(instant_millis),
        "sliding_expiration_ms": info.sliding_expiration.map(|w| w.as_millis() as u64),
        "expires_at": info.expires_at.map(instant_millis),
        "expires_in_ms": info.expires_at.map(|at| (secs_until(at, now) * 1000.0).round() as i64),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use distcache::cache_memory::MemoryCache;

    /// Issue 10, item 1: .NET's `TimeSpan.MaxValue` window puts the deadline
    /// past year 9999; printing it exited 101 ("a formatting trait
    /// implementation returned an error").
    #[test]
    fn instants_past_year_9999_print_clamped() {
        let far = UNIX_EPOCH + Duration::from_secs(300_000_000_000); // year ~11476
        let window = Duration::from_secs(922_337_203_685); // TimeSpan.MaxValue
        let info = EntryInfo::new(3, Some(far), Some(window), Some(far));
        let now = SystemTime::now();
        let table = inspect_table("k", &info, now);
        assert!(table.contains("9999-12-31T23:59:59Z or later"), "{table}");
        let json = inspect_json("k", &info, now);
        assert_eq!(json["expires_at"], "9999-12-31T23:59:59.000Z", "{json}");
        assert!(json["expires_in_ms"].as_i64().unwrap() > 0, "{json}");
        let before_epoch = UNIX_EPOCH - Duration::from_secs(10);
        let info = EntryInfo::new(3, Some(before_epoch), None, Some(before_epoch));
        assert!(inspect_table("k", &info, now).contains("1970-01-01T00:00:00Z"));
    }

    fn expiry(
        absolute_in: Option<Duration>,
        absolute_at: Option<SystemTime>,
        sliding: Option<Duration>,
    ) -> ExpiryArgs {
        ExpiryArgs {
            absolute_in,
            absolute_at,
            sliding,
        }
    }

    #[tokio::test]
    async fn set_get_inspect_refresh_remove_round_trip() {
        let cache = MemoryCache::new();
        let opts = entry_options(&expiry(
            Some(Duration::from_secs(3600)),
            None,
            Some(Duration::from_secs(300)),
        ));
        let value = Bytes::from_static(b"\x00hello\xff");
        assert_eq!(
            set(&cache, "k", value.clone(), &opts).await,
            Ok(Outcome::Ok)
        );

        let mut out = Vec::new();
        assert_eq!(get(&cache, "k", &mut out).await, Ok(Outcome::Ok));
        assert_eq!(out, value);

        let mut out = Vec::new();
        assert_eq!(inspect(&cache, "k", true, &mut out).await, Ok(Outcome::Ok));
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["key"], "k");
        assert_eq!(v["size"], 7);
        assert_eq!(v["sliding_expiration_ms"], 300_000);
        assert!(v["absolute_expiration"].as_str().unwrap().ends_with('Z'));
        let left = v["expires_in_ms"].as_i64().unwrap();
        assert!((290_000..=300_000).contains(&left), "{left}");

        let mut out = Vec::new();
        assert_eq!(inspect(&cache, "k", false, &mut out).await, Ok(Outcome::Ok));
        let table = String::from_utf8(out).unwrap();
        assert!(table.contains("size        7 bytes"), "{table}");
        assert!(table.contains("sliding     5m"), "{table}");

        assert_eq!(refresh(&cache, "k").await, Ok(Outcome::Ok));
        assert_eq!(remove(&cache, "k").await, Ok(Outcome::Ok));
        let mut out = Vec::new();
        let outcome = get(&cache, "k", &mut out).await.unwrap();
        assert!(matches!(outcome, Outcome::Miss(ref m) if m.contains("\"k\"")));
        assert!(out.is_empty());
        let outcome = inspect(&cache, "k", true, &mut Vec::new()).await.unwrap();
        assert_eq!(outcome.exit_code(), 1);
        // Refresh and remove of a missing key succeed (contract rule 4).
        assert_eq!(refresh(&cache, "k").await, Ok(Outcome::Ok));
        assert_eq!(remove(&cache, "k").await, Ok(Outcome::Ok));
    }

    #[tokio::test]
    async fn no_options_never_expire_on_memory() {
        let cache = MemoryCache::new();
        set(&cache, "k", Bytes::from_static(b"v"), &EntryOptions::new())
            .await
            .unwrap();
        let mut out = Vec::new();
        inspect(&cache, "k", false, &mut out).await.unwrap();
        let table = String::from_utf8(out).unwrap();
        assert!(table.contains("absolute    none"), "{table}");
        assert!(table.contains("expires at  never"), "{table}");
    }

    #[tokio::test]
    async fn invalid_key_and_options_are_exit_3() {
        let cache = MemoryCache::new();
        let e = set(&cache, "", Bytes::new(), &EntryOptions::new())
            .await
            .unwrap_err();
        assert_eq!(e.exit_code(), 3);
        assert!(e.message().starts_with("invalid key"), "{e:?}");
        let e = get(&cache, "", &mut Vec::new()).await.unwrap_err();
        assert_eq!(e.exit_code(), 3);

        let opts = entry_options(&expiry(None, None, Some(Duration::ZERO)));
        let e = set(&cache, "k", Bytes::new(), &opts).await.unwrap_err();
        assert_eq!(e.exit_code(), 3);
        assert!(e.message().contains("sliding_expiration"), "{e:?}");

        let past = UNIX_EPOCH + Duration::from_secs(1);
        let opts = entry_options(&expiry(None, Some(past), None));
        let e = set(&cache, "k", Bytes::new(), &opts).await.unwrap_err();
        assert!(e.message().contains("absolute_expiration"), "{e:?}");
    }

    #[test]
    fn inspect_formats_fixed_instants() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000_000_000);
        let info = EntryInfo::new(
            42,
            Some(now + Duration::from_secs(3600)),
            Some(Duration::from_secs(60)),
            Some(now + Duration::from_secs(60)),
        );
        let table = inspect_table("a\"b", &info, now);
        assert_eq!(
            table,
            "key         \"a\\\"b\"\n\
             size        42 bytes\n\
             absolute    2001-09-09T02:46:40Z (in 1h)\n\
             sliding     1m\n\
             expires at  2001-09-09T01:47:40Z (in 1m)\n"
        );
        let v = inspect_json("k", &info, now);
        assert_eq!(v["absolute_expiration"], "2001-09-09T02:46:40.000Z");
        assert_eq!(v["expires_in_ms"], 60_000);
        assert_eq!(v["sliding_expiration_ms"], 60_000);
    }

    #[test]
    fn broken_pipe_is_not_an_error() {
        struct Closed;
        impl Write for Closed {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::Error::from(io::ErrorKind::BrokenPipe))
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        assert_eq!(emit(&mut Closed, b"x"), Ok(()));
    }
}
