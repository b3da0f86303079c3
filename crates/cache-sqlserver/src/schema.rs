//! The cache table: its DDL (the same table `dotnet sql-cache create` makes),
//! the script `sql-cache script` prints, and creating or dropping it.
//!
//! ```
//! use cache_sqlserver::{schema, TableName};
//!
//! let table = TableName::new("dbo", "Cache")?;
//! let script = schema::script(&table, true);
//! assert!(script.starts_with("IF NOT EXISTS"));
//! assert!(script.contains("Id nvarchar(449) COLLATE SQL_Latin1_General_CP1_CS_AS NOT NULL"));
//! # Ok::<(), cache_abstractions::Error>(())
//! ```

use cache_abstractions::Result;

use crate::conn::{Conn, Manager};
use crate::connstr::ConnectionString;
use crate::error::{codes, server_code};
use crate::ident::{literal, TableName};
use crate::statements::{Param, Statement};

/// `CREATE TABLE`, column for column as .NET's tool writes it. The key
/// column is 449 UTF-16 units (898 bytes, within the 900-byte index key
/// limit) with a case-sensitive collation.
pub fn create_table_sql(table: &TableName) -> String {
    format!(
        "CREATE TABLE {}(\n    \
         Id nvarchar(449) COLLATE SQL_Latin1_General_CP1_CS_AS NOT NULL,\n    \
         Value varbinary(MAX) NOT NULL,\n    \
         ExpiresAtTime datetimeoffset NOT NULL,\n    \
         SlidingExpirationInSeconds bigint NULL,\n    \
         AbsoluteExpiration datetimeoffset NULL,\n    \
         PRIMARY KEY (Id));",
        table.quoted()
    )
}

/// The index cleanup uses to find expired rows.
pub fn create_index_sql(table: &TableName) -> String {
    format!(
        "CREATE NONCLUSTERED INDEX Index_ExpiresAtTime ON {}(ExpiresAtTime);",
        table.quoted()
    )
}

/// The DDL as a script for people to review and run: table and index, or,
/// `idempotent`, both inside `IF NOT EXISTS (…) BEGIN … END` so the script
/// can run again safely.
pub fn script(table: &TableName, idempotent: bool) -> String {
    let ddl = format!("{}\n{}\n", create_table_sql(table), create_index_sql(table));
    if !idempotent {
        return ddl;
    }
    format!(
        "IF NOT EXISTS (SELECT * FROM INFORMATION_SCHEMA.TABLES WHERE TABLE_SCHEMA = {} AND TABLE_NAME = {})\n\
         BEGIN\n{ddl}END\n",
        literal(table.schema()),
        literal(table.table())
    )
}

/// What [`create_table`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CreateOutcome {
    /// The table and its index were created.
    Created,
    /// A table of that name already exists; nothing was changed.
    AlreadyExists,
}

const EXISTS_SQL: &str = "SELECT COUNT_BIG(*) FROM INFORMATION_SCHEMA.TABLES WHERE TABLE_SCHEMA = @P1 AND TABLE_NAME = @P2";

fn exists_statement(table: &TableName) -> Statement<'_> {
    Statement {
        sql: EXISTS_SQL,
        params: vec![Param::Text(table.schema()), Param::Text(table.table())],
    }
}

/// The batch [`create_table`] runs: table and index in one transaction, so
/// a failure leaves neither.
pub fn create_batch(table: &TableName) -> String {
    format!(
        "SET XACT_ABORT ON;\nBEGIN TRANSACTION;\n{}\n{}\nCOMMIT TRANSACTION;",
        create_table_sql(table),
        create_index_sql(table)
    )
}

/// Creates the table and its index unless a table of that name exists
/// (the schema must exist already, as with .NET's tool).
pub async fn create_table(
    connection: &ConnectionString,
    table: &TableName,
) -> Result<CreateOutcome> {
    let mut conn = open(connection).await?;
    if table_exists_on(&mut conn, table).await? {
        return Ok(CreateOutcome::AlreadyExists);
    }
    match conn.execute_sql(&create_batch(table)).await {
        Ok(()) => Ok(CreateOutcome::Created),
        // Created by someone else between the check and the CREATE.
        Err(e) if server_code(&e) == Some(codes::OBJECT_EXISTS) => Ok(CreateOutcome::AlreadyExists),
        Err(e) => Err(e),
    }
}

/// Whether a table of that name exists.
pub async fn table_exists(connection: &ConnectionString, table: &TableName) -> Result<bool> {
    let mut conn = open(connection).await?;
    table_exists_on(&mut conn, table).await
}

/// Drops the table if it exists (for tests and tear-down scripts).
pub async fn drop_table(connection: &ConnectionString, table: &TableName) -> Result<()> {
    let mut conn = open(connection).await?;
    conn.execute_sql(&format!("DROP TABLE IF EXISTS {};", table.quoted()))
        .await
}

async fn table_exists_on(conn: &mut Conn, table: &TableName) -> Result<bool> {
    let rows = conn.rows(&exists_statement(table)).await?;
    let n = match rows.into_iter().next() {
        Some(row) => crate::format::count(row)?,
        None => 0,
    };
    Ok(n > 0)
}

async fn open(cs: &ConnectionString) -> Result<Conn> {
    Manager::new(cs.driver_config(), cs.connect_timeout())
        .open()
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ddl_matches_dotnet_columns() {
        let t = TableName::new("dbo", "Cache").unwrap();
        assert_eq!(
            create_table_sql(&t),
            "CREATE TABLE [dbo].[Cache](\n    \
             Id nvarchar(449) COLLATE SQL_Latin1_General_CP1_CS_AS NOT NULL,\n    \
             Value varbinary(MAX) NOT NULL,\n    \
             ExpiresAtTime datetimeoffset NOT NULL,\n    \
             SlidingExpirationInSeconds bigint NULL,\n    \
             AbsoluteExpiration datetimeoffset NULL,\n    \
             PRIMARY KEY (Id));"
        );
        assert_eq!(
            create_index_sql(&t),
            "CREATE NONCLUSTERED INDEX Index_ExpiresAtTime ON [dbo].[Cache](ExpiresAtTime);"
        );
    }

    #[test]
    fn plain_script_is_table_then_index() {
        let t = TableName::new("app", "Cache").unwrap();
        let s = script(&t, false);
        assert_eq!(
            s,
            format!("{}\n{}\n", create_table_sql(&t), create_index_sql(&t))
        );
        assert!(!s.contains("IF NOT EXISTS"));
    }

    #[test]
    fn idempotent_script_guards_with_escaped_literals() {
        let t = TableName::new("o'brien", "ca]che").unwrap();
        let s = script(&t, true);
        assert_eq!(
            s,
            format!(
                "IF NOT EXISTS (SELECT * FROM INFORMATION_SCHEMA.TABLES WHERE TABLE_SCHEMA = N'o''brien' AND TABLE_NAME = N'ca]che')\n\
                 BEGIN\n{}\n{}\nEND\n",
                create_table_sql(&t),
                create_index_sql(&t)
            )
        );
        assert!(s.contains("CREATE TABLE [o'brien].[ca]]che]("));
    }

    #[test]
    fn create_is_one_transaction_and_existence_is_parameterized() {
        let t = TableName::new("dbo", "C").unwrap();
        let b = create_batch(&t);
        assert!(b.starts_with("SET XACT_ABORT ON;\nBEGIN TRANSACTION;\nCREATE TABLE [dbo].[C]("));
        assert!(b.ends_with("ON [dbo].[C](ExpiresAtTime);\nCOMMIT TRANSACTION;"));
        let e = exists_statement(&t);
        assert_eq!(e.sql, EXISTS_SQL);
        assert_eq!(e.params, vec![Param::Text("dbo"), Param::Text("C")]);
    }
}
