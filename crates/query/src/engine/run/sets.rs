//! Kept spans: the visitor (and visit) sets and the sums of each group of a breakdown (or of an ungrouped
//! aggregate) from the start of a range to the end of its last whole day that is over, merged at query time
//! with the rest of the range.
//!
//! `uniq`'s set is a function of the values alone, so the set of a range is exactly the merge of the sets of
//! its parts, and row counts add up. The part from the range's start to the end of its last whole site-local
//! day that is over (the span) is kept per group, as the set itself (`Dialect::uniq_state`) and as counts;
//! each request reads the rest (the current day, or a partial last day) and merges. Validity comes from the
//! store's data version over the span, read before the rows, as for period rollups: any write to the span's
//! days makes every kept group of it stale.
//!
//! Two uses. A top-N breakdown by page, entry page or exit page (`top_groups`) counts visitors for its
//! candidate groups only, but over every row of the range (most of a top-pages query at 10M events): the
//! candidates are kept one by one, and a later request reads only the ones not kept yet. Any other breakdown
//! by one dimension decided by the row alone (sources, countries, browsers, goals…), and the ungrouped
//! aggregates (the totals behind percentages and conversion rates), keep the whole span. Goals are part of
//! the key, as their definitions can change without a write.
//!
//! Only filters that decide on a row alone qualify, and only aggregates that merge exactly: `uniq` sets and
//! sums. A session belongs to every range it overlaps, so the parts of a range are cut by the session's last
//! event: the span reads the sessions that end in it, the rest every session overlapping the rest. While
//! every session runs forward (checked and kept as for the row counts) each session of the range is then in
//! exactly one part; a backward one could start after the span and end before the rest. A write of a session
//! changes the store's version of the day of its last event and of the day of the state it replaces, so a
//! session entering, leaving or changing within a span always changes the span's version (on sessions; a
//! span on events has versions of its own, which sessions leave alone).
//!
//! The room is counted in hashes (8 bytes each; a set holds at most 65,536), separately from the period
//! rollups' rows; when full, the spans used longest ago go. A span that would take more than a quarter of
//! the room is not kept, and its breakdown is read plainly from then on.

use super::rollup::row_local;
use super::{Agg, Cell, Group, Planner};
use crate::ast::{Dimension, Filter};
use crate::engine::sql::{Param, Table};
use chrono::NaiveDateTime;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use tally_uniq::UniqSet;

/// What a kept span is of: everything but the group.
#[derive(Clone, PartialEq, Eq, Hash)]
struct SpanKey {
    site_id: i64,
    table: Table,
    aggs: Vec<Agg>,
    /// The query's filters (all row-local), spelled out.
    filters: String,
    /// The dimension grouped by, if any.
    by: Option<Dimension>,
    /// The goals behind a goal dimension, spelled out (their definitions can change without a write).
    goals: String,
    /// The span's UTC instants `[from, to)`: the range's start to the end of a site-local day.
    from: NaiveDateTime,
    to: NaiveDateTime,
}

impl SpanKey {
    /// The key without its span: what a breakdown too large to keep is remembered by.
    fn breakdown(&self) -> SpanKey {
        SpanKey { from: NaiveDateTime::MIN, to: NaiveDateTime::MIN, ..self.clone() }
    }
}

/// A group's value (what `Planner::restrict` matches), or the one group of an ungrouped aggregate.
#[derive(Clone, PartialEq, Eq, Hash)]
enum Value {
    Text(String),
    Int(i64),
    Null,
    Whole,
}

impl Value {
    fn of(p: &Param) -> Option<Value> {
        match p {
            Param::Text(t) => Some(Value::Text(t.clone())),
            Param::Int(i) => Some(Value::Int(*i)),
            _ => None,
        }
    }
    fn of_cells(dims: &[Cell]) -> Option<Value> {
        match dims {
            [] => Some(Value::Whole),
            [Cell::Text(t)] => Some(Value::Text(t.clone())),
            [Cell::Int(i)] => Some(Value::Int(*i)),
            [Cell::Null] => Some(Value::Null),
            _ => None,
        }
    }
    fn param(&self) -> Param {
        match self {
            Value::Text(t) => Param::Text(t.clone()),
            Value::Int(i) => Param::Int(*i),
            Value::Null | Value::Whole => Param::Text(String::new()),
        }
    }
    fn cells(&self) -> Vec<Cell> {
        match self {
            Value::Text(t) => vec![Cell::Text(t.clone())],
            Value::Int(i) => vec![Cell::Int(*i)],
            Value::Null => vec![Cell::Null],
            Value::Whole => Vec::new(),
        }
    }
}

/// One aggregate of a group over a part of the range.
#[derive(Clone)]
enum Part {
    Count(i64),
    Set(Arc<UniqSet>),
}

/// A group's aggregates over a part (none: the group has no rows there).
type Parts = Option<Arc<Vec<Part>>>;

struct Span {
    version: u64,
    groups: HashMap<Value, Parts>,
    /// Whether `groups` holds every group of the span (read unrestricted), so that any other has no rows.
    complete: bool,
    /// When the span was last used (for eviction).
    used: u64,
    /// Hashes held, a group counting at least one.
    weight: usize,
}

#[derive(Default)]
struct Held {
    spans: HashMap<SpanKey, Span>,
    /// Hashes held in all.
    hashes: usize,
    /// Uses so far (the clock of `Span::used`).
    uses: u64,
    /// Breakdowns whose span took more than a quarter of the room: read plainly.
    oversized: HashSet<SpanKey>,
}

/// The kept spans of one event store (part of its `PeriodRollups`).
pub struct KeptSets {
    held: Mutex<Held>,
    max_hashes: usize,
}

fn weight(parts: &Parts) -> usize {
    let sets = parts.iter().flat_map(|p| p.iter()).map(|p| match p {
        Part::Set(s) => s.len(),
        Part::Count(_) => 0,
    });
    sets.sum::<usize>().max(1)
}

/// What a span holds for the groups asked.
struct Found {
    groups: HashMap<Value, Parts>,
    /// The groups asked that the span does not hold (all of them, unrestricted, unless it is complete).
    missing: Option<Vec<Value>>,
}

impl KeptSets {
    pub(super) fn new(max_hashes: usize) -> Self {
        KeptSets { held: Mutex::default(), max_hashes }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Held> {
        self.held.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn oversized(&self, key: &SpanKey) -> bool {
        self.lock().oversized.contains(&key.breakdown())
    }

    /// The kept groups of `key` at `version`: those among `values`, or all of them (`None`).
    fn get(&self, key: &SpanKey, version: u64, values: Option<&[Value]>) -> Found {
        let mut held = self.lock();
        held.uses += 1;
        let now = held.uses;
        let Some(span) = held.spans.get_mut(key).filter(|s| s.version == version) else {
            return Found { groups: HashMap::new(), missing: values.map(<[Value]>::to_vec) };
        };
        span.used = now;
        match values {
            None if span.complete => Found { groups: span.groups.clone(), missing: Some(Vec::new()) },
            None => Found { groups: HashMap::new(), missing: None },
            Some(values) => {
                let mut groups = HashMap::new();
                let mut missing = Vec::new();
                for v in values {
                    match span.groups.get(v) {
                        Some(parts) => {
                            groups.insert(v.clone(), parts.clone());
                        }
                        None if span.complete => {}
                        None => missing.push(v.clone()),
                    }
                }
                Found { groups, missing: Some(missing) }
            }
        }
    }

    /// Keeps groups read for `key` at `version` (`complete`: every group of the span).
    fn put(&self, key: SpanKey, version: u64, groups: Vec<(Value, Parts)>, complete: bool) {
        let added: usize = groups.iter().map(|(_, p)| weight(p)).sum();
        let mut held = self.lock();
        if added > self.max_hashes / 4 {
            // Kept, it would push out much else: read plainly from now on (the set is bounded like the room).
            if held.oversized.len() >= 1024 {
                held.oversized.clear();
            }
            held.oversized.insert(key.breakdown());
            return;
        }
        if held.spans.get(&key).is_some_and(|s| s.version != version) {
            if let Some(old) = held.spans.remove(&key) {
                held.hashes -= old.weight;
            }
        }
        // Room: the spans used longest ago go first.
        while held.hashes + added > self.max_hashes {
            let Some(oldest) = held.spans.iter().filter(|(k, _)| **k != key).min_by_key(|(_, s)| s.used) else {
                break;
            };
            let oldest = oldest.0.clone();
            if let Some(old) = held.spans.remove(&oldest) {
                held.hashes -= old.weight;
            }
        }
        if held.hashes + added > self.max_hashes {
            return;
        }
        held.uses += 1;
        let used = held.uses;
        let span = held.spans.entry(key).or_insert_with(|| Span {
            version,
            groups: HashMap::new(),
            complete,
            used,
            weight: 0,
        });
        span.used = used;
        let before = span.weight;
        if complete {
            span.complete = true;
            span.groups.clear();
            span.weight = 0;
        }
        for (value, parts) in groups {
            span.weight += weight(&parts);
            if let Some(old) = span.groups.insert(value, parts) {
                span.weight -= weight(&old);
            }
        }
        let after = span.weight;
        held.hashes = held.hashes - before + after;
    }
}

/// The aggregate read for a part: sets instead of counts of distinct values, and sums (`None`: it does not
/// merge). On sessions a visit is a row, so visits are counted like the rest.
fn part_agg(a: Agg, table: Table) -> Option<Agg> {
    match (a, table) {
        (Agg::Visitors, _) => Some(Agg::VisitorsSet),
        (Agg::Visits, Table::Events) => Some(Agg::VisitsSet),
        (Agg::Pageviews | Agg::Events | Agg::Sessions, _) => Some(a),
        (Agg::Visits | Agg::Bounces | Agg::BounceDen | Agg::Duration | Agg::SessionPageviews, Table::Sessions) => {
            Some(a)
        }
        _ => None,
    }
}

/// Whether groups of `d` can be kept: each decided by the row alone (time buckets have their own rollups;
/// place names are looked up).
fn keeps_groups_of(d: &Dimension) -> bool {
    !matches!(
        d,
        Dimension::TimeHour
            | Dimension::TimeDay
            | Dimension::TimeWeek
            | Dimension::TimeMonth
            | Dimension::CountryName
            | Dimension::RegionName
            | Dimension::CityName
    )
}

/// A read part's groups by value.
fn parts_of(groups: Vec<Group>) -> Option<HashMap<Value, Vec<Part>>> {
    let mut out = HashMap::new();
    for (dims, aggs) in groups {
        let value = Value::of_cells(&dims)?;
        let parts = aggs
            .iter()
            .map(|c| match c {
                Cell::Bytes(b) => UniqSet::from_bytes(b).map(|s| Part::Set(Arc::new(s))),
                Cell::Int(i) => Some(Part::Count(*i)),
                Cell::Null => Some(Part::Count(0)),
                _ => None,
            })
            .collect::<Option<Vec<Part>>>()?;
        out.insert(value, parts);
    }
    Some(out)
}

impl Planner<'_> {
    /// `aggregate`, with the span of the range kept where it applies (see the module documentation).
    pub(super) fn aggregate_kept(
        &mut self,
        table: Table,
        dims: &[Dimension],
        filters: &[Filter],
        aggs: &[Agg],
    ) -> Result<Vec<Group>, String> {
        if let Some(groups) = self.kept_span_groups(table, dims, filters, aggs, None)? {
            return Ok(groups);
        }
        self.aggregate(table, dims, filters, aggs)
    }

    /// `aggregate(table, [by], filters, aggs)` for only the groups whose value is in `values`.
    pub(super) fn aggregate_restricted(
        &mut self,
        table: Table,
        dims: &[Dimension],
        filters: &[Filter],
        aggs: &[Agg],
        values: Vec<Param>,
    ) -> Result<Vec<Group>, String> {
        if let Some(groups) = self.kept_span_groups(table, dims, filters, aggs, Some(&values))? {
            return Ok(groups);
        }
        self.restrict = Some(values);
        let groups = self.aggregate(table, dims, filters, aggs);
        self.restrict = None;
        groups
    }

    /// `aggregate` (restricted to `values` if given) with the range's span taken from kept sets (see the
    /// module documentation); `None` when they do not apply.
    fn kept_span_groups(
        &mut self,
        table: Table,
        dims: &[Dimension],
        filters: &[Filter],
        aggs: &[Agg],
        values: Option<&[Param]>,
    ) -> Result<Option<Vec<Group>>, String> {
        let runner = self.runner;
        let Some(rollups) = runner.period_rollups() else { return Ok(None) };
        let by = match dims {
            [] => None,
            [by] if keeps_groups_of(by) => Some(by.clone()),
            _ => return Ok(None),
        };
        let part_aggs: Option<Vec<Agg>> = aggs.iter().map(|a| part_agg(*a, table)).collect();
        let wanted = match values {
            Some(values) => match values.iter().map(Value::of).collect::<Option<Vec<_>>>() {
                Some(wanted) => Some(wanted),
                None => return Ok(None),
            },
            None => None,
        };
        let Some(part_aggs) = part_aggs else { return Ok(None) };
        if self.ctx.d.uniq_state("user_id").is_none() || !row_local(filters, table) {
            return Ok(None);
        }
        // The span: from the range's start (a partial first day is over too) to the end of its last whole day
        // that is over.
        let days = self.whole_past_buckets(&Dimension::TimeDay, self.q.now.naive_utc());
        let Some(tail) = days.last() else { return Ok(None) };
        let (from, to) = (self.ctx.first, tail.end);
        let goals = if by == Some(Dimension::Goal) { format!("{:?}", self.goal_list()) } else { String::new() };
        let key = SpanKey {
            site_id: self.ctx.site_id,
            table,
            aggs: aggs.to_vec(),
            filters: format!("{filters:?}"),
            by,
            goals,
            from,
            to,
        };
        if rollups.sets.oversized(&key) {
            return Ok(None);
        }
        if table == Table::Sessions && !self.sessions_run_forward()? {
            return Ok(None);
        }
        // The version first, then the rows (a kept span is never older than its version).
        let version = runner.data_version(self.ctx.site_id, table, from, to);
        let Found { groups: mut found, missing } = rollups.sets.get(&key, version, wanted.as_deref());
        let second = chrono::Duration::seconds(1);
        // The span reads the sessions whose last event is in it, the rest every session overlapping the rest:
        // with sessions running forward, each session of the range is in exactly one part.
        let read = |p: &mut Self, first: NaiveDateTime, last: NaiveDateTime, of: Option<&[Value]>, span: bool| {
            p.restrict = of.map(|of| of.iter().map(Value::param).collect());
            p.ctx.sessions_ending_in_range = span;
            let groups = p.aggregate_between(first, last, dims, table, filters, &part_aggs);
            p.ctx.sessions_ending_in_range = false;
            p.restrict = None;
            groups.map(parts_of)
        };
        match missing {
            Some(missing) if missing.is_empty() => {}
            Some(missing) => {
                let Some(mut fresh) = read(self, from, to - second, Some(&missing), true)? else { return Ok(None) };
                let groups: Vec<(Value, Parts)> =
                    missing.into_iter().map(|v| (v.clone(), fresh.remove(&v).map(Arc::new))).collect();
                found.extend(groups.iter().cloned());
                rollups.sets.put(key, version, groups, false);
            }
            None => {
                let Some(fresh) = read(self, from, to - second, None, true)? else { return Ok(None) };
                let groups: Vec<(Value, Parts)> = fresh.into_iter().map(|(v, p)| (v, Some(Arc::new(p)))).collect();
                found.extend(groups.iter().cloned());
                rollups.sets.put(key, version, groups, true);
            }
        }
        // The rest of the range.
        let rest = if to <= self.ctx.last {
            let Some(part) = read(self, to, self.ctx.last, wanted.as_deref(), false)? else { return Ok(None) };
            part
        } else {
            HashMap::new()
        };
        let order: Vec<&Value> = match &wanted {
            Some(wanted) => wanted.iter().collect(),
            None => found.keys().chain(rest.keys().filter(|v| !found.contains_key(*v))).collect(),
        };
        let mut out = Vec::new();
        for value in order {
            let pieces: Vec<&[Part]> = found
                .get(value)
                .and_then(|p| p.as_deref())
                .map(|p| p.as_slice())
                .into_iter()
                .chain(rest.get(value).map(|p| p.as_slice()))
                .collect();
            if pieces.is_empty() {
                continue;
            }
            let cells = (0..part_aggs.len())
                .map(|i| {
                    let mut count = 0i64;
                    let mut sets: Vec<&UniqSet> = Vec::new();
                    for piece in &pieces {
                        match piece.get(i) {
                            Some(Part::Count(n)) => count += n,
                            Some(Part::Set(s)) => sets.push(s),
                            None => {}
                        }
                    }
                    Cell::Int(if sets.is_empty() { count } else { UniqSet::estimate_union(&sets) as i64 })
                })
                .collect();
            out.push((value.cells(), cells));
        }
        Ok(Some(out))
    }
}
