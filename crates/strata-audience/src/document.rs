//! Reading a TOML definition with its spans: every key and value keeps its
//! byte range, so every error can name the line and column at fault.
//!
//! Separate from the audience and campaign languages because both read
//! their files the same way: tables whose keys are checked against a fixed
//! list, and typed values that name the key when they have the wrong type.

use std::ops::Range;

use toml::Spanned;
use toml::de::{DeString, DeTable, DeValue};

use crate::error::{Error, Location};

pub(crate) type Value<'a> = Spanned<DeValue<'a>>;

/// Longest list of allowed values an error spells out.
const MAX_LISTED: usize = 24;

/// The text of a definition file, to turn byte offsets into lines.
pub(crate) struct Document<'a> {
    text: &'a str,
}

impl<'a> Document<'a> {
    pub(crate) fn parse(text: &'a str) -> Result<(Self, Spanned<DeTable<'a>>), Error> {
        let document = Document { text };
        match DeTable::parse(text) {
            Ok(root) => Ok((document, root)),
            Err(error) => Err(document.error(
                error.span().unwrap_or(0..0),
                format!("TOML syntax: {}", error.message().trim()),
            )),
        }
    }

    pub(crate) fn location(&self, offset: usize) -> Location {
        let before = self.text.get(..offset).unwrap_or(self.text);
        let line_start = before.rfind('\n').map_or(0, |newline| newline + 1);
        Location {
            line: before.matches('\n').count() + 1,
            column: before[line_start..].chars().count() + 1,
        }
    }

    pub(crate) fn error(&self, span: Range<usize>, message: impl Into<String>) -> Error {
        Error::Definition {
            location: self.location(span.start),
            message: message.into(),
        }
    }

    /// `value` as a table whose keys are all in `allowed`; `context` names
    /// the table in errors, e.g. "[audience.model]".
    pub(crate) fn table<'d>(
        &'d self,
        value: &'d Value<'a>,
        context: &str,
        allowed: &[&str],
    ) -> Result<Table<'d, 'a>, Error> {
        let DeValue::Table(table) = value.get_ref() else {
            return Err(self.error(
                value.span(),
                format!(
                    "{context} must be a table, found {}",
                    value.get_ref().type_str()
                ),
            ));
        };
        let table = Table {
            document: self,
            table,
            span: value.span(),
        };
        for (key, _) in table.entries() {
            if !allowed.contains(&key.get_ref().as_ref()) {
                return Err(self.error(
                    key.span(),
                    format!(
                        "unknown key `{}` in {context}; allowed: {}",
                        key.get_ref(),
                        allowed_list(allowed.iter().copied())
                    ),
                ));
            }
        }
        Ok(table)
    }

    pub(crate) fn string(&self, value: &Value<'a>, key: &str) -> Result<String, Error> {
        match value.get_ref() {
            DeValue::String(text) => Ok(text.to_string()),
            other => Err(self.wrong_type(value, key, "a string", other)),
        }
    }

    /// A string, or a non-empty array of strings, each with its span.
    pub(crate) fn strings(
        &self,
        value: &Value<'a>,
        key: &str,
    ) -> Result<Vec<Spanned<String>>, Error> {
        let one = |item: &Value<'a>| -> Result<Spanned<String>, Error> {
            match item.get_ref() {
                DeValue::String(text) => Ok(Spanned::new(item.span(), text.to_string())),
                other => Err(self.wrong_type(item, key, "a string", other)),
            }
        };
        match value.get_ref() {
            DeValue::Array(items) if items.is_empty() => Err(self.error(
                value.span(),
                format!("`{key}` is an empty list: it would match nobody"),
            )),
            DeValue::Array(items) => items.iter().map(one).collect(),
            _ => Ok(vec![one(value)?]),
        }
    }

    pub(crate) fn boolean(&self, value: &Value<'a>, key: &str) -> Result<bool, Error> {
        match value.get_ref() {
            DeValue::Boolean(flag) => Ok(*flag),
            other => Err(self.wrong_type(value, key, "true or false", other)),
        }
    }

    /// An integer or a float, finite.
    pub(crate) fn number(&self, value: &Value<'a>, key: &str) -> Result<f64, Error> {
        let parsed = match value.get_ref() {
            DeValue::Integer(integer) => i64::from_str_radix(integer.as_str(), integer.radix())
                .ok()
                .map(|integer| integer as f64),
            DeValue::Float(float) => float.as_str().parse::<f64>().ok(),
            other => return Err(self.wrong_type(value, key, "a number", other)),
        };
        parsed
            .filter(|number| number.is_finite())
            .ok_or_else(|| self.error(value.span(), format!("`{key}` must be a finite number")))
    }

    pub(crate) fn unsigned(&self, value: &Value<'a>, key: &str) -> Result<u64, Error> {
        match value.get_ref() {
            DeValue::Integer(integer) => u64::from_str_radix(integer.as_str(), integer.radix())
                .map_err(|_| {
                    self.error(
                        value.span(),
                        format!("`{key}` must be a whole number of at least 0"),
                    )
                }),
            other => Err(self.wrong_type(value, key, "a whole number", other)),
        }
    }

    /// An offset date-time (`2024-03-01T00:00:00Z`) or a date
    /// (`2024-03-01`, midnight UTC), as Unix milliseconds.
    pub(crate) fn instant(&self, value: &Value<'a>, key: &str) -> Result<i64, Error> {
        let datetime = match value.get_ref() {
            DeValue::Datetime(datetime) => datetime,
            other => {
                return Err(self.wrong_type(value, key, "a date or an offset date-time", other));
            }
        };
        let Some(date) = datetime.date else {
            return Err(self.error(value.span(), format!("`{key}` needs a date")));
        };
        let days = days_from_civil(i64::from(date.year), date.month, date.day);
        let millis_of_day = match (datetime.time, datetime.offset) {
            (None, _) => 0,
            (Some(time), Some(offset)) => {
                let offset_minutes = match offset {
                    toml::value::Offset::Z => 0,
                    toml::value::Offset::Custom { minutes } => i64::from(minutes),
                };
                (i64::from(time.hour) * 3600 + i64::from(time.minute) * 60) * 1000
                    + i64::from(time.second) * 1000
                    + i64::from(time.nanosecond / 1_000_000)
                    - offset_minutes * 60_000
            }
            (Some(_), None) => {
                return Err(self.error(
                    value.span(),
                    format!(
                        "`{key}` has a time but no offset; write `Z` for UTC \
                         (e.g. 2024-03-01T00:00:00Z) or give a date alone"
                    ),
                ));
            }
        };
        Ok(days * 86_400_000 + millis_of_day)
    }

    fn wrong_type(
        &self,
        value: &Value<'a>,
        key: &str,
        expected: &str,
        found: &DeValue<'_>,
    ) -> Error {
        self.error(
            value.span(),
            format!("`{key}` must be {expected}, found {}", found.type_str()),
        )
    }
}

/// A table whose keys were checked.
pub(crate) struct Table<'d, 'a> {
    document: &'d Document<'a>,
    table: &'d DeTable<'a>,
    span: Range<usize>,
}

impl<'d, 'a> Table<'d, 'a> {
    pub(crate) fn get(&self, key: &str) -> Option<&'d Value<'a>> {
        self.table.get(key)
    }

    pub(crate) fn required(&self, key: &str, context: &str) -> Result<&'d Value<'a>, Error> {
        self.get(key).ok_or_else(|| {
            self.document
                .error(self.span.clone(), format!("{context} needs `{key}`"))
        })
    }

    /// Entries in the order they appear in the file, so the first error
    /// reported is the first one a reader meets.
    pub(crate) fn entries(&self) -> Vec<(&'d Spanned<DeString<'a>>, &'d Value<'a>)> {
        let mut entries: Vec<_> = self.table.iter().collect();
        entries.sort_by_key(|(key, _)| key.span().start);
        entries
    }

    pub(crate) fn span(&self) -> Range<usize> {
        self.span.clone()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.table.is_empty()
    }
}

/// `a, b, c`, cut short after [`MAX_LISTED`] items.
pub(crate) fn allowed_list<'s>(items: impl IntoIterator<Item = &'s str>) -> String {
    let items: Vec<&str> = items.into_iter().collect();
    let mut listed = items
        .iter()
        .take(MAX_LISTED)
        .copied()
        .collect::<Vec<_>>()
        .join(", ");
    if items.is_empty() {
        listed.push_str("(none known)");
    } else if items.len() > MAX_LISTED {
        listed.push_str(&format!(" and {} more", items.len() - MAX_LISTED));
    }
    listed
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`), so the crate needs no calendar library.
fn days_from_civil(year: i64, month: u8, day: u8) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month = i64::from(month);
    let day_of_year =
        (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_instant(text: &str, expected: Result<i64, &str>) {
        let source = format!("at = {text}");
        let (document, root) = Document::parse(&source).unwrap();
        let value = root.get_ref().get("at").unwrap();
        match (document.instant(value, "at"), expected) {
            (Ok(actual), Ok(expected)) => assert_eq!(actual, expected, "{text}"),
            (Err(error), Err(fragment)) => {
                assert!(error.to_string().contains(fragment), "{text}: {error}")
            }
            (actual, expected) => panic!("{text}: {actual:?}, expected {expected:?}"),
        }
    }

    #[test]
    fn instants_are_utc_milliseconds() {
        check_instant("1970-01-01", Ok(0));
        check_instant("2000-03-01", Ok(951_868_800_000));
        check_instant("2024-02-29T12:30:00Z", Ok(1_709_209_800_000));
        check_instant("2024-02-29T14:30:00.250+02:00", Ok(1_709_209_800_250));
        check_instant("1969-12-31", Ok(-86_400_000));
        check_instant("2024-02-29T12:30:00", Err("no offset"));
        check_instant("12:30:00", Err("needs a date"));
        check_instant("\"2024-02-29\"", Err("found string"));
    }

    #[test]
    fn locations_are_one_based_lines_and_characters() {
        let document = Document {
            text: "a = 1\nbé = 2\n",
        };
        assert_eq!(document.location(0), Location { line: 1, column: 1 });
        assert_eq!(document.location(6), Location { line: 2, column: 1 });
        // `=` after a two-byte character is the fourth character.
        assert_eq!(document.location(10), Location { line: 2, column: 4 });
    }

    #[test]
    fn syntax_errors_have_a_line() {
        let Err(error) = Document::parse("a = 1\nb = [1,\n") else {
            panic!("parsed");
        };
        assert!(error.line().is_some(), "{error}");
        assert!(error.to_string().contains("TOML syntax"), "{error}");
    }

    #[test]
    fn long_lists_are_cut() {
        assert_eq!(allowed_list(["a", "b"]), "a, b");
        assert_eq!(allowed_list([]), "(none known)");
        let many: Vec<String> = (0..30).map(|index| index.to_string()).collect();
        assert!(allowed_list(many.iter().map(String::as_str)).ends_with("23 and 6 more"));
    }
}
