//! Kept sets of the candidates of a top-N breakdown: the visitor (and visit) sets and the counts of each
//! candidate group over the whole past days of a range, merged at query time with the rest of the range.
//!
//! A top-N breakdown by page, entry page or exit page (`top_groups`) counts visitors for its candidate
//! groups only, but over every row of the range: at 10M events that is most of a top-pages query. `uniq`'s set is a function of the
//! values alone, so the set of a range is exactly the merge of the sets of its parts. Here the part from the
//! range's start to the end of its last whole site-local day that is over (the span) is kept per candidate
//! group, as the set itself (`Dialect::uniq_state`) and as counts; each request reads the rest (the current
//! day, or a partial last day) and merges. Validity comes from the store's data version over the span, read before the
//! rows, as for period rollups: any write to the span's days makes every kept group of it stale.
//!
//! Only filters that decide on a row alone qualify, and only aggregates that merge exactly: `uniq` sets, and
//! on events row counts. On sessions (entry and exit pages) only visitor sets are kept: a session belongs to
//! every part of the range it overlaps, which a set absorbs but a count would not. The parts' sets make the
//! range's only while every session runs forward (then a session overlapping the range overlaps one of its
//! parts; a backward one could fall between two), which is checked and kept as for the row counts. A write of
//! a session touches every day from its start to its last event, so a session entering, leaving or changing
//! within a span always changes the span's version.
//!
//! The room is counted in hashes (8 bytes each; a set holds at most 65,536), separately from the period
//! rollups' rows; when full, the kept sets are dropped and rebuilt.

use super::rollup::row_local;
use super::{Agg, Cell, Group, Planner};
use crate::ast::{Dimension, Filter};
use crate::engine::sql::{Param, Table};
use chrono::NaiveDateTime;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tally_uniq::UniqSet;

/// What a kept span is of: everything but the candidate group.
#[derive(Clone, PartialEq, Eq, Hash)]
struct SpanKey {
    site_id: i64,
    table: Table,
    aggs: Vec<Agg>,
    /// The query's filters (all row-local), spelled out.
    filters: String,
    by: Dimension,
    /// The span's UTC instants `[from, to)`: the range's start to the end of a site-local day.
    from: NaiveDateTime,
    to: NaiveDateTime,
}

/// A candidate group's value (what `Planner::restrict` matches).
#[derive(Clone, PartialEq, Eq, Hash)]
enum Value {
    Text(String),
    Int(i64),
}

impl Value {
    fn of(p: &Param) -> Option<Value> {
        match p {
            Param::Text(t) => Some(Value::Text(t.clone())),
            Param::Int(i) => Some(Value::Int(*i)),
            _ => None,
        }
    }
    fn of_cell(c: &Cell) -> Option<Value> {
        match c {
            Cell::Text(t) => Some(Value::Text(t.clone())),
            Cell::Int(i) => Some(Value::Int(*i)),
            _ => None,
        }
    }
    fn param(&self) -> Param {
        match self {
            Value::Text(t) => Param::Text(t.clone()),
            Value::Int(i) => Param::Int(*i),
        }
    }
    fn cell(&self) -> Cell {
        match self {
            Value::Text(t) => Cell::Text(t.clone()),
            Value::Int(i) => Cell::Int(*i),
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
}

#[derive(Default)]
struct Held {
    spans: HashMap<SpanKey, Span>,
    /// Hashes held, a group counting at least one.
    hashes: usize,
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

impl KeptSets {
    pub(super) fn new(max_hashes: usize) -> Self {
        KeptSets { held: Mutex::default(), max_hashes }
    }

    /// The kept groups of `key` at `version` among `values`, and the values not kept.
    fn get(&self, key: &SpanKey, version: u64, values: &[Value]) -> (HashMap<Value, Parts>, Vec<Value>) {
        let held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        let span = held.spans.get(key).filter(|s| s.version == version);
        let mut found = HashMap::new();
        let mut missing = Vec::new();
        for v in values {
            match span.and_then(|s| s.groups.get(v)) {
                Some(parts) => {
                    found.insert(v.clone(), parts.clone());
                }
                None => missing.push(v.clone()),
            }
        }
        (found, missing)
    }

    fn put(&self, key: SpanKey, version: u64, groups: Vec<(Value, Parts)>) {
        let added: usize = groups.iter().map(|(_, p)| weight(p)).sum();
        if added > self.max_hashes {
            return;
        }
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        if held.hashes + added > self.max_hashes {
            *held = Held::default();
        }
        let stale = held.spans.get(&key).is_some_and(|s| s.version != version);
        if stale {
            if let Some(old) = held.spans.remove(&key) {
                held.hashes -= old.groups.values().map(weight).sum::<usize>();
            }
        }
        let span = held.spans.entry(key).or_insert_with(|| Span { version, groups: HashMap::new() });
        let mut delta: isize = 0;
        for (value, parts) in groups {
            delta += weight(&parts) as isize;
            if let Some(old) = span.groups.insert(value, parts) {
                delta -= weight(&old) as isize;
            }
        }
        held.hashes = held.hashes.saturating_add_signed(delta);
    }
}

/// The aggregate read for a part: sets instead of counts of distinct values (`None`: it does not merge).
/// Parts of a range share the sessions that overlap both, so on sessions only sets merge.
fn part_agg(a: Agg, table: Table) -> Option<Agg> {
    match (a, table) {
        (Agg::Visitors, _) => Some(Agg::VisitorsSet),
        (Agg::Visits, Table::Events) => Some(Agg::VisitsSet),
        (Agg::Pageviews | Agg::Events | Agg::Sessions, Table::Events) => Some(a),
        _ => None,
    }
}

/// A read part's groups by value.
fn parts_of(groups: Vec<Group>) -> Option<HashMap<Value, Vec<Part>>> {
    let mut out = HashMap::new();
    for (dims, aggs) in groups {
        let value = Value::of_cell(dims.first()?)?;
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
    /// `aggregate(table, [by], filters, aggs)` for only the groups whose value is in `values`.
    pub(super) fn aggregate_restricted(
        &mut self,
        table: Table,
        dims: &[Dimension],
        filters: &[Filter],
        aggs: &[Agg],
        values: Vec<Param>,
    ) -> Result<Vec<Group>, String> {
        if let Some(groups) = self.restricted_from_sets(table, dims, filters, aggs, &values)? {
            return Ok(groups);
        }
        self.restrict = Some(values);
        let groups = self.aggregate(table, dims, filters, aggs);
        self.restrict = None;
        groups
    }

    /// `aggregate_restricted` with the whole past days taken from kept sets (see the module documentation);
    /// `None` when they do not apply.
    fn restricted_from_sets(
        &mut self,
        table: Table,
        dims: &[Dimension],
        filters: &[Filter],
        aggs: &[Agg],
        values: &[Param],
    ) -> Result<Option<Vec<Group>>, String> {
        let runner = self.runner;
        let (Some(rollups), [by]) = (runner.period_rollups(), dims) else { return Ok(None) };
        let part_aggs: Option<Vec<Agg>> = aggs.iter().map(|a| part_agg(*a, table)).collect();
        let (Some(part_aggs), Some(wanted)) = (part_aggs, values.iter().map(Value::of).collect::<Option<Vec<_>>>())
        else {
            return Ok(None);
        };
        if self.ctx.d.uniq_state("user_id").is_none() || !row_local(filters, table) {
            return Ok(None);
        }
        if table == Table::Sessions && !self.sessions_run_forward()? {
            return Ok(None);
        }
        // The span: from the range's start (a partial first day is over too) to the end of its last whole day
        // that is over.
        let days = self.whole_past_buckets(&Dimension::TimeDay, self.q.now.naive_utc());
        let Some(tail) = days.last() else { return Ok(None) };
        let (from, to) = (self.ctx.first, tail.end);
        let key = SpanKey {
            site_id: self.ctx.site_id,
            table,
            aggs: aggs.to_vec(),
            filters: format!("{filters:?}"),
            by: by.clone(),
            from,
            to,
        };
        // The version first, then the rows (a kept span is never older than its version).
        let version = runner.data_version(self.ctx.site_id, from, to);
        let (mut found, missing) = rollups.sets.get(&key, version, &wanted);
        let second = chrono::Duration::seconds(1);
        let read = |p: &mut Self, first: NaiveDateTime, last: NaiveDateTime, of: &[Value]| {
            p.restrict = Some(of.iter().map(Value::param).collect());
            let groups = p.aggregate_between(first, last, dims, table, filters, &part_aggs);
            p.restrict = None;
            groups.map(parts_of)
        };
        if !missing.is_empty() {
            let Some(mut fresh) = read(self, from, to - second, &missing)? else { return Ok(None) };
            let groups: Vec<(Value, Parts)> =
                missing.into_iter().map(|v| (v.clone(), fresh.remove(&v).map(Arc::new))).collect();
            found.extend(groups.iter().cloned());
            rollups.sets.put(key, version, groups);
        }
        // The rest of the range.
        let mut rest: Vec<HashMap<Value, Vec<Part>>> = Vec::new();
        if to <= self.ctx.last {
            let Some(part) = read(self, to, self.ctx.last, &wanted)? else { return Ok(None) };
            rest.push(part);
        }
        let mut out = Vec::new();
        for value in wanted {
            let pieces: Vec<&[Part]> = found
                .get(&value)
                .and_then(|p| p.as_deref())
                .into_iter()
                .map(|p| p.as_slice())
                .chain(rest.iter().filter_map(|r| r.get(&value)).map(|p| p.as_slice()))
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
            out.push((vec![value.cell()], cells));
        }
        Ok(Some(out))
    }
}
