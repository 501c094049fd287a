//! Data versions: a number per site and UTC day that changes whenever a write touches that day's rows.
//!
//! Readers that remember results computed from stored rows (the query engine's period rollups) read the
//! version of the instants their rows came from *before* reading the rows, and keep a result only while the
//! version is unchanged. Writers bump the versions *after* committing. A reader therefore never pairs a
//! version with rows older than it: at worst it pairs an old version with new rows, and recomputes.
//!
//! Versions live in memory: after a restart every version starts again, and so does every remembered
//! result (they are in memory too). Backend-independent, so every event store can keep them the same way.

use crate::model::WriteBatch;
use chrono::{NaiveDate, NaiveDateTime};
use parking_lot::Mutex;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Default)]
struct SiteVersions {
    /// Bumped when all of the site's rows change at once (deletion).
    all: u64,
    /// Per UTC day touched since start-up.
    days: BTreeMap<NaiveDate, u64>,
    /// The last write that stored a session ending before it starts (a bulk import replaying a session's
    /// events out of time order; live sessions always run forward).
    backward: u64,
}

#[derive(Default)]
pub struct DataVersions {
    last: AtomicU64,
    sites: Mutex<HashMap<u64, SiteVersions>>,
}

impl DataVersions {
    fn next(&self) -> u64 {
        self.last.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Marks the days of every event and session in a committed batch as changed (a session's whole span:
    /// queries find it by its start, its last event or both).
    pub fn touch_batch(&self, batch: &WriteBatch) {
        let mut touched: HashSet<(u64, NaiveDate)> = HashSet::new();
        let mut backward: HashSet<u64> = HashSet::new();
        for e in &batch.events {
            touched.insert((e.site_id, e.timestamp.date()));
        }
        for s in batch.live_sessions.iter().chain(&batch.final_sessions) {
            let (first, last) = (s.start.date().min(s.timestamp.date()), s.start.date().max(s.timestamp.date()));
            touched.extend(first.iter_days().take_while(|d| *d <= last).map(|d| (s.site_id, d)));
            if s.timestamp < s.start {
                backward.insert(s.site_id);
            }
        }
        if touched.is_empty() {
            return;
        }
        let v = self.next();
        let mut sites = self.sites.lock();
        for (site, day) in touched {
            sites.entry(site).or_default().days.insert(day, v);
        }
        for site in backward {
            sites.entry(site).or_default().backward = v;
        }
    }

    /// Marks every row of a site as changed (a committed deletion).
    pub fn touch_site(&self, site_id: u64) {
        let v = self.next();
        let mut sites = self.sites.lock();
        let site = sites.entry(site_id).or_default();
        site.all = v;
        site.days.clear();
    }

    /// A number that changes whenever a write may have stored a session of the site that ends before it
    /// starts (such a write, or a deletion).
    pub fn session_order_version(&self, site_id: u64) -> u64 {
        self.sites.lock().get(&site_id).map(|s| s.backward.max(s.all)).unwrap_or(0)
    }

    /// The version of a site's rows with timestamps in `[from, to)` (UTC).
    pub fn version(&self, site_id: u64, from: NaiveDateTime, to: NaiveDateTime) -> u64 {
        let sites = self.sites.lock();
        let Some(site) = sites.get(&site_id) else { return 0 };
        let last_day = (to - chrono::Duration::microseconds(1)).date();
        let first_day = from.date();
        if last_day < first_day {
            return site.all;
        }
        site.days.range(first_day..=last_day).map(|(_, v)| *v).max().unwrap_or(0).max(site.all)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{EventRow, SessionRow};

    fn at(d: u32, h: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(2026, 11, d).unwrap().and_hms_opt(h, 0, 0).unwrap()
    }

    #[test]
    fn a_write_changes_the_version_of_its_days_only() {
        let v = DataVersions::default();
        let day = |d: u32| v.version(1, at(d, 0), at(d + 1, 0));
        assert_eq!(day(10), 0);
        let batch = WriteBatch {
            events: vec![EventRow { site_id: 1, timestamp: at(10, 5), ..Default::default() }],
            live_sessions: vec![SessionRow {
                site_id: 1,
                start: at(12, 23),
                timestamp: at(14, 0),
                ..Default::default()
            }],
            ..Default::default()
        };
        v.touch_batch(&batch);
        let after = [day(9), day(10), day(11), day(12), day(13), day(14), day(15)];
        assert_eq!(after[0], 0);
        assert!(after[1] > 0);
        assert_eq!(after[2], 0);
        assert!(after[3] > 0 && after[4] > 0 && after[5] > 0, "a session's whole span: {after:?}");
        assert_eq!(after[6], 0);
        assert_eq!(v.version(2, at(10, 0), at(11, 0)), 0, "other sites are untouched");
        // A range ending at midnight does not reach into the next day.
        assert_eq!(v.version(1, at(11, 0), at(12, 0)), 0);

        let before = day(9);
        v.touch_site(1);
        assert!(day(9) > before && day(10) > after[1], "a deletion changes every day of the site");
    }

    #[test]
    fn only_sessions_that_end_before_they_start_change_the_session_order_version() {
        let v = DataVersions::default();
        let write = |start: NaiveDateTime, end: NaiveDateTime| {
            let s = SessionRow { site_id: 1, start, timestamp: end, ..Default::default() };
            v.touch_batch(&WriteBatch { final_sessions: vec![s], ..Default::default() });
        };
        write(at(10, 1), at(10, 2));
        assert_eq!(v.session_order_version(1), 0);
        write(at(10, 5), at(10, 4));
        let backward = v.session_order_version(1);
        assert!(backward > 0);
        assert_eq!(v.session_order_version(2), 0, "other sites are untouched");
        write(at(11, 1), at(11, 2));
        assert_eq!(v.session_order_version(1), backward);
        v.touch_site(1);
        assert!(v.session_order_version(1) > backward, "a deletion changes it");
    }
}
