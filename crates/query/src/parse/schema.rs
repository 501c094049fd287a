//! Emulation of Plausible's JSON-schema stage (`priv/json-schemas/query-api-schema.json`
//! validated by ExJsonSchema, errors reworded by `Plausible.Stats.JSONSchema`).
//!
//! The schema is the public one plus the internal features Tally serves publicly
//! (`include.comparisons`, `include.legacy_time_on_page_cutoff`, `exit_rate`,
//! `matches_wildcard*`) and the Tally `timezone` key. Errors are collected in the order
//! ExJsonSchema reports them (properties alphabetically, then additional properties, then
//! required ones) and joined with `"\n"`.

use std::sync::OnceLock;

use regex::Regex;
use serde_json::{Map, Value};

use super::QueryError;
use crate::ast::{Metric, VISIT_PROPS};
use crate::inspect::inspect_json;

const NO_MATCH: &str = "Expected exactly one of the schemata to match, but none of them did.";

/// Top-level keys the schema knows, alphabetically (ExJsonSchema's iteration order).
const PROPERTIES: [&str; 10] = [
    "date",
    "date_range",
    "dimensions",
    "filters",
    "include",
    "metrics",
    "order_by",
    "pagination",
    "site_id",
    "timezone",
];

const REQUIRED: [&str; 3] = ["site_id", "metrics", "date_range"];

/// Runs the schema stage.
pub fn validate(body: &Value) -> Result<(), QueryError> {
    let mut errors = Errors::default();
    match body {
        Value::Object(map) => validate_root(map, &mut errors),
        other => errors.type_mismatch("#", "Object", other),
    }
    if errors.0.is_empty() {
        Ok(())
    } else {
        Err(QueryError::new(errors.0.iter().map(|(p, m)| format!("{p}: {m}")).collect::<Vec<_>>().join("\n")))
    }
}

#[derive(Default)]
struct Errors(Vec<(String, String)>);

impl Errors {
    fn push(&mut self, path: &str, message: impl Into<String>) {
        self.0.push((path.to_string(), message.into()));
    }

    fn type_mismatch(&mut self, path: &str, expected: &str, got: &Value) {
        self.push(path, format!("Type mismatch. Expected {expected} but got {}.", type_name(got)));
    }

    /// A failed `oneOf`, reworded like `Plausible.Stats.JSONSchema.reword/3`.
    fn no_match(&mut self, path: &str, value: &Value) {
        let message = if path.starts_with("#/dimensions/") {
            format!("Invalid dimension {}", inspect_json(value))
        } else if path.starts_with("#/metrics/") {
            format!("Invalid metric {}", inspect_json(value))
        } else if path.starts_with("#/filters/") {
            format!("Invalid filter {}", inspect_json(value))
        } else if path == "#/date_range" {
            format!("Invalid date range {}", inspect_json(value))
        } else if path.starts_with("#/order_by/") {
            format!("Invalid value in order_by {}", inspect_json(value))
        } else {
            NO_MATCH.to_string()
        };
        self.push(path, message);
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "Null",
        Value::Bool(_) => "Boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "Integer",
        Value::Number(_) => "Number",
        Value::String(_) => "String",
        Value::Array(_) => "Array",
        Value::Object(_) => "Object",
    }
}

fn is_integer(v: &Value) -> bool {
    matches!(v, Value::Number(n) if n.is_i64() || n.is_u64())
}

fn validate_root(map: &Map<String, Value>, errors: &mut Errors) {
    for key in PROPERTIES {
        let Some(value) = map.get(key) else { continue };
        let path = format!("#/{key}");
        match key {
            "date_range" if !date_range_valid(value) => errors.no_match(&path, value),
            "dimensions" => validate_array(&path, value, errors, ArrayRules::unique(), |p, item, errors| {
                if !item.as_str().is_some_and(dimension_valid) {
                    errors.no_match(p, item);
                }
            }),
            "filters" => validate_array(&path, value, errors, ArrayRules::default(), |p, item, errors| {
                if !filter_tree_valid(item) {
                    errors.no_match(p, item);
                }
            }),
            "include" => validate_include(&path, value, errors),
            "metrics" => validate_array(
                &path,
                value,
                errors,
                ArrayRules { min_items: Some(1), unique: true },
                |p, item, errors| {
                    if !item.as_str().is_some_and(metric_valid) {
                        errors.no_match(p, item);
                    }
                },
            ),
            "order_by" => validate_array(&path, value, errors, ArrayRules::default(), validate_order_by_entry),
            "pagination" => validate_pagination(&path, value, errors),
            "date" | "site_id" | "timezone" if !value.is_string() => errors.type_mismatch(&path, "String", value),
            _ => {}
        }
    }

    let mut additional: Vec<&String> = map.keys().filter(|k| !PROPERTIES.contains(&k.as_str())).collect();
    additional.sort();
    for key in additional {
        errors.push(&format!("#/{key}"), "Schema does not allow additional properties.");
    }

    let missing: Vec<&str> = REQUIRED.iter().copied().filter(|k| !map.contains_key(*k)).collect();
    match missing.as_slice() {
        [] => {}
        [one] => errors.push("#", format!("Required property {one} was not present.")),
        many => errors.push("#", format!("Required properties {} were not present.", many.join(", "))),
    }
}

#[derive(Default, Clone, Copy)]
struct ArrayRules {
    min_items: Option<usize>,
    unique: bool,
}

impl ArrayRules {
    fn unique() -> Self {
        ArrayRules { min_items: None, unique: true }
    }
}

/// `{"type": "array", "items": ..., "minItems": ..., "uniqueItems": ...}` in ExJsonSchema's
/// keyword order (items, minItems, type, uniqueItems).
fn validate_array(
    path: &str,
    value: &Value,
    errors: &mut Errors,
    rules: ArrayRules,
    item_check: impl Fn(&str, &Value, &mut Errors),
) {
    let Value::Array(items) = value else {
        errors.type_mismatch(path, "Array", value);
        return;
    };
    for (i, item) in items.iter().enumerate() {
        item_check(&format!("{path}/{i}"), item, errors);
    }
    if let Some(min) = rules.min_items {
        if items.len() < min {
            errors.push(path, format!("Expected a minimum of {min} items but got {}.", items.len()));
        }
    }
    if rules.unique {
        let unique = items.iter().enumerate().all(|(i, a)| items[..i].iter().all(|b| a != b));
        if !unique {
            errors.push(path, "Expected items to be unique but they were not.");
        }
    }
}

fn validate_order_by_entry(path: &str, entry: &Value, errors: &mut Errors) {
    let Value::Array(items) = entry else {
        errors.type_mismatch(path, "Array", entry);
        return;
    };
    if let Some(first) = items.first() {
        if !first.as_str().is_some_and(order_by_value_valid) {
            errors.no_match(&format!("{path}/0"), first);
        }
    }
    if let Some(direction) = items.get(1) {
        let p = format!("{path}/1");
        if !matches!(direction.as_str(), Some("asc" | "desc")) {
            errors.push(&p, "Value is not allowed in enum.");
        }
        if !direction.is_string() {
            errors.type_mismatch(&p, "String", direction);
        }
    }
    if items.len() > 2 {
        errors.push(path, "Schema does not allow additional items.");
        errors.push(path, format!("Expected a maximum of 2 items but got {}.", items.len()));
    }
    if items.len() < 2 {
        errors.push(path, format!("Expected a minimum of 2 items but got {}.", items.len()));
    }
}

fn validate_pagination(path: &str, value: &Value, errors: &mut Errors) {
    let Value::Object(map) = value else {
        errors.type_mismatch(path, "Object", value);
        return;
    };
    for (key, min, max) in [("limit", 1i64, Some(10_000i64)), ("offset", 0, None)] {
        let Some(v) = map.get(key) else { continue };
        let p = format!("{path}/{key}");
        if let Value::Number(n) = v {
            let f = n.as_f64().unwrap_or(0.0);
            if let Some(max) = max {
                if f > max as f64 {
                    errors.push(&p, format!("Expected the value to be <= {max}"));
                }
            }
            if f < min as f64 {
                errors.push(&p, format!("Expected the value to be >= {min}"));
            }
        }
        if !is_integer(v) {
            errors.type_mismatch(&p, "Integer", v);
        }
    }
    let mut additional: Vec<&String> = map.keys().filter(|k| *k != "limit" && *k != "offset").collect();
    additional.sort();
    for key in additional {
        errors.push(&format!("{path}/{key}"), "Schema does not allow additional properties.");
    }
}

const INCLUDE_KEYS: [&str; 5] = ["comparisons", "imports", "legacy_time_on_page_cutoff", "time_labels", "total_rows"];

fn validate_include(path: &str, value: &Value, errors: &mut Errors) {
    let Value::Object(map) = value else {
        errors.type_mismatch(path, "Object", value);
        return;
    };
    for key in INCLUDE_KEYS {
        let Some(v) = map.get(key) else { continue };
        let p = format!("{path}/{key}");
        match key {
            "comparisons" => validate_comparisons(&p, v, errors),
            "legacy_time_on_page_cutoff" => {
                if !v.is_string() {
                    errors.type_mismatch(&p, "String", v);
                }
            }
            _ => {
                if !v.is_boolean() {
                    errors.type_mismatch(&p, "Boolean", v);
                }
            }
        }
    }
    let mut additional: Vec<&String> = map.keys().filter(|k| !INCLUDE_KEYS.contains(&k.as_str())).collect();
    additional.sort();
    for key in additional {
        errors.push(&format!("{path}/{key}"), "Schema does not allow additional properties.");
    }
}

/// `include.comparisons`: `{"type": "object", "oneOf": [{mode: previous_period|year_over_year,
/// match_day_of_week?}, {mode: custom, date_range: [date, date], match_day_of_week?}]}`.
fn validate_comparisons(path: &str, value: &Value, errors: &mut Errors) {
    let Value::Object(map) = value else {
        // Object keywords do not apply to non-objects, so both alternatives "match".
        errors.push(
            path,
            "Expected exactly one of the schemata to match, but the schemata at the following indexes did: 0, 1.",
        );
        errors.type_mismatch(path, "Object", value);
        return;
    };
    let mdow_ok = map.get("match_day_of_week").is_none_or(Value::is_boolean);
    let only = |allowed: &[&str]| map.keys().all(|k| allowed.contains(&k.as_str()));
    let alt0 = mdow_ok
        && matches!(map.get("mode").and_then(Value::as_str), Some("previous_period" | "year_over_year"))
        && only(&["mode", "match_day_of_week"]);
    let alt1 = mdow_ok
        && map.get("mode").and_then(Value::as_str) == Some("custom")
        && map.get("date_range").is_some_and(|d| pair_of(d, is_date_format))
        && only(&["mode", "match_day_of_week", "date_range"]);
    if !(alt0 ^ alt1) {
        errors.push(path, NO_MATCH);
    }
}

// --- value predicates --------------------------------------------------------------------------

fn metric_valid(name: &str) -> bool {
    Metric::from_name(name).is_some()
}

/// `simple_filter_dimensions` of the schema.
pub(crate) fn simple_dimension(name: &str) -> bool {
    match name {
        "event:name" | "event:page" | "event:hostname" => true,
        _ => name.strip_prefix("visit:").is_some_and(|k| VISIT_PROPS.contains(&k)),
    }
}

/// `custom_property_filter_dimensions`: pattern `^event:props:.+`.
pub(crate) fn prop_dimension(name: &str) -> bool {
    name.strip_prefix("event:props:").and_then(|rest| rest.chars().next()).is_some_and(|c| c != '\n')
}

fn time_dimension(name: &str) -> bool {
    matches!(name, "time" | "time:month" | "time:week" | "time:day" | "time:hour")
}

fn dimension_valid(name: &str) -> bool {
    simple_dimension(name) || prop_dimension(name) || name == "event:goal" || time_dimension(name)
}

fn order_by_value_valid(name: &str) -> bool {
    metric_valid(name) || simple_dimension(name) || prop_dimension(name) || time_dimension(name)
}

fn regex(cell: &'static OnceLock<Regex>, pattern: &str) -> &'static Regex {
    cell.get_or_init(|| Regex::new(pattern).expect("valid regex"))
}

/// ExJsonSchema's `date` format (`^(\d\d\d\d)-(\d\d)-(\d\d)$`).
pub(crate) fn is_date_format(v: &Value) -> bool {
    static RE: OnceLock<Regex> = OnceLock::new();
    v.as_str().is_some_and(|s| regex(&RE, r"^[0-9]{4}-[0-9]{2}-[0-9]{2}\n?\z").is_match(s))
}

/// ExJsonSchema's `date-time` format (the offset is optional there).
pub(crate) fn is_date_time_format(v: &Value) -> bool {
    static RE: OnceLock<Regex> = OnceLock::new();
    v.as_str().is_some_and(|s| {
        regex(
            &RE,
            r"^(-?(?:[1-9][0-9]*)?[0-9]{4})-(1[0-2]|0[1-9])-(3[01]|0[1-9]|[12][0-9])T(2[0-3]|[01][0-9]):([0-5][0-9]):([0-5][0-9])(\.[0-9]+)?(Z|[+-](?:2[0-3]|[01][0-9]):[0-5][0-9])?\n?\z",
        )
        .is_match(s)
    })
}

fn pair_of(v: &Value, item: fn(&Value) -> bool) -> bool {
    matches!(v, Value::Array(items) if items.len() == 2 && items.iter().all(item))
}

/// `date_range`: oneOf [shorthand, date-time pair, date pair].
fn date_range_valid(v: &Value) -> bool {
    static SHORTHAND: OnceLock<Regex> = OnceLock::new();
    let shorthand = v.as_str().is_some_and(|s| {
        matches!(s, "all" | "day" | "month" | "year" | "24h") || regex(&SHORTHAND, r"^[0-9]+(d|mo)\z").is_match(s)
    });
    let matches = [shorthand, pair_of(v, is_date_time_format), pair_of(v, is_date_format)];
    matches.iter().filter(|m| **m).count() == 1
}

fn clauses_valid(v: &Value) -> bool {
    matches!(v, Value::Array(items) if items.iter().all(|c| c.is_string() || is_integer(c)))
}

fn modifiers_valid(v: &Value) -> bool {
    matches!(v, Value::Object(m) if m.iter().all(|(k, v)| k == "case_sensitive" && v.is_boolean()))
}

/// `filter_tree`: oneOf [filter_entry, filter_and_or, filter_not, filter_has_done].
pub(crate) fn filter_tree_valid(v: &Value) -> bool {
    let Value::Array(items) = v else { return false };
    match items.first().and_then(Value::as_str) {
        Some("and" | "or") => {
            items.len() == 2
                && matches!(&items[1], Value::Array(children) if !children.is_empty() && children.iter().all(filter_tree_valid))
        }
        Some("not" | "has_done" | "has_not_done") => items.len() == 2 && filter_tree_valid(&items[1]),
        _ => filter_entry_valid(items),
    }
}

/// `filter_entry`: oneOf [filter_without_goals, filter_with_goals, filter_with_pattern,
/// filter_for_segment].
fn filter_entry_valid(items: &[Value]) -> bool {
    let op = items.first().and_then(Value::as_str).unwrap_or("");
    let dim = items.get(1).and_then(Value::as_str);
    let plain_dim = dim.is_some_and(|d| simple_dimension(d) || prop_dimension(d));
    let clauses = items.get(2).is_some_and(clauses_valid);
    let modifiers = items.get(3).is_none_or(modifiers_valid);
    let len3or4 = (3..=4).contains(&items.len());

    let without_goals = len3or4 && matches!(op, "is_not" | "contains_not") && plain_dim && clauses && modifiers;
    let with_goals =
        len3or4 && matches!(op, "is" | "contains") && (plain_dim || dim == Some("event:goal")) && clauses && modifiers;
    let with_pattern = items.len() == 3
        && matches!(op, "matches" | "matches_not" | "matches_wildcard" | "matches_wildcard_not")
        && plain_dim
        && clauses;
    let for_segment = items.len() == 3 && op == "is" && dim == Some("segment") && clauses;

    [without_goals, with_goals, with_pattern, for_segment].iter().filter(|m| **m).count() == 1
}
