//! The v1 `filters` parameter (spec §4.2): a filter expression string, or JSON.
//!
//! * A JSON **array** is a list of v2 filters, passed through as is (and later parsed by the v2
//!   filter parser).
//! * A JSON **object** is the legacy dashboard map format (`{"page": "/blog/**", "props":
//!   {"author": "!John"}}`): keys without prefix, `!` negates, `~` means contains, `|` separates
//!   alternatives, `*` is a wildcard on page / goal / hostname keys.
//! * Any other JSON value means no filters.
//! * Anything that is not JSON is the v1 expression grammar: parts separated by `;`, each
//!   `key==value` or `key!=value`; `|` separates alternatives (`\|` is a literal pipe); `*` / `**`
//!   make a wildcard. Parts that do not split into exactly a key and a value are dropped, and so
//!   are `visit:country` filters whose values are not exactly two bytes long.
//!
//! The output is always a list of v2 filter trees as JSON (`["is", "visit:browser", ["Chrome"]]`).

use serde_json::{json, Value};

use crate::ast::{EVENT_PROPS, VISIT_PROPS};

/// Which syntax a `filters` parameter used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilterSyntax {
    /// A JSON array of v2 filters.
    V2Json,
    /// A JSON object in the legacy dashboard format.
    DashboardMap,
    /// Some other JSON value (no filters).
    OtherJson,
    /// The v1 expression grammar.
    Expression,
}

/// Parses the `filters` parameter into v2 filter JSON (see the module docs).
pub fn parse_filters_param(raw: &str) -> Vec<Value> {
    parse_filters_with_syntax(raw).1
}

/// Like [`parse_filters_param`], also telling which syntax was used.
pub fn parse_filters_with_syntax(raw: &str) -> (FilterSyntax, Vec<Value>) {
    match serde_json::from_str::<Value>(raw) {
        Ok(Value::Array(items)) => (FilterSyntax::V2Json, items),
        Ok(Value::Object(map)) => (FilterSyntax::DashboardMap, parse_dashboard_map(&map)),
        Ok(_) => (FilterSyntax::OtherJson, Vec::new()),
        Err(_) => (FilterSyntax::Expression, parse_filter_expression(raw)),
    }
}

/// Parses the v1 filter expression grammar (`event:page==/a|/b;visit:browser!=Chrome`).
pub fn parse_filter_expression(raw: &str) -> Vec<Value> {
    raw.split(';').filter_map(parse_single_filter).collect()
}

fn parse_single_filter(part: &str) -> Option<Value> {
    let kv = to_kv(part);
    let [key, raw_value] = kv.as_slice() else {
        return None;
    };
    if key == "event:goal" {
        let clauses =
            if is_list_expression(raw_value) { parse_member_list(raw_value) } else { vec![remove_escapes(raw_value)] };
        return Some(json!(["is", key, clauses]));
    }
    let negated = part.contains("!=");
    let is_list = is_list_expression(raw_value);
    let is_wildcard = raw_value.contains('*');
    let filter = if is_wildcard && negated {
        json!(["matches_wildcard_not", key, [raw_value]])
    } else if is_wildcard {
        json!(["matches_wildcard", key, [raw_value]])
    } else if is_list {
        json!(["is", key, parse_member_list(raw_value)])
    } else if negated {
        json!(["is_not", key, [remove_escapes(raw_value)]])
    } else {
        json!(["is", key, [remove_escapes(raw_value)]])
    };
    reject_invalid_country_codes(filter)
}

/// `visit:country` filters survive only when every value is exactly two bytes long.
fn reject_invalid_country_codes(filter: Value) -> Option<Value> {
    if filter[1] != "visit:country" {
        return Some(filter);
    }
    let valid =
        filter[2].as_array().is_some_and(|clauses| clauses.iter().all(|c| c.as_str().is_some_and(|s| s.len() == 2)));
    valid.then_some(filter)
}

/// Trims the part, splits it on every `==` and `!=`, drops empty pieces and trims the rest.
fn to_kv(part: &str) -> Vec<String> {
    let s = part.trim();
    let bytes = s.as_bytes();
    let mut pieces = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i + 1 < bytes.len() {
        if (bytes[i] == b'=' || bytes[i] == b'!') && bytes[i + 1] == b'=' {
            pieces.push(&s[start..i]);
            i += 2;
            start = i;
        } else {
            i += 1;
        }
    }
    pieces.push(&s[start..]);
    pieces.into_iter().filter(|p| !p.is_empty()).map(|p| p.trim().to_string()).collect()
}

/// True if the value has a `|` not preceded by a backslash.
pub fn is_list_expression(value: &str) -> bool {
    let bytes = value.as_bytes();
    bytes.iter().enumerate().any(|(i, b)| *b == b'|' && (i == 0 || bytes[i - 1] != b'\\'))
}

/// Splits on unescaped `|` and unescapes `\|` in each member.
pub fn parse_member_list(value: &str) -> Vec<String> {
    let bytes = value.as_bytes();
    let mut out = Vec::new();
    let mut start = 0;
    for (i, b) in bytes.iter().enumerate() {
        if *b == b'|' && (i == 0 || bytes[i - 1] != b'\\') {
            out.push(remove_escapes(&value[start..i]));
            start = i + 1;
        }
    }
    out.push(remove_escapes(&value[start..]));
    out
}

/// `\|` -> `|`.
pub fn remove_escapes(value: &str) -> String {
    value.replace("\\|", "|")
}

// --- the legacy dashboard map format -------------------------------------------------------------

fn parse_dashboard_map(map: &serde_json::Map<String, Value>) -> Vec<Value> {
    // Elixir iterates small maps in key order.
    let mut keys: Vec<&String> = map.keys().collect();
    keys.sort();
    let mut out = Vec::new();
    for name in keys {
        let value = &map[name];
        if VISIT_PROPS.contains(&name.as_str()) {
            out.extend(dashboard_filter(&format!("visit:{name}"), value));
        } else if EVENT_PROPS.contains(&name.as_str()) {
            out.extend(dashboard_filter(&format!("event:{name}"), value));
        } else if name == "props" {
            if let Value::Object(props) = value {
                let mut prop_keys: Vec<&String> = props.keys().collect();
                prop_keys.sort();
                for key in prop_keys {
                    out.extend(dashboard_filter(&format!("event:props:{key}"), &props[key]));
                }
            }
        }
    }
    out
}

fn dashboard_filter(key: &str, value: &Value) -> Option<Value> {
    let value = value.as_str()?;
    let (negated, value) = match value.strip_prefix('!') {
        Some(rest) => (true, rest),
        None => (false, value),
    };
    let (contains, value) = match value.strip_prefix('~') {
        Some(rest) => (true, rest),
        None => (false, value),
    };
    let is_list = is_list_expression(value);
    let is_wildcard = ["page", "goal", "hostname"].iter().any(|k| key.contains(k)) && value.contains('*');
    let values = if is_list { parse_member_list(value) } else { vec![remove_escapes(value)] };
    let surround = |vs: &[String]| -> Vec<String> { vs.iter().map(|v| format!("**{v}**")).collect() };
    Some(if negated && is_wildcard {
        json!(["matches_wildcard_not", key, values])
    } else if negated && contains {
        json!(["matches_wildcard_not", key, surround(&values)])
    } else if negated {
        json!(["is_not", key, values])
    } else if is_wildcard && is_list {
        json!(["matches_wildcard", key, values])
    } else if is_list {
        json!(["is", key, values])
    } else if contains {
        json!(["contains", key, values])
    } else if is_wildcard {
        json!(["matches_wildcard", key, values])
    } else {
        json!(["is", key, values])
    })
}
