//! Plausible's `QueryBuilder.build` + `QueryOptimizer`: segments, range, goals, validations
//! (in Plausible's order), `time` resolution, default order, hostname filters, comparisons,
//! revenue currencies.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use super::comparisons::comparison_range;
use super::date_range;
use super::fields::{DimInput, IncludeInput, OrderValue};
use super::filters::{resolve_segments, FDim, PFilter};
use super::QueryError;
use crate::ast::{
    Comparison, DateRange, DateRangeInput, Dimension, Direction, Include, Metric, Op, OrderKey, Pagination,
    PreloadedGoals, Query, RevenueCurrencies, RevenueInfo, RevenueWarning, TableClass,
};
use crate::context::{Goal, SiteContext};
use crate::inspect::Term;

/// Property keys usable without the custom-properties feature (Plausible's
/// `Props.internal_keys`).
pub const INTERNAL_PROP_KEYS: [&str; 4] = ["url", "path", "search_query", "form"];

/// The parser's output.
pub struct Parsed {
    pub timezone: Tz,
    pub date_range_input: DateRangeInput,
    pub metrics: Vec<Metric>,
    pub filters: Vec<PFilter>,
    pub dimensions: Vec<DimInput>,
    pub order_by: Option<Vec<(OrderValue, Direction)>>,
    pub pagination: Pagination,
    pub include: IncludeInput,
}

fn err(message: impl Into<String>) -> QueryError {
    QueryError::new(message)
}

/// Builds and validates the query.
pub fn build(parsed: Parsed, site: &SiteContext, now: DateTime<Utc>) -> Result<Query, QueryError> {
    let Parsed { timezone, date_range_input, metrics, filters, dimensions, order_by, pagination, include } = parsed;

    let resolved = resolve_segments(filters, site)?;
    let filters = resolved.flattened;
    let mut echo_filters = resolved.unflattened;

    let date_range = date_range::resolve(&date_range_input, timezone, now, site.stats_start_date);
    let goals = preload_goals(site, &dimensions, &filters);

    validate_order_by(&metrics, &dimensions, order_by.as_deref())?;
    validate_custom_props_access(site, &filters, &dimensions)?;
    validate_case_sensitive_modifier(&filters)?;
    validate_toplevel_only_dimensions(&filters)?;
    validate_special_metrics_filters(&metrics, &filters)?;
    validate_behavioural_filters(&filters)?;
    validate_filtered_goals_exist(&filters, site)?;
    validate_revenue_access(site, &metrics)?;
    validate_metrics(&metrics, &dimensions, &filters)?;
    validate_include(&include, &dimensions)?;

    // --- optimizer -----------------------------------------------------------------------------
    let time_dim = resolve_time_dimension(&date_range);
    let dimensions: Vec<Dimension> = dimensions
        .into_iter()
        .map(|d| match d {
            DimInput::Time => time_dim.clone(),
            DimInput::Dim(d) => d,
        })
        .collect();
    let first_time_dim = dimensions.iter().find(|d| d.is_time()).cloned();
    let order_by: Vec<(OrderKey, Direction)> = match order_by {
        None => {
            let mut o = Vec::new();
            if let Some(t) = &first_time_dim {
                o.push((OrderKey::Dimension(t.clone()), Direction::Asc));
            }
            o.push((OrderKey::Metric(metrics[0]), Direction::Desc));
            o
        }
        Some(entries) => entries
            .into_iter()
            .map(|(value, dir)| {
                let key = match value {
                    OrderValue::Metric(m) => OrderKey::Metric(m),
                    OrderValue::Dim(DimInput::Time) => {
                        OrderKey::Dimension(first_time_dim.clone().unwrap_or(time_dim.clone()))
                    }
                    OrderValue::Dim(DimInput::Dim(d)) => OrderKey::Dimension(d),
                };
                (key, dir)
            })
            .collect(),
    };

    let extra = hostname_filters_for_dimensions(&filters, &dimensions);
    let mut filters = filters;
    filters.extend(extra.iter().cloned());
    echo_filters.extend(extra);

    let revenue = revenue_info(site, &metrics, &dimensions, &goals);

    let comparisons = include.comparisons.map(|c| Comparison {
        date_range: comparison_range(&date_range, &c.mode, c.match_day_of_week, timezone, now),
        mode: c.mode,
        match_day_of_week: c.match_day_of_week,
        raw: c.raw,
    });
    // Without an explicit (internal) cutoff, a site's own `legacy_time_on_page_cutoff` applies, converted to
    // its local midnight as v1 does; a site without one reports the engagement-based metric only.
    let (legacy_time_on_page_cutoff, legacy_time_on_page_cutoff_raw) = match include.legacy_time_on_page_cutoff {
        Some((dt, raw)) => (Some(dt), Some(raw)),
        None if site.legacy_time_on_page_cutoff.is_some() => (Some(crate::v1::legacy_time_on_page_cutoff(site)), None),
        None => (None, None),
    };

    let to_ast = |fs: Vec<PFilter>| -> Result<Vec<crate::ast::Filter>, QueryError> {
        fs.into_iter()
            .map(|f| {
                f.into_ast().ok_or_else(|| err("Invalid filters. Some segments don't exist or aren't accessible."))
            })
            .collect()
    };

    Ok(Query {
        site_domain: site.domain.clone(),
        metrics,
        dimensions,
        filters: to_ast(filters)?,
        echo_filters: to_ast(echo_filters)?,
        order_by,
        pagination,
        include: Include {
            imports: include.imports,
            time_labels: include.time_labels,
            total_rows: include.total_rows,
            comparisons,
            legacy_time_on_page_cutoff,
            legacy_time_on_page_cutoff_raw,
        },
        timezone,
        date_range_input,
        date_range,
        now,
        goals,
        revenue,
        native_stats_start_at: site.native_stats_start_at,
        site_legacy_time_on_page_cutoff: site.legacy_time_on_page_cutoff,
        imports: site.imports.clone(),
    })
}

// --- helpers over the parsed filter trees ---------------------------------------------------------

/// Dimension names used by leaves, with options like Plausible's `dimensions_used_in_filters`.
fn dims_in_filters(filters: &[PFilter], min_depth: usize, ignore_behavioural: bool) -> Vec<String> {
    let mut out = Vec::new();
    for f in filters {
        f.visit(0, 0, &mut |leaf| {
            if leaf.depth >= min_depth && !(ignore_behavioural && leaf.behavioural_depth > 0) {
                out.push(leaf.dim.name());
            }
        });
    }
    out
}

fn filtering_on(filters: &[PFilter], dim: &Dimension, ignore_behavioural: bool) -> bool {
    let name = dim.name();
    dims_in_filters(filters, 0, ignore_behavioural).contains(&name)
}

fn toplevel_filter_on(filters: &[PFilter], dim: &Dimension) -> bool {
    filters.iter().any(|f| matches!(f, PFilter::Leaf { dim: FDim::Dim(d), .. } if d == dim))
}

fn has_dim(dimensions: &[DimInput], dim: &Dimension) -> bool {
    dimensions.iter().any(|d| matches!(d, DimInput::Dim(x) if x == dim))
}

// --- goals -----------------------------------------------------------------------------------------

fn preload_goals(site: &SiteContext, dimensions: &[DimInput], filters: &[PFilter]) -> PreloadedGoals {
    if !(has_dim(dimensions, &Dimension::Goal) || filtering_on(filters, &Dimension::Goal, false)) {
        return PreloadedGoals::default();
    }
    let mut matching: Vec<Goal> = site.goals.clone();
    for f in filters {
        if let PFilter::Leaf { op, dim: FDim::Dim(Dimension::Goal), clauses, modifiers } = f {
            let case_sensitive = modifiers.as_ref().and_then(|m| m.case_sensitive).unwrap_or(true);
            matching.retain(|g| {
                clauses
                    .iter()
                    .any(|c| crate::ast::goal_clause_matches(*op, case_sensitive, &c.as_text(), &g.display_name))
            });
        }
    }
    PreloadedGoals { all: site.goals.clone(), matching_toplevel_filters: matching }
}

fn revenue_info(
    site: &SiteContext,
    metrics: &[Metric],
    dimensions: &[Dimension],
    goals: &PreloadedGoals,
) -> RevenueInfo {
    if !metrics.iter().any(|m| m.is_revenue()) {
        return RevenueInfo::default();
    }
    if !site.revenue_available {
        return RevenueInfo {
            currencies: RevenueCurrencies::None,
            warning: Some(RevenueWarning::RevenueGoalsUnavailable),
        };
    }
    let revenue_goals: Vec<&Goal> = goals.matching_toplevel_filters.iter().filter(|g| g.currency.is_some()).collect();
    let no_match =
        RevenueInfo { currencies: RevenueCurrencies::None, warning: Some(RevenueWarning::NoRevenueGoalsMatching) };
    if dimensions.contains(&Dimension::Goal) {
        if revenue_goals.is_empty() {
            return no_match;
        }
        let per_goal =
            revenue_goals.iter().map(|g| (g.display_name.clone(), g.currency.clone().unwrap_or_default())).collect();
        return RevenueInfo { currencies: RevenueCurrencies::PerGoal(per_goal), warning: None };
    }
    let mut currencies: Vec<String> = revenue_goals.iter().filter_map(|g| g.currency.clone()).collect();
    currencies.sort();
    currencies.dedup();
    match currencies.len() {
        0 => no_match,
        1 => RevenueInfo { currencies: RevenueCurrencies::Single(currencies.remove(0)), warning: None },
        _ => {
            RevenueInfo { currencies: RevenueCurrencies::None, warning: Some(RevenueWarning::NoSingleRevenueCurrency) }
        }
    }
}

// --- validations (Plausible's order) -------------------------------------------------------------

fn validate_order_by(
    metrics: &[Metric],
    dimensions: &[DimInput],
    order_by: Option<&[(OrderValue, Direction)]>,
) -> Result<(), QueryError> {
    let Some(entries) = order_by else {
        return Ok(());
    };
    for (value, dir) in entries {
        let queried = match value {
            OrderValue::Metric(m) => metrics.contains(m),
            OrderValue::Dim(d) => dimensions.contains(d),
        };
        if !queried {
            let entry = Term::Tuple(vec![value.to_term(), Term::atom(dir.name())]);
            return Err(err(format!(
                "Invalid order_by entry '{}'. Entry is not a queried metric or dimension.",
                entry.inspect()
            )));
        }
    }
    Ok(())
}

fn validate_custom_props_access(
    site: &SiteContext,
    filters: &[PFilter],
    dimensions: &[DimInput],
) -> Result<(), QueryError> {
    if site.props_available {
        return Ok(());
    }
    let used = dims_in_filters(filters, 0, false).into_iter().chain(dimensions.iter().map(DimInput::name));
    for name in used {
        if let Some(prop) = name.strip_prefix("event:props:") {
            if !INTERNAL_PROP_KEYS.contains(&prop) {
                return Err(err("The owner of this site does not have access to the custom properties feature."));
            }
        }
    }
    Ok(())
}

fn validate_case_sensitive_modifier(filters: &[PFilter]) -> Result<(), QueryError> {
    let mut invalid: Option<Term> = None;
    for f in filters {
        f.visit(0, 0, &mut |leaf| {
            if invalid.is_none() && leaf.op.is_pattern() && leaf.modifiers.is_some_and(|m| m.case_sensitive.is_some()) {
                invalid = Some(leaf.filter.to_term());
            }
        });
    }
    match invalid {
        Some(term) => Err(err(format!(
            "Invalid filters. The case_sensitive modifier is not allowed with pattern operators ({})",
            term.inspect()
        ))),
        None => Ok(()),
    }
}

fn validate_toplevel_only_dimensions(filters: &[PFilter]) -> Result<(), QueryError> {
    let nested = dims_in_filters(filters, 1, true);
    match nested.iter().find(|d| *d == "event:goal" || *d == "event:hostname") {
        Some(d) => Err(err(format!("Invalid filters. Dimension `{d}` can only be filtered at the top level."))),
        None => Ok(()),
    }
}

fn validate_special_metrics_filters(metrics: &[Metric], filters: &[PFilter]) -> Result<(), QueryError> {
    let special = metrics.iter().any(|m| matches!(m, Metric::ConversionRate | Metric::GroupConversionRate));
    let deep_prop = dims_in_filters(filters, 1, false).iter().any(|d| d.starts_with("event:props:"));
    if special && deep_prop {
        return Err(err(
            "Invalid filters. When `conversion_rate` or `group_conversion_rate` metrics are used, custom property filters can only be used on top level.",
        ));
    }
    Ok(())
}

fn validate_behavioural_filters(filters: &[PFilter]) -> Result<(), QueryError> {
    let mut result = Ok(());
    for f in filters {
        f.visit(0, 0, &mut |leaf| {
            if result.is_err() || leaf.behavioural_depth == 0 {
                return;
            }
            if leaf.behavioural_depth > 1 {
                result = Err(err("Invalid filters. Behavioral filters (has_done, has_not_done) cannot be nested."));
            } else if !leaf.dim.name().starts_with("event:") {
                result = Err(err(
                    "Invalid filters. Behavioral filters (has_done, has_not_done) can only be used with event dimension filters.",
                ));
            }
        });
    }
    result
}

fn validate_filtered_goals_exist(filters: &[PFilter], site: &SiteContext) -> Result<(), QueryError> {
    // Only `is` goal filters without a modifiers object are checked (Plausible matches
    // `[:is, "event:goal", clauses]`); `contains` filters may match nothing.
    let mut clauses: Vec<String> = Vec::new();
    for f in filters {
        f.visit(0, 0, &mut |leaf| {
            if leaf.op == Op::Is && *leaf.dim == FDim::Dim(Dimension::Goal) && leaf.modifiers.is_none() {
                clauses.extend(leaf.clauses.iter().map(|c| c.as_text()));
            }
        });
    }
    for clause in clauses {
        if !site.goals.iter().any(|g| g.display_name == clause) {
            return Err(err(format!(
                "Invalid filters. The goal `{clause}` is not configured for this site. Find out how to configure goals here: https://plausible.io/docs/stats-api#filtering-by-goals"
            )));
        }
    }
    Ok(())
}

fn validate_revenue_access(site: &SiteContext, metrics: &[Metric]) -> Result<(), QueryError> {
    if metrics.iter().any(|m| m.is_revenue()) && !site.revenue_available {
        return Err(err("The owner of this site does not have access to the revenue metrics feature."));
    }
    Ok(())
}

fn validate_metrics(metrics: &[Metric], dimensions: &[DimInput], filters: &[PFilter]) -> Result<(), QueryError> {
    for metric in metrics {
        validate_metric(*metric, dimensions, filters)?;
    }
    validate_no_metrics_dimensions_conflict(metrics, dimensions)
}

fn validate_metric(metric: Metric, dimensions: &[DimInput], filters: &[PFilter]) -> Result<(), QueryError> {
    let name = metric.name();
    match metric {
        Metric::ConversionRate | Metric::GroupConversionRate => {
            if has_dim(dimensions, &Dimension::Goal) || filtering_on(filters, &Dimension::Goal, true) {
                Ok(())
            } else {
                Err(err(format!("Metric `{name}` can only be queried with event:goal filters or dimensions.")))
            }
        }
        Metric::ScrollDepth => {
            if has_dim(dimensions, &Dimension::Page) || toplevel_filter_on(filters, &Dimension::Page) {
                Ok(())
            } else {
                Err(err(format!("Metric `{name}` can only be queried with event:page filters or dimensions.")))
            }
        }
        Metric::ExitRate => {
            let only_exit_page = dimensions.len() == 1 && dimensions[0] == DimInput::Dim(Dimension::ExitPage);
            let sessions_join_events = dims_in_filters(filters, 0, false).iter().any(|d| d.starts_with("event:"));
            if !only_exit_page {
                Err(err(format!(
                    "Metric `{name}` requires a `\"visit:exit_page\"` dimension. No other dimensions are allowed."
                )))
            } else if sessions_join_events {
                Err(err(format!("Metric `{name}` cannot be queried when filtering on event dimensions.")))
            } else {
                Ok(())
            }
        }
        Metric::ViewsPerVisit => {
            if filtering_on(filters, &Dimension::Page, true) {
                Err(err(format!("Metric `{name}` cannot be queried with a filter on `event:page`.")))
            } else if !dimensions.is_empty() {
                Err(err(format!("Metric `{name}` cannot be queried with `dimensions`.")))
            } else {
                Ok(())
            }
        }
        Metric::TimeOnPage => {
            if has_dim(dimensions, &Dimension::Page) || filtering_on(filters, &Dimension::Page, true) {
                Ok(())
            } else {
                Err(err(format!("Metric `{name}` can only be queried with event:page filters or dimensions.")))
            }
        }
        _ => Ok(()),
    }
}

fn backticked(names: &[String]) -> String {
    names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
}

/// Plausible's `TableDecider.validate_no_metrics_dimensions_conflict`.
fn validate_no_metrics_dimensions_conflict(metrics: &[Metric], dimensions: &[DimInput]) -> Result<(), QueryError> {
    let metrics_of = |class: TableClass| -> Vec<String> {
        metrics.iter().filter(|m| m.table_class() == class).map(|m| m.name().to_string()).collect()
    };
    let dims_of = |class: TableClass| -> Vec<String> {
        dimensions
            .iter()
            .filter_map(|d| match d {
                DimInput::Dim(d) if d.table_class() == class => Some(d.name()),
                _ => None,
            })
            .collect()
    };
    let (event_metrics, session_metrics) = (metrics_of(TableClass::EventOnly), metrics_of(TableClass::SessionOnly));
    let (event_dims, session_dims) = (dims_of(TableClass::EventOnly), dims_of(TableClass::SessionOnly));

    // Session metrics may go with `event:page` alone (they are then the entry page's); event metrics never
    // go with session-only dimensions.
    if !session_metrics.is_empty() && !event_dims.is_empty() && event_dims != ["event:page"] {
        return Err(err(format!(
            "Session metric(s) {} cannot be queried along with event dimension(s) {}",
            backticked(&session_metrics),
            backticked(&event_dims)
        )));
    }
    if !event_metrics.is_empty() && !session_dims.is_empty() {
        return Err(err(format!(
            "Event metric(s) {} cannot be queried along with session dimension(s) {}",
            backticked(&event_metrics),
            backticked(&session_dims)
        )));
    }
    Ok(())
}

fn validate_include(include: &IncludeInput, dimensions: &[DimInput]) -> Result<(), QueryError> {
    if include.time_labels && !dimensions.iter().any(DimInput::is_time) {
        return Err(err("Invalid include.time_labels: requires a time dimension."));
    }
    Ok(())
}

// --- optimizer ---------------------------------------------------------------------------------------

/// Resolves the generic `time` dimension from the UTC range: ≤ 48 hours -> hour, ≤ 40 days ->
/// day, ≤ 52 weeks -> week, else month (whole units, truncated).
pub fn resolve_time_dimension(range: &DateRange) -> Dimension {
    let secs = (range.last_utc() - range.first_utc()).num_seconds();
    if secs / 3600 <= 48 {
        Dimension::TimeHour
    } else if secs / 86_400 <= 40 {
        Dimension::TimeDay
    } else if secs / (7 * 86_400) <= 52 {
        Dimension::TimeWeek
    } else {
        Dimension::TimeMonth
    }
}

/// For a top-level `event:hostname` filter, the same filter on `visit:entry_page_hostname`
/// (dimensions `visit:source`, `visit:entry_page`, `visit:utm_*`, `visit:referrer`) or
/// `visit:exit_page_hostname` (dimension `visit:exit_page`), per such dimension.
fn hostname_filters_for_dimensions(filters: &[PFilter], dimensions: &[Dimension]) -> Vec<PFilter> {
    let hostname_filters: Vec<&PFilter> =
        filters.iter().filter(|f| matches!(f, PFilter::Leaf { dim: FDim::Dim(Dimension::Hostname), .. })).collect();
    if hostname_filters.is_empty() {
        return Vec::new();
    }
    let mut extra = Vec::new();
    for dim in dimensions {
        let target = match dim {
            Dimension::Source
            | Dimension::EntryPage
            | Dimension::UtmMedium
            | Dimension::UtmSource
            | Dimension::UtmCampaign
            | Dimension::UtmContent
            | Dimension::UtmTerm
            | Dimension::Referrer => Dimension::EntryPageHostname,
            Dimension::ExitPage => Dimension::ExitPageHostname,
            _ => continue,
        };
        for f in &hostname_filters {
            if let PFilter::Leaf { op, clauses, modifiers, .. } = f {
                extra.push(PFilter::Leaf {
                    op: *op,
                    dim: FDim::Dim(target.clone()),
                    clauses: clauses.clone(),
                    modifiers: modifiers.clone(),
                });
            }
        }
    }
    extra
}
