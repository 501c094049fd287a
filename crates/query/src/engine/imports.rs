//! Imported data (`include.imports`, stats-api.md §1.10): which imported table can answer a query, the
//! reason when none can, and the SQL that reads the daily aggregates grouped like the native query.

use super::sql::{Ctx, Frag, Param};
use crate::ast::{wildcard_to_regex, Clause, Dimension, Filter, Query};
use crate::context::{Goal, GoalKind};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Skip {
    NoImportedData,
    UnsupportedInterval,
    OutOfRange,
    UnsupportedQuery,
}

impl Skip {
    pub fn reason(self) -> &'static str {
        match self {
            Skip::NoImportedData => "no_imported_data",
            Skip::UnsupportedInterval => "unsupported_interval",
            Skip::OutOfRange => "out_of_range",
            Skip::UnsupportedQuery => "unsupported_query",
        }
    }
    pub fn warning(self) -> Option<&'static str> {
        match self {
            Skip::UnsupportedQuery => Some(
                "Imported stats are not included in the results because query parameters are not supported. For more information, see: https://plausible.io/docs/stats-api#filtering-imported-stats",
            ),
            Skip::UnsupportedInterval => {
                Some("Imported stats are not included because the time dimension (i.e. the interval) is too short.")
            }
            _ => None,
        }
    }
}

/// Imported table and column answering a dimension.
fn column(dim: &Dimension) -> Option<(&'static str, &'static str)> {
    Some(match dim {
        Dimension::Source => ("imported_sources", "source"),
        Dimension::Referrer => ("imported_sources", "referrer"),
        Dimension::Channel => ("imported_sources", "channel"),
        Dimension::UtmMedium => ("imported_sources", "utm_medium"),
        Dimension::UtmSource => ("imported_sources", "utm_source"),
        Dimension::UtmCampaign => ("imported_sources", "utm_campaign"),
        Dimension::UtmContent => ("imported_sources", "utm_content"),
        Dimension::UtmTerm => ("imported_sources", "utm_term"),
        Dimension::Page => ("imported_pages", "page"),
        Dimension::Hostname => ("imported_pages", "hostname"),
        Dimension::EntryPage => ("imported_entry_pages", "entry_page"),
        Dimension::ExitPage => ("imported_exit_pages", "exit_page"),
        Dimension::Country | Dimension::CountryName => ("imported_locations", "country"),
        Dimension::Region | Dimension::RegionName => ("imported_locations", "region"),
        Dimension::City | Dimension::CityName => ("imported_locations", "city"),
        Dimension::Device | Dimension::Screen => ("imported_devices", "device"),
        Dimension::Browser => ("imported_browsers", "browser"),
        Dimension::BrowserVersion => ("imported_browsers", "browser_version"),
        Dimension::Os => ("imported_operating_systems", "operating_system"),
        Dimension::OsVersion => ("imported_operating_systems", "operating_system_version"),
        Dimension::Name => ("imported_custom_events", "name"),
        _ => return None,
    })
}

/// Special custom-event goals whose `url` / `path` property is kept in imported custom events.
fn prop_column(prop: &str, goals: &[&Goal]) -> Option<&'static str> {
    let url_goals = ["Outbound Link: Click", "File Download", "Cloaked Link: Click"];
    let path_goals = ["404", "WP Form Completions", "Form: Submission"];
    let all = |names: &[&str]| {
        !goals.is_empty() && goals.iter().all(|g| g.event_name.as_deref().is_some_and(|n| names.contains(&n)))
    };
    match prop {
        "url" if all(&url_goals) => Some("link_url"),
        "path" if all(&path_goals) => Some("path"),
        _ => None,
    }
}

/// One imported subquery: a table, a goal restriction, its dimension columns and filters.
#[derive(Clone, Debug)]
pub struct Source {
    pub table: &'static str,
    /// Restrict to rows completing this goal (event goals on custom events, page goals on pages).
    pub goal: Option<Goal>,
    /// For the goal dimension: the index of the goal, reported as the dimension value.
    pub goal_idx: Option<usize>,
}

/// How imported data joins this query: the subqueries to run, or why it is skipped.
pub fn plan(q: &Query) -> Result<Vec<Source>, Skip> {
    if q.imports.is_empty() {
        return Err(Skip::NoImportedData);
    }
    if q.dimensions.contains(&Dimension::TimeHour) {
        return Err(Skip::UnsupportedInterval);
    }
    let last_import = q.imports.iter().map(|i| i.end_date).max().unwrap();
    if q.date_range.first_date() > last_import {
        return Err(Skip::OutOfRange);
    }
    let goal_filters: Vec<&Filter> =
        q.filters.iter().filter(|f| matches!(f, Filter::Simple { dim: Dimension::Goal, .. })).collect();
    let mut leaves: Vec<&Filter> = Vec::new();
    for f in &q.filters {
        if matches!(f, Filter::HasDone(_) | Filter::HasNotDone(_)) {
            return Err(Skip::UnsupportedQuery);
        }
        if !matches!(f, Filter::Simple { dim: Dimension::Goal, .. }) {
            for l in f.leaves() {
                leaves.push(l);
            }
        }
        if !matches!(f, Filter::Simple { .. }) && f.leaves().iter().any(|l| l.dimension() == Some(&Dimension::Goal)) {
            return Err(Skip::UnsupportedQuery);
        }
    }
    let other_dims: Vec<&Dimension> = q.dimensions.iter().filter(|d| !d.is_time()).collect();

    // Goals: event goals come from imported custom events, page goals from imported pages.
    let goal_dim = other_dims.contains(&&Dimension::Goal);
    if goal_dim || !goal_filters.is_empty() {
        let goals: Vec<&Goal> = if goal_dim {
            q.goals.matching_toplevel_filters.iter().collect()
        } else {
            q.goals.all.iter().filter(|g| goal_filters.iter().all(|f| f.selects_goal(g))).collect()
        };
        if !goal_dim && goals.iter().any(|g| g.kind() == GoalKind::Scroll) {
            return Err(Skip::UnsupportedQuery);
        }
        let rest: Vec<&&Dimension> = other_dims.iter().filter(|d| ***d != Dimension::Goal).collect();
        let prop_ok = match rest.as_slice() {
            [] => true,
            [Dimension::Prop(p)] => prop_column(p, &goals).is_some(),
            // Imported custom events carry the event name.
            [Dimension::Name] => goals.iter().all(|g| g.kind() == GoalKind::Event),
            _ => false,
        };
        // Other filters are answerable only together with page goals, from imported pages.
        let pages_only = goals.iter().all(|g| g.kind() == GoalKind::Page)
            && leaves.iter().all(|l| l.dimension().and_then(column).is_some_and(|c| c.0 == "imported_pages"));
        // … and `url` / `path` property filters with the special goals, from imported custom events.
        let props_only = leaves
            .iter()
            .all(|l| matches!(l.dimension(), Some(Dimension::Prop(p)) if prop_column(p, &goals).is_some()));
        if !prop_ok || (!leaves.is_empty() && !pages_only && !props_only) {
            return Err(Skip::UnsupportedQuery);
        }
        let mut out = Vec::new();
        for (i, g) in q.goals.matching_toplevel_filters.iter().enumerate() {
            if !goals.iter().any(|x| x.id == g.id) || g.kind() == GoalKind::Scroll || !g.custom_props.is_empty() {
                continue;
            }
            let table = if g.kind() == GoalKind::Event { "imported_custom_events" } else { "imported_pages" };
            if !rest.is_empty() && table != "imported_custom_events" {
                continue;
            }
            out.push(Source { table, goal: Some(g.clone()), goal_idx: goal_dim.then_some(i) });
        }
        if !goal_dim {
            // Filtering (not grouping) by goals: also goals outside the top-level list are selected.
            out.clear();
            for g in goals {
                if g.custom_props.is_empty() {
                    let table = if g.kind() == GoalKind::Event { "imported_custom_events" } else { "imported_pages" };
                    if rest.is_empty() || table == "imported_custom_events" {
                        out.push(Source { table, goal: Some(g.clone()), goal_idx: None });
                    }
                }
            }
        }
        return Ok(out);
    }

    let mut table: Option<&'static str> = None;
    for d in other_dims.iter().copied().chain(leaves.iter().filter_map(|l| l.dimension())) {
        let t = match d {
            Dimension::Prop(_) => return Err(Skip::UnsupportedQuery),
            d => column(d).map(|c| c.0).ok_or(Skip::UnsupportedQuery)?,
        };
        // Pages and hostnames share a table; countries, regions and cities too.
        if table.is_some_and(|x| x != t) {
            return Err(Skip::UnsupportedQuery);
        }
        table = Some(t);
    }
    Ok(vec![Source { table: table.unwrap_or("imported_visitors"), goal: None, goal_idx: None }])
}

/// Aggregates read from imported tables, in this order.
pub const AGGS: [&str; 10] = [
    "visitors",
    "visits",
    "pageviews",
    "bounces",
    "visit_duration",
    "events",
    "total_time_on_page",
    "total_time_on_page_visits",
    "total_scroll_depth",
    "total_scroll_depth_visits",
];

fn agg_expr(table: &str, agg: &str) -> &'static str {
    match (table, agg) {
        (_, "visitors") => "sum(visitors)",
        ("imported_custom_events", "events") => "sum(events)",
        ("imported_custom_events", _) => "0",
        ("imported_entry_pages", "visits") => "sum(entrances)",
        ("imported_exit_pages", "visits") => "sum(exits)",
        ("imported_pages", "bounces" | "visit_duration") => "0",
        (_, "visits") => "sum(visits)",
        (_, "pageviews") => "sum(pageviews)",
        (_, "events") => "sum(pageviews)",
        (_, "bounces") => "sum(bounces)",
        (_, "visit_duration") => "sum(visit_duration)",
        ("imported_pages", "total_time_on_page") => "sum(total_time_on_page)",
        ("imported_pages", "total_time_on_page_visits") => "sum(total_time_on_page_visits)",
        ("imported_pages", "total_scroll_depth") => "sum(total_scroll_depth)",
        ("imported_pages", "total_scroll_depth_visits") => "sum(total_scroll_depth_visits)",
        _ => "0",
    }
}

impl Ctx<'_> {
    /// The SELECT expression of a dimension on an imported table.
    fn imported_dimension(&self, src: &Source, dim: &Dimension) -> Frag {
        let d = self.d;
        match dim {
            Dimension::TimeDay => Frag::raw(d.format_date("date")),
            Dimension::TimeMonth => Frag::raw(d.format_month("date")),
            Dimension::TimeWeek => Frag::with(
                d.format_date(&format!("greatest({}, {})", d.week_start("date"), d.date_param())),
                vec![Param::Date(self.q.date_range.first_date())],
            ),
            Dimension::Goal => Frag::with("CAST(? AS BIGINT)", vec![Param::Int(src.goal_idx.unwrap_or(0) as i64)]),
            Dimension::Prop(p) => Frag::raw(if p == "url" { "link_url" } else { "path" }),
            Dimension::CityName => self.city_name_key("city"),
            other => {
                let col = column(other).map(|c| c.1).unwrap_or("''");
                // An imported source without a channel is "(not set)", not the native "Direct".
                let label =
                    if *other == Dimension::Channel { Some("(not set)") } else { super::sql::empty_label(other) };
                match label {
                    Some(l) => Frag::raw(format!("CASE WHEN coalesce({col}, '') = '' THEN '{l}' ELSE {col} END")),
                    None => Frag::raw(col),
                }
            }
        }
    }

    fn imported_filter(&self, f: &Filter) -> Frag {
        match f {
            Filter::And(c) if c.is_empty() => Frag::raw("TRUE"),
            Filter::Or(c) if c.is_empty() => Frag::raw("FALSE"),
            Filter::And(c) => Frag::join(c.iter().map(|x| self.imported_filter(x)).collect(), " AND ").wrap("(", ")"),
            Filter::Or(c) => Frag::join(c.iter().map(|x| self.imported_filter(x)).collect(), " OR ").wrap("(", ")"),
            Filter::Not(c) => self.imported_filter(c).wrap("(NOT ", ")"),
            Filter::Simple { op, dim, clauses, case_sensitive, .. } => {
                let col = match dim {
                    Dimension::Prop(p) if p == "url" => "link_url",
                    Dimension::Prop(p) if p == "path" => "path",
                    d => column(d).map(|c| c.1).unwrap_or("''"),
                };
                let vals: Vec<String> = clauses.iter().map(Clause::as_text).collect();
                let f = if matches!(dim, Dimension::City) {
                    let ints: Vec<i64> = vals.iter().filter_map(|v| v.parse().ok()).collect();
                    if ints.is_empty() {
                        Frag::raw("FALSE")
                    } else {
                        Frag::with(
                            format!("city IN ({})", vec!["?"; ints.len()].join(", ")),
                            ints.into_iter().map(Param::Int).collect(),
                        )
                    }
                } else {
                    self.compare_values(Frag::raw(format!("coalesce({col}, '')")), *op, &vals, *case_sensitive)
                };
                if op.is_negated() {
                    f.wrap("(NOT ", ")")
                } else {
                    f
                }
            }
            _ => Frag::raw("FALSE"),
        }
    }

    /// ` FROM <table> WHERE …`: the site's completed imports within the query's dates.
    pub fn imported_scope(&self, table: &str) -> Frag {
        let ids: Vec<Param> = self.q.imports.iter().map(|i| Param::Int(i.id)).collect();
        Frag::with(
            format!(
                " FROM {table} WHERE site_id = ? AND import_id IN ({}) AND date >= {} AND date <= {}",
                vec!["?"; ids.len()].join(", "),
                self.d.date_param(),
                self.d.date_param()
            ),
            std::iter::once(Param::Int(self.site_id))
                .chain(ids)
                .chain([Param::Date(self.q.date_range.first_date()), Param::Date(self.q.date_range.last_date())])
                .collect(),
        )
    }

    /// Grouped aggregates ([`AGGS`]) of one imported source.
    pub fn imported_query(&self, src: &Source, dims: &[Dimension], filters: &[Filter]) -> Frag {
        let mut sel: Vec<Frag> = dims.iter().map(|d| self.imported_dimension(src, d)).collect();
        for a in AGGS {
            let expr = agg_expr(src.table, a);
            match (self.new_time_on_page_from, a) {
                (Some(from), "total_time_on_page" | "total_time_on_page_visits") if expr != "0" => {
                    let col = &expr[4..expr.len() - 1];
                    sel.push(Frag::with(
                        format!("sum(CASE WHEN date >= {} THEN {col} ELSE 0 END)", self.d.date_param()),
                        vec![Param::Date(from)],
                    ));
                }
                _ => sel.push(Frag::raw(expr)),
            }
        }
        let mut sql = Frag::raw("SELECT ");
        sql.push(Frag::join(sel, ", "));
        sql.push(self.imported_scope(src.table));
        if let Some(g) = &src.goal {
            sql.push_str(" AND ");
            sql.push(match g.kind() {
                GoalKind::Event => Frag::with("name = ?", vec![Param::Text(g.event_name.clone().unwrap_or_default())]),
                _ => {
                    let p = g.page_path.clone().unwrap_or_default();
                    if p.contains('*') {
                        Frag::with(self.d.regex_match("page"), vec![Param::Text(wildcard_to_regex(&p))])
                    } else {
                        Frag::with("page = ?", vec![Param::Text(p)])
                    }
                }
            });
        }
        // Imported page rows without page views are noise (GA reports them for other hits).
        if src.table == "imported_pages" {
            sql.push_str(" AND pageviews > 0");
        }
        // Breakdowns by one dimension and goal conversions skip imported rows without visitors (GA reports
        // them when its users metric is off), as Plausible's merge of imported data does.
        if dims.len() == 1 || src.goal.is_some() {
            sql.push_str(" AND visitors > 0");
        }
        // Imported rows without a UTM value are not reported under UTM dimensions.
        for d in dims {
            if let Dimension::UtmMedium
            | Dimension::UtmSource
            | Dimension::UtmCampaign
            | Dimension::UtmContent
            | Dimension::UtmTerm = d
            {
                let col = column(d).map(|c| c.1).unwrap_or("''");
                sql.push_str(&format!(" AND coalesce({col}, '') <> ''"));
            }
        }
        for f in filters.iter().filter(|f| !matches!(f, Filter::Simple { dim: Dimension::Goal, .. })) {
            sql.push_str(" AND ");
            sql.push(self.imported_filter(f));
        }
        if !dims.is_empty() {
            sql.push_str(&format!(
                " GROUP BY {}",
                (1..=dims.len()).map(|i| i.to_string()).collect::<Vec<_>>().join(", ")
            ));
        }
        sql
    }
}
