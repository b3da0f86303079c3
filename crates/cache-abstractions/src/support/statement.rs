//! Running one statement of a table-backed cache: bounded by the command
//! timeout ([`within`]), answered by at most one row ([`at_most_one`]).
//!
//! ```
//! use cache_abstractions::support::statement::{at_most_one, within};
//! use cache_abstractions::ErrorKind;
//! use std::time::Duration;
//!
//! assert_eq!(at_most_one(vec!["row"])?, Some("row"));
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let e = within(Duration::from_millis(1), std::future::pending::<cache_abstractions::Result<()>>())
//!     .await
//!     .unwrap_err();
//! assert_eq!(e.kind(), ErrorKind::Timeout);
//! # });
//! # Ok::<(), cache_abstractions::Error>(())
//! ```

use std::future::Future;
use std::time::Duration;

use crate::{Error, ErrorKind, Result};

/// `statement`'s result, or a retryable [`ErrorKind::Timeout`] once it has
/// taken `limit` (the command timeout). The statement is dropped then; a
/// backend discards the connection it ran on, whose reply may still come.
pub async fn within<T>(limit: Duration, statement: impl Future<Output = Result<T>>) -> Result<T> {
    tokio::time::timeout(limit, statement)
        .await
        .unwrap_or_else(|_| {
            Err(Error::new(
                ErrorKind::Timeout,
                format!("the statement took longer than the command timeout ({limit:?})"),
            ))
        })
}

/// The row a statement matched by the key found, if any. The key is the
/// table's primary key, so more than one row means the table is not the
/// cache's layout: [`ErrorKind::CorruptEntry`], never one of them picked.
pub fn at_most_one<T>(rows: Vec<T>) -> Result<Option<T>> {
    let n = rows.len();
    let mut rows = rows.into_iter();
    match (rows.next(), n) {
        (None, _) => Ok(None),
        (Some(row), 1) => Ok(Some(row)),
        (Some(_), n) => Err(Error::corrupt(format!(
            "{n} rows match one key; is the table's primary key missing?"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_most_one_row_per_key() {
        assert_eq!(at_most_one(Vec::<u8>::new()).unwrap(), None);
        assert_eq!(at_most_one(vec![7]).unwrap(), Some(7));
        let e = at_most_one(vec![1, 2]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::CorruptEntry);
        assert!(e.message().contains("2 rows"), "{e}");
    }

    #[tokio::test]
    async fn a_statement_within_its_limit_keeps_its_result() {
        let ok = within(Duration::from_secs(60), async { Ok(5) }).await;
        assert_eq!(ok.unwrap(), 5);
        let e = within(Duration::from_secs(60), async {
            Err::<(), _>(Error::corrupt("x"))
        })
        .await
        .unwrap_err();
        assert_eq!(
            e.kind(),
            ErrorKind::CorruptEntry,
            "its own error, not a timeout"
        );
        let slow = within(
            Duration::from_millis(5),
            std::future::pending::<Result<()>>(),
        )
        .await
        .unwrap_err();
        assert_eq!(slow.kind(), ErrorKind::Timeout);
        assert!(slow.is_retryable());
    }
}
