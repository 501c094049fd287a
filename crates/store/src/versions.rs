//! Data versions: a number per site, table and UTC day that changes whenever a write changes which rows of
//! that table count in that day.
//!
//! Readers that remember results computed from stored rows (the query engine's period rollups and kept
//! spans) read the version of the instants their rows came from *before* reading the rows, and keep a result
//! only while the version is unchanged. Writers bump the versions *after* committing. A reader therefore never
//! pairs a version with rows older than it: at worst it pairs an old version with new rows, and recomputes.
//!
//! An event counts in the day of its timestamp. A session counts in the day of its last event: every result
//! kept on sessions takes the sessions whose last event is in its instants (sessions overlapping a range
//! are read afresh). So a new state of a session changes the day of its new last event and the day of the
//! state it replaces, not the days in between: a live session that goes on past midnight changes
//! yesterday's sessions once, when it leaves them, and kept results on events not at all.
//!
//! Versions live in memory: after a restart every version starts again, and so does every remembered
//! result (they are in memory too). Backend-independent, so every event store can keep them the same way.

use crate::model::WriteBatch;
use chrono::{NaiveDate, NaiveDateTime};
use parking_lot::Mutex;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};

/// Which stored rows a version is of.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Rows {
    Events,
    Sessions,
}

#[derive(Default)]
struct SiteVersions {
    /// Bumped when all of the site's rows change at once (deletion).
    all: u64,
    /// Per UTC day touched since start-up: events by timestamp.
    event_days: BTreeMap<NaiveDate, u64>,
    /// Per UTC day touched since start-up: sessions by last event.
    session_days: BTreeMap<NaiveDate, u64>,
    /// The last write that stored a session ending before it starts (a bulk import replaying a session's
    /// events out of time order; live sessions always run forward).
    backward: u64,
}

impl SiteVersions {
    fn days(&self, rows: Rows) -> &BTreeMap<NaiveDate, u64> {
        match rows {
            Rows::Events => &self.event_days,
            Rows::Sessions => &self.session_days,
        }
    }
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

    /// Marks the days changed by a committed batch: each event's, each written session's last event's, and
    /// the last event's of each stored session state the batch replaced (`replaced`: site and timestamp, as
    /// the store held them before the write).
    pub fn touch_batch(&self, batch: &WriteBatch, replaced: &[(u64, NaiveDateTime)]) {
        let mut touched: HashSet<(Rows, u64, NaiveDate)> = HashSet::new();
        let mut backward: HashSet<u64> = HashSet::new();
        for e in &batch.events {
            touched.insert((Rows::Events, e.site_id, e.timestamp.date()));
        }
        for s in batch.live_sessions.iter().chain(&batch.final_sessions) {
            touched.insert((Rows::Sessions, s.site_id, s.timestamp.date()));
            if s.timestamp < s.start {
                backward.insert(s.site_id);
            }
        }
        touched.extend(replaced.iter().map(|(site, t)| (Rows::Sessions, *site, t.date())));
        if touched.is_empty() {
            return;
        }
        let v = self.next();
        let mut sites = self.sites.lock();
        for (rows, site, day) in touched {
            let site = sites.entry(site).or_default();
            match rows {
                Rows::Events => site.event_days.insert(day, v),
                Rows::Sessions => site.session_days.insert(day, v),
            };
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
        site.event_days.clear();
        site.session_days.clear();
    }

    /// A number that changes whenever a write may have stored a session of the site that ends before it
    /// starts (such a write, or a deletion).
    pub fn session_order_version(&self, site_id: u64) -> u64 {
        self.sites.lock().get(&site_id).map(|s| s.backward.max(s.all)).unwrap_or(0)
    }

    /// The version of a site's `rows` counting in `[from, to)` (UTC): events with timestamps there, or
    /// sessions whose last event is there.
    pub fn version(&self, site_id: u64, rows: Rows, from: NaiveDateTime, to: NaiveDateTime) -> u64 {
        let sites = self.sites.lock();
        let Some(site) = sites.get(&site_id) else { return 0 };
        let last_day = (to - chrono::Duration::microseconds(1)).date();
        let first_day = from.date();
        if last_day < first_day {
            return site.all;
        }
        site.days(rows).range(first_day..=last_day).map(|(_, v)| *v).max().unwrap_or(0).max(site.all)
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
        let day = |rows: Rows, d: u32| v.version(1, rows, at(d, 0), at(d + 1, 0));
        let all = |rows: Rows| [9, 10, 11, 12, 13, 14, 15].map(|d| day(rows, d));
        assert_eq!(all(Rows::Events), [0; 7]);
        let session = |start: NaiveDateTime, end: NaiveDateTime| SessionRow {
            site_id: 1,
            start,
            timestamp: end,
            ..Default::default()
        };
        let batch = WriteBatch {
            events: vec![EventRow { site_id: 1, timestamp: at(10, 5), ..Default::default() }],
            live_sessions: vec![session(at(12, 23), at(14, 0))],
            ..Default::default()
        };
        v.touch_batch(&batch, &[]);
        let (events, sessions) = (all(Rows::Events), all(Rows::Sessions));
        assert!(events[1] > 0);
        assert_eq!([events[0], events[2], events[3], events[4], events[5], events[6]], [0; 6], "{events:?}");
        assert!(sessions[5] > 0, "a session counts in the day of its last event: {sessions:?}");
        assert_eq!(sessions[..5], [0; 5], "not in the days before: {sessions:?}");
        assert_eq!(sessions[6], 0);
        assert_eq!(v.version(2, Rows::Events, at(10, 0), at(11, 0)), 0, "other sites are untouched");
        // A range ending at midnight does not reach into the next day.
        assert_eq!(v.version(1, Rows::Events, at(11, 0), at(12, 0)), 0);

        // A new state of a session changes the day of the state it replaces too (the session left it).
        let batch = WriteBatch { live_sessions: vec![session(at(12, 23), at(15, 0))], ..Default::default() };
        v.touch_batch(&batch, &[(1, at(14, 0))]);
        let (later, events_later) = (all(Rows::Sessions), all(Rows::Events));
        assert!(later[5] > sessions[5] && later[6] > 0, "{later:?}");
        assert_eq!(later[..5], [0; 5], "the days between are not changed: {later:?}");
        assert_eq!(events_later, events, "no event was written");

        let before = day(Rows::Events, 9);
        v.touch_site(1);
        assert!(day(Rows::Events, 9) > before && day(Rows::Events, 10) > events[1]);
        assert!(day(Rows::Sessions, 13) > 0, "a deletion changes every day of the site");
    }

    #[test]
    fn only_sessions_that_end_before_they_start_change_the_session_order_version() {
        let v = DataVersions::default();
        let write = |start: NaiveDateTime, end: NaiveDateTime| {
            let s = SessionRow { site_id: 1, start, timestamp: end, ..Default::default() };
            v.touch_batch(&WriteBatch { final_sessions: vec![s], ..Default::default() }, &[]);
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
