//! Plans a validated query into SQL subqueries (events, sessions, special metrics, denominators), runs them
//! through a [`Runner`], merges the rows by dimension values, computes derived metrics, orders, paginates
//! and shapes Plausible's response.

use super::dialect::Dialect;
use super::imports;
use super::names;
use super::sql::{Ctx, Frag, Param, Table};
use crate::ast::{Dimension, Direction, Filter, Metric, OrderKey, Query, RevenueCurrencies};
use crate::context::Goal;
use chrono::{NaiveDateTime, Offset, TimeZone};
use serde_json::{json, Map, Value};
use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};

/// A value read back from the store.
#[derive(Clone, Debug, PartialEq)]
pub enum Cell {
    Null,
    Int(i64),
    Float(f64),
    Text(String),
    /// A set of `Dialect::uniq_state`, as bytes.
    Bytes(Vec<u8>),
}

impl Cell {
    pub fn f64(&self) -> Option<f64> {
        match self {
            Cell::Int(i) => Some(*i as f64),
            Cell::Float(f) => Some(*f),
            Cell::Text(t) => t.parse().ok(),
            Cell::Null | Cell::Bytes(_) => None,
        }
    }
    fn json(&self) -> Value {
        match self {
            Cell::Null => Value::Null,
            Cell::Int(i) => json!(i),
            Cell::Float(f) => json!(f),
            Cell::Text(t) => json!(t),
            Cell::Bytes(_) => Value::Null,
        }
    }
}

pub mod rollup;
mod sets;

/// Executes SQL against the event store.
pub trait Runner {
    fn run(&self, sql: &str, params: &[Param]) -> Result<Vec<Vec<Cell>>, String>;
    /// The period rollups kept for this runner's store (`None`: every query reads the store).
    fn period_rollups(&self) -> Option<&rollup::PeriodRollups> {
        None
    }
    /// The store's data version of a site's rows of `table` counting in `[from, to)` (UTC: events by
    /// timestamp, sessions by last event): changes whenever a write changes them. Only read when
    /// `period_rollups` gives rollups.
    fn data_version(&self, _site_id: i64, _table: Table, _from: NaiveDateTime, _to: NaiveDateTime) -> u64 {
        0
    }
    /// The store's session-order version of a site: changes whenever a write may have stored a session that
    /// ends before it starts. Only read when `period_rollups` gives rollups.
    fn session_order_version(&self, _site_id: i64) -> u64 {
        0
    }
}

/// UTC instants at which the timezone's offset changes within [first, last], with the offsets.
fn offsets(tz: chrono_tz::Tz, first: NaiveDateTime, last: NaiveDateTime) -> Vec<(NaiveDateTime, i64)> {
    let off = |t: NaiveDateTime| tz.offset_from_utc_datetime(&t).fix().local_minus_utc() as i64;
    let mut out = vec![(first, off(first))];
    // Scan a day at a time (no zone changes its offset and back within a day) and find each change by
    // bisection, to the second; then scan on from the change, so that two changes within a step are both found.
    // An hourly scan took ~0.2 ms over 91 days, on every read of a range.
    let (mut t, mut at_t) = (first, out[0].1);
    let step = chrono::Duration::days(1);
    while t < last {
        let next = (t + step).min(last);
        let at_next = off(next);
        if at_next == at_t {
            t = next;
            continue;
        }
        let (mut lo, mut hi) = (t, next);
        while (hi - lo).num_seconds() > 1 {
            let mid = lo + chrono::Duration::seconds((hi - lo).num_seconds() / 2);
            if off(mid) == at_t {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        at_t = off(hi);
        out.push((hi, at_t));
        t = hi;
    }
    out
}

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum Agg {
    Visitors,
    Visits,
    Pageviews,
    Events,
    RevenueSum,
    RevenueAvg,
    Bounces,
    BounceDen,
    Duration,
    SessionPageviews,
    /// Number of sessions (denominator of session averages).
    Sessions,
    /// The sets `Visitors` and `Visits` count (`Dialect::uniq_state`), for kept parts of a range (`sets`).
    VisitorsSet,
    VisitsSet,
}

struct Planner<'a> {
    ctx: Ctx<'a>,
    q: &'a Query,
    runner: &'a dyn Runner,
    /// Only these values of the (single) dimension, as the dimension's SQL expression yields them.
    restrict: Option<Vec<Param>>,
}

fn is_goal_filter(f: &Filter) -> bool {
    matches!(f, Filter::Simple { dim: Dimension::Goal, .. })
}

fn is_event_filter(f: &Filter) -> bool {
    !matches!(f, Filter::HasDone(_) | Filter::HasNotDone(_))
        && f.leaves().iter().any(|l| l.dimension().is_some_and(|d| d.is_event()))
}

type Key = Vec<Value>;
/// One result group of a subquery: (dimension cells, aggregate cells).
type Group = (Vec<Cell>, Vec<Cell>);

impl<'a> Planner<'a> {
    /// Whether no session of the site ends before it starts (a bulk import can replay a session's events out
    /// of time order; live sessions always run forward).
    ///
    /// A positive answer is kept (with the rollups) until a write may have stored a backward session; the
    /// version is read before the rows, as for rollups.
    fn sessions_run_forward(&self) -> Result<bool, String> {
        let site_id = self.ctx.site_id;
        let kept = self.runner.period_rollups().map(|r| (r, self.runner.session_order_version(site_id)));
        if let Some((rollups, version)) = kept {
            if rollups.sessions_forward_at(site_id) == Some(version) {
                return Ok(true);
            }
        }
        let rows = self
            .runner
            .run("SELECT count(*) FROM sessions_all WHERE site_id = ? AND timestamp < start", &[Param::Int(site_id)])?;
        let forward = rows.first().and_then(|r| r.first()).and_then(Cell::f64).unwrap_or(0.0) == 0.0;
        if let (true, Some((rollups, version))) = (forward, kept) {
            rollups.keep_sessions_forward(site_id, version);
        }
        Ok(forward)
    }

    fn run_sql(&self, f: &Frag) -> Result<Vec<Vec<Cell>>, String> {
        tracing::debug!(sql = %f.sql, "query");
        self.runner.run(&f.sql, &f.params)
    }

    fn goal_list(&self) -> &'a [Goal] {
        &self.q.goals.matching_toplevel_filters
    }

    /// One grouped aggregate query on a table. Returns (dimension cells, aggregate cells) per group.
    fn aggregate(
        &self,
        table: Table,
        dims: &[Dimension],
        filters: &[Filter],
        aggs: &[Agg],
    ) -> Result<Vec<Group>, String> {
        let c = &self.ctx;
        let goal_dim = dims.contains(&Dimension::Goal);
        let mut select: Vec<Frag> = dims.iter().map(|d| c.dimension(d, table)).collect();
        for a in aggs {
            select.push(Frag::raw(match (a, table) {
                (Agg::Visitors, _) => c.d.uniq("user_id"),
                (Agg::Visits, Table::Events) => c.d.uniq("session_id"),
                (Agg::Visits, Table::Sessions) => "count(*)".into(),
                (Agg::Pageviews, Table::Sessions) => "sum(pageviews)".into(),
                (Agg::Events, Table::Sessions) => "sum(events)".into(),
                (Agg::Pageviews, _) => "count(*) FILTER (WHERE name = 'pageview')".into(),
                (Agg::Events, _) => "count(*) FILTER (WHERE name <> 'engagement')".into(),
                (Agg::RevenueSum, _) => "sum(revenue_reporting_amount)".into(),
                (Agg::RevenueAvg, _) => "avg(revenue_reporting_amount)".into(),
                (Agg::Bounces, _) => "sum(CASE WHEN is_bounce THEN 1 ELSE 0 END)".into(),
                (Agg::BounceDen, _) => "count(*)".into(),
                (Agg::Duration, _) => "sum(duration)".into(),
                (Agg::SessionPageviews, _) => "sum(pageviews)".into(),
                (Agg::Sessions, _) => "count(*)".into(),
                (Agg::VisitorsSet, _) => c.d.uniq_state("user_id").unwrap_or_else(|| "NULL".into()),
                (Agg::VisitsSet, _) => c.d.uniq_state("session_id").unwrap_or_else(|| "NULL".into()),
            }));
        }
        // Bounce rate with a top-level page filter: only sessions that entered on a matching page count.
        if table == Table::Sessions && aggs.contains(&Agg::Bounces) {
            let page_filters: Vec<&Filter> =
                filters.iter().filter(|f| matches!(f, Filter::Simple { dim: Dimension::Page, .. })).collect();
            if !page_filters.is_empty() {
                let conds: Vec<Frag> =
                    page_filters.iter().map(|f| c.filter(&entry_page_filter(f), Table::Sessions)).collect();
                let cond = Frag::join(conds, " AND ");
                let bi = dims.len() + aggs.iter().position(|a| *a == Agg::Bounces).unwrap();
                let mut b = Frag::raw("sum(CASE WHEN is_bounce AND ");
                b.push(cond.clone());
                b.push_str(" THEN 1 ELSE 0 END)");
                select[bi] = b;
                if let Some(di) = aggs.iter().position(|a| *a == Agg::BounceDen) {
                    let mut d = Frag::raw("sum(CASE WHEN ");
                    d.push(cond);
                    d.push_str(" THEN 1 ELSE 0 END)");
                    select[dims.len() + di] = d;
                }
            }
        }
        let mut sql = Frag::raw("SELECT ");
        sql.push(Frag::join(select, ", "));
        sql.push_str(match table {
            Table::Events => " FROM events",
            Table::Sessions => " FROM sessions_all",
        });
        if goal_dim {
            sql.push(Frag::with(
                ", (SELECT unnest(range(CAST(? AS BIGINT))) AS goal_idx) goals",
                vec![Param::Int(self.goal_list().len() as i64)],
            ));
        }
        sql.push_str(" WHERE ");
        sql.push(match table {
            Table::Events => c.events_range(),
            Table::Sessions => c.sessions_range(),
        });
        if table == Table::Events && !goal_dim && !filters.iter().any(is_goal_filter) {
            sql.push_str(" AND name <> 'engagement'");
        }
        if goal_dim {
            if self.goal_list().is_empty() {
                sql.push_str(" AND FALSE");
            } else {
                let mut case = Frag::raw(" AND CASE goal_idx");
                for (i, g) in self.goal_list().iter().enumerate() {
                    case.push(Frag::with(" WHEN ? THEN ", vec![Param::Int(i as i64)]));
                    case.push(c.goal_condition(g));
                }
                case.push_str(" ELSE FALSE END");
                sql.push(case);
            }
        }
        self.push_filters(&mut sql, table, filters);
        if let (Some(values), [d]) = (&self.restrict, dims) {
            sql.push_str(" AND ");
            sql.push(c.dimension(d, table));
            sql.push(Frag::with(format!(" IN ({})", vec!["?"; values.len()].join(", ")), values.clone()));
        }
        self.run_grouped(sql, dims.len())
    }

    /// Visitors and visits per hour bucket with every session counted in each hour it was active in
    /// (Plausible's smearing for `time:hour`): a session is spread over the 15-minute slots from its
    /// start to its last event, clamped to the queried range, and each slot is bucketed in local time.
    /// Only `Visitors` and `Visits` are smeared; other session metrics stay in the bucket of the
    /// session's last event.
    fn aggregate_smeared(&self, dims: &[Dimension], filters: &[Filter], aggs: &[Agg]) -> Result<Vec<Group>, String> {
        let c = &self.ctx;
        let mut select: Vec<Frag> = dims.iter().map(|d| c.dimension_at(d, Table::Sessions, "slot")).collect();
        for a in aggs {
            select.push(Frag::raw(match a {
                Agg::Visitors => c.d.uniq("user_id"),
                Agg::Visits => c.d.uniq("session_id"),
                other => return Err(format!("{other:?} is not smeared over hours")),
            }));
        }
        let mut sql = Frag::raw("SELECT ");
        sql.push(Frag::join(select, ", "));
        sql.push_str(" FROM (SELECT *, ");
        sql.push(Frag::with(
            c.d.session_slots("greatest(start, ?)", "least(timestamp, ?)"),
            vec![Param::Timestamp(c.first), Param::Timestamp(c.last)],
        ));
        sql.push_str(" AS slot FROM sessions_all WHERE ");
        sql.push(c.sessions_range());
        self.push_filters(&mut sql, Table::Sessions, filters);
        sql.push_str(")");
        self.run_grouped(sql, dims.len())
    }

    /// Runs a SELECT whose first `n_dims` columns are the dimensions (grouped by them) and splits each row
    /// into (dimension cells, aggregate cells).
    fn run_grouped(&self, mut sql: Frag, n_dims: usize) -> Result<Vec<Group>, String> {
        if n_dims > 0 {
            sql.push_str(&format!(" GROUP BY {}", (1..=n_dims).map(|i| i.to_string()).collect::<Vec<_>>().join(", ")));
        }
        let rows = self.run_sql(&sql)?;
        Ok(rows
            .into_iter()
            .map(|mut r| {
                let rest = r.split_off(n_dims.min(r.len()));
                (r, rest)
            })
            .collect())
    }

    fn push_filters(&self, sql: &mut Frag, table: Table, filters: &[Filter]) {
        let c = &self.ctx;
        if table == Table::Sessions {
            let (event_fs, other): (Vec<&Filter>, Vec<&Filter>) =
                filters.iter().partition(|f| is_event_filter(f) && matches!(f, Filter::Simple { .. }));
            if !event_fs.is_empty() {
                sql.push_str(" AND ");
                sql.push(c.events_membership_all(&event_fs));
            }
            for f in other {
                sql.push_str(" AND ");
                sql.push(c.filter(f, table));
            }
        } else {
            for f in filters {
                sql.push_str(" AND ");
                sql.push(c.filter(f, table));
            }
        }
    }

    /// scroll_depth: per session the max scroll depth of its engagement events, averaged per group.
    fn scroll_depth(&self, dims: &[Dimension], filters: &[Filter]) -> Result<HashMap<Key, (f64, f64)>, String> {
        let c = &self.ctx;
        let mut inner = Frag::raw("SELECT ");
        let mut sel: Vec<Frag> = dims.iter().map(|d| c.dimension(d, Table::Events)).collect();
        sel.push(Frag::raw("session_id"));
        sel.push(Frag::raw("max(scroll_depth) AS sd"));
        inner.push(Frag::join(sel, ", "));
        inner.push_str(" FROM events WHERE ");
        inner.push(c.events_range());
        inner.push_str(" AND name = 'engagement' AND scroll_depth <= 100");
        self.push_filters(&mut inner, Table::Events, filters);
        inner.push_str(&format!(
            " GROUP BY {}",
            (1..=dims.len() + 1).map(|i| i.to_string()).collect::<Vec<_>>().join(", ")
        ));
        let cols: Vec<String> = (0..dims.len()).map(|i| format!("d{i}")).collect();
        let mut outer = Frag::raw(format!(
            "SELECT {}sum(sd), count(*) FROM (",
            cols.iter().map(|c| format!("{c}, ")).collect::<String>()
        ));
        outer.push(inner);
        outer.push_str(&format!(") AS t({}session_id, sd)", cols.iter().map(|c| format!("{c}, ")).collect::<String>()));
        if !dims.is_empty() {
            outer.push_str(&format!(" GROUP BY {}", cols.join(", ")));
        }
        let rows = self.run_sql(&outer)?;
        Ok(pairs(rows, 1.0, |r| self.key(dims, r)))
    }

    /// time_on_page: engaged seconds / visits with engagement, per group.
    fn time_on_page(
        &self,
        dims: &[Dimension],
        filters: &[Filter],
        from: Option<NaiveDateTime>,
    ) -> Result<HashMap<Key, (f64, f64)>, String> {
        let c = &self.ctx;
        let mut sql = Frag::raw("SELECT ");
        let mut sel: Vec<Frag> = dims.iter().map(|d| c.dimension(d, Table::Events)).collect();
        sel.push(Frag::raw("sum(engagement_time)"));
        sel.push(Frag::raw(c.d.uniq("session_id")));
        sql.push(Frag::join(sel, ", "));
        sql.push_str(" FROM events WHERE ");
        sql.push(c.events_range());
        sql.push_str(" AND name = 'engagement'");
        if let Some(t) = from {
            sql.push(Frag::with(" AND timestamp >= ?", vec![Param::Timestamp(t)]));
        }
        self.push_filters(&mut sql, Table::Events, filters);
        if !dims.is_empty() {
            sql.push_str(&format!(
                " GROUP BY {}",
                (1..=dims.len()).map(|i| i.to_string()).collect::<Vec<_>>().join(", ")
            ));
        }
        let rows = self.run_sql(&sql)?;
        Ok(pairs(rows, 1000.0, |r| self.key(dims, r)))
    }

    /// Legacy time on page (pageview-gap method): per session, each non-engagement event lasts until the
    /// session's next event; per page, engaged seconds and the number of distinct transitions to another
    /// page. `until`: only events before this instant (when the new method covers the rest).
    fn legacy_time_on_page(
        &self,
        by_page: bool,
        filters: &[Filter],
        until: Option<NaiveDateTime>,
    ) -> Result<HashMap<Key, (f64, f64)>, String> {
        let c = &self.ctx;
        let is_page = |f: &&Filter| matches!(f, Filter::Simple { dim: Dimension::Page, .. });
        let is_prop = |f: &&Filter| matches!(f, Filter::Simple { dim: Dimension::Prop(_), .. });
        let base: Vec<Filter> = filters.iter().filter(|f| !(is_page(f) || (by_page && is_prop(f)))).cloned().collect();
        let mut w = Frag::raw(
            "SELECT session_id, pathname, timestamp, \
             lead(timestamp) OVER (PARTITION BY session_id ORDER BY timestamp, rowid) AS next_ts, \
             lead(pathname) OVER (PARTITION BY session_id ORDER BY timestamp, rowid) AS next_path \
             FROM events WHERE ",
        );
        w.push(c.events_range());
        w.push_str(" AND name <> 'engagement'");
        if let Some(t) = until {
            w.push(Frag::with(" AND timestamp < ?", vec![Param::Timestamp(t)]));
        }
        self.push_filters(&mut w, Table::Events, &base);
        let mut t = Frag::raw(
            "SELECT pathname, next_path, session_id, \
             sum(epoch(next_ts) - epoch(timestamp)) AS dur, any_value(next_path <> pathname) AS transition FROM (",
        );
        t.push(w);
        t.push_str(") w WHERE next_ts IS NOT NULL");
        if !by_page {
            for f in filters.iter().filter(is_page) {
                t.push_str(" AND ");
                t.push(c.filter(f, Table::Events));
            }
        }
        t.push_str(" GROUP BY pathname, next_path, session_id");
        let mut sql = Frag::raw(if by_page { "SELECT pathname, " } else { "SELECT " });
        sql.push_str("sum(dur), count(*) FILTER (WHERE transition) FROM (");
        sql.push(t);
        sql.push_str(") t");
        if by_page {
            sql.push_str(" GROUP BY pathname");
        }
        let rows = self.run_sql(&sql)?;
        Ok(pairs(rows, 1.0, |r| r.iter().map(Cell::json).collect()))
    }

    /// Imported pages for the legacy method: time on page and page views that were not exits.
    fn legacy_imported_time_on_page(
        &self,
        until: Option<chrono::NaiveDate>,
    ) -> Result<HashMap<Key, (f64, f64)>, String> {
        let mut sql = Frag::raw("SELECT page, sum(total_time_on_page), sum(pageviews) - sum(exits)");
        sql.push(self.ctx.imported_scope("imported_pages"));
        sql.push(Frag::with(
            format!(" AND date < {} GROUP BY page", self.ctx.d.date_param()),
            vec![Param::Date(until.unwrap_or(chrono::NaiveDate::MAX))],
        ));
        let rows = self.run_sql(&sql)?;
        Ok(pairs(rows, 1.0, |r| r.iter().map(Cell::json).collect()))
    }

    /// One imported source's rows: key -> [`imports::AGGS`] values.
    fn imported(
        &self,
        src: &imports::Source,
        dims: &[Dimension],
        filters: &[Filter],
    ) -> Result<Vec<(Key, Vec<f64>)>, String> {
        let sql = self.ctx.imported_query(src, dims, filters);
        let rows = self.run_sql(&sql)?;
        Ok(rows
            .into_iter()
            .map(|mut r| {
                let vals = r.split_off(dims.len().min(r.len())).iter().map(|c| c.f64().unwrap_or(0.0)).collect();
                (self.key(dims, &r), vals)
            })
            .collect())
    }

    /// Imported visitors for a variant of the query (other dimensions / filters); empty when imports are
    /// not included for that variant.
    fn imported_visitors(&self, dims: &[Dimension], filters: &[Filter]) -> Result<HashMap<Key, f64>, String> {
        self.imported_sum(dims, filters, 0)
    }

    /// One imported aggregate (`imports::AGGS[agg]`) for a variant of the query (other dimensions /
    /// filters); empty when imports are not included for that variant.
    fn imported_sum(&self, dims: &[Dimension], filters: &[Filter], agg: usize) -> Result<HashMap<Key, f64>, String> {
        let mut q2 = self.q.clone();
        q2.dimensions = dims.to_vec();
        q2.filters = filters.to_vec();
        let mut out = HashMap::new();
        if let Ok(sources) = imports::plan(&q2) {
            for src in sources {
                for (k, v) in self.imported(&src, dims, filters)? {
                    *out.entry(k).or_insert(0.0) += v[agg];
                }
            }
        }
        Ok(out)
    }

    /// Dimension cells -> response values (goal indices become display names).
    fn key(&self, dims: &[Dimension], cells: &[Cell]) -> Key {
        dims.iter()
            .zip(cells)
            .map(|(d, c)| match d {
                Dimension::Goal => {
                    let i = c.f64().unwrap_or(-1.0) as i64;
                    self.goal_list().get(i as usize).map(|g| json!(g.display_name)).unwrap_or(Value::Null)
                }
                Dimension::City => json!(c.f64().unwrap_or(0.0) as i64),
                Dimension::CityName => names::name_of(d, &json!(c.f64().unwrap_or(0.0) as i64)),
                Dimension::CountryName | Dimension::RegionName => names::name_of(d, &c.json()),
                // Native rows carry the empty value of a labelled dimension as '' (see `Ctx::dimension_at`).
                _ => match (c, super::sql::empty_label(d)) {
                    (Cell::Text(t), Some(label)) if t.is_empty() => json!(label),
                    _ => c.json(),
                },
            })
            .collect()
    }
}

/// A `event:page` filter rewritten onto the session's entry page.
fn entry_page_filter(f: &Filter) -> Filter {
    match f {
        Filter::Simple { op, clauses, case_sensitive, modifiers, .. } => Filter::Simple {
            op: *op,
            dim: Dimension::EntryPage,
            clauses: clauses.clone(),
            case_sensitive: *case_sensitive,
            modifiers: modifiers.clone(),
        },
        other => other.clone(),
    }
}

/// Rows ending in (sum, count) -> key -> (sum / scale, count).
fn pairs(rows: Vec<Vec<Cell>>, scale: f64, key: impl Fn(&[Cell]) -> Key) -> HashMap<Key, (f64, f64)> {
    rows.into_iter()
        .map(|mut r| {
            let n = r.pop().and_then(|c| c.f64()).unwrap_or(0.0);
            let sum = r.pop().and_then(|c| c.f64()).unwrap_or(0.0);
            (key(&r), (sum / scale, n))
        })
        .collect()
}

fn round_to(v: f64, digits: i32) -> f64 {
    let m = 10f64.powi(digits);
    (v * m).round() / m
}

#[derive(Default, Clone)]
struct Acc {
    visitors: Option<f64>,
    visits: Option<f64>,
    pageviews: Option<f64>,
    events: Option<f64>,
    revenue_sum: Option<f64>,
    revenue_avg: Option<f64>,
    bounces: Option<f64>,
    bounce_den: Option<f64>,
    duration: Option<f64>,
    session_pageviews: Option<f64>,
    sessions: Option<f64>,
    /// Sum of per-session max scroll depths, and the number of such sessions.
    scroll_sum: f64,
    scroll_n: f64,
    /// Sessions that ended on this (exit) page.
    exits: f64,
    /// Engaged seconds, and visits with engagement.
    top_secs: f64,
    top_n: f64,
    /// Whether a native aggregate reached this row (rows only in imported data rank after native rows
    /// they tie with, as in Plausible's join of native and imported results).
    native: bool,
}

fn add(slot: &mut Option<f64>, v: f64) {
    *slot = Some(slot.unwrap_or(0.0) + v);
}

impl Acc {
    /// Adds one imported row ([`imports::AGGS`] order).
    /// Visitors, visits, page views, events, time on page and scroll depth of an imported row
    /// (`imports::AGGS` order).
    fn add_imported_events(&mut self, v: &[f64]) {
        add(&mut self.visitors, v[0]);
        add(&mut self.visits, v[1]);
        add(&mut self.pageviews, v[2]);
        add(&mut self.events, v[5]);
        self.top_secs += v[6];
        self.top_n += v[7];
        self.scroll_sum += v[8];
        self.scroll_n += v[9];
    }

    /// What bounce rate, visit duration and views per visit read from an imported row (its visits are the
    /// sessions).
    fn add_imported_sessions(&mut self, v: &[f64]) {
        add(&mut self.bounces, v[3]);
        add(&mut self.bounce_den, v[1]);
        add(&mut self.duration, v[4]);
        add(&mut self.sessions, v[1]);
        add(&mut self.session_pageviews, v[2]);
    }

    fn set(&mut self, a: Agg, v: Option<f64>) {
        let slot = match a {
            Agg::Visitors => &mut self.visitors,
            Agg::Visits => &mut self.visits,
            Agg::Pageviews => &mut self.pageviews,
            Agg::Events => &mut self.events,
            Agg::RevenueSum => &mut self.revenue_sum,
            Agg::RevenueAvg => &mut self.revenue_avg,
            Agg::Bounces => &mut self.bounces,
            Agg::BounceDen => &mut self.bounce_den,
            Agg::Duration => &mut self.duration,
            Agg::SessionPageviews => &mut self.session_pageviews,
            Agg::Sessions => &mut self.sessions,
            // Read only for kept parts of a range, and counted before any row gets here.
            Agg::VisitorsSet | Agg::VisitsSet => return,
        };
        *slot = v;
        self.native = true;
    }
}

/// The groups of a breakdown ordered by visitors (descending) that can rank among the first `wanted`, with
/// their aggregates — or `None` when pruning would not pay. A group has at most as many visitors as rows
/// (see below for estimated counts), so a cheap row count per group bounds every group: the aggregates run
/// on the groups with the largest counts, and any other group whose count reaches the `wanted`-th visitor
/// count is added (ties included, since the dimension value breaks them), until none is left. The rows that
/// matter are then exactly the ones a full breakdown would have ranked first, with the same values: each
/// group's aggregates read all of its rows either way.
fn top_groups(
    p: &mut Planner,
    table: Table,
    dims: &[Dimension],
    aggs: &[Agg],
    wanted: usize,
) -> Result<Option<Vec<Group>>, String> {
    let Some(vi) = aggs.iter().position(|a| *a == Agg::Visitors) else { return Ok(None) };
    let mut bounds: Vec<(Param, f64)> = Vec::new();
    let q = p.q;
    let kept_counts = match dims {
        [by] => p.row_counts_by_day(by, table, &q.filters)?,
        _ => None,
    };
    let counts = match kept_counts {
        Some(counts) => counts,
        None => p.aggregate(table, dims, &q.filters, &[Agg::Sessions])?,
    };
    for (d, a) in counts {
        let value = match d.first() {
            Some(Cell::Text(t)) => Param::Text(t.clone()),
            Some(Cell::Int(i)) => Param::Int(*i),
            // NULL (or anything else) cannot be matched with IN: read every group.
            _ => return Ok(None),
        };
        // `uniq` is exact up to 65,536 (distinct ≤ rows); above, its estimate stays within a few percent
        // of the distinct count (1.64% worst seen at 100M events); 10% more than the rows is a bound it
        // exceeds with negligible probability (many standard deviations at 65,536 samples).
        let rows = a.first().and_then(Cell::f64).unwrap_or(0.0);
        bounds.push((value, if rows <= 65_536.0 { rows } else { rows * 1.1 + 1.0 }));
    }
    if wanted == 0 || bounds.len() <= 2 * wanted + 8 {
        return Ok(None);
    }
    bounds.sort_by(|a, b| b.1.total_cmp(&a.1));
    let mut n = 2 * wanted;
    loop {
        let candidates = bounds[..n].iter().map(|b| b.0.clone()).collect();
        let groups = p.aggregate_restricted(table, dims, &q.filters, aggs, candidates)?;
        let mut visitors: Vec<f64> = groups.iter().map(|g| g.1.get(vi).and_then(Cell::f64).unwrap_or(0.0)).collect();
        visitors.sort_by(|a, b| b.total_cmp(a));
        let Some(&floor) = visitors.get(wanted - 1) else { return Ok(None) };
        let more = bounds[n..].iter().take_while(|b| b.1 >= floor).count();
        if more == 0 {
            return Ok(Some(groups));
        }
        n += more;
        if n * 2 > bounds.len() {
            return Ok(None);
        }
    }
}

/// Runs the query and returns Plausible's response body.
/// Sorted result rows (before pagination) and the meta object of a query.
fn compute(
    q: &Query,
    site_id: i64,
    dialect: &dyn Dialect,
    runner: &dyn Runner,
) -> Result<(Vec<Row>, Map<String, Value>), String> {
    let first = q.date_range.first_utc().max(q.native_stats_start_at);
    let last = q.date_range.last_utc();
    let cutoff = q.include.legacy_time_on_page_cutoff.map(|c| c.naive_utc());
    let include_legacy =
        q.metrics.contains(&Metric::TimeOnPage) && cutoff.is_some_and(|c| c > q.date_range.first_utc());
    let include_new = cutoff.is_none_or(|c| c <= q.date_range.last_utc());
    let cutoff_date = q.include.legacy_time_on_page_cutoff.map(|c| c.with_timezone(&q.timezone).date_naive());
    let ctx = Ctx {
        d: dialect,
        q,
        site_id,
        first,
        last,
        offsets: offsets(q.timezone, first.min(last), last.max(first)),
        new_time_on_page_from: if include_legacy && include_new { cutoff_date } else { None },
        city_aliases: if q.dimensions.contains(&Dimension::CityName) {
            city_aliases(site_id, runner)?
        } else {
            Vec::new()
        },
        sessions_ending_in_range: false,
    };
    let mut p = Planner { ctx, q, runner, restrict: None };
    let dims = q.dimensions.clone();
    let has_goal_dim = dims.contains(&Dimension::Goal);

    let wants = |m: Metric| q.metrics.contains(&m);
    let derived = wants(Metric::Percentage) || wants(Metric::ConversionRate) || wants(Metric::GroupConversionRate);
    // Time on page and scroll depth are reported for the rows (pages, days…) of the main events query.
    let needs_visitors = wants(Metric::Visitors) || derived || wants(Metric::TimeOnPage) || wants(Metric::ScrollDepth);
    let event_metrics: Vec<Agg> = q
        .metrics
        .iter()
        .filter_map(|m| match m {
            Metric::Pageviews => Some(Agg::Pageviews),
            Metric::Events => Some(Agg::Events),
            Metric::TotalRevenue => Some(Agg::RevenueSum),
            Metric::AverageRevenue => Some(Agg::RevenueAvg),
            _ => None,
        })
        .collect();
    let mut session_metrics: Vec<Agg> = Vec::new();
    for m in &q.metrics {
        match m {
            Metric::BounceRate => session_metrics.extend([Agg::Bounces, Agg::BounceDen]),
            Metric::VisitDuration => session_metrics.extend([Agg::Duration, Agg::Sessions]),
            Metric::ViewsPerVisit => session_metrics.extend([Agg::SessionPageviews, Agg::Sessions]),
            _ => {}
        }
    }
    let mut seen = Vec::new();
    session_metrics.retain(|a| {
        if seen.contains(a) {
            false
        } else {
            seen.push(*a);
            true
        }
    });
    let event_context = dims.iter().any(|d| d.is_event()) || q.filters.iter().any(is_event_filter);
    // Grouped by a session-only dimension (entry/exit page), everything is counted on sessions: event
    // filters select the sessions with a matching event.
    let session_only_dim = dims.iter().any(|d| d.table_class() == crate::ast::TableClass::SessionOnly);
    let either_on_events = !session_only_dim
        && (event_context
            || (session_metrics.is_empty() && !event_metrics.is_empty())
            || (session_metrics.is_empty()
                && event_metrics.is_empty()
                && (wants(Metric::ScrollDepth) || wants(Metric::TimeOnPage))));
    let mut either: Vec<Agg> = Vec::new();
    if needs_visitors {
        either.push(Agg::Visitors);
    }
    if wants(Metric::Visits) {
        either.push(Agg::Visits);
    }

    let mut rows: Vec<(Key, Acc)> = Vec::new();
    let mut index: HashMap<Key, usize> = HashMap::new();
    let mut upsert = |key: Key, f: &mut dyn FnMut(&mut Acc)| {
        let i = *index.entry(key.clone()).or_insert_with(|| {
            rows.push((key, Acc::default()));
            rows.len() - 1
        });
        f(&mut rows[i].1);
    };

    let mut ev_aggs = event_metrics.clone();
    let mut se_aggs = session_metrics.clone();
    // Grouped by a session-only dimension (entry/exit page), page views and events are the sessions' own
    // counts (reachable through the v1 API, as in Plausible's legacy breakdowns).
    if session_only_dim {
        ev_aggs.retain(|a| {
            let moved = matches!(a, Agg::Pageviews | Agg::Events);
            if moved {
                se_aggs.push(*a);
            }
            !moved
        });
    }
    if either_on_events {
        ev_aggs.extend(either.iter().copied());
    } else {
        for a in &either {
            if !se_aggs.contains(a) {
                se_aggs.push(*a);
            }
        }
    }
    let imports = if q.include.imports { Some(imports::plan(q)) } else { None };
    let imports_included = matches!(imports, Some(Ok(_)));
    // A top-N breakdown by visitors reads only the groups that can make the top N (see `top_groups`).
    let mut top: Option<(Table, Vec<Group>)> = None; // the pruned groups, and the table they come from
    let single_table = ev_aggs.is_empty() != se_aggs.is_empty();
    let per_group_metrics_only = q.metrics.iter().all(|m| {
        matches!(
            m,
            Metric::Visitors
                | Metric::Visits
                | Metric::Pageviews
                | Metric::Events
                | Metric::BounceRate
                | Metric::VisitDuration
                | Metric::ViewsPerVisit
        )
    });
    if single_table
        && per_group_metrics_only
        && !imports_included
        && !include_legacy
        && !q.include.total_rows
        // Long-tailed dimensions only: with a few dozen groups the extra row count costs more than it saves.
        && matches!(dims.as_slice(), [Dimension::Page | Dimension::EntryPage | Dimension::ExitPage])
        && q.order_by.first() == Some(&(OrderKey::Metric(Metric::Visitors), Direction::Desc))
    {
        let table = if ev_aggs.is_empty() { Table::Sessions } else { Table::Events };
        let aggs = if table == Table::Events { &ev_aggs } else { &se_aggs };
        let wanted = q.pagination.offset.saturating_add(q.pagination.limit).min(usize::MAX as u64) as usize;
        if let Some(groups) = top_groups(&mut p, table, &dims, aggs, wanted)? {
            top = Some((table, groups));
        }
    }
    // Day, week and month series keep the rows of buckets that are over (see `rollup`).
    let period = match dims.as_slice() {
        [d @ (Dimension::TimeDay | Dimension::TimeWeek | Dimension::TimeMonth)] => Some(d),
        _ => None,
    };
    let (top_events, top_sessions) = match top {
        Some((Table::Events, groups)) => (Some(groups), None),
        Some((Table::Sessions, groups)) => (None, Some(groups)),
        None => (None, None),
    };
    if !ev_aggs.is_empty() {
        let groups = match (top_events, period) {
            (Some(groups), _) => groups,
            (None, Some(period)) => p.aggregate_periods(period, Table::Events, &q.filters, &ev_aggs)?,
            (None, None) => p.aggregate_kept(Table::Events, &dims, &q.filters, &ev_aggs)?,
        };
        for (d, a) in groups {
            let key = p.key(&dims, &d);
            upsert(key, &mut |acc| {
                for (agg, cell) in ev_aggs.iter().zip(&a) {
                    acc.set(*agg, cell.f64());
                }
            });
        }
    }
    // By hour, sessions count as visitors and visits in every hour they were active in.
    let smeared: Vec<Agg> = if dims.contains(&Dimension::TimeHour) {
        let (smeared, rest): (Vec<Agg>, Vec<Agg>) =
            se_aggs.iter().partition(|a| matches!(a, Agg::Visitors | Agg::Visits));
        se_aggs = rest;
        smeared
    } else {
        Vec::new()
    };
    // Hours a session was active in without ending there report a visit duration of 0, as in Plausible
    // (its smeared and plain session subqueries are joined, and the join's missing values are zeros).
    let hour_smeared = !smeared.is_empty();
    if hour_smeared {
        for (d, a) in p.aggregate_smeared(&dims, &q.filters, &smeared)? {
            let key = p.key(&dims, &d);
            upsert(key, &mut |acc| {
                for (agg, cell) in smeared.iter().zip(&a) {
                    acc.set(*agg, cell.f64());
                }
            });
        }
    }
    if !se_aggs.is_empty() {
        let groups = match (top_sessions, period) {
            (Some(groups), _) => groups,
            (None, Some(period)) => p.aggregate_periods(period, Table::Sessions, &q.filters, &se_aggs)?,
            (None, None) => p.aggregate_kept(Table::Sessions, &dims, &q.filters, &se_aggs)?,
        };
        for (d, a) in groups {
            let key = p.key(&dims, &d);
            upsert(key, &mut |acc| {
                for (agg, cell) in se_aggs.iter().zip(&a) {
                    acc.set(*agg, cell.f64());
                }
            });
        }
    }
    // Page-level engagement has no per-goal breakdown: grouped by goal, scroll depth and time on page are null.
    let by_goal = dims.contains(&Dimension::Goal);
    if wants(Metric::ScrollDepth) && !by_goal {
        for (key, (sum, n)) in p.scroll_depth(&dims, &q.filters)? {
            upsert(key, &mut |acc| {
                acc.scroll_sum += sum;
                acc.scroll_n += n;
            });
        }
    }
    // Time on page: the engagement-based method, and the legacy method for data before the cutoff.
    let legacy_mergeable = dims.is_empty() || dims == [Dimension::Page];
    // … and time on page is not split by a session's entry or exit page either.
    if wants(Metric::TimeOnPage) && include_new && !by_goal && !session_only_dim {
        let from = if include_legacy { cutoff } else { None };
        for (key, (secs, n)) in p.time_on_page(&dims, &q.filters, from)? {
            upsert(key, &mut |acc| {
                acc.top_secs += secs;
                acc.top_n += n;
            });
        }
    }

    // Exit rate: exits of each exit page over the page views of that page (without exit-page filters).
    let mut exit_pageviews: HashMap<Key, f64> = HashMap::new();
    if wants(Metric::ExitRate) {
        for (d, a) in p.aggregate(Table::Sessions, &dims, &q.filters, &[Agg::Sessions])? {
            let key = p.key(&dims, &d);
            let n = a.first().and_then(Cell::f64).unwrap_or(0.0);
            upsert(key, &mut |acc| acc.exits += n);
        }
        let pv_filters: Vec<Filter> = q
            .filters
            .iter()
            .filter(|f| !matches!(f, Filter::Simple { dim: Dimension::ExitPage, .. }))
            .cloned()
            .collect();
        for (d, a) in p.aggregate(Table::Events, &[Dimension::Page], &pv_filters, &[Agg::Pageviews])? {
            exit_pageviews.insert(p.key(&[Dimension::Page], &d), a.first().and_then(Cell::f64).unwrap_or(0.0));
        }
        // With imports, imported page views join the denominator (imported exits join the exits below).
        if imports_included {
            for (key, pv) in p.imported_sum(&[Dimension::Page], &pv_filters, 2)? {
                *exit_pageviews.entry(key).or_insert(0.0) += pv;
            }
        }
    }

    // Imported data, summed into the same rows. Grouped by page, the session metrics of a page are those of
    // the sessions that entered on it (as natively): imported entry pages, not imported pages, supply them.
    let sessions_by_entry_page = dims.contains(&Dimension::Page) && !session_metrics.is_empty();
    let mut imported_entries: Vec<(Key, Vec<f64>)> = Vec::new();
    if let Some(Ok(sources)) = &imports {
        for src in sources {
            for (key, mut v) in p.imported(src, &dims, &q.filters)? {
                if !include_new {
                    // Imported engagement-based time on page belongs to the new method.
                    v[6] = 0.0;
                    v[7] = 0.0;
                }
                let exits = if src.table == "imported_exit_pages" && wants(Metric::ExitRate) { v[1] } else { 0.0 };
                let pages_only = sessions_by_entry_page && src.table == "imported_pages";
                upsert(key, &mut |acc| {
                    acc.add_imported_events(&v);
                    if !pages_only {
                        acc.add_imported_sessions(&v);
                    }
                    acc.exits += exits;
                });
            }
        }
        if sessions_by_entry_page {
            let entry_dims: Vec<Dimension> =
                dims.iter().map(|d| if *d == Dimension::Page { Dimension::EntryPage } else { d.clone() }).collect();
            let entry_filters: Vec<Filter> = q
                .filters
                .iter()
                .map(|f| {
                    if matches!(f, Filter::Simple { dim: Dimension::Page, .. }) {
                        entry_page_filter(f)
                    } else {
                        f.clone()
                    }
                })
                .collect();
            let mut q2 = q.clone();
            q2.dimensions = entry_dims.clone();
            q2.filters = entry_filters.clone();
            if let Ok(entry_sources) = imports::plan(&q2) {
                for src in entry_sources.iter().filter(|s| s.table == "imported_entry_pages") {
                    imported_entries.extend(p.imported(src, &entry_dims, &entry_filters)?);
                }
            }
        }
    }
    // Imported entry-page sessions join the pages the query found; they add no rows.
    for (key, v) in imported_entries {
        if let Some(i) = index.get(&key) {
            rows[*i].1.add_imported_sessions(&v);
        }
    }
    if include_legacy && legacy_mergeable {
        let until = if include_new { cutoff } else { None };
        let by_page = !dims.is_empty();
        let mut legacy = p.legacy_time_on_page(by_page, &q.filters, until)?;
        if by_page && imports_included {
            for (k, (secs, n)) in p.legacy_imported_time_on_page(if include_new { cutoff_date } else { None })? {
                let e = legacy.entry(k).or_insert((0.0, 0.0));
                e.0 += secs;
                e.1 += n;
            }
        }
        if by_page {
            // The legacy values join the pages of the main query; they never add pages.
            for (key, (secs, n)) in legacy {
                if let Some(i) = index.get(&key) {
                    rows[*i].1.top_secs += secs;
                    rows[*i].1.top_n += n;
                }
            }
        } else {
            for (_, (secs, n)) in legacy {
                let i = *index.entry(vec![]).or_insert_with(|| {
                    rows.push((vec![], Acc::default()));
                    rows.len() - 1
                });
                rows[i].1.top_secs += secs;
                rows[i].1.top_n += n;
            }
        }
    }

    // Denominators.
    let table_for = |filters: &[Filter]| {
        if filters.iter().any(is_event_filter) {
            Table::Events
        } else {
            Table::Sessions
        }
    };
    let imported_total = |p: &Planner, dims: &[Dimension], filters: &[Filter]| -> Result<HashMap<Key, f64>, String> {
        if imports_included {
            p.imported_visitors(dims, filters)
        } else {
            Ok(HashMap::new())
        }
    };
    // The totals behind `percentage` and `conversion_rate` count the visitors with an event in the range (as
    // Plausible's total-visitors subquery, built on the events table). Sessions give the same count, at a
    // fraction of the rows, when every session read runs forward in time and the range is longer than a
    // session's 30-minute gap: each such session has an event inside the range.
    let cr_filters: Vec<Filter> = q
        .filters
        .iter()
        .filter(|f| !is_goal_filter(f) && !matches!(f, Filter::Simple { dim: Dimension::Prop(_), .. }))
        .cloned()
        .collect();
    let totals_table = {
        let from_sessions = (wants(Metric::Percentage) && table_for(&q.filters) == Table::Sessions)
            || (wants(Metric::ConversionRate) && table_for(&cr_filters) == Table::Sessions);
        let long_range = q.date_range.last_utc() - q.date_range.first_utc() >= chrono::Duration::hours(1);
        if from_sessions && long_range && p.sessions_run_forward()? {
            None
        } else {
            Some(Table::Events)
        }
    };
    let total_visitors = if wants(Metric::Percentage) {
        p.aggregate_kept(totals_table.unwrap_or(table_for(&q.filters)), &[], &q.filters, &[Agg::Visitors])?
            .first()
            .and_then(|r| r.1.first())
            .and_then(Cell::f64)
            .unwrap_or(0.0)
            + imported_total(&p, &[], &q.filters)?.values().sum::<f64>()
    } else {
        0.0
    };
    let cr_total = if wants(Metric::ConversionRate) {
        p.aggregate_kept(totals_table.unwrap_or(table_for(&cr_filters)), &[], &cr_filters, &[Agg::Visitors])?
            .first()
            .and_then(|r| r.1.first())
            .and_then(Cell::f64)
            .unwrap_or(0.0)
            + imported_total(&p, &[], &cr_filters)?.values().sum::<f64>()
    } else {
        0.0
    };
    let group_dims: Vec<Dimension> = dims.iter().filter(|d| **d != Dimension::Goal).cloned().collect();
    let group_totals: HashMap<Key, f64> = if wants(Metric::GroupConversionRate) {
        let t = if group_dims.iter().any(|d| d.is_event()) { Table::Events } else { table_for(&cr_filters) };
        let mut totals: HashMap<Key, f64> = p
            .aggregate_kept(t, &group_dims, &cr_filters, &[Agg::Visitors])?
            .into_iter()
            .map(|(d, a)| (p.key(&group_dims, &d), a.first().and_then(Cell::f64).unwrap_or(0.0)))
            .collect();
        for (k, v) in imported_total(&p, &group_dims, &cr_filters)? {
            *totals.entry(k).or_insert(0.0) += v;
        }
        totals
    } else {
        HashMap::new()
    };

    if dims.is_empty() && rows.is_empty() {
        rows.push((vec![], Acc::default()));
    }
    // Rows with no visitors at all (e.g. only engagement data) are not results of a grouped query.
    if !dims.is_empty() && needs_visitors {
        rows.retain(|(_, a)| {
            a.visitors.unwrap_or(0.0) > 0.0
                || a.visits.unwrap_or(0.0) > 0.0
                || a.pageviews.unwrap_or(0.0) > 0.0
                || a.events.unwrap_or(0.0) > 0.0
        });
    }

    let imported_only: HashSet<&Key> = rows.iter().filter(|(_, a)| !a.native).map(|(k, _)| k).collect();
    let mut out: Vec<(Key, Vec<Value>)> = Vec::with_capacity(rows.len());
    for (key, a) in &rows {
        let mut vals = Vec::with_capacity(q.metrics.len());
        for m in &q.metrics {
            let v = match m {
                Metric::Visitors => json!(a.visitors.unwrap_or(0.0) as i64),
                Metric::Visits => json!(a.visits.unwrap_or(0.0) as i64),
                Metric::Pageviews => json!(a.pageviews.unwrap_or(0.0) as i64),
                // Engagement events (what scroll goals match) are never counted as events.
                Metric::Events => json!(a.events.unwrap_or(0.0) as i64),
                Metric::BounceRate => {
                    let den = a.bounce_den.unwrap_or(0.0);
                    json!(if den > 0.0 {
                        (100.0 * a.bounces.unwrap_or(0.0) / den).round_ties_even().max(0.0) as i64
                    } else {
                        0
                    })
                }
                Metric::VisitDuration => {
                    let n = a.sessions.unwrap_or(0.0);
                    if n > 0.0 {
                        let v = (a.duration.unwrap_or(0.0) / n).round_ties_even().max(0.0);
                        if imports_included {
                            json!(v)
                        } else {
                            json!(v as i64)
                        }
                    } else if dims.is_empty() || hour_smeared {
                        json!(0)
                    } else {
                        Value::Null
                    }
                }
                Metric::ViewsPerVisit => {
                    let n = a.sessions.unwrap_or(0.0);
                    json!(if n > 0.0 { round_to(a.session_pageviews.unwrap_or(0.0) / n, 2).max(0.0) } else { 0.0 })
                }
                Metric::ScrollDepth => {
                    if a.scroll_n > 0.0 {
                        json!((a.scroll_sum / a.scroll_n).round_ties_even() as i64)
                    } else {
                        Value::Null
                    }
                }
                Metric::TimeOnPage => {
                    if a.top_n > 0.0 {
                        json!((a.top_secs / a.top_n).round_ties_even() as i64)
                    } else {
                        Value::Null
                    }
                }
                Metric::Percentage => {
                    if total_visitors > 0.0 {
                        json!(round_to(100.0 * a.visitors.unwrap_or(0.0) / total_visitors, 1))
                    } else {
                        Value::Null
                    }
                }
                Metric::ConversionRate => {
                    json!(if cr_total > 0.0 { round_to(100.0 * a.visitors.unwrap_or(0.0) / cr_total, 2) } else { 0.0 })
                }
                Metric::GroupConversionRate => {
                    let gkey: Key =
                        dims.iter().zip(key).filter(|(d, _)| **d != Dimension::Goal).map(|(_, v)| v.clone()).collect();
                    let den = group_totals.get(&gkey).copied().unwrap_or(0.0);
                    json!(if den > 0.0 { round_to(100.0 * a.visitors.unwrap_or(0.0) / den, 2) } else { 0.0 })
                }
                Metric::TotalRevenue | Metric::AverageRevenue => {
                    // Plausible casts both to Decimal64(3), which truncates: an average of 67.0666… is 67.066.
                    let raw = if *m == Metric::TotalRevenue { a.revenue_sum } else { a.revenue_avg };
                    revenue_value(q, &dims, key, raw.map(|milli| (milli + milli.signum() * 1e-6).trunc()))
                }
                Metric::ExitRate => {
                    let pv = exit_pageviews.get(key).copied().unwrap_or(0.0);
                    if pv > 0.0 {
                        json!(round_to(100.0 * a.exits / pv, 1))
                    } else {
                        Value::Null
                    }
                }
            };
            vals.push(v);
        }
        out.push((key.clone(), vals));
    }

    // Order: the query's order_by, then native rows before imported-only ones, then dimension values
    // ascending for a stable result.
    let pos = |k: &OrderKey| -> Option<(bool, usize)> {
        match k {
            OrderKey::Metric(m) => q.metrics.iter().position(|x| x == m).map(|i| (true, i)),
            OrderKey::Dimension(d) => dims.iter().position(|x| x == d).map(|i| (false, i)),
        }
    };
    let order: Vec<((bool, usize), Direction)> =
        q.order_by.iter().filter_map(|(k, d)| pos(k).map(|p| (p, *d))).collect();
    out.sort_by(|a, b| {
        for ((is_metric, i), dir) in &order {
            let (x, y) = if *is_metric { (&a.1[*i], &b.1[*i]) } else { (&a.0[*i], &b.0[*i]) };
            let o = cmp_json(x, y);
            let o = if *dir == Direction::Desc { o.reverse() } else { o };
            if o != Ordering::Equal {
                return o;
            }
        }
        let o = imported_only.contains(&a.0).cmp(&imported_only.contains(&b.0));
        if o != Ordering::Equal {
            return o;
        }
        for (x, y) in a.0.iter().zip(&b.0) {
            let o = cmp_json(x, y);
            if o != Ordering::Equal {
                return o;
            }
        }
        Ordering::Equal
    });
    let mut meta = Map::new();
    if let Some(result) = &imports {
        meta.insert("imports_included".into(), json!(result.is_ok()));
        if let Err(skip) = result {
            meta.insert("imports_skip_reason".into(), json!(skip.reason()));
            if let Some(w) = skip.warning() {
                meta.insert("imports_warning".into(), json!(w));
            }
        }
    }
    let revenue_metrics: Vec<&Metric> = q.metrics.iter().filter(|m| m.is_revenue()).collect();
    if let (Some(w), false) = (q.revenue.warning, revenue_metrics.is_empty()) {
        let mut mw = Map::new();
        for m in revenue_metrics {
            mw.insert(m.name().into(), json!({"code": w.code(), "warning": w.message()}));
        }
        meta.insert("metric_warnings".into(), Value::Object(mw));
    }
    if include_legacy {
        let local = q
            .include
            .legacy_time_on_page_cutoff
            .map(|c| c.with_timezone(&q.timezone).format("%Y-%m-%d %H:%M:%S").to_string());
        let mw = meta.entry("metric_warnings").or_insert_with(|| json!({}));
        mw["time_on_page"] = json!({
            "code": "legacy_time_on_page_used",
            "message": format!("Contains less accurate legacy time-on-page data up to {}", local.unwrap_or_default())
        });
    }
    if q.include.time_labels {
        meta.insert("time_labels".into(), json!(q.time_labels()));
    }
    let _ = has_goal_dim;
    Ok((out, meta))
}

/// One result row: dimension values and metric values.
type Row = (Key, Vec<Value>);

/// The value of a metric for a bucket or comparison row without data (Plausible's `Metrics.default_value`:
/// a visit duration of no visits is null, so is its change).
fn empty_value(m: Metric) -> Value {
    match m {
        Metric::Visitors | Metric::Visits | Metric::Pageviews | Metric::Events | Metric::BounceRate => json!(0),
        Metric::ViewsPerVisit | Metric::ConversionRate | Metric::GroupConversionRate | Metric::Percentage => {
            json!(0.0)
        }
        _ => Value::Null,
    }
}

/// Change between a value and its comparison (stats-api.md §1.11).
fn change(m: Metric, new: &Value, old: &Value) -> Value {
    let (Some(n), Some(o)) = (value_number(new), value_number(old)) else { return Value::Null };
    match m {
        Metric::BounceRate => {
            if o == 0.0 {
                Value::Null
            } else {
                json!((n - o) as i64)
            }
        }
        // Rates compare by their difference in percentage points.
        Metric::ConversionRate | Metric::GroupConversionRate | Metric::ExitRate => json!(round_to(n - o, 1)),
        _ => {
            if o == 0.0 {
                json!(if n > 0.0 { 100 } else { 0 })
            } else {
                json!(((n - o) / o * 100.0).round() as i64)
            }
        }
    }
}

fn value_number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::Object(o) => o.get("value").and_then(Value::as_f64),
        _ => None,
    }
}

/// Runs the query (and its comparison, if requested) and returns Plausible's response body.
pub fn execute(q: &Query, site_id: i64, dialect: &dyn Dialect, runner: &dyn Runner) -> Result<Value, String> {
    let resolved;
    let q = if names::uses_names(&q.filters) {
        resolved = resolve_names(q, site_id, runner)?;
        &resolved
    } else {
        q
    };
    let (mut rows, mut meta) = compute(q, site_id, dialect, runner)?;
    let time_idx = q.dimensions.iter().position(|d| d.is_time());
    let comparison = match &q.include.comparisons {
        Some(c) => {
            let mut q2 = q.clone();
            q2.date_range = c.date_range.clone();
            q2.include.comparisons = None;
            q2.include.total_rows = false;
            q2.include.time_labels = false;
            q2.pagination = Default::default();
            let (crows, cmeta) = compute(&q2, site_id, dialect, runner)?;
            // Imports count as included when any of them covers the main or the comparison range.
            let skip = meta.get("imports_skip_reason").and_then(Value::as_str);
            if skip == Some("out_of_range") && cmeta.get("imports_included") == Some(&json!(true)) {
                meta.insert("imports_included".into(), json!(true));
                meta.remove("imports_skip_reason");
                meta.remove("imports_warning");
            }
            Some((crows, q2))
        }
        None => None,
    };
    // Scroll depth with imports: a warning when no imported page in the ranges read has scroll data.
    if q.metrics.contains(&Metric::ScrollDepth) && meta.get("imports_included") == Some(&json!(true)) {
        let mut ranges = vec![(q.date_range.first_date(), q.date_range.last_date())];
        if let Some((_, q2)) = &comparison {
            ranges.push((q2.date_range.first_date(), q2.date_range.last_date()));
        }
        if !imported_scroll_depth_exists(site_id, &ranges, dialect, runner)? {
            let mw = meta.entry("metric_warnings").or_insert_with(|| json!({}));
            mw["scroll_depth"] =
                json!({"code": "no_imported_scroll_depth", "warning": "No imports with scroll depth data were found"});
        }
    }
    // With a single time dimension and a comparison, every bucket is present (zero-filled).
    if let (Some(_), Some(_), 1) = (&comparison, time_idx, q.dimensions.len()) {
        let labels = q.time_labels();
        let mut by_label: HashMap<String, Vec<Value>> =
            rows.drain(..).map(|(k, m)| (k[0].as_str().unwrap_or_default().to_string(), m)).collect();
        rows = labels
            .into_iter()
            .map(|l| {
                let m = by_label.remove(&l).unwrap_or_else(|| q.metrics.iter().map(|m| empty_value(*m)).collect());
                (vec![json!(l)], m)
            })
            .collect();
    }
    let total_rows = rows.len();
    let page: Vec<Row> =
        rows.into_iter().skip(q.pagination.offset as usize).take(q.pagination.limit as usize).collect();
    let results: Vec<Value> = match &comparison {
        None => page.into_iter().map(|(k, m)| json!({"dimensions": k, "metrics": m})).collect(),
        Some((crows, q2)) => {
            let empty: Vec<Value> = q.metrics.iter().map(|m| empty_value(*m)).collect();
            let clabels = if time_idx.is_some() && q.dimensions.len() == 1 { q2.time_labels() } else { vec![] };
            let main_labels = q.time_labels();
            page.into_iter()
                .map(|(k, m)| {
                    let (ck, cm) = if !clabels.is_empty() {
                        // Pair time buckets by position.
                        let pos = main_labels.iter().position(|l| Some(l.as_str()) == k[0].as_str()).unwrap_or(0);
                        let label = clabels.get(pos).cloned().unwrap_or_default();
                        let cm = crows
                            .iter()
                            .find(|(ck, _)| ck[0].as_str() == Some(label.as_str()))
                            .map(|r| r.1.clone())
                            .unwrap_or_else(|| empty.clone());
                        (vec![json!(label)], cm)
                    } else {
                        let non_time = |key: &Key| -> Key {
                            key.iter().enumerate().filter(|(i, _)| Some(*i) != time_idx).map(|(_, v)| v.clone()).collect()
                        };
                        match crows.iter().find(|(ck, _)| non_time(ck) == non_time(&k)) {
                            Some((ck, cm)) => (ck.clone(), cm.clone()),
                            None => (k.clone(), empty.clone()),
                        }
                    };
                    let ch: Vec<Value> = q.metrics.iter().enumerate().map(|(i, met)| change(*met, &m[i], &cm[i])).collect();
                    json!({"dimensions": k, "metrics": m, "comparison": {"dimensions": ck, "metrics": cm, "change": ch}})
                })
                .collect()
        }
    };
    if q.include.total_rows {
        meta.insert("total_rows".into(), json!(total_rows));
    }
    let mut sorted = Map::new();
    let mut keys: Vec<String> = meta.keys().cloned().collect();
    keys.sort();
    for k in keys {
        sorted.insert(k.clone(), meta[&k].clone());
    }
    let mut body = Map::new();
    body.insert("results".into(), Value::Array(results));
    body.insert("meta".into(), Value::Object(sorted));
    body.insert("query".into(), q.echo());
    Ok(Value::Object(body))
}

fn cmp_json(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            x.as_f64().unwrap_or(0.0).partial_cmp(&y.as_f64().unwrap_or(0.0)).unwrap_or(Ordering::Equal)
        }
        (Value::String(x), Value::String(y)) => x.cmp(y),
        (Value::Null, Value::Null) => Ordering::Equal,
        (Value::Null, _) => Ordering::Less,
        (_, Value::Null) => Ordering::Greater,
        (Value::Object(x), Value::Object(y)) => {
            cmp_json(x.get("value").unwrap_or(&Value::Null), y.get("value").unwrap_or(&Value::Null))
        }
        _ => a.to_string().cmp(&b.to_string()),
    }
}

fn revenue_value(q: &Query, dims: &[Dimension], key: &Key, milli: Option<f64>) -> Value {
    let currency = match &q.revenue.currencies {
        RevenueCurrencies::None => return Value::Null,
        RevenueCurrencies::Single(c) => c.clone(),
        RevenueCurrencies::PerGoal(list) => {
            let Some(i) = dims.iter().position(|d| *d == Dimension::Goal) else {
                return Value::Null;
            };
            let name = key[i].as_str().unwrap_or_default();
            match list.iter().find(|(g, _)| g == name) {
                Some((_, c)) => c.clone(),
                None => return Value::Null,
            }
        }
    };
    let value = milli.unwrap_or(0.0) / 1000.0;
    super::money::revenue_object(value, &currency)
}

/// Whether imported pages within any of the date ranges carry scroll depth data.
fn imported_scroll_depth_exists(
    site_id: i64,
    ranges: &[(chrono::NaiveDate, chrono::NaiveDate)],
    dialect: &dyn Dialect,
    runner: &dyn Runner,
) -> Result<bool, String> {
    let d = dialect.date_param();
    let within: Vec<String> = ranges.iter().map(|_| format!("(date >= {d} AND date <= {d})")).collect();
    let sql = format!(
        "SELECT count(*) FROM imported_pages WHERE site_id = ? AND total_scroll_depth_visits > 0 AND ({})",
        within.join(" OR ")
    );
    let mut params = vec![Param::Int(site_id)];
    for (a, b) in ranges {
        params.push(Param::Date(*a));
        params.push(Param::Date(*b));
    }
    let rows = runner.run(&sql, &params)?;
    Ok(rows.first().and_then(|r| r.first()).and_then(Cell::f64).unwrap_or(0.0) > 0.0)
}

/// The values of a place-code dimension (country, region or city) present in a site's data, native and
/// imported; city ids as integers.
fn present_codes(dim: &Dimension, site_id: i64, runner: &dyn Runner) -> Result<Vec<Value>, String> {
    let (col, imported) = match dim {
        Dimension::Country => ("country_code", "country"),
        Dimension::Region => ("subdivision1_code", "region"),
        _ => ("city_geoname_id", "city"),
    };
    let sql = format!(
        "SELECT DISTINCT {col} FROM sessions_all WHERE site_id = ? UNION SELECT DISTINCT {imported} FROM imported_locations WHERE site_id = ?"
    );
    let rows = runner.run(&sql, &[Param::Int(site_id), Param::Int(site_id)])?;
    Ok(rows
        .into_iter()
        .filter_map(|r| r.into_iter().next())
        .map(|c| match (dim, c) {
            (Dimension::City, c) => json!(c.f64().unwrap_or(0.0) as i64),
            (_, c) => c.json(),
        })
        .collect())
}

/// For `visit:city_name`: present city ids whose name another present id shares, each with the smallest
/// id of that name (see `Ctx::city_aliases`).
fn city_aliases(site_id: i64, runner: &dyn Runner) -> Result<Vec<(i64, i64)>, String> {
    let mut by_name: HashMap<String, Vec<i64>> = HashMap::new();
    for id in present_codes(&Dimension::City, site_id, runner)?.iter().filter_map(Value::as_i64) {
        if let Some(name) = names::name_of(&Dimension::CityName, &json!(id)).as_str().filter(|n| !n.is_empty()) {
            by_name.entry(name.to_string()).or_default().push(id);
        }
    }
    let mut aliases = Vec::new();
    for ids in by_name.values_mut().filter(|ids| ids.len() > 1) {
        ids.sort_unstable();
        aliases.extend(ids[1..].iter().map(|id| (*id, ids[0])));
    }
    aliases.sort_unstable();
    Ok(aliases)
}

/// The query with place-name filters turned into filters on the codes present in the site's data.
fn resolve_names(q: &Query, site_id: i64, runner: &dyn Runner) -> Result<Query, String> {
    let mut err = None;
    let mut codes = |dim: &Dimension| -> Vec<Value> {
        present_codes(dim, site_id, runner).unwrap_or_else(|e| {
            err = Some(e);
            vec![]
        })
    };
    let mut q2 = q.clone();
    q2.filters = q.filters.iter().map(|f| names::rewrite(f, &mut codes)).collect();
    match err {
        Some(e) => Err(e),
        None => Ok(q2),
    }
}

#[cfg(test)]
mod tests {
    use super::offsets;
    use chrono::{NaiveDate, NaiveDateTime, Offset, TimeZone};

    /// Every change of offset, found by looking at every second around each hour the offset differs.
    fn by_hour(tz: chrono_tz::Tz, first: NaiveDateTime, last: NaiveDateTime) -> Vec<(NaiveDateTime, i64)> {
        let off = |t: NaiveDateTime| tz.offset_from_utc_datetime(&t).fix().local_minus_utc() as i64;
        let mut out = vec![(first, off(first))];
        let mut t = first;
        while t < last {
            let next = (t + chrono::Duration::hours(1)).min(last);
            if off(next) != off(t) {
                let mut s = t;
                while off(s) == off(t) {
                    s += chrono::Duration::seconds(1);
                }
                out.push((s, off(s)));
            }
            t = next;
        }
        out
    }

    #[test]
    fn offsets_match_an_hourly_scan_in_zones_with_changes() {
        let at =
            |y: i32, m: u32, d: u32, h: u32| NaiveDate::from_ymd_opt(y, m, d).unwrap().and_hms_opt(h, 17, 5).unwrap();
        let zones = [
            chrono_tz::Europe::Berlin,
            chrono_tz::America::New_York,
            chrono_tz::Australia::Lord_Howe, // half-hour changes
            chrono_tz::Africa::Casablanca,   // suspended for Ramadan: two changes a month apart
            chrono_tz::America::Santiago,
            chrono_tz::UTC,
        ];
        for tz in zones {
            for (first, last) in [(at(2019, 1, 1, 0), at(2024, 12, 31, 23)), (at(2024, 3, 31, 0), at(2024, 3, 31, 2))] {
                let found = offsets(tz, first, last);
                assert_eq!(found, by_hour(tz, first, last), "{tz}");
            }
        }
        let berlin = offsets(chrono_tz::Europe::Berlin, at(2024, 1, 1, 0), at(2024, 12, 31, 0));
        assert_eq!(berlin.len(), 3, "two changes in 2024: {berlin:?}");
    }
}
