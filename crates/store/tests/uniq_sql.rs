//! `tally_uniq` inside the real embedded DuckDB: exact where Plausible's `uniq` is exact, within 2% above,
//! deterministic under DuckDB's parallel aggregation, and NULL-skipping like `count(DISTINCT)`; and
//! `tally_uniq_state`, whose sets of parts merge into the set of the whole.

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

fn set(v: &SqlValue) -> tally_uniq::UniqSet {
    match v {
        SqlValue::Blob(b) => tally_uniq::UniqSet::from_bytes(b).expect("a set"),
        other => panic!("not bytes: {other:?}"),
    }
}

#[test]
fn states_of_parts_merge_into_the_count_of_the_whole() {
    let (_dir, s) = store();
    // Values repeat across parts, so the parts' counts add up to more than the whole's.
    let rows = "(SELECT i % 5 AS part, i % 2 AS g, CAST((i * 7) % 150000 AS UBIGINT) AS v FROM range(600000) t(i))";
    let whole =
        s.query(&format!("SELECT g, tally_uniq(v), tally_uniq_state(v) FROM {rows} GROUP BY g ORDER BY g"), &[]);
    let whole = whole.unwrap();
    let parts =
        s.query(&format!("SELECT g, tally_uniq_state(v) FROM {rows} GROUP BY part, g ORDER BY g"), &[]).unwrap();
    assert_eq!(parts.len(), 10);
    for w in &whole {
        let mut of_whole = set(&w[2]);
        assert_eq!(of_whole.estimate() as i64, int(&w[1]), "the state counts what tally_uniq counts");
        assert!(!of_whole.is_exact(), "above the exact limit, so the merge must sample alike");
        let mut merged = tally_uniq::UniqSet::new();
        for p in parts.iter().filter(|p| p[0] == w[0]) {
            merged.merge_from(&set(&p[1]));
        }
        assert_eq!(merged.to_bytes(), of_whole.to_bytes());
    }
    let empty = &s.query("SELECT tally_uniq_state(CAST(i AS UBIGINT)) FROM range(3) t(i) WHERE i > 5", &[]).unwrap()[0];
    assert_eq!(set(&empty[0]).estimate(), 0);
}
