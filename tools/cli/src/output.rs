//! How answers are printed: tables for people, JSON for scripts.
//!
//! `--output json` prints exactly what the API answered (lists as `{"items": [...], "next": ...}`
//! like its pages), so a script's contract is the API's, documented in `openapi.yaml`.

use std::io::Write;

use clap::ValueEnum;
use comfy_table::presets::UTF8_BORDERS_ONLY;
use comfy_table::{ContentArrangement, Table};
use serde_json::Value;

/// The output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum Format {
    /// Tables and sentences.
    #[default]
    Table,
    /// The API's JSON, one document per command (NDJSON for streams).
    Json,
}

/// A column: its header and the field of an item it shows.
pub type Column<'a> = (&'a str, &'a str);

/// A field of `item` as one cell: strings bare, lists joined, null as `-`.
pub fn cell(item: &Value, field: &str) -> String {
    let value = field
        .split('.')
        .try_fold(item, |v, key| v.get(key))
        .unwrap_or(&Value::Null);
    match value {
        Value::Null => "-".to_owned(),
        Value::String(s) => s.clone(),
        Value::Array(items) => items
            .iter()
            .map(|i| match i {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect::<Vec<_>>()
            .join(" "),
        other => other.to_string(),
    }
}

/// A table of `items` with `columns`.
pub fn table(items: &[Value], columns: &[Column<'_>]) -> String {
    let mut table = Table::new();
    table
        .load_preset(UTF8_BORDERS_ONLY)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(columns.iter().map(|(h, _)| *h));
    for item in items {
        table.add_row(columns.iter().map(|(_, f)| cell(item, f)));
    }
    table.to_string()
}

/// One item as `field  value` lines, in the order of `fields`, then any other field.
pub fn record(item: &Value, fields: &[&str]) -> String {
    let mut table = Table::new();
    table
        .load_preset(UTF8_BORDERS_ONLY)
        .set_content_arrangement(ContentArrangement::Dynamic);
    let mut shown: Vec<&str> = fields.to_vec();
    if let Some(map) = item.as_object() {
        for key in map.keys() {
            if !shown.contains(&key.as_str()) {
                shown.push(key);
            }
        }
    }
    for field in shown {
        if item.get(field).is_some() {
            table.add_row([field.to_owned(), cell(item, field)]);
        }
    }
    table.to_string()
}

/// Writes one line to standard output. A reader that went away (`clavis … | head`) ends
/// the process with the fault code instead of a panic: what was asked could not be shown.
pub fn line(text: &str) {
    let mut out = std::io::stdout().lock();
    if writeln!(out, "{text}").and_then(|()| out.flush()).is_err() {
        std::process::exit(i32::from(crate::error::exit::FAULT));
    }
}

/// [`line`] with `format!` arguments.
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => { $crate::output::line(&format!($($arg)*)) };
}

/// Prints `value` as pretty JSON.
pub fn json(value: &Value) {
    line(&serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string()));
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn cells_show_strings_bare_lists_joined_and_nothing_as_a_dash() {
        let item = json!({"a": "x", "b": ["p", "q"], "c": null, "d": 3, "e": {"f": "g"}});
        assert_eq!(cell(&item, "a"), "x");
        assert_eq!(cell(&item, "b"), "p q");
        assert_eq!(cell(&item, "c"), "-");
        assert_eq!(cell(&item, "missing"), "-");
        assert_eq!(cell(&item, "d"), "3");
        assert_eq!(cell(&item, "e.f"), "g");
    }

    #[test]
    fn tables_have_a_header_and_a_row_per_item() {
        let text = table(
            &[json!({"id": "cli_1", "status": "active"})],
            &[("ID", "id"), ("STATUS", "status")],
        );
        assert!(
            text.contains("ID") && text.contains("cli_1") && text.contains("active"),
            "{text}"
        );
    }

    #[test]
    fn records_list_the_named_fields_first_then_the_rest() {
        let text = record(&json!({"z": 1, "a": 2, "m": 3}), &["m"]);
        let m = text.find('m').unwrap();
        let a = text.find('a').unwrap();
        assert!(m < a, "{text}");
    }
}
