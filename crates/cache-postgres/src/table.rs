//! [`TableName`]: a validated schema and table, always quoted in SQL.

use std::fmt;

use cache_abstractions::{Error, Result};

/// PostgreSQL's longest identifier (NAMEDATALEN - 1 bytes); longer names are
/// silently truncated by the server, so they are refused here.
const MAX_IDENTIFIER_BYTES: usize = 63;

/// A schema and table name, validated and always double-quoted in SQL, so
/// any name (mixed case, spaces, quotes) means exactly itself.
///
/// .NET's cache pastes its names into SQL unquoted, so PostgreSQL folds them
/// to lower case: a .NET app configured with `TableName = "Cache"` uses the
/// table `cache`. [`TableName::dotnet`] applies the same folding.
///
/// ```
/// use cache_postgres::TableName;
///
/// let t = TableName::new("public", "Cache")?;
/// assert_eq!(t.quoted(), r#""public"."Cache""#);
/// assert_eq!(TableName::dotnet("Public", "Cache")?.quoted(), r#""public"."cache""#);
/// assert!(TableName::new("public", "").is_err());
/// # Ok::<(), cache_abstractions::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct TableName {
    schema: String,
    table: String,
}

impl TableName {
    /// A table name taken as written (case kept).
    pub fn new(schema: &str, table: &str) -> Result<TableName> {
        check("schema", schema)?;
        check("table", table)?;
        Ok(TableName {
            schema: schema.to_owned(),
            table: table.to_owned(),
        })
    }

    /// The table a .NET app configured with these names uses: PostgreSQL
    /// folds unquoted identifiers to lower case (ASCII letters only).
    pub fn dotnet(schema: &str, table: &str) -> Result<TableName> {
        TableName::new(&schema.to_ascii_lowercase(), &table.to_ascii_lowercase())
    }

    /// The schema, unquoted.
    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// The table, unquoted.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// `"schema"."table"`, for SQL.
    pub fn quoted(&self) -> String {
        format!("{}.{}", quote_ident(&self.schema), quote_ident(&self.table))
    }

    /// The name of the `expiresattime` index: `<table>_expiresattime_idx`,
    /// shortened with a hash of the table name when that would pass 63 bytes
    /// (.NET names every table's index `ix_expiresattime`, so a second
    /// cache table in one schema got none).
    pub fn index_name(&self) -> String {
        const SUFFIX: &str = "_expiresattime_idx";
        let full = format!("{}{SUFFIX}", self.table);
        if full.len() <= MAX_IDENTIFIER_BYTES {
            return full;
        }
        let hash = format!("_{:08x}", fnv1a(self.table.as_bytes()));
        let room = MAX_IDENTIFIER_BYTES - SUFFIX.len() - hash.len();
        let mut cut = room;
        while !self.table.is_char_boundary(cut) {
            cut -= 1;
        }
        format!("{}{hash}{SUFFIX}", &self.table[..cut])
    }
}

impl fmt::Display for TableName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.quoted())
    }
}

impl fmt::Debug for TableName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.quoted())
    }
}

fn check(what: &str, name: &str) -> Result<()> {
    if name.is_empty() {
        return Err(Error::config(format!("the {what} name must not be empty")));
    }
    if name.contains('\0') {
        return Err(Error::config(format!(
            "the {what} name must not contain a NUL character"
        )));
    }
    if name.len() > MAX_IDENTIFIER_BYTES {
        return Err(Error::config(format!(
            "the {what} name is {} bytes; PostgreSQL keeps at most {MAX_IDENTIFIER_BYTES}",
            name.len()
        )));
    }
    Ok(())
}

/// A double-quoted identifier, inner quotes doubled.
pub(crate) fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A single-quoted string literal, inner quotes doubled (for scripts people
/// read; statements bind their values as parameters).
pub(crate) fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

fn fnv1a(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5u32, |h, &b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_quoted_whole() {
        let t = TableName::new("my schema", r#"we"ird"#).unwrap();
        assert_eq!(t.quoted(), r#""my schema"."we""ird""#);
        assert_eq!(quote_literal("o'brien"), "'o''brien'");
    }

    #[test]
    fn bad_names_are_refused() {
        assert!(TableName::new("", "t").is_err());
        assert!(TableName::new("s", "a\0b").is_err());
        assert!(TableName::new("s", &"x".repeat(64)).is_err());
        assert!(TableName::new("s", &"x".repeat(63)).is_ok());
    }

    #[test]
    fn index_names_fit_and_differ() {
        let short = TableName::new("s", "cache").unwrap();
        assert_eq!(short.index_name(), "cache_expiresattime_idx");
        let a = TableName::new("s", &format!("{}a", "é".repeat(30))).unwrap();
        let b = TableName::new("s", &format!("{}b", "é".repeat(30))).unwrap();
        assert!(a.index_name().len() <= 63);
        assert_ne!(a.index_name(), b.index_name());
    }
}
