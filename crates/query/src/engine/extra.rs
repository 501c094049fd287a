//! The statements the Stats API runs besides Query API queries: a site's first event, realtime visitors and
//! the events behind a funnel. They are built here, like every other statement: fixed identifiers, bound
//! values, dialect-specific functions through [`Dialect`].

use super::sql::{goal_condition, Ctx, Frag, Param, Table};
use super::{Cell, Dialect, Runner};
use crate::ast::Query;
use crate::context::Goal;
use chrono::NaiveDateTime;

fn int(cell: Option<&Cell>) -> Option<i64> {
    match cell {
        Some(Cell::Int(i)) => Some(*i),
        Some(Cell::Float(f)) => Some(*f as i64),
        Some(Cell::Text(t)) => t.parse().ok(),
        _ => None,
    }
}

/// The single value of a one-row, one-column answer.
fn scalar(rows: &[Vec<Cell>]) -> Option<i64> {
    int(rows.first().and_then(|r| r.first()))
}

/// The site's first event at or after `since`, if any.
pub fn first_event(site_id: i64, since: NaiveDateTime, runner: &dyn Runner) -> Result<Option<NaiveDateTime>, String> {
    let rows = runner.run(
        "SELECT epoch_us(min(timestamp)) FROM events WHERE site_id = ? AND timestamp >= ?",
        &[Param::Int(site_id), Param::Timestamp(since)],
    )?;
    Ok(scalar(&rows).and_then(chrono::DateTime::from_timestamp_micros).map(|t| t.naive_utc()))
}

/// Visitors with an event other than engagement since `since` (counted as visitors always are).
pub fn current_visitors(
    d: &dyn Dialect,
    site_id: i64,
    since: NaiveDateTime,
    runner: &dyn Runner,
) -> Result<i64, String> {
    let sql = format!(
        "SELECT {} FROM events WHERE site_id = ? AND timestamp >= ? AND name <> 'engagement'",
        d.uniq("user_id")
    );
    Ok(scalar(&runner.run(&sql, &[Param::Int(site_id), Param::Timestamp(since)])?).unwrap_or(0))
}

/// One event that completes at least one funnel step (or, for strict funnels, any event that could interrupt
/// a chain): its visitor, its time in milliseconds and which steps it completes.
#[derive(Debug, Clone, PartialEq)]
pub struct FunnelEvent {
    pub user_id: i64,
    pub ms: i64,
    pub completes: Vec<bool>,
}

/// What a funnel is computed from: every visitor of the range and the step events, by visitor, in time order.
#[derive(Debug, Clone, PartialEq)]
pub struct FunnelEvents {
    pub all_visitors: i64,
    pub events: Vec<FunnelEvent>,
}

/// The events behind a funnel over `[first, last]` (UTC).
pub fn funnel_events(
    d: &dyn Dialect,
    q: &Query,
    site_id: i64,
    (first, last): (NaiveDateTime, NaiveDateTime),
    steps: &[Goal],
    strict: bool,
    runner: &dyn Runner,
) -> Result<FunnelEvents, String> {
    // The query's filters narrow the events (visit filters through the session attributes every event carries).
    let ctx = Ctx {
        d,
        q,
        site_id,
        first,
        last,
        offsets: Vec::new(),
        new_time_on_page_from: None,
        city_aliases: Vec::new(),
        sessions_ending_in_range: false,
    };
    let filters: Vec<Frag> = q.filters.iter().map(|f| ctx.filter(f, Table::Events)).collect();
    let range = || {
        let mut f = Frag::with(
            "FROM events WHERE site_id = ? AND timestamp >= ? AND timestamp <= ?",
            vec![Param::Int(site_id), Param::Timestamp(first), Param::Timestamp(last)],
        );
        for c in &filters {
            f.push_str(" AND ");
            f.push(c.clone());
        }
        f
    };
    // Engagement events do not make a visit.
    let mut all_sql = Frag::raw(format!("SELECT {} ", d.uniq("user_id")));
    all_sql.push(range());
    all_sql.push_str(" AND name <> 'engagement'");
    let all = runner.run(&all_sql.sql, &all_sql.params)?;
    let all_visitors = scalar(&all).unwrap_or(0);
    if steps.is_empty() {
        return Ok(FunnelEvents { all_visitors, events: vec![] });
    }
    let conds: Vec<Frag> = steps.iter().map(|g| goal_condition(d, g)).collect();
    let mut sql = Frag::raw("SELECT user_id, epoch_ms(timestamp), ");
    sql.push(Frag::join(conds.clone(), ", "));
    sql.push_str(" ");
    sql.push(range());
    sql.push_str(" AND (");
    // A strict funnel needs the visitors' other events too: they interrupt a chain.
    if strict {
        sql.push_str("name <> 'engagement' OR ");
    }
    sql.push(Frag::join(conds, " OR "));
    sql.push_str(") ORDER BY user_id, timestamp");
    let rows = runner.run(&sql.sql, &sql.params)?;
    let events = rows
        .into_iter()
        .map(|r| FunnelEvent {
            user_id: int(r.first()).unwrap_or(0),
            ms: int(r.get(1)).unwrap_or(0),
            completes: r.iter().skip(2).map(|c| int(Some(c)) == Some(1)).collect(),
        })
        .collect();
    Ok(FunnelEvents { all_visitors, events })
}
