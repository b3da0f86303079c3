//! Schema and table names: validated once, then bracket-quoted into
//! statement text (identifiers cannot be bound parameters).

use std::fmt;

use cache_abstractions::{Error, Result};

/// SQL Server's `sysname` holds at most 128 UTF-16 code units.
const MAX_IDENTIFIER_UNITS: usize = 128;

/// A validated `[schema].[table]` pair naming a cache table.
///
/// Names are checked before they reach any statement: not empty, at most 128
/// UTF-16 code units (SQL Server's `sysname`), no control characters, and no
/// leading or trailing white space (SQL Server drops trailing spaces from
/// delimited identifiers, so `"Cache "` would silently name `Cache`). Any
/// other character is allowed and quoted: `]` is doubled inside brackets.
///
/// ```
/// use cache_sqlserver::TableName;
///
/// let name = TableName::new("dbo", "Odd]Name")?;
/// assert_eq!(name.quoted(), "[dbo].[Odd]]Name]");
/// assert!(TableName::new("dbo", "").is_err());
/// # Ok::<(), cache_abstractions::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TableName {
    schema: String,
    table: String,
}

impl TableName {
    /// Validates both parts; [`ErrorKind::Config`](cache_abstractions::ErrorKind::Config)
    /// naming the part at fault otherwise.
    pub fn new(schema: &str, table: &str) -> Result<Self> {
        validate("schema name", schema)?;
        validate("table name", table)?;
        Ok(TableName {
            schema: schema.to_owned(),
            table: table.to_owned(),
        })
    }

    /// The schema name, unquoted.
    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// The table name, unquoted.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// `[schema].[table]`, ready to paste into statement text.
    pub fn quoted(&self) -> String {
        format!("{}.{}", quote(&self.schema), quote(&self.table))
    }
}

impl fmt::Display for TableName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.quoted())
    }
}

/// Bracket-quotes one identifier, doubling `]`.
pub(crate) fn quote(name: &str) -> String {
    format!("[{}]", name.replace(']', "]]"))
}

/// An N'…' string literal, doubling `'` (only for scripts meant to be read
/// and run by people; statements this crate runs bind values as parameters).
pub(crate) fn literal(text: &str) -> String {
    format!("N'{}'", text.replace('\'', "''"))
}

fn validate(what: &str, name: &str) -> Result<()> {
    if name.is_empty() {
        return Err(Error::config(format!("the {what} must not be empty")));
    }
    let units = name.encode_utf16().count();
    if units > MAX_IDENTIFIER_UNITS {
        return Err(Error::config(format!(
            "the {what} is {units} UTF-16 code units long; SQL Server allows at most {MAX_IDENTIFIER_UNITS}"
        )));
    }
    if name.chars().any(char::is_control) {
        return Err(Error::config(format!(
            "the {what} {name:?} contains a control character"
        )));
    }
    if name.starts_with(char::is_whitespace) || name.ends_with(char::is_whitespace) {
        return Err(Error::config(format!(
            "the {what} {name:?} starts or ends with white space"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use cache_abstractions::ErrorKind;

    #[test]
    fn quotes_and_doubles_closing_brackets() {
        let t = TableName::new("my schema", "a]b[c").unwrap();
        assert_eq!(t.quoted(), "[my schema].[a]]b[c]");
        assert_eq!(t.to_string(), t.quoted());
        assert_eq!(quote("]]"), "[]]]]]");
        // Quotes and semicolons are just characters inside brackets.
        assert_eq!(
            TableName::new("dbo", "x'; DROP TABLE y; --")
                .unwrap()
                .quoted(),
            "[dbo].[x'; DROP TABLE y; --]"
        );
    }

    #[test]
    fn rejects_bad_names_naming_the_part() {
        for (schema, table, part) in [
            ("", "t", "schema name"),
            ("dbo", "", "table name"),
            ("dbo", "t ", "table name"),
            (" dbo", "t", "schema name"),
            ("dbo", "a\0b", "table name"),
            ("dbo", "a\nb", "table name"),
            ("dbo", &"x".repeat(129), "table name"),
        ] {
            let e = TableName::new(schema, table).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Config, "{schema:?}.{table:?}");
            assert!(e.message().contains(part), "{e}");
        }
    }

    #[test]
    fn length_is_counted_in_utf16_units() {
        // 64 astral characters are 128 units: allowed; one more is not.
        let ok = "😀".repeat(64);
        assert!(TableName::new("dbo", &ok).is_ok());
        let over = format!("{ok}a");
        assert!(TableName::new("dbo", &over).is_err());
        assert!(TableName::new("dbo", &"é".repeat(128)).is_ok());
    }

    #[test]
    fn literals_double_single_quotes() {
        assert_eq!(literal("it's"), "N'it''s'");
    }
}
