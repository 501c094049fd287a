//! The embedded event store's on-disk upkeep, through the real DuckDB file.

use chrono::NaiveDate;
use tally_store::duck::DuckEventStore;
use tally_store::{EventRow, EventStore, SqlValue, WriteBatch};

fn int(v: &SqlValue) -> i64 {
    match v {
        SqlValue::Int(i) => *i,
        SqlValue::UInt(u) => *u as i64,
        other => panic!("not an integer: {other:?}"),
    }
}

/// Rows stored in the file (deleted or not), and rows a query sees.
fn stored_and_visible(s: &DuckEventStore) -> (i64, i64) {
    let stored = s
        .query(
            "SELECT sum(n) FROM (SELECT row_group_id, max(start + count) - min(start) AS n \
             FROM pragma_storage_info('events') WHERE column_name = 'site_id' GROUP BY 1)",
            &[],
        )
        .unwrap();
    let visible = s.query("SELECT count(*) FROM events", &[]).unwrap();
    (int(&stored[0][0]), int(&visible[0][0]))
}

#[test]
fn deleting_a_site_reclaims_its_rows_even_when_they_share_row_groups() {
    let dir = tempfile::tempdir().unwrap();
    let s = DuckEventStore::open(&dir.path().join("events.duckdb"), 1).unwrap();
    let t0 = NaiveDate::from_ymd_opt(2024, 1, 1).unwrap().and_hms_opt(0, 0, 0).unwrap();
    // Two sites' events interleaved, as live traffic writes them, in several commits.
    for part in 0..4i64 {
        let mut batch = WriteBatch::default();
        for i in 0..50_000i64 {
            let mut e = EventRow::new(t0 + chrono::Duration::seconds(part * 50_000 + i));
            e.site_id = 1 + (i % 2) as u64;
            e.user_id = i as u64;
            e.name = "pageview".into();
            e.pathname = format!("/{}", i % 100);
            batch.events.push(e);
        }
        s.write(&batch).unwrap();
    }
    s.checkpoint().unwrap();
    assert_eq!(stored_and_visible(&s), (200_000, 200_000));

    s.delete_site(2).unwrap();
    let (stored, visible) = stored_and_visible(&s);
    assert_eq!(visible, 100_000);
    assert_eq!(stored, 100_000, "the deleted half no longer takes space");
    let left = s.query("SELECT DISTINCT site_id FROM events", &[]).unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(int(&left[0][0]), 1);
}

#[test]
fn a_large_write_fills_whole_row_groups() {
    let dir = tempfile::tempdir().unwrap();
    let s = DuckEventStore::open(&dir.path().join("events.duckdb"), 1).unwrap();
    let t0 = NaiveDate::from_ymd_opt(2024, 1, 1).unwrap().and_hms_opt(0, 0, 0).unwrap();
    let mut batch = WriteBatch::default();
    for i in 0..250_000i64 {
        let mut e = EventRow::new(t0 + chrono::Duration::seconds(i));
        e.site_id = 1;
        e.user_id = i as u64;
        e.name = "pageview".into();
        // Realistic rows: large writes are compressed and written out while appending.
        e.hostname = "shop.example.com".into();
        e.pathname = format!("/products/item-{}", i % 5000);
        e.attrs.referrer = format!("https://www.google.com/search?q={}", i % 997);
        e.attrs.referrer_source = "Google".into();
        e.attrs.browser = "Chrome".into();
        e.attrs.browser_version = format!("{}.0", 100 + i % 30);
        e.attrs.operating_system = "Mac".into();
        e.attrs.country_code = "EE".into();
        e.attrs.utm_campaign = format!("campaign-{}", i % 13);
        batch.events.push(e);
    }
    for _ in 0..3 {
        s.write(&batch).unwrap();
    }
    s.checkpoint().unwrap();
    let groups = s
        .query(
            "SELECT max(start + count) - min(start) FROM pragma_storage_info('events') \
             WHERE column_name = 'site_id' GROUP BY row_group_id ORDER BY row_group_id",
            &[],
        )
        .unwrap();
    let sizes: Vec<i64> = groups.iter().map(|r| int(&r[0])).collect();
    // Automatic checkpoints do not merge row groups, so a write must not leave more than one partial one.
    assert_eq!(sizes, [122_880, 122_880, 4_240].repeat(3));
}

#[test]
fn a_live_session_changes_the_versions_of_the_days_it_leaves_and_enters_only() {
    use tally_store::versions::Rows;
    use tally_store::SessionRow;
    let dir = tempfile::tempdir().unwrap();
    let s = DuckEventStore::open(&dir.path().join("events.duckdb"), 1).unwrap();
    let at = |d: u32, h: u32, m: u32| NaiveDate::from_ymd_opt(2024, 3, d).unwrap().and_hms_opt(h, m, 0).unwrap();
    let day = |rows: Rows, d: u32| s.data_version(1, rows, at(d, 0, 0), at(d + 1, 0, 0));
    // One live session, written state by state as the write buffer writes it, with its events.
    let write = |end: chrono::NaiveDateTime| {
        let mut e = EventRow::new(end);
        e.site_id = 1;
        e.session_id = 7;
        let state =
            SessionRow { site_id: 1, session_id: 7, start: at(4, 23, 50), timestamp: end, ..Default::default() };
        s.write(&WriteBatch { events: vec![e], live_sessions: vec![state], ..Default::default() }).unwrap();
    };
    write(at(4, 23, 50));
    write(at(4, 23, 55));
    let (events_4, sessions_4) = (day(Rows::Events, 4), day(Rows::Sessions, 4));
    assert!(events_4 > 0 && sessions_4 > 0);
    // Past midnight: the session leaves the 4th (its stored state ended there).
    write(at(5, 0, 5));
    assert!(day(Rows::Sessions, 4) > sessions_4, "the session left the 4th");
    assert_eq!(day(Rows::Events, 4), events_4, "no event of the 4th was written");
    let sessions_4 = day(Rows::Sessions, 4);
    // Later events of the same session change the 5th only.
    write(at(5, 0, 20));
    write(at(5, 0, 40));
    assert_eq!(day(Rows::Sessions, 4), sessions_4, "the session was no longer in the 4th");
    assert_eq!(day(Rows::Events, 4), events_4);
    assert!(day(Rows::Sessions, 5) > 0 && day(Rows::Events, 5) > 0);
    let stored = s.query("SELECT count(*), max(timestamp) FROM live_sessions", &[]).unwrap();
    assert_eq!(int(&stored[0][0]), 1, "one state of the session is stored");
    assert_eq!(stored[0][1], SqlValue::Timestamp(at(5, 0, 40)));
}
