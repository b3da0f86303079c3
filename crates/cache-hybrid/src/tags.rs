//! Tag invalidation: per-tag instants kept in the distributed tier.
//!
//! `remove_by_tag(t)` stores "t was invalidated at instant I" under
//! `<prefix><t>` in the distributed tier. Every read of an entry carrying
//! `t` compares the entry's created-at with I: created at or before I means
//! invalidated (a miss). Instants are cached in-process for
//! `check_interval`, so another instance sees an invalidation at most that
//! long (plus the distributed write) after it happened; this instance sees
//! it at once.

use std::sync::Arc;
use std::time::Duration;

use cache_abstractions::{max_absolute_expiration, Bytes, DistributedCache, EntryOptions, Result};
use moka::sync::Cache;

/// Tags whose instants are cached at most (the least used are dropped first).
const MAX_CACHED_TAGS: u64 = 100_000;

#[derive(Clone, Copy, Debug)]
struct Known {
    /// Invalidation instant in micros since the epoch; 0 = never invalidated.
    invalidated_at: u64,
    /// When this was read from the distributed tier (micros), for expiry of the cached copy.
    checked_at: u64,
}

#[derive(Debug)]
pub(crate) struct Tags {
    known: Cache<String, Known>,
    check_interval_micros: u64,
    prefix: String,
}

impl Tags {
    pub(crate) fn new(check_interval: Duration, prefix: String) -> Self {
        Tags {
            known: Cache::builder().max_capacity(MAX_CACHED_TAGS).build(),
            check_interval_micros: u64::try_from(check_interval.as_micros()).unwrap_or(u64::MAX),
            prefix,
        }
    }

    fn key(&self, tag: &str) -> String {
        format!("{}{tag}", self.prefix)
    }

    /// Whether an entry created at `created_at` carrying `tags` has been
    /// invalidated by any of them. A distributed-tier failure keeps the last
    /// known instant (or none): availability over a tag check.
    pub(crate) async fn any_invalidated(
        &self,
        tags: &[String],
        created_at: u64,
        distributed: Option<&Arc<dyn DistributedCache>>,
        now: u64,
        on_error: impl Fn(&cache_abstractions::Error),
    ) -> bool {
        for tag in tags {
            if self.instant(tag, distributed, now, &on_error).await >= created_at {
                return true;
            }
        }
        false
    }

    /// [`any_invalidated`](Self::any_invalidated) without waiting, from
    /// the instants cached here: `Some(verdict)` when every tag's instant is
    /// known and recent enough, `None` when one must be read from the
    /// distributed tier first. The local tier's hot path.
    pub(crate) fn cached_verdict<'t>(
        &self,
        tags: impl Iterator<Item = &'t str>,
        created_at: u64,
        has_distributed: bool,
        now: u64,
    ) -> Option<bool> {
        for tag in tags {
            let instant = match self.known.get(tag) {
                Some(k) if !has_distributed => k.invalidated_at,
                None if !has_distributed => 0,
                Some(k) if now.saturating_sub(k.checked_at) < self.check_interval_micros => {
                    k.invalidated_at
                }
                _ => return None,
            };
            if instant >= created_at {
                return Some(true);
            }
        }
        Some(false)
    }

    async fn instant(
        &self,
        tag: &str,
        distributed: Option<&Arc<dyn DistributedCache>>,
        now: u64,
        on_error: &impl Fn(&cache_abstractions::Error),
    ) -> u64 {
        let cached = self.known.get(tag);
        let Some(distributed) = distributed else {
            return cached.map_or(0, |k| k.invalidated_at);
        };
        if let Some(k) = cached {
            if now.saturating_sub(k.checked_at) < self.check_interval_micros {
                return k.invalidated_at;
            }
        }
        let read = match distributed.get(&self.key(tag)).await {
            Ok(v) => v.as_deref().map_or(0, parse_instant),
            Err(e) => {
                on_error(&e);
                cached.map_or(0, |k| k.invalidated_at)
            }
        };
        // Never move an instant back (a slower reader, a lagging replica).
        let invalidated_at = read.max(cached.map_or(0, |k| k.invalidated_at));
        self.known.insert(
            tag.to_owned(),
            Known {
                invalidated_at,
                checked_at: now,
            },
        );
        invalidated_at
    }

    /// Records locally that `tag` was invalidated at `at` (an instant heard
    /// from elsewhere); never moves a known instant back.
    pub(crate) fn record(&self, tag: &str, at: u64, now: u64) {
        let known = self.known.get(tag).map_or(0, |k| k.invalidated_at);
        self.known.insert(
            tag.to_owned(),
            Known {
                invalidated_at: known.max(at),
                checked_at: now,
            },
        );
    }

    /// Records an invalidation at `now` locally (at once) and in the
    /// distributed tier (for the other instances).
    pub(crate) async fn invalidate(
        &self,
        tag: &str,
        now: u64,
        distributed: Option<&Arc<dyn DistributedCache>>,
    ) -> Result<()> {
        self.known.insert(
            tag.to_owned(),
            Known {
                invalidated_at: now,
                checked_at: now,
            },
        );
        if let Some(d) = distributed {
            // The latest expiry there is (empty options would mean the
            // backend's default, a 20-minute sliding window on SQL Server):
            // the instant must outlive every entry carrying the tag.
            let forever = EntryOptions::new().expires_at(max_absolute_expiration());
            d.set(&self.key(tag), Bytes::from(now.to_string()), &forever)
                .await?;
        }
        Ok(())
    }
}

/// The stored instant: decimal microseconds since the epoch (readable with
/// `cachectl get`). Anything else reads as "never invalidated".
fn parse_instant(bytes: &[u8]) -> u64 {
    std::str::from_utf8(bytes)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_parse_or_read_as_never() {
        assert_eq!(parse_instant(b"1700000000000000"), 1_700_000_000_000_000);
        assert_eq!(parse_instant(b"junk"), 0);
        assert_eq!(parse_instant(&[0xFF]), 0);
    }
}
