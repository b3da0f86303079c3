//! The cache table: its DDL (the table .NET's `CreateIfNotExists` makes),
//! the scripts `pg-cache script` prints, and creating or dropping it.
//!
//! ```
//! use cache_postgres::{schema, TableName};
//!
//! let table = TableName::new("public", "cache")?;
//! let script = schema::script(&table, &schema::TableOptions::default(), true);
//! assert!(script.contains(r#"CREATE UNLOGGED TABLE IF NOT EXISTS "public"."cache""#));
//! assert!(script.contains(r#"id VARCHAR(449) COLLATE "C" PRIMARY KEY"#));
//! # Ok::<(), cache_abstractions::Error>(())
//! ```

use cache_abstractions::{Error, ErrorKind, Result};

use crate::conn::{Conn, Manager};
use crate::connstr::Target;
use crate::statements::Statements;
use crate::table::{quote_ident, quote_literal, TableName};
use crate::tls;

/// How the table is made.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TableOptions {
    /// Write-ahead logged (.NET's `UseWAL`). By default the table is
    /// `UNLOGGED`, as .NET makes it: faster writes, but not replicated to
    /// standbys and emptied after a crash (fine for a cache).
    pub wal: bool,
}

impl TableOptions {
    /// Logged (`true`) or unlogged (`false`, the default).
    pub fn wal(mut self, wal: bool) -> Self {
        self.wal = wal;
        self
    }
}

/// `CREATE TABLE`, column for column as .NET makes it.
pub fn create_table_sql(table: &TableName, options: &TableOptions, if_not_exists: bool) -> String {
    format!(
        "CREATE {}TABLE {}{} (\n    \
         id VARCHAR(449) COLLATE \"C\" PRIMARY KEY,\n    \
         value BYTEA NOT NULL,\n    \
         expiresattime TIMESTAMPTZ NOT NULL,\n    \
         slidingexpirationinseconds BIGINT NULL,\n    \
         absoluteexpiration TIMESTAMPTZ NULL\n);",
        if options.wal { "" } else { "UNLOGGED " },
        if if_not_exists { "IF NOT EXISTS " } else { "" },
        table.quoted()
    )
}

/// The index the sweep finds expired rows with. Named after the table
/// ([`TableName::index_name`]): .NET names every table's index
/// `ix_expiresattime`, so the second cache table of a schema got none.
pub fn create_index_sql(table: &TableName, if_not_exists: bool) -> String {
    format!(
        "CREATE INDEX {}{} ON {} (expiresattime) WITH (deduplicate_items = true);",
        if if_not_exists { "IF NOT EXISTS " } else { "" },
        quote_ident(&table.index_name()),
        table.quoted()
    )
}

/// The DDL for people to review and run: table then index, in one
/// transaction. `idempotent`: the schema is made if missing and both
/// statements say `IF NOT EXISTS`, so the script can run again safely.
pub fn script(table: &TableName, options: &TableOptions, idempotent: bool) -> String {
    let mut out = String::from("BEGIN;\n");
    if idempotent {
        out.push_str(&format!(
            "CREATE SCHEMA IF NOT EXISTS {};\n",
            quote_ident(table.schema())
        ));
    }
    out.push_str(&create_table_sql(table, options, idempotent));
    out.push('\n');
    out.push_str(&create_index_sql(table, idempotent));
    out.push_str("\nCOMMIT;\n");
    out
}

/// The SQL of the cache's operations on a table, exactly as this crate
/// prepares it: for review, and for baselines that run the same statements.
///
/// Parameters (types declared when preparing): `get`, `refresh`: `$1` the
/// key (`varchar`), `$2` now (`timestamptz`); `set`: `$1` key, `$2` value
/// (`bytea`), `$3` expiresattime (`timestamptz`), `$4` window in seconds
/// (`int8`, null for none), `$5` absolute expiration (`timestamptz`, null
/// for none); `remove`: `$1` key. `get` returns `(value,
/// slidingexpirationinseconds)`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct OperationSql {
    /// The read, with the sliding refresh (one statement).
    pub get: String,
    /// The sliding refresh alone.
    pub refresh: String,
    /// The upsert.
    pub set: String,
    /// The delete of one key.
    pub remove: String,
}

/// The statements this crate sends for `table`.
///
/// ```
/// use cache_postgres::{schema, TableName};
///
/// let sql = schema::operation_sql(&TableName::new("public", "cache")?);
/// assert!(sql.set.contains("ON CONFLICT (id) DO UPDATE"));
/// # Ok::<(), cache_abstractions::Error>(())
/// ```
pub fn operation_sql(table: &TableName) -> OperationSql {
    use crate::statements::Op;
    let s = Statements::new(table);
    OperationSql {
        get: s.sql(Op::Get).to_owned(),
        refresh: s.sql(Op::Refresh).to_owned(),
        set: s.sql(Op::Set).to_owned(),
        remove: s.sql(Op::Remove).to_owned(),
    }
}

/// What [`create_table`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CreateOutcome {
    /// The table and its index were created.
    Created,
    /// A table of that name exists already; nothing was changed.
    AlreadyExists,
}

/// Creates the table and its index in one transaction unless a table of
/// that name exists. The schema must exist (as for `CREATE TABLE`).
pub async fn create_table(
    connection_string: &str,
    table: &TableName,
    options: &TableOptions,
) -> Result<CreateOutcome> {
    let mut conn = open(connection_string, table).await?;
    if exists_on(&mut conn, table).await? {
        return Ok(CreateOutcome::AlreadyExists);
    }
    let ddl = format!(
        "BEGIN;\n{}\n{}\nCOMMIT;",
        create_table_sql(table, options, false),
        create_index_sql(table, false)
    );
    match conn.batch(&ddl, "creating the table").await {
        Ok(()) => Ok(CreateOutcome::Created),
        // Made by someone else between the check and the CREATE.
        Err(e) if is_duplicate(&e) => Ok(CreateOutcome::AlreadyExists),
        Err(e) => Err(e),
    }
}

/// Whether a table of that name exists.
pub async fn table_exists(connection_string: &str, table: &TableName) -> Result<bool> {
    let mut conn = open(connection_string, table).await?;
    exists_on(&mut conn, table).await
}

/// Drops the table if it exists (tests, tear-down scripts).
pub async fn drop_table(connection_string: &str, table: &TableName) -> Result<()> {
    let mut conn = open(connection_string, table).await?;
    conn.batch(
        &format!("DROP TABLE IF EXISTS {};", table.quoted()),
        "dropping the table",
    )
    .await
}

/// The literal the exists query compares with, for scripts.
#[doc(hidden)]
pub fn name_literal(table: &TableName) -> String {
    quote_literal(&table.quoted())
}

async fn exists_on(conn: &mut Conn, table: &TableName) -> Result<bool> {
    let name = table.quoted();
    let rows = conn
        .query_sql(
            "SELECT to_regclass($1::text) IS NOT NULL",
            &[&name],
            "looking for the table",
        )
        .await?;
    rows.first()
        .and_then(|r| r.try_get::<_, bool>(0).ok())
        .ok_or_else(|| Error::new(ErrorKind::Backend, "the server answered no row"))
}

fn is_duplicate(e: &Error) -> bool {
    std::error::Error::source(e)
        .and_then(|s| s.downcast_ref::<tokio_postgres::Error>())
        .and_then(tokio_postgres::Error::code)
        .is_some_and(|c| {
            *c == tokio_postgres::error::SqlState::DUPLICATE_TABLE
                || *c == tokio_postgres::error::SqlState::UNIQUE_VIOLATION
        })
}

async fn open(connection_string: &str, table: &TableName) -> Result<Conn> {
    let target = Target::parse(connection_string)?;
    let tls = tls::connector(target.ssl_mode, &target.root_certs)?;
    let timeout = target
        .pg
        .get_connect_timeout()
        .copied()
        .unwrap_or(std::time::Duration::from_secs(15));
    let statements = std::sync::Arc::new(Statements::new(table));
    Manager::new(target, tls, timeout, statements).open().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ddl_matches_dotnet_columns() {
        let t = TableName::new("public", "cache").unwrap();
        assert_eq!(
            create_table_sql(&t, &TableOptions::default(), true),
            "CREATE UNLOGGED TABLE IF NOT EXISTS \"public\".\"cache\" (\n    \
             id VARCHAR(449) COLLATE \"C\" PRIMARY KEY,\n    \
             value BYTEA NOT NULL,\n    \
             expiresattime TIMESTAMPTZ NOT NULL,\n    \
             slidingexpirationinseconds BIGINT NULL,\n    \
             absoluteexpiration TIMESTAMPTZ NULL\n);"
        );
        assert!(
            create_table_sql(&t, &TableOptions::default().wal(true), false)
                .starts_with("CREATE TABLE \"public\".\"cache\" (")
        );
        assert_eq!(
            create_index_sql(&t, false),
            "CREATE INDEX \"cache_expiresattime_idx\" ON \"public\".\"cache\" (expiresattime) WITH (deduplicate_items = true);"
        );
    }

    #[test]
    fn scripts_are_one_transaction_and_the_idempotent_one_guards_everything() {
        let t = TableName::new("app", "c").unwrap();
        let plain = script(&t, &TableOptions::default(), false);
        assert!(plain.starts_with("BEGIN;\nCREATE UNLOGGED TABLE \"app\".\"c\""));
        assert!(plain.ends_with("COMMIT;\n"));
        assert!(!plain.contains("IF NOT EXISTS"));
        let again = script(&t, &TableOptions::default(), true);
        assert!(again.contains("CREATE SCHEMA IF NOT EXISTS \"app\";"));
        assert_eq!(again.matches("IF NOT EXISTS").count(), 3);
    }
}
