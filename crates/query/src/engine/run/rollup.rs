//! Day rollups: the rows of an unfiltered `time:day` series, kept per site-local day for days that are
//! over, and reused while no write has touched the rows under them.
//!
//! A day's row of such a series depends only on the rows stamped in that day (events by timestamp,
//! sessions by the bucket of their timestamp, which a range holding the whole day always admits). So a
//! query reads from the store only the days it has no valid rollup for, plus the days still running, and
//! takes the rest from memory. Validity comes from the store's data versions (`tally_store::versions`):
//! the version of a day's instants is read before its rows are, so a kept row is never older than its
//! version. Any write to a day (live events, a bulk import, a deletion) makes its rollup stale.
//!
//! Only the main events and sessions aggregates of an unfiltered `time:day` query use rollups. The rest of
//! what such a query reads (the totals behind percentages and conversion rates, time on page, scroll depth,
//! imported rows) and every other query read the store as before. After a write to a day in the middle of
//! a range, the range is read from that day on, and the days after it are kept again.

use super::{offsets, Agg, Group, Planner};
use crate::ast::Dimension;
use crate::engine::sql::Table;
use chrono::{NaiveDate, NaiveDateTime, TimeZone};
use std::collections::HashMap;
use std::sync::Mutex;

/// Rollups kept at most (each is one row of a few numbers); beyond this all are dropped and rebuilt.
const MAX_ROLLUPS: usize = 200_000;

#[derive(Clone, PartialEq, Eq, Hash)]
struct DayKey {
    site_id: i64,
    table: Table,
    timezone: chrono_tz::Tz,
    aggs: Vec<Agg>,
    date: NaiveDate,
}

/// The day rollups of one event store, shared by all its queries.
#[derive(Default)]
pub struct DayRollups {
    /// Per key: the data version the row was read at, and the row (`None`: the day had no rows).
    days: Mutex<HashMap<DayKey, (u64, Option<Group>)>>,
}

impl DayRollups {
    fn get(&self, key: &DayKey, version: u64) -> Option<Option<Group>> {
        let days = self.days.lock().unwrap_or_else(|e| e.into_inner());
        days.get(key).filter(|(v, _)| *v == version).map(|(_, g)| g.clone())
    }

    fn put(&self, key: DayKey, version: u64, group: Option<Group>) {
        let mut days = self.days.lock().unwrap_or_else(|e| e.into_inner());
        if days.len() >= MAX_ROLLUPS {
            days.clear();
        }
        days.insert(key, (version, group));
    }
}

/// A whole site-local day inside the range that is over: its date and UTC instants `[start, end)`.
struct Day {
    date: NaiveDate,
    start: NaiveDateTime,
    end: NaiveDateTime,
}

/// Groups with the day each is for (`None` if a day cannot be read back).
fn dated(groups: Vec<Group>) -> Option<Vec<(NaiveDate, Group)>> {
    groups
        .into_iter()
        .map(|g| match g.0.first() {
            Some(super::Cell::Text(t)) => Some((t.parse::<NaiveDate>().ok()?, g)),
            _ => None,
        })
        .collect()
}

impl Planner<'_> {
    /// `aggregate` of an unfiltered `time:day` series, with the days that are over taken from the runner's
    /// day rollups where still valid (see the module documentation).
    pub(super) fn aggregate_days(&mut self, table: Table, aggs: &[Agg]) -> Result<Vec<Group>, String> {
        let dims = [Dimension::TimeDay];
        let runner = self.runner;
        let Some(rollups) = runner.day_rollups() else { return self.aggregate(table, &dims, &[], aggs) };
        let (first, last) = (self.ctx.first, self.ctx.last);
        let days = self.whole_past_days(chrono::Utc::now().naive_utc());
        let (Some(head), Some(tail)) = (days.first(), days.last()) else {
            return self.aggregate(table, &dims, &[], aggs);
        };
        let (site_id, timezone) = (self.ctx.site_id, self.q.timezone);
        let key = |date: NaiveDate| DayKey { site_id, table, timezone, aggs: aggs.to_vec(), date };
        // Versions first, then rows (a rollup is never older than the version it is kept under).
        let mut kept: Vec<(&Day, Option<Group>)> = Vec::new();
        let mut missing: Vec<(&Day, u64)> = Vec::new();
        let mut probe = key(head.date);
        for d in &days {
            let version = runner.data_version(site_id, d.start, d.end);
            probe.date = d.date;
            match rollups.get(&probe, version) {
                Some(group) => kept.push((d, group)),
                None => missing.push((d, version)),
            }
        }
        // Read from the store: the part of a day before the whole days (its own row only: sessions ending on
        // later days belong to those days' rows), and everything from the first day without a rollup (or
        // after the last whole day) to the end of the range.
        let part = if first < head.start {
            self.aggregate_between(first, head.start - chrono::Duration::seconds(1), table, aggs)?
        } else {
            Vec::new()
        };
        let from = missing.first().map_or(tail.end, |(d, _)| d.start);
        let fresh = if from <= last { self.aggregate_between(from, last, table, aggs)? } else { Vec::new() };
        let (Some(part), Some(fresh)) = (dated(part), dated(fresh)) else {
            // Rows whose day cannot be read back cannot be kept by day.
            return self.aggregate(table, &dims, &[], aggs);
        };
        for (d, version) in missing {
            let group = fresh.iter().find(|(date, _)| *date == d.date).map(|(_, g)| g.clone());
            rollups.put(key(d.date), version, group);
        }
        let mut groups: Vec<Group> = part.into_iter().filter(|(date, _)| *date < head.date).map(|(_, g)| g).collect();
        // Days from `from` on were read again.
        groups.extend(kept.into_iter().filter(|(d, _)| d.start < from).filter_map(|(_, g)| g));
        groups.extend(fresh.into_iter().map(|(_, g)| g));
        Ok(groups)
    }

    /// The site-local days wholly inside the queried range that ended before `now`, in order.
    fn whole_past_days(&self, now: NaiveDateTime) -> Vec<Day> {
        let tz = self.q.timezone;
        let start_of =
            |d: NaiveDate| tz.from_local_datetime(&d.and_hms_opt(0, 0, 0)?).earliest().map(|t| t.naive_utc());
        let (first, last) = (self.ctx.first, self.ctx.last);
        let mut out = Vec::new();
        let mut date = tz.from_utc_datetime(&first).date_naive();
        while let (Some(start), Some(next)) = (start_of(date), date.succ_opt()) {
            // Timestamps are whole seconds: a range ending at 23:59:59 holds the whole day.
            let Some(end) = start_of(next) else { break };
            if end > now || end - chrono::Duration::seconds(1) > last {
                break;
            }
            if start >= first {
                out.push(Day { date, start, end });
            }
            date = next;
        }
        out
    }

    /// `aggregate` over `[from, to]` instead of the query's range.
    fn aggregate_between(
        &mut self,
        from: NaiveDateTime,
        to: NaiveDateTime,
        table: Table,
        aggs: &[Agg],
    ) -> Result<Vec<Group>, String> {
        let saved = (self.ctx.first, self.ctx.last, std::mem::take(&mut self.ctx.offsets));
        self.ctx.first = from;
        self.ctx.last = to;
        self.ctx.offsets = offsets(self.q.timezone, from.min(to), to.max(from));
        let groups = self.aggregate(table, &[Dimension::TimeDay], &[], aggs);
        (self.ctx.first, self.ctx.last, self.ctx.offsets) = saved;
        groups
    }
}
