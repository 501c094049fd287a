//! Request side of the v2 query engine: JSON body -> [`Query`].
//!
//! Pipeline (Plausible's order; the first failing stage reports):
//! 1. schema validation ([`schema`]): every error collected, `"<pointer>: <message>"`, joined
//!    with `"\n"`;
//! 2. the Tally `timezone` extension;
//! 3. parsing, first error wins: `date_range`, `metrics`, `filters`, `dimensions`, `order_by`,
//!    `pagination`, `include` ([`date_range`], [`filters`], [`fields`]);
//! 4. building ([`build`]): segments, date range, goals, validations, optimisation
//!    (`time` resolution, default `order_by`, hostname filters), comparisons, revenue.

pub mod build;
pub mod comparisons;
pub mod date_range;
pub mod fields;
pub mod filters;
pub mod schema;

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::ast::Query;
use crate::context::SiteContext;
use crate::inspect::inspect_json;

/// A query validation error: always answered with HTTP 400 and body `{"error": message}`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct QueryError {
    pub message: String,
}

impl QueryError {
    /// Wraps a message.
    pub fn new(message: impl Into<String>) -> Self {
        QueryError { message: message.into() }
    }
}

impl From<String> for QueryError {
    fn from(message: String) -> Self {
        QueryError { message }
    }
}

/// Validates and resolves a `POST /api/v2/query` body for `site` at instant `now`.
///
/// Accepts Plausible's public schema plus the internal features Tally serves on the public
/// route (`date`, `include.comparisons`, `include.legacy_time_on_page_cutoff`, the `exit_rate` metric,
/// `matches_wildcard` / `matches_wildcard_not`, behavioural filters) and the Tally extension
/// key `"timezone"` (an IANA name overriding the site timezone).
pub fn parse_query(body: &Value, site: &SiteContext, now: DateTime<Utc>) -> Result<Query, QueryError> {
    schema::validate(body)?;

    let timezone = match body.get("timezone") {
        Some(Value::String(name)) => name
            .parse::<chrono_tz::Tz>()
            .map_err(|_| QueryError::new(format!("Invalid timezone {}", inspect_json(&body["timezone"]))))?,
        _ => site.timezone,
    };
    // `date` (internal in Plausible, served here): the day that counts as today, from its first instant.
    let now = match body.get("date") {
        Some(Value::String(s)) => match chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
            Ok(d) => date_range::local_instant(timezone, d.and_hms_opt(0, 0, 0).unwrap_or_default(), true)
                .with_timezone(&Utc),
            Err(_) => return Err(QueryError::new(format!("Invalid date '{s}'."))),
        },
        _ => now,
    };

    let date_range_input = date_range::parse_input(&body["date_range"])?;
    let metrics = fields::parse_metrics(&body["metrics"])?;
    let filters = match body.get("filters") {
        None | Some(Value::Null) => Vec::new(),
        Some(v) => filters::parse_filter_list(v)?,
    };
    let dimensions = fields::parse_dimensions(body.get("dimensions"))?;
    let order_by = fields::parse_order_by(body.get("order_by"))?;
    let pagination = fields::parse_pagination(body.get("pagination"))?;
    let include = fields::parse_include(body.get("include"))?;

    build::build(
        build::Parsed { timezone, date_range_input, metrics, filters, dimensions, order_by, pagination, include },
        site,
        now,
    )
}
