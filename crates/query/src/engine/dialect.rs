//! SQL dialects: the few fragments that differ between DuckDB (embedded) and ClickHouse (scale-out).
//! Every value is a bound parameter (`?`); identifiers come from the planner's fixed allow-list.

/// Database-specific SQL fragments.
pub trait Dialect: Send + Sync {
    /// `expr` matches the RE2 pattern bound as the next parameter (unanchored search).
    fn regex_match(&self, expr: &str) -> String;
    /// Value of custom property named by the next parameter, or NULL when absent.
    fn prop_value(&self, keys: &str, values: &str) -> String;
    /// Whether the props contain the key bound as the next parameter.
    fn has_prop(&self, keys: &str) -> String;
    /// Lower-cases a string expression.
    fn lower(&self, expr: &str) -> String {
        format!("lower({expr})")
    }
    /// Substring test: `expr` contains the next parameter.
    fn contains(&self, expr: &str) -> String;
    /// Adds `seconds_expr` seconds to a timestamp expression.
    fn add_seconds(&self, ts: &str, seconds_expr: &str) -> String;
    /// The start of the (local) timestamp's hour, as a timestamp (read back as `YYYY-MM-DD HH:00:00`).
    /// Buckets stay numeric in SQL (cheap to group); labels are formatted when rows are read.
    fn format_hour(&self, ts: &str) -> String;
    /// The (local) timestamp's date (read back as `YYYY-MM-DD`).
    fn format_day(&self, ts: &str) -> String;
    /// Monday of the (local) timestamp's week, as a date expression.
    fn week_start(&self, ts: &str) -> String;
    /// First day of the (local) timestamp's month, as a date.
    fn format_month(&self, ts: &str) -> String;
    /// A date expression as a bucket value.
    fn format_date(&self, date: &str) -> String;
    /// Casts the next parameter to a date.
    fn date_param(&self) -> String;
    /// One row per 15-minute UTC slot from the slot holding `start` up to `end` (timestamp expressions):
    /// a set-returning SELECT expression. Sessions are spread over hour buckets through these slots, so
    /// that zones with quarter-hour offsets still land in the right local hour.
    fn session_slots(&self, start: &str, end: &str) -> String;
    /// Distinct count as Plausible counts (ClickHouse `uniq`): exact up to 65,536 distinct values per
    /// group, an adaptive-sampling estimate (error well under 2%) above.
    fn uniq(&self, expr: &str) -> String;
    /// The set `uniq` counts, as bytes that `tally_uniq::UniqSet::from_bytes` reads (`None`: the store has
    /// no such aggregate, and sets are not kept).
    fn uniq_state(&self, _expr: &str) -> Option<String> {
        None
    }
}

pub struct DuckDb;

impl Dialect for DuckDb {
    fn regex_match(&self, expr: &str) -> String {
        format!("regexp_matches({expr}, ?)")
    }
    fn prop_value(&self, keys: &str, values: &str) -> String {
        format!("{values}[list_position({keys}, ?)]")
    }
    fn has_prop(&self, keys: &str) -> String {
        format!("list_contains({keys}, ?)")
    }
    fn contains(&self, expr: &str) -> String {
        format!("contains({expr}, ?)")
    }
    fn add_seconds(&self, ts: &str, seconds_expr: &str) -> String {
        // Integer microseconds: twice as fast as adding an INTERVAL (which handles months and days).
        format!("make_timestamp(epoch_us({ts}) + CAST({seconds_expr} AS BIGINT) * 1000000)")
    }
    fn format_hour(&self, ts: &str) -> String {
        format!("date_trunc('hour', {ts})")
    }
    fn format_day(&self, ts: &str) -> String {
        format!("CAST({ts} AS DATE)")
    }
    fn week_start(&self, ts: &str) -> String {
        format!("CAST(date_trunc('week', {ts}) AS DATE)")
    }
    fn format_month(&self, ts: &str) -> String {
        format!("CAST(date_trunc('month', {ts}) AS DATE)")
    }
    fn format_date(&self, date: &str) -> String {
        format!("CAST({date} AS DATE)")
    }
    fn date_param(&self) -> String {
        "CAST(? AS DATE)".into()
    }
    fn session_slots(&self, start: &str, end: &str) -> String {
        format!(
            "unnest(generate_series(make_timestamp((epoch_us({start}) // 900000000) * 900000000), {end}, \
             INTERVAL 15 MINUTE))"
        )
    }
    /// `tally_uniq` is the store's aggregate (crates/store/src/uniq.rs).
    fn uniq(&self, expr: &str) -> String {
        format!("tally_uniq({expr})")
    }
    fn uniq_state(&self, expr: &str) -> Option<String> {
        Some(format!("tally_uniq_state({expr})"))
    }
}
