//! The response's `query` object (spec §1.9): the query after processing.

use serde_json::{json, Map, Value};

use crate::ast::{Clause, Filter, Query};
use crate::parse::date_range::to_iso8601;

impl Filter {
    /// The filter re-serialized in the v2 syntax (operators as strings, modifiers kept).
    pub fn to_json(&self) -> Value {
        match self {
            Filter::Simple { op, dim, clauses, modifiers, .. } => {
                let clauses: Vec<Value> = clauses
                    .iter()
                    .map(|c| match c {
                        Clause::Str(s) => Value::String(s.clone()),
                        Clause::Int(i) => json!(i),
                    })
                    .collect();
                let mut items = vec![json!(op.name()), json!(dim.name()), Value::Array(clauses)];
                if let Some(m) = modifiers {
                    let mut obj = Map::new();
                    if let Some(cs) = m.case_sensitive {
                        obj.insert("case_sensitive".into(), json!(cs));
                    }
                    items.push(Value::Object(obj));
                }
                Value::Array(items)
            }
            Filter::And(c) => json!(["and", c.iter().map(Filter::to_json).collect::<Vec<_>>()]),
            Filter::Or(c) => json!(["or", c.iter().map(Filter::to_json).collect::<Vec<_>>()]),
            Filter::Not(c) => json!(["not", c.to_json()]),
            Filter::HasDone(c) => json!(["has_done", c.to_json()]),
            Filter::HasNotDone(c) => json!(["has_not_done", c.to_json()]),
        }
    }
}

impl Query {
    /// The response's `query` object, keys in the order `site_id, metrics, date_range, filters,
    /// dimensions, order_by, include, pagination`:
    /// * `date_range`: both instants in the query timezone (`Etc/UTC` renders `Z`, as Elixir's
    ///   `DateTime.to_iso8601/1` does; other zones `±HH:MM`);
    /// * `filters`: segments resolved (not flattened) plus the appended hostname filters;
    /// * `dimensions` / `order_by`: `time` resolved, default order included;
    /// * `include`: only the truthy options, alphabetically;
    /// * `pagination`: `{"limit", "offset"}`.
    pub fn echo(&self) -> Value {
        let mut include = Map::new();
        if let Some(c) = &self.include.comparisons {
            include.insert("comparisons".into(), c.raw.clone());
        }
        if self.include.imports {
            include.insert("imports".into(), json!(true));
        }
        if let Some(raw) = &self.include.legacy_time_on_page_cutoff_raw {
            include.insert("legacy_time_on_page_cutoff".into(), json!(raw));
        }
        if self.include.time_labels {
            include.insert("time_labels".into(), json!(true));
        }
        if self.include.total_rows {
            include.insert("total_rows".into(), json!(true));
        }

        let mut out = Map::new();
        out.insert("site_id".into(), json!(self.site_domain));
        out.insert("metrics".into(), json!(self.metrics.iter().map(|m| m.name()).collect::<Vec<_>>()));
        out.insert("date_range".into(), json!([to_iso8601(&self.date_range.first), to_iso8601(&self.date_range.last)]));
        out.insert("filters".into(), Value::Array(self.echo_filters.iter().map(Filter::to_json).collect()));
        out.insert("dimensions".into(), json!(self.dimensions.iter().map(|d| d.name()).collect::<Vec<_>>()));
        out.insert(
            "order_by".into(),
            Value::Array(self.order_by.iter().map(|(k, d)| json!([k.name(), d.name()])).collect()),
        );
        out.insert("include".into(), Value::Object(include));
        out.insert("pagination".into(), json!({"limit": self.pagination.limit, "offset": self.pagination.offset}));
        Value::Object(out)
    }
}
