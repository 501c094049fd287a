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
