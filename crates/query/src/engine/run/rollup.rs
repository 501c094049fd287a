//! Period rollups: the rows of a `time:day`, `time:week` or `time:month` series, kept per
//! site-local bucket (day, week, month) for buckets that are over, and reused while no write has touched the
//! rows under them.
//!
//! A bucket's row of such a series depends only on the rows stamped in that bucket (events by timestamp,
//! sessions by the bucket of their timestamp, which a range holding the whole bucket always admits). So a
//! query reads from the store only the buckets it has no valid rollup for, plus the ones still running, and
//! takes the rest from memory. Validity comes from the store's data versions (`tally_store::versions`):
//! the version of a day's instants is read before its rows are, so a kept row is never older than its
//! version. Any write to a bucket's days (live events, a bulk import, a deletion) makes its rollup stale.
//!
//! Filters are allowed when each decides on a row alone (`row_local`): a filter that reads other rows (an
//! event filter on sessions, an entry page on events, `has_done`), goals (their definitions can change
//! without a write) or place names is read from the store each time. The filters are part of the key.
//!
//! Only the main events and sessions aggregates of such a query use rollups. The rest of what it reads (the
//! totals behind percentages and conversion rates, which may come from kept spans (`sets`), time on page,
//! scroll depth, imported rows) is read as for any other query. After a write to a bucket in the middle of a range, the range is
//! read from that bucket on, and the buckets after it are kept again. A partial first day is kept too, from
//! the range's start (under that instant). A partial first week or month keeps its label (the range's first
//! date) and is read each time, as is a partial last bucket.
//!
//! Top-N breakdowns by page, entry page or exit page bound each group by its row count before counting
//! visitors (`top_groups`); those counts are kept the same way, per site-local day and group, and summed
//! over the range (additive, so exact). Sessions count in the day of their last event, which adds up to
//! the range's count only while every session runs forward in time (checked). A breakdown whose days hold
//! more groups than a quarter of the room is not kept, and is read plainly from then on. The candidates'
//! own aggregates (visitor sets and counts), like those of other breakdowns, are kept over the range's whole
//! past days, in a room of their own (`sets`).
//!
//! The same structure keeps one more fact per site: that no stored session ends before it starts (which
//! lets the totals behind percentages and conversion rates come from sessions). It holds until a write may
//! store such a session (the store's session-order version).

use super::sets::KeptSets;
use super::{offsets, Agg, Group, Planner};
use crate::ast::{Dimension, Filter};
use crate::engine::sql::Table;
use crate::parse::date_range::local_instant;
use chrono::{Datelike, NaiveDate, NaiveDateTime, TimeZone};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, Weak};

#[derive(Clone, PartialEq, Eq, Hash)]
struct BucketKey {
    site_id: i64,
    table: Table,
    timezone: chrono_tz::Tz,
    aggs: Vec<Agg>,
    /// The query's filters (all row-local), spelled out.
    filters: String,
    /// `TimeDay`, `TimeWeek` or `TimeMonth`.
    dim: Dimension,
    /// The dimension grouped by within each bucket, if any (the row counts of top-N breakdowns).
    by: Option<Dimension>,
    /// The bucket's first day.
    date: NaiveDate,
    /// The bucket's first instant: the range's start for a partial first day.
    start: NaiveDateTime,
}

#[derive(Default)]
struct Kept {
    /// Per key: the data version the rows were read at, and the bucket's rows (none: it had no rows).
    rows: HashMap<BucketKey, (u64, Arc<Vec<Group>>)>,
    /// Rows held, an empty bucket counting as one.
    held: usize,
}

/// The rollups of one event store, shared by all its queries.
pub struct PeriodRollups {
    rows: Mutex<Kept>,
    /// Rows kept at most (each a few numbers); beyond this all are dropped and rebuilt.
    max_rows: usize,
    /// Per site: the session-order version at which no stored session ended before it started (the check
    /// that lets visitor totals come from sessions; a scan of all the site's sessions).
    sessions_forward: Mutex<HashMap<i64, u64>>,
    /// Per site: the row counts (table, dimension and filters spelled out) whose days had more groups than
    /// a quarter of `max_rows`. Kept, they would push everything else out; they are read plainly instead.
    oversized: Mutex<HashSet<(i64, String)>>,
    /// The kept spans (`sets`), in a room of `max_rows × HASHES_PER_ROW` hashes.
    pub(super) sets: KeptSets,
    /// Per site and row count (with the range's start): the kept days' rows last summed (weak: the sum
    /// holds none of them alive, and a dropped one never matches again), and their sum.
    sums: Mutex<HashMap<(i64, String), KeptSum>>,
}

type KeptSum = (Vec<Weak<Vec<Group>>>, Arc<Vec<(super::Cell, i64)>>);

/// Sums of kept days remembered at most (each a few hundred groups).
const MAX_SUMS: usize = 256;

/// Hashes (8 bytes) the kept sets may hold per row of room (a kept row takes a few hundred bytes).
const HASHES_PER_ROW: usize = 32;

impl PeriodRollups {
    pub fn new(max_rows: usize) -> Self {
        PeriodRollups {
            rows: Mutex::default(),
            max_rows,
            sessions_forward: Mutex::default(),
            oversized: Mutex::default(),
            sets: KeptSets::new(max_rows.saturating_mul(HASHES_PER_ROW)),
            sums: Mutex::default(),
        }
    }

    /// The sum last kept for these kept days (the very same rows, in the same order).
    fn kept_sum(&self, site_id: i64, what: &str, days: &[Arc<Vec<Group>>]) -> Option<Arc<Vec<(super::Cell, i64)>>> {
        let sums = self.sums.lock().unwrap_or_else(|e| e.into_inner());
        let (of, sum) = sums.get(&(site_id, what.to_string()))?;
        let same = of.len() == days.len() && of.iter().zip(days).all(|(w, a)| std::ptr::eq(w.as_ptr(), Arc::as_ptr(a)));
        same.then(|| sum.clone())
    }

    fn keep_sum(&self, site_id: i64, what: String, days: &[Arc<Vec<Group>>], sum: Arc<Vec<(super::Cell, i64)>>) {
        let mut sums = self.sums.lock().unwrap_or_else(|e| e.into_inner());
        if sums.len() >= MAX_SUMS {
            sums.clear();
        }
        sums.insert((site_id, what), (days.iter().map(Arc::downgrade).collect(), sum));
    }

    pub(super) fn sessions_forward_at(&self, site_id: i64) -> Option<u64> {
        self.sessions_forward.lock().unwrap_or_else(|e| e.into_inner()).get(&site_id).copied()
    }

    pub(super) fn keep_sessions_forward(&self, site_id: i64, version: u64) {
        self.sessions_forward.lock().unwrap_or_else(|e| e.into_inner()).insert(site_id, version);
    }

    fn oversized(&self, site_id: i64, what: &str) -> bool {
        self.oversized.lock().unwrap_or_else(|e| e.into_inner()).contains(&(site_id, what.to_string()))
    }

    fn get(&self, key: &BucketKey, version: u64) -> Option<Arc<Vec<Group>>> {
        let kept = self.rows.lock().unwrap_or_else(|e| e.into_inner());
        kept.rows.get(key).filter(|(v, _)| *v == version).map(|(_, g)| g.clone())
    }

    fn put(&self, key: BucketKey, version: u64, groups: Arc<Vec<Group>>) {
        let mut kept = self.rows.lock().unwrap_or_else(|e| e.into_inner());
        let n = groups.len().max(1);
        if kept.held + n > self.max_rows {
            *kept = Kept::default();
        }
        if let Some((_, old)) = kept.rows.insert(key, (version, groups)) {
            kept.held -= old.len().max(1);
        }
        kept.held += n;
    }
}

/// A whole site-local bucket inside the range that is over (or a partial first day, from the range's start):
/// its first date and UTC instants `[start, end)`.
pub(super) struct Bucket {
    date: NaiveDate,
    pub(super) start: NaiveDateTime,
    pub(super) end: NaiveDateTime,
}

/// The row counts of `[day, group]` rows summed per group, on top of `base`; `None` if a row is not one.
fn sum_counts<'a>(
    chunks: impl Iterator<Item = &'a [Group]>,
    base: &'a [(super::Cell, i64)],
) -> Option<Vec<(super::Cell, i64)>> {
    #[derive(PartialEq, Eq, Hash)]
    enum Value<'a> {
        Text(&'a str),
        Int(i64),
    }
    let value = |cell: &'a super::Cell| match cell {
        super::Cell::Text(t) => Some(Value::Text(t)),
        super::Cell::Int(i) => Some(Value::Int(*i)),
        _ => None,
    };
    let mut sums: HashMap<Value, (&super::Cell, i64)> = HashMap::new();
    for (cell, n) in base {
        sums.insert(value(cell)?, (cell, *n));
    }
    for (dims, aggs) in chunks.flat_map(|c| c.iter()) {
        let (cell, n) = (dims.get(1)?, aggs.first().and_then(super::Cell::f64)?);
        sums.entry(value(cell)?).or_insert((cell, 0)).1 += n as i64;
    }
    Some(sums.into_values().map(|(cell, n)| (cell.clone(), n)).collect())
}

/// What a row-count rollup counts, spelled out (for [`PeriodRollups::oversized`]).
fn counted(table: Table, by: &Dimension, filters: &[Filter]) -> String {
    format!("{table:?} {by:?} {filters:?}")
}

/// Groups with the bucket date each is for (`None` if a date cannot be read back).
fn dated(groups: Vec<Group>) -> Option<Vec<(NaiveDate, Group)>> {
    groups
        .into_iter()
        .map(|g| match g.0.first() {
            Some(super::Cell::Text(t)) => Some((t.parse::<NaiveDate>().ok()?, g)),
            _ => None,
        })
        .collect()
}

/// Whether every filter decides on each row of `table` alone, from the row's own columns and the filter's
/// values (see the module documentation).
pub(super) fn row_local(filters: &[Filter], table: Table) -> bool {
    let allowed = |d: &Dimension| match d {
        Dimension::Goal
        | Dimension::CountryName
        | Dimension::RegionName
        | Dimension::CityName
        | Dimension::TimeHour
        | Dimension::TimeDay
        | Dimension::TimeWeek
        | Dimension::TimeMonth => false,
        Dimension::EntryPage | Dimension::ExitPage | Dimension::EntryPageHostname | Dimension::ExitPageHostname => {
            table == Table::Sessions
        }
        d if d.is_event() => table == Table::Events,
        _ => true,
    };
    let mut ok = true;
    for f in filters {
        f.visit(0, false, &mut |leaf, _, behavioural| {
            ok &= !behavioural && leaf.dimension().is_some_and(allowed);
        });
    }
    ok
}

impl Planner<'_> {
    /// `aggregate` of a `time:day`, `time:week` or `time:month` series (`dim`), with the buckets
    /// that are over taken from the runner's rollups where still valid (see the module documentation).
    pub(super) fn aggregate_periods(
        &mut self,
        dim: &Dimension,
        table: Table,
        filters: &[Filter],
        aggs: &[Agg],
    ) -> Result<Vec<Group>, String> {
        match self.aggregate_by_bucket(dim, None, table, filters, aggs)? {
            Some(chunks) => Ok(chunks.iter().flat_map(|c| c.iter().cloned()).collect()),
            None => self.aggregate(table, std::slice::from_ref(dim), filters, aggs),
        }
    }

    /// The row count of each group of `by` over the query's range (the bounds of a top-N breakdown), as
    /// `aggregate(table, [by], filters, [Sessions])` gives it, summed over site-local days kept like a day
    /// series. `None` when rollups do not apply. A session counts in the day of its last event, so the days
    /// add up to the range's count only when every session runs forward in time (checked, and kept).
    pub(super) fn row_counts_by_day(
        &mut self,
        by: &Dimension,
        table: Table,
        filters: &[Filter],
    ) -> Result<Option<Vec<Group>>, String> {
        let by_value_alone = !matches!(
            by,
            Dimension::Goal
                | Dimension::CityName
                | Dimension::TimeHour
                | Dimension::TimeDay
                | Dimension::TimeWeek
                | Dimension::TimeMonth
        );
        let Some(rollups) = self.runner.period_rollups() else { return Ok(None) };
        if !by_value_alone
            || !row_local(filters, table)
            || rollups.oversized(self.ctx.site_id, &counted(table, by, filters))
        {
            return Ok(None);
        }
        if table == Table::Sessions && !self.sessions_run_forward()? {
            return Ok(None);
        }
        let Some(chunks) = self.aggregate_by_bucket(&Dimension::TimeDay, Some(by), table, filters, &[Agg::Sessions])?
        else {
            return Ok(None);
        };
        // The kept days (between the part read before them and the rows read after) are summed once for the
        // same kept rows: tens of thousands of rows over a long range.
        let (site_id, what) = (self.ctx.site_id, format!("{} {:?}", counted(table, by, filters), self.ctx.first));
        // `aggregate_by_bucket` gives the part before the first whole day, the whole days (kept before or now),
        // and the rest of the range.
        let Some((part, rest)) = chunks.split_first() else { return Ok(None) };
        let Some((fresh, kept)) = rest.split_last() else { return Ok(None) };
        let memo = rollups.kept_sum(site_id, &what, kept);
        let base = match memo {
            Some(sum) => sum,
            None => {
                let Some(sum) = sum_counts(kept.iter().map(|c| c.as_slice()), &[]) else { return Ok(None) };
                let sum = Arc::new(sum);
                rollups.keep_sum(site_id, what, kept, sum.clone());
                sum
            }
        };
        Ok(sum_counts([part.as_slice(), fresh.as_slice()].into_iter(), &base)
            .map(|sum| sum.into_iter().map(|(cell, n)| (vec![cell], vec![super::Cell::Int(n)])).collect()))
    }

    /// The groups of `[period, by]` (or `[period]`) over the query's range, with the whole buckets that are
    /// over taken from the runner's rollups where still valid, in chunks (kept ones shared with the rollups);
    /// `None` when rollups do not apply.
    fn aggregate_by_bucket(
        &mut self,
        period: &Dimension,
        by: Option<&Dimension>,
        table: Table,
        filters: &[Filter],
        aggs: &[Agg],
    ) -> Result<Option<Vec<Arc<Vec<Group>>>>, String> {
        let dims: Vec<Dimension> = std::iter::once(period.clone()).chain(by.cloned()).collect();
        let runner = self.runner;
        let Some(rollups) = runner.period_rollups().filter(|_| row_local(filters, table)) else {
            return Ok(None);
        };
        let (first, last) = (self.ctx.first, self.ctx.last);
        let buckets = self.whole_past_buckets(period, self.q.now.naive_utc());
        let (Some(head), Some(tail)) = (buckets.first(), buckets.last()) else {
            return Ok(None);
        };
        let (site_id, timezone, spelled) = (self.ctx.site_id, self.q.timezone, format!("{filters:?}"));
        let key = |date: NaiveDate, start: NaiveDateTime| BucketKey {
            site_id,
            table,
            timezone,
            aggs: aggs.to_vec(),
            filters: spelled.clone(),
            dim: period.clone(),
            by: by.cloned(),
            date,
            start,
        };
        // Versions first, then rows (a rollup is never older than the version it is kept under).
        let mut kept: Vec<(&Bucket, Arc<Vec<Group>>)> = Vec::new();
        let mut missing: Vec<(&Bucket, u64)> = Vec::new();
        let mut probe = key(head.date, head.start);
        for d in &buckets {
            let version = runner.data_version(site_id, table, d.start, d.end);
            (probe.date, probe.start) = (d.date, d.start);
            match rollups.get(&probe, version) {
                Some(groups) => kept.push((d, groups)),
                None => missing.push((d, version)),
            }
        }
        // Read from the store: the part of a bucket before the whole buckets (its own rows only: sessions
        // ending in later buckets belong to those buckets' rows), and everything from the first bucket without
        // a rollup (or after the last whole bucket) to the end of the range.
        let part = if first < head.start {
            self.aggregate_between(first, head.start - chrono::Duration::seconds(1), &dims, table, filters, aggs)?
        } else {
            Vec::new()
        };
        let from = missing.first().map_or(tail.end, |(d, _)| d.start);
        let fresh =
            if from <= last { self.aggregate_between(from, last, &dims, table, filters, aggs)? } else { Vec::new() };
        let (Some(part), Some(fresh)) = (dated(part), dated(fresh)) else {
            // Rows whose bucket cannot be read back cannot be kept by bucket.
            return Ok(None);
        };
        if let Some(by) = by.filter(|_| {
            let dates: HashSet<NaiveDate> = missing.iter().map(|(d, _)| d.date).collect();
            let new = fresh.iter().filter(|(date, _)| dates.contains(date)).count();
            new > rollups.max_rows / 4
        }) {
            let what = counted(table, by, filters);
            let mut oversized = rollups.oversized.lock().unwrap_or_else(|e| e.into_inner());
            // One entry per filter combination asked: bounded like the rows.
            if oversized.len() >= rollups.max_rows {
                oversized.clear();
            }
            oversized.insert((site_id, what));
            missing.clear();
        }
        let part: Vec<Group> = part.into_iter().filter(|(date, _)| *date < head.date).map(|(_, g)| g).collect();
        let mut chunks = vec![Arc::new(part)];
        // One chunk per whole bucket, the very rows kept for it (kept before, or read now and kept from now on),
        // so that what is derived from kept rows, such as the kept sums, is derived once; then a last chunk for
        // the rest of the range. (Buckets from `from` on were read again: a kept one keeps its kept rows.)
        let versions: HashMap<NaiveDate, u64> = missing.iter().map(|(d, v)| (d.date, *v)).collect();
        let mut kept: HashMap<NaiveDate, Arc<Vec<Group>>> = kept.into_iter().map(|(d, g)| (d.date, g)).collect();
        let mut by_date: BTreeMap<NaiveDate, Vec<Group>> = BTreeMap::new();
        for (date, g) in fresh {
            by_date.entry(date).or_default().push(g);
        }
        for d in &buckets {
            let read = by_date.remove(&d.date);
            let groups = match kept.remove(&d.date) {
                Some(groups) => groups,
                None => Arc::new(read.unwrap_or_default()),
            };
            if let Some(version) = versions.get(&d.date) {
                rollups.put(key(d.date, d.start), *version, groups.clone());
            }
            chunks.push(groups);
        }
        chunks.push(Arc::new(by_date.into_values().flatten().collect()));
        Ok(Some(chunks))
    }

    /// The site-local buckets (days, weeks or months) wholly inside the queried range that ended before `now`,
    /// in order; for days, a partial first day that ended before `now` too, from the range's start.
    pub(super) fn whole_past_buckets(&self, dim: &Dimension, now: NaiveDateTime) -> Vec<Bucket> {
        let tz = self.q.timezone;
        let partial_day = !matches!(dim, Dimension::TimeWeek | Dimension::TimeMonth);
        // A day starts at its first midnight, or where the clocks land when they jump over midnight.
        let start_of = |d: NaiveDate| {
            let midnight = d.and_hms_opt(0, 0, 0)?;
            let first = tz.from_local_datetime(&midnight).earliest();
            Some(first.unwrap_or_else(|| local_instant(tz, midnight, true)).naive_utc())
        };
        let (first, last) = (self.ctx.first, self.ctx.last);
        let local = tz.from_utc_datetime(&first).date_naive();
        let (mut date, step): (NaiveDate, fn(NaiveDate) -> Option<NaiveDate>) = match dim {
            Dimension::TimeWeek => {
                (local - chrono::Duration::days(local.weekday().num_days_from_monday().into()), |d| {
                    d.checked_add_days(chrono::Days::new(7))
                })
            }
            Dimension::TimeMonth => {
                (local.with_day(1).unwrap_or(local), |d| d.checked_add_months(chrono::Months::new(1)))
            }
            _ => (local, |d| d.succ_opt()),
        };
        let mut out = Vec::new();
        // Each bucket starts where the one before it ends: one zone lookup per bucket.
        let mut bucket_start = start_of(date);
        while let (Some(start), Some(next)) = (bucket_start, step(date)) {
            // Timestamps are whole seconds: a range ending at 23:59:59 holds the whole last day.
            let Some(end) = start_of(next) else { break };
            if end > now || end - chrono::Duration::seconds(1) > last {
                break;
            }
            if start >= first {
                out.push(Bucket { date, start, end });
            } else if partial_day && first < end {
                // A partial first day is over too: kept from the range's start. (A partial first week or month
                // is labelled with the range's first date instead of its own, and is read each time.)
                out.push(Bucket { date, start: first, end });
            }
            (date, bucket_start) = (next, Some(end));
        }
        out
    }

    /// `aggregate` over `[from, to]` instead of the query's range.
    pub(super) fn aggregate_between(
        &mut self,
        from: NaiveDateTime,
        to: NaiveDateTime,
        dims: &[Dimension],
        table: Table,
        filters: &[Filter],
        aggs: &[Agg],
    ) -> Result<Vec<Group>, String> {
        let saved = (self.ctx.first, self.ctx.last, std::mem::take(&mut self.ctx.offsets));
        self.ctx.first = from;
        self.ctx.last = to;
        self.ctx.offsets = offsets(self.q.timezone, from.min(to), to.max(from));
        let groups = self.aggregate(table, dims, filters, aggs);
        (self.ctx.first, self.ctx.last, self.ctx.offsets) = saved;
        groups
    }
}
