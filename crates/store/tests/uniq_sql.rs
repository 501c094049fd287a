//! `tally_uniq` inside the real embedded DuckDB: exact where Plausible's `uniq` is exact, within 2% above,
//! deterministic under DuckDB's parallel aggregation, and NULL-skipping like `count(DISTINCT)`.

use tally_store::duck::DuckEventStore;
use tally_store::{EventStore, SqlValue};

fn int(v: &SqlValue) -> i64 {
    match v {
        SqlValue::Int(i) => *i,
        SqlValue::UInt(u) => *u as i64,
        other => panic!("not an integer: {other:?}"),
    }
}

fn store() -> (tempfile::TempDir, DuckEventStore) {
    let dir = tempfile::tempdir().unwrap();
    let s = DuckEventStore::open(&dir.path().join("events.duckdb"), 2).unwrap();
    (dir, s)
}

#[test]
fn exact_for_small_groups_and_close_for_large_ones() {
    let (_dir, s) = store();
    // Groups g = i % 7 over 2M rows; each group holds ~285k distinct values, each value twice.
    let sql = "SELECT g, tally_uniq(v), count(DISTINCT v) FROM \
               (SELECT i % 7 AS g, CAST((i // 2) * 7919 AS UBIGINT) AS v FROM range(2000000) t(i)) GROUP BY g ORDER BY g";
    let rows = s.query(sql, &[]).unwrap();
    assert_eq!(rows.len(), 7);
    for r in &rows {
        let (est, exact) = (int(&r[1]) as f64, int(&r[2]) as f64);
        assert!(exact > 65_536.0);
        assert!((est - exact).abs() / exact < 0.02, "estimate {est} vs exact {exact}");
    }
    // Small groups (≤ 65,536 distinct values) are exact, including exactly 65,536.
    let sql = "SELECT g, tally_uniq(v), count(DISTINCT v) FROM \
               (SELECT i % 3 AS g, CAST(i AS UBIGINT) AS v FROM range(196608) t(i)) GROUP BY g";
    for r in s.query(sql, &[]).unwrap() {
        assert_eq!(int(&r[1]), 65_536);
        assert_eq!(int(&r[1]), int(&r[2]));
    }
}

#[test]
fn deterministic_nulls_skipped_empty_is_zero() {
    let (_dir, s) = store();
    let sql = "SELECT tally_uniq(v) FROM (SELECT CAST(i * 31 AS UBIGINT) AS v FROM range(3000000) t(i))";
    let a = int(&s.query(sql, &[]).unwrap()[0][0]);
    for _ in 0..3 {
        assert_eq!(int(&s.query(sql, &[]).unwrap()[0][0]), a, "same data, same answer");
    }
    let sql = "SELECT tally_uniq(v), count(DISTINCT v) FROM \
               (SELECT CASE WHEN i % 2 = 0 THEN NULL ELSE CAST(i % 10 AS UBIGINT) END AS v FROM range(100) t(i))";
    let r = &s.query(sql, &[]).unwrap()[0];
    assert_eq!((int(&r[0]), int(&r[1])), (5, 5));
    let r = &s.query("SELECT tally_uniq(CAST(i AS UBIGINT)) FROM range(10) t(i) WHERE i > 100", &[]).unwrap()[0];
    assert_eq!(int(&r[0]), 0);
    let r = &s.query("SELECT tally_uniq(CAST(i AS UBIGINT)) FILTER (WHERE i < 4) FROM range(10) t(i)", &[]).unwrap()[0];
    assert_eq!(int(&r[0]), 4);
}
