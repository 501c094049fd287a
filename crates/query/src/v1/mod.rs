//! Stats API v1 (`GET /api/v1/stats/{aggregate,timeseries,breakdown}`) as a translation layer
//! over the v2 engine (spec §4).
//!
//! [`plan`] validates the query-string parameters in Plausible's order, with v1's own messages,
//! and translates them into one (or, with `compare=previous_period`, two) resolved v2
//! [`Query`]s; the caller runs them with the engine and hands the v2 response bodies to
//! [`response::shape`], which produces the v1 body.
//!
//! Validation order (Plausible's `ExternalStatsController`): `period`, `date`, then
//! `interval` (timeseries) or `property` (breakdown), then the filters (goal filters must name
//! configured goals, every other filter a v1 property), the metrics, `limit` and `page`
//! (breakdown), and last the custom-properties feature (402).
//!
//! The v2 side is built by [`crate::parse_query`] from a v2 body carrying the range, filters
//! and dimensions with a neutral metric (`visitors`); the metrics, order and pagination are then
//! set directly on the resolved query. That way v2-only validations that v1 does not have
//! (e.g. `views_per_visit` with a time dimension, `pageviews` with a session dimension) do not
//! fire, while filters, goals, segments and ranges are resolved exactly as for v2.

pub mod filters;
pub mod period;
pub mod response;

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use crate::ast::{ComparisonMode, Dimension, Direction, Metric, OrderKey, Pagination, Query};
use crate::context::SiteContext;
use crate::parse::build::INTERNAL_PROP_KEYS;
use crate::parse::comparisons::comparison_range;
use filters::FilterSyntax;
use period::Interval;

/// Query-string parameters (the last occurrence of a name wins, as in Phoenix).
pub type Params = HashMap<String, String>;

/// A v1 error: HTTP status (400, or 402 for the custom-properties feature) and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V1Error {
    pub status: u16,
    pub message: String,
}

impl V1Error {
    fn bad_request(message: impl Into<String>) -> Self {
        V1Error { status: 400, message: message.into() }
    }
}

impl From<String> for V1Error {
    fn from(message: String) -> Self {
        V1Error::bad_request(message)
    }
}

/// The v1 endpoint being served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Aggregate,
    Timeseries,
    Breakdown,
}

/// A validated v1 request, translated into v2 queries.
#[derive(Debug, Clone)]
pub struct Plan {
    pub endpoint: Endpoint,
    /// The main query (metrics, order and pagination already translated).
    pub query: Query,
    /// The previous-period query (aggregate with `compare=previous_period`).
    pub comparison: Option<Query>,
    /// The metrics as requested, in request order (output keys).
    pub metrics: Vec<Metric>,
    /// The breakdown property as requested (`visit:browser_version`, `event:props:author`, ...).
    pub property: Option<String>,
}

/// The properties v1 accepts for filters and breakdowns (Plausible's `Legacy.Dimensions`).
pub fn is_valid_property(property: &str) -> bool {
    const EVENT: [&str; 4] = ["event:page", "event:name", "event:goal", "event:hostname"];
    const VISIT: [&str; 18] = [
        "visit:source",
        "visit:channel",
        "visit:country",
        "visit:region",
        "visit:city",
        "visit:entry_page",
        "visit:exit_page",
        "visit:referrer",
        "visit:utm_medium",
        "visit:utm_source",
        "visit:utm_campaign",
        "visit:utm_content",
        "visit:utm_term",
        "visit:device",
        "visit:os",
        "visit:os_version",
        "visit:browser",
        "visit:browser_version",
    ];
    if let Some(prop) = property.strip_prefix("event:props:") {
        return !prop.is_empty();
    }
    EVENT.contains(&property) || VISIT.contains(&property)
}

/// Validates and translates a v1 request for `site` at instant `now`.
pub fn plan(endpoint: Endpoint, params: &Params, site: &SiteContext, now: DateTime<Utc>) -> Result<Plan, V1Error> {
    let get = |name: &str| params.get(name).map(String::as_str);
    let today = now.with_timezone(&site.timezone).date_naive();

    // period, date
    let period = period::parse_period(get("period"), get("date"), today)?;

    // interval (timeseries) / property (breakdown)
    let mut interval = None;
    let mut property = None;
    match endpoint {
        Endpoint::Timeseries => interval = period::parse_interval(get("interval"))?,
        Endpoint::Breakdown => property = Some(validate_property(get("property"))?.to_string()),
        Endpoint::Aggregate => {}
    }

    // filters
    let (syntax, filters) = match get("filters") {
        Some(raw) => filters::parse_filters_with_syntax(raw),
        None => (FilterSyntax::OtherJson, Vec::new()),
    };
    if syntax == FilterSyntax::V2Json {
        crate::parse::filters::parse_filter_list(&Value::Array(filters.clone()))?;
    }
    validate_filters(&filters, site)?;

    // metrics
    let query_dims: Vec<&str> = property.as_deref().into_iter().collect();
    let metrics = parse_metrics(get("metrics"), &filters, &query_dims)?;

    // limit, page (breakdown)
    let mut pagination = Pagination::default();
    if endpoint == Endpoint::Breakdown {
        let limit = match get("limit") {
            None => 100,
            Some(raw) => match parse_elixir_integer(raw) {
                Some(n) if (1..=1000).contains(&n) => n,
                _ => return Err(V1Error::bad_request("Please provide limit as a number between 1 and 1000.")),
            },
        };
        let page = match get("page") {
            None => 1,
            Some(raw) => match parse_elixir_integer(raw) {
                Some(n) if n > 0 => n,
                _ => return Err(V1Error::bad_request("Please provide page as a positive number.")),
            },
        };
        pagination = Pagination { limit: limit as u64, offset: ((page - 1) as u64).saturating_mul(limit as u64) };
    }

    // custom properties feature
    ensure_custom_props_access(site, &filters, &query_dims)?;

    // --- translation -----------------------------------------------------------------------------
    let time_dim = match interval.unwrap_or(period.default_interval()) {
        Interval::Hour => Dimension::TimeHour,
        Interval::Day => Dimension::TimeDay,
        Interval::Month => Dimension::TimeMonth,
    };
    let dimensions: Vec<String> = match endpoint {
        Endpoint::Aggregate => Vec::new(),
        Endpoint::Timeseries => vec![time_dim.name()],
        Endpoint::Breakdown => breakdown_dimensions(property.as_deref().unwrap_or_default()),
    };
    let mut v2_filters = filters.clone();
    if let Some(p) = &property {
        v2_filters.extend(unknown_value_filters(p));
    }
    let (first, last) = period.dates();
    let body = json!({
        "site_id": site.domain,
        "metrics": ["visitors"],
        "date_range": [first.format("%Y-%m-%d").to_string(), last.format("%Y-%m-%d").to_string()],
        "filters": v2_filters,
        "dimensions": dimensions,
        "include": {"imports": get("with_imported") == Some("true")},
    });
    // The custom-properties feature was checked the v1 way above.
    let mut ctx = site.clone();
    ctx.props_available = true;
    let mut query = crate::parse_query(&body, &ctx, now).map_err(|e| V1Error::bad_request(e.message))?;
    let cutoff = legacy_time_on_page_cutoff(site);
    query.include.legacy_time_on_page_cutoff_raw = Some(cutoff.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
    query.include.legacy_time_on_page_cutoff = Some(cutoff);

    match endpoint {
        Endpoint::Aggregate => {
            query.metrics = metrics.clone();
            query.order_by = vec![(OrderKey::Metric(metrics[0]), Direction::Desc)];
        }
        Endpoint::Timeseries => {
            query.metrics = metrics
                .iter()
                .map(|m| if *m == Metric::ConversionRate { Metric::GroupConversionRate } else { *m })
                .collect();
            query.order_by = vec![(OrderKey::Dimension(time_dim), Direction::Asc)];
        }
        Endpoint::Breakdown => {
            let p = property.as_deref().unwrap_or_default();
            query.metrics = breakdown_metrics(&metrics, p);
            query.order_by = breakdown_order(get("order_by"), &query.metrics, p);
            query.pagination = pagination;
        }
    }

    let comparison = if endpoint == Endpoint::Aggregate && get("compare") == Some("previous_period") {
        let mut c = query.clone();
        c.date_range = comparison_range(&query.date_range, &ComparisonMode::PreviousPeriod, false, query.timezone, now);
        Some(c)
    } else {
        None
    };

    Ok(Plan { endpoint, query, comparison, metrics, property })
}

/// The instant up to which v1 computes `time_on_page` with the legacy method: v1 follows the
/// site's own cutoff (Plausible's `set_time_on_page_data`), as v2 does without an explicit one. A site
/// without a cutoff never had the new metric, so everything is legacy; a cutoff date becomes
/// its midnight in the site timezone (earlier instant when ambiguous, the instant before a
/// gap); Plausible's epoch marker `1970-01-01` ("always new") becomes 2000-01-01.
pub fn legacy_time_on_page_cutoff(site: &SiteContext) -> DateTime<Utc> {
    use chrono::{Datelike, TimeZone};
    let far_future = Utc.with_ymd_and_hms(9999, 1, 1, 0, 0, 0).single().unwrap_or(DateTime::<Utc>::MAX_UTC);
    match site.legacy_time_on_page_cutoff {
        None => far_future,
        Some(d) if (d.year(), d.month(), d.day()) == (1970, 1, 1) => {
            Utc.with_ymd_and_hms(2000, 1, 1, 0, 0, 0).single().unwrap_or(far_future)
        }
        Some(d) => crate::parse::date_range::local_midnight(site.timezone, d),
    }
}

fn validate_property(property: Option<&str>) -> Result<&str, V1Error> {
    match property {
        None => Err(V1Error::bad_request(
            "The `property` parameter is required. Please provide at least one property to show a breakdown by.",
        )),
        Some("event:hostname") => Err(V1Error::bad_request(
            "Property 'event:hostname' is currently not supported for breakdowns.  Please provide a valid property for the breakdown endpoint: https://plausible.io/docs/stats-api#properties",
        )),
        Some(p) if is_valid_property(p) => Ok(p),
        Some(p) => Err(V1Error::bad_request(format!(
            "Invalid property '{p}'. Please provide a valid property for the breakdown endpoint: https://plausible.io/docs/stats-api#properties"
        ))),
    }
}

/// Elixir's `Integer.parse/1` requiring the whole string: optional sign, then digits.
fn parse_elixir_integer(raw: &str) -> Option<i64> {
    let digits = raw.strip_prefix('+').unwrap_or(raw);
    let unsigned = digits.strip_prefix('-').unwrap_or(digits);
    if unsigned.is_empty() || !unsigned.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    match digits.parse::<i64>() {
        Ok(n) => Some(n),
        // Out of i64 range: still an integer, and certainly not in any accepted range.
        Err(_) => Some(if digits.starts_with('-') { i64::MIN } else { i64::MAX }),
    }
}

/// The dimension of a simple top-level filter (`[op, "dim", ...]`).
fn filter_dim(filter: &Value) -> Option<&str> {
    filter.get(1).and_then(Value::as_str)
}

/// Elixir string interpolation of a decoded JSON value (`"#{value}"`): strings as they are,
/// lists as chardata.
fn interpolate(value: &Value) -> String {
    fn chardata(v: &Value, out: &mut String) {
        match v {
            Value::String(s) => out.push_str(s),
            Value::Array(items) => items.iter().for_each(|i| chardata(i, out)),
            Value::Number(n) => match n.as_u64().and_then(|c| char::from_u32(c as u32)) {
                Some(c) => out.push(c),
                None => out.push_str(&n.to_string()),
            },
            other => out.push_str(&interpolate(other)),
        }
    }
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Array(_) => {
            let mut out = String::new();
            chardata(value, &mut out);
            out
        }
        Value::Object(_) => value.to_string(),
    }
}

/// Plausible's `validate_filters`: goal filter clauses must be configured goals (goals with
/// custom-property conditions count only with the props feature); any other filter must be on
/// a v1 property.
fn validate_filters(filters: &[Value], site: &SiteContext) -> Result<(), V1Error> {
    for filter in filters {
        let items = filter.as_array().map(Vec::as_slice).unwrap_or_default();
        if items.len() >= 3 && items[1] == "event:goal" {
            let clauses: Vec<&Value> = match &items[2] {
                Value::Array(list) => list.iter().collect(),
                Value::Null => Vec::new(),
                other => vec![other],
            };
            let configured = |name: &str| {
                site.goals.iter().any(|g| g.display_name == name && (site.props_available || g.custom_props.is_empty()))
            };
            if let Some(found) = clauses.iter().find(|c| !c.as_str().is_some_and(configured)) {
                let found = interpolate(found);
                let head = match found.strip_prefix("Visit ") {
                    Some(path) => {
                        format!("The pageview goal for the pathname `{path}` is not configured for this site. ")
                    }
                    None => format!("The goal `{found}` is not configured for this site. "),
                };
                return Err(V1Error::bad_request(format!(
                    "{head}Find out how to configure goals here: https://plausible.io/docs/stats-api#filtering-by-goals"
                )));
            }
            continue;
        }
        let property = items.get(1).cloned().unwrap_or(Value::Null);
        if !property.as_str().is_some_and(is_valid_property) {
            return Err(V1Error::bad_request(format!(
                "Invalid filter property '{}'. Please provide a valid filter property: https://plausible.io/docs/stats-api#properties",
                interpolate(&property)
            )));
        }
    }
    Ok(())
}

fn is_event_only(property: &str) -> bool {
    property == "event:name" || property == "event:goal" || property.starts_with("event:props:")
}

/// Plausible's `parse_and_validate_metrics`: `metrics` (default `visitors`) split on `,`; no
/// duplicates; each metric checked in order against the filters and the breakdown property.
fn parse_metrics(raw: Option<&str>, filters: &[Value], dims: &[&str]) -> Result<Vec<Metric>, V1Error> {
    let names: Vec<&str> = raw.unwrap_or("visitors").split(',').collect();
    let mut unique = names.clone();
    unique.sort_unstable();
    unique.dedup();
    if unique.len() != names.len() {
        return Err(V1Error::bad_request("Metrics cannot be queried multiple times."));
    }
    let filtering_on = |dim: &str| filters.iter().any(|f| filter_dim(f) == Some(dim));
    let session_check = |metric: &str| -> Result<(), V1Error> {
        if dims.len() == 1 && is_event_only(dims[0]) {
            return Err(V1Error::bad_request(format!(
                "Session metric `{metric}` cannot be queried for breakdown by `{}`.",
                dims[0]
            )));
        }
        if let Some(prop) = filters.iter().filter_map(filter_dim).find(|p| is_event_only(p)) {
            return Err(V1Error::bad_request(format!(
                "Session metric `{metric}` cannot be queried when using a filter on `{prop}`."
            )));
        }
        Ok(())
    };
    let mut out = Vec::with_capacity(names.len());
    for name in names {
        let metric = match name {
            "time_on_page" => {
                if filtering_on("event:goal") {
                    return Err(V1Error::bad_request(format!(
                        "Metric `{name}` cannot be queried when filtering by `event:goal`"
                    )));
                }
                if filtering_on("event:name") {
                    return Err(V1Error::bad_request(format!(
                        "Metric `{name}` cannot be queried when filtering by `event:name`"
                    )));
                }
                if dims == ["event:page"] {
                    Metric::TimeOnPage
                } else if !dims.is_empty() {
                    return Err(V1Error::bad_request(format!(
                        "Metric `{name}` is not supported in breakdown queries (except `event:page` breakdown)"
                    )));
                } else if filtering_on("event:page") {
                    Metric::TimeOnPage
                } else {
                    return Err(V1Error::bad_request(format!(
                        "Metric `{name}` can only be queried in a page breakdown or with a page filter."
                    )));
                }
            }
            "conversion_rate" => {
                if dims == ["event:goal"] || filtering_on("event:goal") {
                    Metric::ConversionRate
                } else {
                    return Err(V1Error::bad_request(format!(
                        "Metric `{name}` can only be queried in a goal breakdown or with a goal filter"
                    )));
                }
            }
            "visitors" => Metric::Visitors,
            "pageviews" => Metric::Pageviews,
            "events" => Metric::Events,
            "views_per_visit" => {
                if filtering_on("event:page") {
                    return Err(V1Error::bad_request(format!(
                        "Metric `{name}` cannot be queried with a filter on `event:page`."
                    )));
                }
                if !dims.is_empty() {
                    return Err(V1Error::bad_request(format!(
                        "Metric `{name}` is not supported in breakdown queries."
                    )));
                }
                session_check(name)?;
                Metric::ViewsPerVisit
            }
            "visits" | "bounce_rate" | "visit_duration" => {
                session_check(name)?;
                Metric::from_name(name).expect("known metric")
            }
            other => {
                return Err(V1Error::bad_request(format!(
                    "The metric `{other}` is not recognized. Find valid metrics from the documentation: https://plausible.io/docs/stats-api#metrics"
                )))
            }
        };
        out.push(metric);
    }
    Ok(out)
}

/// Plausible's `ensure_custom_props_access`: without the props feature only the internal keys
/// (`url`, `path`, ...) may be used — checked on the first top-level custom-property filter, or
/// else on an `event:props:*` breakdown property.
fn ensure_custom_props_access(site: &SiteContext, filters: &[Value], dims: &[&str]) -> Result<(), V1Error> {
    if site.props_available {
        return Ok(());
    }
    let prop_filter = filters.iter().filter_map(filter_dim).find_map(|d| d.strip_prefix("event:props:"));
    let prop = match (prop_filter, dims) {
        (Some(p), _) => Some(p),
        (None, [d]) => d.strip_prefix("event:props:"),
        _ => None,
    };
    match prop {
        Some(p) if !INTERNAL_PROP_KEYS.contains(&p) => Err(V1Error {
            status: 402,
            message: "The owner of this site does not have access to the custom properties feature".into(),
        }),
        _ => Ok(()),
    }
}

/// Breakdown dimensions: browser and OS versions are grouped together with their family.
fn breakdown_dimensions(property: &str) -> Vec<String> {
    match property {
        "visit:browser_version" => vec!["visit:browser".into(), "visit:browser_version".into()],
        "visit:os_version" => vec!["visit:os".into(), "visit:os_version".into()],
        p => vec![p.to_string()],
    }
}

/// Filters dropping "unknown" values from breakdowns by these properties.
fn unknown_value_filters(property: &str) -> Vec<Value> {
    match property {
        "visit:city" => vec![json!(["is_not", "visit:city", [0]])],
        "visit:country" => vec![json!(["is_not", "visit:country", ["\u{0}\u{0}", "ZZ"]])],
        "visit:region" | "visit:utm_medium" | "visit:utm_source" | "visit:utm_campaign" | "visit:utm_content"
        | "visit:utm_term" | "visit:entry_page" | "visit:exit_page" => vec![json!(["is_not", property, [""]])],
        _ => Vec::new(),
    }
}

/// `conversion_rate` is computed per group except in goal and custom-property breakdowns.
fn remap_conversion_rate(metric: Metric, property: &str) -> Metric {
    if metric == Metric::ConversionRate && property != "event:goal" && !property.starts_with("event:props:") {
        Metric::GroupConversionRate
    } else {
        metric
    }
}

/// The first metric other than `time_on_page` (what breakdowns sort by).
fn metric_to_order_by(metrics: &[Metric]) -> Option<Metric> {
    metrics.iter().copied().find(|m| *m != Metric::TimeOnPage)
}

/// Breakdown metrics: `visitors` appended when only `time_on_page` was requested;
/// `conversion_rate` remapped (see [`remap_conversion_rate`]).
fn breakdown_metrics(metrics: &[Metric], property: &str) -> Vec<Metric> {
    let mut out = metrics.to_vec();
    if metric_to_order_by(&out).is_none() {
        out.push(Metric::Visitors);
    }
    out.into_iter().map(|m| remap_conversion_rate(m, property)).collect()
}

/// Breakdown order: the client's (internal) `order_by` first, then the first sortable metric
/// descending and the property ascending (goal breakdowns: the metric only); first entry per
/// key wins.
fn breakdown_order(raw: Option<&str>, metrics: &[Metric], property: &str) -> Vec<(OrderKey, Direction)> {
    let mut order: Vec<(OrderKey, Direction)> = Vec::new();
    if let Some(Ok(Value::Array(entries))) = raw.map(serde_json::from_str::<Value>) {
        for entry in entries {
            let (Some(name), Some(dir)) = (entry.get(0).and_then(Value::as_str), entry.get(1).and_then(Value::as_str))
            else {
                continue;
            };
            if entry.as_array().map(Vec::len) != Some(2) {
                continue;
            }
            let dir = match dir {
                "asc" => Direction::Asc,
                "desc" => Direction::Desc,
                _ => continue,
            };
            let key = match Metric::from_name(name) {
                Some(m) => OrderKey::Metric(remap_conversion_rate(m, property)),
                None => match Dimension::from_name(name) {
                    Some(d) => OrderKey::Dimension(d),
                    None => continue,
                },
            };
            order.push((key, dir));
        }
    }
    if let Some(m) = metric_to_order_by(metrics) {
        order.push((OrderKey::Metric(m), Direction::Desc));
    }
    if property != "event:goal" {
        if let Some(d) = Dimension::from_name(property) {
            order.push((OrderKey::Dimension(d), Direction::Asc));
        }
    }
    let mut seen: Vec<OrderKey> = Vec::new();
    order.retain(|(k, _)| {
        if seen.contains(k) {
            false
        } else {
            seen.push(k.clone());
            true
        }
    });
    order
}
