//! v1 response shapes, built from the v2 engine's response bodies (spec §4.5–§4.7).

use serde_json::{json, Map, Value};

use super::{Endpoint, Plan};
use crate::ast::{time_labels_for, Dimension, Metric};

/// The aggregate / breakdown warning when imported data was skipped for the query's filters or
/// dimensions.
pub const IMPORTS_UNSUPPORTED_QUERY: &str = "Imported stats are not included in the results because query parameters are not supported. For more information, see: https://plausible.io/docs/stats-api#filtering-imported-stats";

/// The timeseries warning when imported data was skipped for an hourly interval.
pub const IMPORTS_UNSUPPORTED_INTERVAL: &str =
    "Imported stats are not included because the time dimension (i.e. the interval) is too short.";

/// Builds the v1 body from the main v2 response and, for comparisons, the previous period's.
pub fn shape(plan: &Plan, main: &Value, comparison: Option<&Value>) -> Value {
    let mut body = Map::new();
    let results = match plan.endpoint {
        Endpoint::Aggregate => aggregate(plan, main, comparison),
        Endpoint::Timeseries => timeseries(plan, main),
        Endpoint::Breakdown => breakdown(plan, main),
    };
    body.insert("results".into(), results);
    let skip_reason = main.pointer("/meta/imports_skip_reason").and_then(Value::as_str);
    let warning = match plan.endpoint {
        Endpoint::Timeseries => match main.pointer("/meta/imports_warning").and_then(Value::as_str) {
            Some(w) => Some(w),
            None => match skip_reason {
                Some("unsupported_query") => Some(IMPORTS_UNSUPPORTED_QUERY),
                Some("unsupported_interval") => Some(IMPORTS_UNSUPPORTED_INTERVAL),
                _ => None,
            },
        },
        _ => (skip_reason == Some("unsupported_query")).then_some(IMPORTS_UNSUPPORTED_QUERY),
    };
    if let Some(w) = warning {
        body.insert("warning".into(), json!(w));
    }
    Value::Object(body)
}

/// The metric values of the first result row (aggregates have exactly one).
fn first_row_metrics(response: &Value) -> Vec<Value> {
    response.pointer("/results/0/metrics").and_then(Value::as_array).cloned().unwrap_or_default()
}

/// v1 rounds `bounce_rate` and `visit_duration` to integers in aggregates.
fn round_legacy(metric: Metric, value: &Value) -> Value {
    match (metric, value.as_f64()) {
        (Metric::BounceRate | Metric::VisitDuration, Some(f)) => json!(f.round() as i64),
        _ => value.clone(),
    }
}

fn aggregate(plan: &Plan, main: &Value, comparison: Option<&Value>) -> Value {
    let values = first_row_metrics(main);
    let previous = comparison.map(first_row_metrics);
    let mut out = Map::new();
    for (i, metric) in plan.query.metrics.iter().enumerate() {
        let value = values.get(i).cloned().unwrap_or(Value::Null);
        let mut entry = Map::new();
        entry.insert("value".into(), round_legacy(*metric, &value));
        if let Some(previous) = &previous {
            let old = previous.get(i).cloned().unwrap_or(Value::Null);
            entry.insert("comparison_value".into(), round_legacy(*metric, &old));
            entry.insert("change".into(), change(*metric, &old, &value));
        }
        out.insert(metric.name().into(), Value::Object(entry));
    }
    Value::Object(out)
}

/// An f64 as a JSON integer when it is integral, else as a float.
fn number(f: f64) -> Value {
    if f.fract() == 0.0 && f.abs() < 9.0e15 {
        json!(f as i64)
    } else {
        json!(f)
    }
}

/// Plausible's `Compare.calculate_change`: conversion rates as the absolute difference rounded
/// to one decimal; `bounce_rate` as the absolute difference (null when the old value is 0);
/// everything else as an integer percentage (100 from 0 to more, 0 from 0 to 0).
pub fn change(metric: Metric, old: &Value, new: &Value) -> Value {
    let (Some(old), Some(new)) = (old.as_f64(), new.as_f64()) else {
        return Value::Null;
    };
    match metric {
        Metric::ConversionRate | Metric::GroupConversionRate | Metric::ExitRate => {
            json!(((new - old) * 10.0).round() / 10.0)
        }
        Metric::BounceRate => {
            if old > 0.0 {
                number(new - old)
            } else {
                Value::Null
            }
        }
        _ => {
            if old == 0.0 && new > 0.0 {
                json!(100)
            } else if old == 0.0 && new == 0.0 {
                json!(0)
            } else if old == 0.0 {
                Value::Null
            } else {
                json!(((new - old) / old * 100.0).round() as i64)
            }
        }
    }
}

/// The v1 output name of an engine metric (`group_conversion_rate` is reported as
/// `conversion_rate`).
fn output_name(metric: Metric) -> &'static str {
    match metric {
        Metric::GroupConversionRate => "conversion_rate",
        m => m.name(),
    }
}

/// The value of an empty timeseries bucket (Plausible's `Metrics.default_value`).
fn default_value(metric: Metric) -> Value {
    match metric {
        Metric::VisitDuration | Metric::TimeOnPage | Metric::ScrollDepth | Metric::ExitRate => Value::Null,
        Metric::ViewsPerVisit | Metric::ConversionRate | Metric::GroupConversionRate | Metric::Percentage => {
            json!(0.0)
        }
        _ => json!(0),
    }
}

/// Normalises a time dimension value to the v1 label format (`YYYY-MM-DD` or
/// `YYYY-MM-DD HH:MM:SS`), whatever ISO-8601 variant the engine renders.
fn normalise_label(value: &Value) -> String {
    let s = match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if s.len() >= 19 && (s.as_bytes()[10] == b'T' || s.as_bytes()[10] == b' ') {
        format!("{} {}", &s[..10], &s[11..19])
    } else {
        s
    }
}

fn timeseries(plan: &Plan, main: &Value) -> Value {
    let q = &plan.query;
    let dim = q.dimensions.first().cloned().unwrap_or(Dimension::TimeDay);
    let mut by_label: std::collections::HashMap<String, &Vec<Value>> = std::collections::HashMap::new();
    for row in main.get("results").and_then(Value::as_array).into_iter().flatten() {
        if let (Some(label), Some(metrics)) =
            (row.pointer("/dimensions/0"), row.get("metrics").and_then(Value::as_array))
        {
            by_label.insert(normalise_label(label), metrics);
        }
    }
    let rows: Vec<Value> = time_labels_for(&dim, &q.date_range)
        .into_iter()
        .map(|label| {
            let mut row = Map::new();
            let values = by_label.get(&label);
            for (i, metric) in q.metrics.iter().enumerate() {
                let v = match values {
                    Some(vs) => vs.get(i).cloned().unwrap_or(Value::Null),
                    None => default_value(*metric),
                };
                row.insert(output_name(*metric).into(), v);
            }
            row.insert("date".into(), json!(label));
            Value::Object(row)
        })
        .collect();
    Value::Array(rows)
}

/// The v1 result key of a dimension: the name without its `event:` / `visit:` prefix, a custom
/// property's own name.
pub fn result_key(dimension: &Dimension) -> String {
    let name = dimension.name();
    if let Some(p) = name.strip_prefix("event:props:") {
        return p.to_string();
    }
    name.split_once(':').map(|(_, k)| k.to_string()).unwrap_or(name)
}

fn breakdown(plan: &Plan, main: &Value) -> Value {
    let q = &plan.query;
    let keys: Vec<String> = q.dimensions.iter().map(result_key).collect();
    let rows = main
        .get("results")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|row| {
            let mut out = Map::new();
            let dims = row.get("dimensions").and_then(Value::as_array).cloned().unwrap_or_default();
            for (key, value) in keys.iter().zip(dims) {
                out.insert(key.clone(), value);
            }
            let metrics = row.get("metrics").and_then(Value::as_array).cloned().unwrap_or_default();
            // Zipped with the requested metrics: a `visitors` added only for ordering is left out.
            for (metric, value) in plan.metrics.iter().zip(metrics) {
                out.insert(metric.name().into(), value);
            }
            Value::Object(out)
        })
        .collect();
    Value::Array(rows)
}
