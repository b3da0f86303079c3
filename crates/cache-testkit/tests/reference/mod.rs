//! A small in-memory reference backend for the kit's own tests, correct by
//! default and deliberately broken in exactly one way per [`Fault`].
//!
//! The correct backend is the control (`tests/reference_passes.rs`: every
//! case passes, none is skipped); each fault is a bug class a real backend
//! could ship, and `tests/bites.rs` checks that the kit fails it.
//!
//! Shared by several test binaries, each of which uses only part of it.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use cache_abstractions::{
    round_up, Bytes, Capabilities, DistributedCache, EntryInfo, EntryOptions, Error, ErrorKind,
    Expiry, KeyLimit, Result,
};
use cache_testkit::{async_trait, Harness, Outage};

/// One deliberate bug. The correct backend has none.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Fault {
    // Rule 1: round trip.
    /// Stores at most 1 MiB of a value, silently (no declared `max_value_size`).
    TruncatesLargeValues,
    /// Treats the value as a C string: everything from the first zero byte is lost.
    StopsAtZeroByte,
    /// Stores values as text, replacing invalid UTF-8 with U+FFFD.
    LossyUtf8Values,
    /// An empty value is not stored (a later get is a miss).
    DropsEmptyValues,
    // Rule 2: miss.
    /// A miss is an error instead of `Ok(None)`.
    MissIsError,
    // Rule 3: overwrite.
    /// A second set keeps the first set's expiry (.NET's Redis cache).
    KeepsOldExpiryOnOverwrite,
    // Rule 4: missing keys, remove.
    /// Removing a missing key is an error.
    RemoveMissingErrors,
    /// Refreshing a missing key creates an empty entry.
    RefreshMissingCreates,
    /// Remove clears the whole store (a FLUSHDB in disguise).
    RemoveClearsEverything,
    // Rule 5: keys.
    /// Accepts the empty key.
    AcceptsEmptyKey,
    /// Rejects the empty key on set only; get/refresh/remove accept it.
    EmptyKeyCheckedOnSetOnly,
    /// Keys are case-insensitive (lowercased before storing).
    CaseInsensitiveKeys,
    /// Trailing spaces are trimmed from keys.
    TrimsKeys,
    /// Keys compare like an accent-, width- and expansion-insensitive
    /// collation (é = e + U+0301, ß = ss, ｋ = k): a SQL Server default.
    CollationEqualKeys,
    /// Declares no key limit but keeps only the first 256 bytes of a key
    /// (.NET's SQL Server cache truncates at 449 characters).
    TruncatesLongKeysSilently,
    /// Declares a key limit but truncates longer keys to it instead of
    /// rejecting them.
    TruncatesKeysAtDeclaredLimit,
    /// Declares a limit in UTF-16 units but measures UTF-8 bytes, so keys
    /// within the limit are rejected.
    MeasuresKeysInWrongUnit,
    /// Declares a limit in UTF-8 bytes but counts characters, so a key of
    /// multi-byte characters over the limit is accepted (and cut by the store).
    CountsKeyCharsNotBytes,
    // Rule 6: options.
    /// Accepts invalid options (zero durations, past instants) as "no expiry".
    AcceptsInvalidOptions,
    /// Rejects invalid options but without naming the field.
    InvalidOptionsWithoutField,
    /// Writes the value first and validates the options afterwards.
    ValidatesOptionsAfterWrite,
    /// Turns a relative expiration into an instant with `now + d` before
    /// validating: a huge duration panics on overflow.
    OverflowsOnHugeDurations,
    // Rule 7: absolute expiration.
    /// Ignores absolute expiration (instant and relative).
    IgnoresAbsoluteExpiry,
    /// With an instant and a relative duration, the later one wins.
    LaterAbsoluteWins,
    /// A relative absolute expiration is treated as a sliding window: every
    /// read or refresh restarts it.
    RelativeExpiryActsAsSliding,
    // Rule 8: sliding expiration.
    /// Ignores sliding expiration.
    IgnoresSlidingExpiry,
    /// A get does not restart the sliding window.
    GetDoesNotSlide,
    /// A refresh does not restart the sliding window.
    RefreshDoesNotSlide,
    /// A get drops the entry's expiry: once read, it never expires.
    GetMakesImmortal,
    /// `inspect` restarts the sliding window, like a get.
    InspectSlides,
    /// The sliding window is never capped by the absolute expiration.
    SlidingNotCapped,
    /// The window is uncapped when written by set, capped only when a read
    /// slides it (.NET's SQL Server cache).
    SlidingUncappedOnSet,
    // Rule 9: default options.
    /// Empty options get a hidden 1 s expiry although none is declared.
    HiddenDefaultExpiry,
    /// Declares a 20-minute sliding default (as SQL Server does) but stores
    /// entries set without options with no expiry at all.
    IgnoresDeclaredDefault,
    // Rule 10: atomic set.
    /// Stores the value, then sets its expiry after an await point.
    NonAtomicSet,
    // Rule 11: expired is invisible.
    /// Returns entries whose deadline has passed (expiry only by a sweeper
    /// that never runs).
    ReturnsExpiredEntries,
    /// A get restarts the sliding window before checking expiry, so an
    /// idle sliding entry comes back to life when read.
    SlidesBeforeExpiryCheck,
    /// A refresh revives an expired sliding entry.
    RefreshRevivesExpired,
    // Rule 12: concurrency.
    /// Writes a value in two halves with a yield between, so a concurrent
    /// get can see a torn value (a drop guard finishes the write, so a
    /// cancelled set is still whole).
    TearsUnderConcurrency,
    /// Pairs a get with another get's answer when they overlap (a
    /// pipelining bug: responses matched to the wrong requests).
    MixesUpResponses,
    // Rule 13: isolation.
    /// Every namespace shares one store.
    SharedNamespaces,
    // Rule 14: foreign data.
    /// Panics on a corrupt entry.
    PanicsOnCorruptEntry,
    /// Returns the foreign bytes as if they were a value.
    ReturnsForeignBytes,
    // Rule 15: backend down.
    /// With the server down, operations hang.
    HangsWhileDown,
    /// With the server down, operations fail with `Backend` instead of
    /// `Connection`/`Timeout`.
    WrongErrorKindWhileDown,
    /// Once it has seen the server down, the instance never recovers.
    NeverRecovers,
    /// Talks to the server before validating, so an invalid key fails with
    /// `Connection` while the server is down.
    IoBeforeValidation,
    // Rule 16: cancellation.
    /// A set cancelled part-way leaves half the new value over the old one
    /// (the halves are written under an async lock, so concurrent readers
    /// never see the mix).
    CancelledSetLeavesMix,
    /// A set cancelled part-way leaves the store locked: later operations fail.
    CancelledSetWedges,
    // Time.
    /// Durations are truncated to whole seconds (300 ms becomes 0: the
    /// entry is dead at once, like `EXPIRE 0`).
    TruncatesSubSecond,
    // `get_now`.
    /// `get_now` skips the expiry check (a fast path that forgot it): an
    /// expired entry comes back when read without waiting.
    GetNowIgnoresExpiry,
    /// `get_now` does not restart the sliding window (`get` does).
    GetNowDoesNotSlide,
}

/// What the store holds under a key.
#[derive(Clone, Debug)]
enum Slot {
    Entry(Entry),
    /// Something that is not an entry (a wrong type, a malformed record).
    Foreign(Bytes),
}

#[derive(Clone, Debug)]
struct Entry {
    value: Bytes,
    expiry: Expiry,
    /// When the entry dies unless read or refreshed; `None`: never.
    deadline: Option<SystemTime>,
}

impl Entry {
    fn new(value: Bytes, expiry: Expiry, now: SystemTime) -> Self {
        Entry {
            value,
            expiry,
            deadline: expiry.deadline_from(now),
        }
    }

    fn expired(&self, now: SystemTime) -> bool {
        self.deadline.is_some_and(|d| d <= now)
    }

    /// An entry with impossible values (a zero window, a deadline past its
    /// absolute expiration) is corrupt, not an entry. `uncapped`: this
    /// backend writes deadlines past the cap itself (a fault), so its own
    /// reads accept them.
    fn check(&self, uncapped: bool) -> Result<()> {
        let zero_window = self.expiry.sliding == Some(Duration::ZERO);
        let past_cap = !uncapped
            && matches!(
                (self.deadline, self.expiry.absolute),
                (Some(d), Some(a)) if d > a
            );
        let lost_deadline = self.deadline.is_none() && !self.expiry.is_never();
        if zero_window || past_cap || lost_deadline {
            return Err(Error::corrupt("stored entry has impossible expiry values"));
        }
        Ok(())
    }
}

/// One "server": a map of entries, plus an async lock that only the
/// [`Fault::CancelledSetLeavesMix`] and [`Fault::CancelledSetWedges`]
/// backends take.
#[derive(Debug, Default)]
pub struct Store {
    map: Mutex<HashMap<String, Slot>>,
    staged: tokio::sync::Mutex<()>,
    wedged: AtomicBool,
    /// The last answer, for [`Fault::MixesUpResponses`].
    last_answer: Mutex<Option<Bytes>>,
}

impl Store {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Slot>> {
        lock(&self.map)
    }
}

/// Locks `m`; a panic while holding it (a broken backend's) must not poison
/// the store for other cases.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The "network" of an outage fixture: whether the server is down, and
/// (for [`Fault::NeverRecovers`]) whether this instance has given up.
#[derive(Debug, Default)]
struct Link {
    down: AtomicBool,
    gave_up: AtomicBool,
}

/// The reference cache: one namespace's store, correct unless `fault` says
/// otherwise.
#[derive(Debug)]
pub struct RefCache {
    store: Arc<Store>,
    fault: Option<Fault>,
    link: Option<Arc<Link>>,
    caps: Capabilities,
    /// A lazy connect: the first operation on this cache waits this long
    /// (a login), as a backend that connects on first use does.
    login: Option<Duration>,
    logged_in: AtomicBool,
}

const ONE_MIB: usize = 1 << 20;
const SILENT_KEY_CUT: usize = 256;
/// The key limit the faults that declare one declare.
const DECLARED_LIMIT: usize = 200;
/// The outage fixture's configured timeout.
const OUTAGE_TIMEOUT: Duration = Duration::from_secs(1);

impl RefCache {
    fn has(&self, fault: Fault) -> bool {
        self.fault == Some(fault)
    }

    /// Whether this (broken) backend writes deadlines past the absolute cap.
    fn writes_uncapped(&self) -> bool {
        matches!(
            self.fault,
            Some(
                Fault::SlidingNotCapped
                    | Fault::SlidingUncappedOnSet
                    | Fault::RefreshRevivesExpired
            )
        )
    }

    /// What every operation does first: validation (rule 5) before any I/O
    /// (rule 15), unless [`Fault::IoBeforeValidation`] swaps them.
    async fn begin(&self, key: &str) -> Result<String> {
        if let Some(login) = self.login {
            if !self.logged_in.load(Ordering::SeqCst) {
                tokio::time::sleep(login).await;
                self.logged_in.store(true, Ordering::SeqCst);
            }
        }
        if self.has(Fault::IoBeforeValidation) {
            self.io().await?;
        }
        let key = self.key(key)?;
        self.io().await?;
        self.wedge_check()?;
        Ok(key)
    }

    fn caps(&self) -> Capabilities {
        self.caps.clone()
    }

    /// Key validation (rule 5), or a fault's version of it, and the key as
    /// the store will hold it.
    fn key(&self, key: &str) -> Result<String> {
        let caps = self.caps();
        match self.fault {
            Some(Fault::AcceptsEmptyKey | Fault::EmptyKeyCheckedOnSetOnly) => {
                return Ok(key.to_owned())
            }
            Some(Fault::TruncatesKeysAtDeclaredLimit) => {
                Capabilities::new().validate_key(key)?;
                return Ok(cut(key, DECLARED_LIMIT));
            }
            Some(Fault::CountsKeyCharsNotBytes) => {
                Capabilities::new().validate_key(key)?;
                if key.chars().count() > DECLARED_LIMIT {
                    return Err(Error::invalid_key("key too long"));
                }
                return Ok(cut(key, DECLARED_LIMIT));
            }
            Some(Fault::MeasuresKeysInWrongUnit) => {
                Capabilities::new().validate_key(key)?;
                if key.len() > DECLARED_LIMIT {
                    return Err(Error::invalid_key("key too long"));
                }
                return Ok(key.to_owned());
            }
            _ => caps.validate_key(key)?,
        }
        Ok(match self.fault {
            Some(Fault::CaseInsensitiveKeys) => key.to_lowercase(),
            Some(Fault::TrimsKeys) => key.trim_end().to_owned(),
            Some(Fault::CollationEqualKeys) => key
                .replace("e\u{301}", "\u{e9}")
                .replace('ß', "ss")
                .replace('\u{ff4b}', "k"),
            Some(Fault::TruncatesLongKeysSilently) => cut(key, SILENT_KEY_CUT),
            _ => key.to_owned(),
        })
    }

    /// Option validation (rule 6) and resolution (rule 7), or a fault's version.
    fn expiry(&self, options: &EntryOptions, now: SystemTime) -> Result<Expiry> {
        if self.has(Fault::OverflowsOnHugeDurations) {
            if let Some(d) = options.absolute_expiration_relative_to_now() {
                let _at = now + d;
            }
        }
        let options = if options.is_empty() && !self.has(Fault::IgnoresDeclaredDefault) {
            self.caps().default_options
        } else {
            options.clone()
        };
        let resolved = match options.resolve(now) {
            Ok(e) => e,
            Err(_) if self.has(Fault::AcceptsInvalidOptions) => Expiry::NEVER,
            Err(e) if self.has(Fault::InvalidOptionsWithoutField) => {
                return Err(Error::new(
                    ErrorKind::InvalidOptions,
                    e.message().to_owned(),
                ))
            }
            Err(e) => return Err(e),
        };
        let mut absolute = resolved.absolute;
        if self.has(Fault::LaterAbsoluteWins) {
            let relative = options
                .absolute_expiration_relative_to_now()
                .map(|d| now + d);
            absolute = match (options.absolute_expiration(), relative) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            };
        }
        if self.has(Fault::HiddenDefaultExpiry) && options.is_empty() {
            absolute = Some(now + Duration::from_secs(1));
        }
        if self.has(Fault::IgnoresAbsoluteExpiry) {
            absolute = None;
        }
        let mut sliding = if self.has(Fault::IgnoresSlidingExpiry) {
            None
        } else {
            // Millisecond granularity: round up, never down to zero.
            resolved
                .sliding
                .map(|s| round_up(s, Duration::from_millis(1)))
        };
        if self.has(Fault::RelativeExpiryActsAsSliding) {
            if let Some(d) = options.absolute_expiration_relative_to_now() {
                absolute = options.absolute_expiration();
                sliding = Some(sliding.map_or(d, |s| s.min(d)));
            }
        }
        if self.has(Fault::TruncatesSubSecond) {
            // Time to live in whole seconds, rounded down: 300 ms is 0 s,
            // and a zero time to live is dead at once (`EXPIRE 0`).
            let whole = |d: Duration| Duration::from_secs(d.as_secs());
            absolute = absolute.map(|a| now + whole(a.duration_since(now).unwrap_or_default()));
            if let Some(s) = sliding.map(whole) {
                if s.is_zero() {
                    absolute = Some(now);
                    sliding = None;
                } else {
                    sliding = Some(s);
                }
            }
        }
        Ok(Expiry::new(absolute, sliding))
    }

    /// The deadline an entry gets when written or slid at `now`.
    fn deadline(&self, expiry: &Expiry, now: SystemTime) -> Option<SystemTime> {
        if self.has(Fault::SlidingNotCapped) {
            if let Some(s) = expiry.sliding {
                return Some(now + s);
            }
        }
        expiry.deadline_from(now)
    }

    /// The round trip faults, applied to a value on its way in.
    fn stored_value(&self, value: Bytes) -> Bytes {
        match self.fault {
            Some(Fault::TruncatesLargeValues) if value.len() > ONE_MIB => value.slice(..ONE_MIB),
            Some(Fault::StopsAtZeroByte) => match value.iter().position(|&b| b == 0) {
                Some(i) => value.slice(..i),
                None => value,
            },
            Some(Fault::LossyUtf8Values) => {
                Bytes::from(String::from_utf8_lossy(&value).into_owned())
            }
            _ => value,
        }
    }

    /// The server's reachability (rule 15), checked where a real backend
    /// would do its I/O.
    async fn io(&self) -> Result<()> {
        let Some(link) = &self.link else {
            return Ok(());
        };
        let down = link.down.load(Ordering::SeqCst);
        if self.has(Fault::NeverRecovers) {
            if down {
                link.gave_up.store(true, Ordering::SeqCst);
            }
            if link.gave_up.load(Ordering::SeqCst) {
                return Err(Error::new(ErrorKind::Connection, "connection is dead"));
            }
        }
        if !down {
            return Ok(());
        }
        match self.fault {
            Some(Fault::HangsWhileDown) => std::future::pending().await,
            Some(Fault::WrongErrorKindWhileDown) => {
                Err(Error::new(ErrorKind::Backend, "server said no"))
            }
            _ => Err(Error::new(ErrorKind::Connection, "server is down")),
        }
    }

    fn wedge_check(&self) -> Result<()> {
        if self.store.wedged.load(Ordering::SeqCst) {
            return Err(Error::new(
                ErrorKind::Backend,
                "store is locked by an earlier set",
            ));
        }
        Ok(())
    }

    /// Reads the slot under `key`: a live entry's value (sliding its
    /// window), a miss, or an error for foreign data. `answering`: for
    /// `get_now`, where its faults apply.
    fn read(&self, key: &str, now: SystemTime, answering: bool) -> Result<Option<Bytes>> {
        let mut map = self.store.lock();
        let Some(slot) = map.get_mut(key) else {
            return Ok(None);
        };
        let entry = match slot {
            Slot::Foreign(bytes) => {
                return match self.fault {
                    Some(Fault::PanicsOnCorruptEntry) => {
                        panic!("reference backend: cannot decode entry under {key:?}")
                    }
                    Some(Fault::ReturnsForeignBytes) => Ok(Some(bytes.clone())),
                    _ => Err(Error::corrupt(
                        "the data under this key is not a cache entry",
                    )),
                };
            }
            Slot::Entry(entry) => entry,
        };
        if let Err(e) = entry.check(self.writes_uncapped()) {
            if self.has(Fault::PanicsOnCorruptEntry) {
                panic!("reference backend: {e}");
            }
            return Err(e);
        }
        if self.has(Fault::SlidesBeforeExpiryCheck) {
            entry.deadline = self.deadline(&entry.expiry, now);
        }
        let stale_ok = self.has(Fault::ReturnsExpiredEntries)
            || (answering && self.has(Fault::GetNowIgnoresExpiry));
        if entry.expired(now) && !stale_ok {
            map.remove(key);
            return Ok(None);
        }
        let stuck =
            self.has(Fault::GetDoesNotSlide) || (answering && self.has(Fault::GetNowDoesNotSlide));
        if self.has(Fault::GetMakesImmortal) {
            entry.expiry = Expiry::NEVER;
            entry.deadline = None;
        } else if !stuck {
            entry.deadline = self.deadline(&entry.expiry, now);
        }
        Ok(Some(entry.value.clone()))
    }
}

/// The first `max` bytes of `key`, cut at a character boundary.
fn cut(key: &str, max: usize) -> String {
    let mut end = key.len().min(max);
    while !key.is_char_boundary(end) {
        end -= 1;
    }
    key[..end].to_owned()
}

/// Finishes a half-written value if the set writing it is dropped, so
/// [`Fault::TearsUnderConcurrency`] is visible only to concurrent readers.
struct FinishOnDrop {
    store: Arc<Store>,
    key: String,
    entry: Option<Entry>,
}

impl Drop for FinishOnDrop {
    fn drop(&mut self) {
        if let Some(entry) = self.entry.take() {
            self.store
                .lock()
                .insert(self.key.clone(), Slot::Entry(entry));
        }
    }
}

/// The first half of `new` over the rest of `old` (zeros where `old` is
/// shorter): what a reader sees between two half-writes.
fn mixed(new: &Bytes, old: Option<&Bytes>) -> Bytes {
    let half = new.len() / 2;
    let mut v = new[..half].to_vec();
    let old = old.map(|b| &b[..]).unwrap_or_default();
    v.extend((half..new.len()).map(|i| old.get(i).copied().unwrap_or(0)));
    Bytes::from(v)
}

#[async_trait]
impl DistributedCache for RefCache {
    async fn get(&self, key: &str) -> Result<Option<Bytes>> {
        let key = self.begin(key).await?;
        let _staged = if self.has(Fault::CancelledSetLeavesMix) {
            Some(self.store.staged.lock().await)
        } else {
            None
        };
        match self.read(&key, SystemTime::now(), false)? {
            None if self.has(Fault::MissIsError) => {
                Err(Error::new(ErrorKind::Backend, "key not found"))
            }
            Some(value) if self.has(Fault::MixesUpResponses) => {
                *lock(&self.store.last_answer) = Some(value.clone());
                tokio::task::yield_now().await;
                let answer = lock(&self.store.last_answer).clone();
                Ok(Some(answer.unwrap_or(value)))
            }
            found => Ok(found),
        }
    }

    /// The correct reference answers at once when nothing would make its
    /// `get` wait (a login, the outage fixture's "server"); a broken one
    /// only for the `get_now` faults, so every other fault's get stays
    /// the one its case targets.
    fn get_now(&self, key: &str) -> Option<Result<Option<Bytes>>> {
        let answers = matches!(
            self.fault,
            None | Some(Fault::GetNowIgnoresExpiry | Fault::GetNowDoesNotSlide)
        ) && self.link.is_none()
            && (self.login.is_none() || self.logged_in.load(Ordering::SeqCst));
        if !answers {
            return None;
        }
        Some(
            self.key(key)
                .and_then(|key| self.read(&key, SystemTime::now(), true)),
        )
    }

    async fn set(&self, key: &str, value: Bytes, options: &EntryOptions) -> Result<()> {
        let now = SystemTime::now();
        if self.has(Fault::EmptyKeyCheckedOnSetOnly) {
            Capabilities::new().validate_key(key)?;
        }
        if self.has(Fault::IoBeforeValidation) {
            self.io().await?;
        }
        let key = self.key(key)?;
        if self.has(Fault::ValidatesOptionsAfterWrite) {
            let expiry = Expiry::NEVER;
            let entry = Entry::new(value.clone(), expiry, now);
            self.store.lock().insert(key.clone(), Slot::Entry(entry));
        }
        let expiry = self.expiry(options, now)?;
        self.io().await?;
        self.wedge_check()?;
        let value = self.stored_value(value);
        let store = &self.store;
        match self.fault {
            Some(Fault::DropsEmptyValues) if value.is_empty() => {
                store.lock().remove(&key);
            }
            Some(Fault::KeepsOldExpiryOnOverwrite) => {
                let mut map = store.lock();
                let entry = match map.get(&key) {
                    Some(Slot::Entry(old)) => Entry {
                        value,
                        expiry: old.expiry,
                        deadline: old.deadline,
                    },
                    _ => Entry::new(value, expiry, now),
                };
                map.insert(key, Slot::Entry(entry));
            }
            Some(Fault::SlidingUncappedOnSet) => {
                let deadline = match expiry.sliding {
                    Some(s) => Some(now + s),
                    None => expiry.absolute,
                };
                let entry = Entry {
                    value,
                    expiry,
                    deadline,
                };
                // Not "corrupt": this backend's own reads accept it.
                store.lock().insert(key, Slot::Entry(entry));
            }
            Some(Fault::NonAtomicSet) => {
                store.lock().insert(
                    key.clone(),
                    Slot::Entry(Entry::new(value, Expiry::NEVER, now)),
                );
                tokio::task::yield_now().await;
                if let Some(Slot::Entry(e)) = store.lock().get_mut(&key) {
                    e.expiry = expiry;
                    e.deadline = self.deadline(&expiry, now);
                }
            }
            Some(Fault::TearsUnderConcurrency) => {
                let entry = Entry::new(value, expiry, now);
                let mut guard = FinishOnDrop {
                    store: Arc::clone(store),
                    key: key.clone(),
                    entry: None,
                };
                {
                    let mut map = store.lock();
                    let old = match map.get(&key) {
                        Some(Slot::Entry(e)) => Some(e.value.clone()),
                        _ => None,
                    };
                    let half = Entry::new(mixed(&entry.value, old.as_ref()), expiry, now);
                    map.insert(key.clone(), Slot::Entry(half));
                }
                guard.entry = Some(entry);
                tokio::task::yield_now().await;
                drop(guard); // writes the second half
            }
            Some(Fault::CancelledSetLeavesMix) => {
                let _staged = store.staged.lock().await;
                {
                    let mut map = store.lock();
                    let old = match map.get(&key) {
                        Some(Slot::Entry(e)) => Some(e.value.clone()),
                        _ => None,
                    };
                    let half = Entry::new(mixed(&value, old.as_ref()), expiry, now);
                    map.insert(key.clone(), Slot::Entry(half));
                }
                tokio::task::yield_now().await;
                store
                    .lock()
                    .insert(key, Slot::Entry(Entry::new(value, expiry, now)));
            }
            Some(Fault::CancelledSetWedges) => {
                store.wedged.store(true, Ordering::SeqCst);
                tokio::task::yield_now().await;
                store
                    .lock()
                    .insert(key, Slot::Entry(Entry::new(value, expiry, now)));
                store.wedged.store(false, Ordering::SeqCst);
            }
            _ => {
                let mut entry = Entry::new(value, expiry, now);
                entry.deadline = self.deadline(&expiry, now);
                store.lock().insert(key, Slot::Entry(entry));
            }
        }
        Ok(())
    }

    async fn refresh(&self, key: &str) -> Result<()> {
        let key = self.begin(key).await?;
        let now = SystemTime::now();
        let mut map = self.store.lock();
        match map.get_mut(&key) {
            None if self.has(Fault::RefreshMissingCreates) => {
                map.insert(
                    key,
                    Slot::Entry(Entry::new(Bytes::new(), Expiry::NEVER, now)),
                );
            }
            None => {}
            Some(Slot::Foreign(_)) => {
                if self.has(Fault::PanicsOnCorruptEntry) {
                    panic!("reference backend: cannot decode entry under {key:?}");
                }
                return Err(Error::corrupt(
                    "the data under this key is not a cache entry",
                ));
            }
            Some(Slot::Entry(entry)) => {
                entry.check(self.writes_uncapped())?;
                let revive = self.has(Fault::RefreshRevivesExpired);
                if entry.expired(now) && !revive && !self.has(Fault::ReturnsExpiredEntries) {
                    map.remove(&key);
                } else if !self.has(Fault::RefreshDoesNotSlide) {
                    entry.deadline = if revive {
                        // Restarts the window from the raw sliding time,
                        // reviving the entry whatever its state.
                        entry.expiry.sliding.map(|s| now + s).or(entry.deadline)
                    } else {
                        self.deadline(&entry.expiry, now)
                    };
                }
            }
        }
        Ok(())
    }

    async fn remove(&self, key: &str) -> Result<()> {
        let key = self.begin(key).await?;
        let mut map = self.store.lock();
        if self.has(Fault::RemoveClearsEverything) {
            map.clear();
            return Ok(());
        }
        match map.remove(&key) {
            None if self.has(Fault::RemoveMissingErrors) => {
                Err(Error::new(ErrorKind::Backend, "no such key"))
            }
            _ => Ok(()),
        }
    }

    async fn inspect(&self, key: &str) -> Result<Option<EntryInfo>> {
        let key = self.begin(key).await?;
        let now = SystemTime::now();
        let mut map = self.store.lock();
        match map.get_mut(&key) {
            None => Ok(None),
            Some(Slot::Foreign(_)) => Err(Error::corrupt(
                "the data under this key is not a cache entry",
            )),
            Some(Slot::Entry(e)) => {
                e.check(self.writes_uncapped())?;
                if e.expired(now) {
                    return Ok(None);
                }
                if self.has(Fault::InspectSlides) {
                    e.deadline = self.deadline(&e.expiry, now);
                }
                Ok(Some(EntryInfo::new(
                    e.value.len(),
                    e.expiry.absolute,
                    e.expiry.sliding,
                    e.deadline,
                )))
            }
        }
    }

    fn capabilities(&self) -> Capabilities {
        self.caps()
    }
}

/// The kinds of foreign data the harness writes (rule 14).
const FOREIGN: [&str; 3] = [
    "bytes that are not an entry (a wrong type)",
    "an entry with a zero sliding window",
    "an entry whose deadline lies past its absolute expiration",
];

/// The harness over the reference backend: one store per namespace, foreign
/// data, and an outage fixture whose "server" is a flag.
#[derive(Debug, Default)]
pub struct RefHarness {
    fault: Option<Fault>,
    caps: Capabilities,
    login: Option<Duration>,
    stores: Mutex<HashMap<String, Arc<Store>>>,
}

impl RefHarness {
    /// The correct reference backend.
    pub fn correct() -> Self {
        RefHarness::default()
    }

    /// The correct reference backend, connecting lazily: the first
    /// operation of every cache it makes takes `login`.
    pub fn correct_lazy_login(login: Duration) -> Self {
        RefHarness {
            login: Some(login),
            ..RefHarness::default()
        }
    }

    /// The correct reference backend declaring `caps` (a key limit, a
    /// default expiry) and honouring them.
    pub fn correct_with(caps: Capabilities) -> Self {
        RefHarness {
            caps,
            ..RefHarness::default()
        }
    }

    /// The reference backend with one deliberate bug.
    pub fn broken(fault: Fault) -> Self {
        let caps = Capabilities::new();
        let caps = match fault {
            Fault::TruncatesKeysAtDeclaredLimit | Fault::CountsKeyCharsNotBytes => {
                caps.with_max_key_length(KeyLimit::Utf8Bytes(DECLARED_LIMIT))
            }
            Fault::MeasuresKeysInWrongUnit => {
                caps.with_max_key_length(KeyLimit::Utf16Units(DECLARED_LIMIT))
            }
            Fault::IgnoresDeclaredDefault => {
                caps.with_default_options(EntryOptions::new().sliding(Duration::from_secs(20 * 60)))
            }
            _ => caps,
        };
        RefHarness {
            fault: Some(fault),
            caps,
            ..RefHarness::default()
        }
    }

    fn store(&self, namespace: &str) -> Arc<Store> {
        let ns = if self.fault == Some(Fault::SharedNamespaces) {
            ""
        } else {
            namespace
        };
        let mut stores = lock(&self.stores);
        Arc::clone(stores.entry(ns.to_owned()).or_default())
    }

    fn make(&self, namespace: &str, link: Option<Arc<Link>>) -> RefCache {
        RefCache {
            store: self.store(namespace),
            fault: self.fault,
            link,
            caps: self.caps.clone(),
            login: self.login,
            logged_in: AtomicBool::new(false),
        }
    }
}

#[async_trait]
impl Harness for RefHarness {
    async fn cache(&self, namespace: &str) -> Result<Arc<dyn DistributedCache>> {
        Ok(Arc::new(self.make(namespace, None)))
    }

    fn foreign_data(&self) -> Vec<&'static str> {
        FOREIGN.to_vec()
    }

    async fn write_foreign(&self, namespace: &str, key: &str, variant: usize) -> Result<()> {
        let now = SystemTime::now();
        let slot = match variant {
            0 => Slot::Foreign(Bytes::from_static(b"\x00\xffnot an entry")),
            1 => Slot::Entry(Entry {
                value: Bytes::from_static(b"zero window"),
                expiry: Expiry::new(None, Some(Duration::ZERO)),
                deadline: Some(now + Duration::from_secs(60)),
            }),
            2 => Slot::Entry(Entry {
                value: Bytes::from_static(b"past its cap"),
                expiry: Expiry::new(Some(now + Duration::from_secs(60)), None),
                deadline: Some(now + Duration::from_secs(600)),
            }),
            _ => return Err(Error::unsupported("no such foreign data variant")),
        };
        self.store(namespace).lock().insert(key.to_owned(), slot);
        Ok(())
    }

    fn requires_every_rule(&self) -> bool {
        // The correct reference provides every hook: nothing may be skipped.
        self.fault.is_none()
    }

    async fn outage(&self) -> Option<Box<dyn Outage>> {
        let link = Arc::new(Link::default());
        // The fixture has a "server" of its own.
        let cache = RefCache {
            store: Arc::new(Store::default()),
            fault: self.fault,
            link: Some(Arc::clone(&link)),
            caps: self.caps.clone(),
            login: self.login,
            logged_in: AtomicBool::new(false),
        };
        Some(Box::new(RefOutage {
            cache: Arc::new(cache),
            link,
        }))
    }
}

/// The outage fixture: the same cache instance throughout, a flag for the server.
#[derive(Debug)]
struct RefOutage {
    cache: Arc<RefCache>,
    link: Arc<Link>,
}

#[async_trait]
impl Outage for RefOutage {
    fn cache(&self) -> Arc<dyn DistributedCache> {
        Arc::clone(&self.cache) as Arc<dyn DistributedCache>
    }

    fn timeout(&self) -> Duration {
        OUTAGE_TIMEOUT
    }

    fn recovery_timeout(&self) -> Duration {
        // The "server" is a flag: a correct instance works at once.
        Duration::from_secs(3)
    }

    async fn stop(&mut self) {
        self.link.down.store(true, Ordering::SeqCst);
    }

    async fn start(&mut self) {
        self.link.down.store(false, Ordering::SeqCst);
    }
}
