//! Parsing of `metrics`, `dimensions`, `order_by`, `pagination` and `include` (after the
//! schema stage, so most error branches are defensive).

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::date_range::{parse_date, parse_datetime, parse_pair};
use crate::ast::{ComparisonMode, DateRangeInput, Dimension, Direction, Metric, Pagination};
use crate::inspect::{inspect_json, Term};

/// A requested dimension before `time` is resolved.
#[derive(Debug, Clone, PartialEq)]
pub enum DimInput {
    /// The generic `time` dimension.
    Time,
    Dim(Dimension),
}

impl DimInput {
    /// The API name.
    pub fn name(&self) -> String {
        match self {
            DimInput::Time => "time".to_string(),
            DimInput::Dim(d) => d.name(),
        }
    }

    /// True for `time` and `time:*`.
    pub fn is_time(&self) -> bool {
        match self {
            DimInput::Time => true,
            DimInput::Dim(d) => d.is_time(),
        }
    }
}

/// What an `order_by` entry names, before `time` is resolved.
#[derive(Debug, Clone, PartialEq)]
pub enum OrderValue {
    Metric(Metric),
    Dim(DimInput),
}

impl OrderValue {
    /// The parsed value as an Elixir term: metrics are atoms, dimensions strings.
    pub fn to_term(&self) -> Term {
        match self {
            OrderValue::Metric(m) => Term::atom(m.name()),
            OrderValue::Dim(d) => Term::Str(d.name()),
        }
    }
}

/// `include.comparisons` as parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct ComparisonInput {
    pub mode: ComparisonMode,
    pub match_day_of_week: bool,
    pub raw: Value,
}

/// `include` as parsed.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct IncludeInput {
    pub imports: bool,
    pub time_labels: bool,
    pub total_rows: bool,
    pub comparisons: Option<ComparisonInput>,
    pub legacy_time_on_page_cutoff: Option<(DateTime<Utc>, String)>,
}

/// `metrics` (`Unknown metric '<inspect>'.` for names the schema would already reject).
pub fn parse_metrics(value: &Value) -> Result<Vec<Metric>, String> {
    let Value::Array(items) = value else {
        return Err(format!("Unknown metric '{}'.", inspect_json(value)));
    };
    items
        .iter()
        .map(|v| v.as_str().and_then(Metric::from_name).ok_or_else(|| format!("Unknown metric '{}'.", inspect_json(v))))
        .collect()
}

fn parse_dim_input(name: &str) -> Option<DimInput> {
    if name == "time" {
        return Some(DimInput::Time);
    }
    Dimension::from_name(name).map(DimInput::Dim)
}

/// `dimensions` (default `[]`).
pub fn parse_dimensions(value: Option<&Value>) -> Result<Vec<DimInput>, String> {
    match value {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(v @ Value::Array(items)) => items
            .iter()
            .map(|d| {
                d.as_str().and_then(parse_dim_input).ok_or_else(|| format!("Invalid dimensions '{}'", inspect_json(v)))
            })
            .collect(),
        Some(v) => Err(format!("Invalid dimensions '{}'", inspect_json(v))),
    }
}

/// `order_by` (`None` when absent: defaults are applied after `time` is resolved).
pub fn parse_order_by(value: Option<&Value>) -> Result<Option<Vec<(OrderValue, Direction)>>, String> {
    let items = match value {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(items)) => items,
        Some(v) => return Err(format!("Invalid order_by '{}'.", inspect_json(v))),
    };
    let mut out = Vec::new();
    for entry in items {
        let invalid = || format!("Invalid order_by entry '{}'.", inspect_json(entry));
        let Some([name, direction]) = entry.as_array().map(Vec::as_slice).and_then(|s| <&[Value; 2]>::try_from(s).ok())
        else {
            return Err(invalid());
        };
        let name = name.as_str().ok_or_else(invalid)?;
        let value = if name == "time" {
            OrderValue::Dim(DimInput::Time)
        } else if let Some(m) = Metric::from_name(name) {
            OrderValue::Metric(m)
        } else if let Some(d) = Dimension::from_name(name) {
            OrderValue::Dim(DimInput::Dim(d))
        } else {
            return Err(invalid());
        };
        let direction = match direction.as_str() {
            Some("asc") => Direction::Asc,
            Some("desc") => Direction::Desc,
            _ => return Err(invalid()),
        };
        out.push((value, direction));
    }
    Ok(Some(out))
}

/// `pagination`, merged over the defaults (limit 10000, offset 0).
pub fn parse_pagination(value: Option<&Value>) -> Result<Pagination, String> {
    let mut p = Pagination::default();
    if let Some(Value::Object(map)) = value {
        if let Some(limit) = map.get("limit").and_then(Value::as_u64) {
            p.limit = limit;
        }
        if let Some(offset) = map.get("offset").and_then(Value::as_u64) {
            p.offset = offset;
        }
    }
    Ok(p)
}

/// `include` (default all false).
pub fn parse_include(value: Option<&Value>) -> Result<IncludeInput, String> {
    let map = match value {
        None | Some(Value::Null) => return Ok(IncludeInput::default()),
        Some(Value::Object(map)) => map,
        Some(v) => return Err(format!("Invalid include '{}'.", inspect_json(v))),
    };
    let invalid = || format!("Invalid include '{}'.", inspect_json(value.expect("present")));
    let mut include = IncludeInput::default();
    for (key, v) in map {
        match key.as_str() {
            "imports" => include.imports = v.as_bool().unwrap_or(false),
            "time_labels" => include.time_labels = v.as_bool().unwrap_or(false),
            "total_rows" => include.total_rows = v.as_bool().unwrap_or(false),
            "comparisons" => include.comparisons = Some(parse_comparisons(v)?),
            "legacy_time_on_page_cutoff" => {
                let s = v.as_str().ok_or_else(invalid)?;
                let cutoff = parse_datetime(s)
                    .map(|dt| dt.with_timezone(&Utc))
                    .or_else(|| parse_date(s).map(|d| d.and_hms_opt(0, 0, 0).expect("midnight").and_utc()))
                    .ok_or_else(invalid)?;
                include.legacy_time_on_page_cutoff = Some((cutoff, s.to_string()));
            }
            _ => return Err(format!("Invalid include key'{}'.", inspect_json(&Value::String(key.clone())))),
        }
    }
    Ok(include)
}

fn parse_comparisons(v: &Value) -> Result<ComparisonInput, String> {
    let invalid = || format!("Invalid include '{}'.", inspect_json(v));
    let map = v.as_object().ok_or_else(invalid)?;
    let match_day_of_week = map.get("match_day_of_week").and_then(Value::as_bool).unwrap_or(false);
    let mode = match map.get("mode").and_then(Value::as_str) {
        Some("previous_period") => ComparisonMode::PreviousPeriod,
        Some("year_over_year") => ComparisonMode::YearOverYear,
        Some("custom") => {
            let pair = map.get("date_range").and_then(Value::as_array).ok_or_else(invalid)?;
            let (Some(from), Some(to)) = (pair.first().and_then(Value::as_str), pair.get(1).and_then(Value::as_str))
            else {
                return Err(invalid());
            };
            match parse_pair(from, to)? {
                DateRangeInput::Dates(a, b) => ComparisonMode::Custom(a, b),
                DateRangeInput::DateTimes(a, b) => ComparisonMode::Custom(a.date_naive(), b.date_naive()),
                _ => return Err(invalid()),
            }
        }
        _ => return Err(invalid()),
    };
    Ok(ComparisonInput { mode, match_day_of_week, raw: v.clone() })
}
