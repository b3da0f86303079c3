//! Conveniences over [`DistributedCache`], for every implementation
//! (including `dyn DistributedCache`).

use async_trait::async_trait;
use bytes::Bytes;

use crate::cache::DistributedCache;
use crate::error::{Error, Result};
use crate::options::EntryOptions;

/// Strings, default options and (with the `serde` feature) typed values on
/// top of any [`DistributedCache`]. Implemented for every cache, `dyn` included.
///
/// ```
/// use cache_abstractions::{DistributedCache, DistributedCacheExt, EntryOptions};
///
/// async fn greet(cache: &dyn DistributedCache) -> cache_abstractions::Result<()> {
///     cache.set_string("greeting", "hello", &EntryOptions::new()).await?;
///     assert_eq!(cache.get_string("greeting").await?.as_deref(), Some("hello"));
///     Ok(())
/// }
/// ```
#[async_trait]
pub trait DistributedCacheExt: DistributedCache {
    /// Gets a value stored as UTF-8 text (.NET `GetString`). A value that is
    /// not valid UTF-8 is an [`ErrorKind::CorruptEntry`](crate::ErrorKind::CorruptEntry).
    async fn get_string(&self, key: &str) -> Result<Option<String>> {
        match self.get(key).await? {
            None => Ok(None),
            Some(bytes) => String::from_utf8(bytes.to_vec())
                .map(Some)
                .map_err(|e| Error::corrupt("value is not valid UTF-8").with_source(e)),
        }
    }

    /// Stores text as its UTF-8 bytes (.NET `SetString`), readable by .NET's
    /// `GetString`.
    async fn set_string(&self, key: &str, value: &str, options: &EntryOptions) -> Result<()> {
        self.set(key, Bytes::copy_from_slice(value.as_bytes()), options)
            .await
    }

    /// Stores a value with empty options: the backend's default expiry
    /// (contract rule 9).
    async fn set_default(&self, key: &str, value: Bytes) -> Result<()> {
        self.set(key, value, &EntryOptions::new()).await
    }

    /// Gets a value stored as JSON by [`set_json`](Self::set_json). A value
    /// that does not deserialize as `T` is an
    /// [`ErrorKind::Serialization`](crate::ErrorKind::Serialization) error
    /// (the stored bytes and the caller's type disagree).
    #[cfg(feature = "serde")]
    async fn get_json<T>(&self, key: &str) -> Result<Option<T>>
    where
        T: serde::de::DeserializeOwned,
    {
        match self.get(key).await? {
            None => Ok(None),
            Some(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
                Error::serialization("value does not deserialize as the expected JSON type")
                    .with_source(e)
            }),
        }
    }

    /// Stores `value` as JSON. A value serde cannot serialize is an
    /// [`ErrorKind::Serialization`](crate::ErrorKind::Serialization) error,
    /// raised before any I/O.
    #[cfg(feature = "serde")]
    async fn set_json<T>(&self, key: &str, value: &T, options: &EntryOptions) -> Result<()>
    where
        T: serde::Serialize + Sync + ?Sized,
    {
        let bytes = serde_json::to_vec(value)
            .map_err(|e| Error::serialization("value cannot be serialized").with_source(e))?;
        self.set(key, Bytes::from(bytes), options).await
    }
}

impl<C: DistributedCache + ?Sized> DistributedCacheExt for C {}
