//! The planner's SQL shape: which tables a query reads, that user values are bound parameters (never
//! spliced into the SQL text), and that identifiers come from the fixed column mapping.

use chrono::{NaiveDate, TimeZone, Utc};
use serde_json::{json, Value};
use std::cell::RefCell;
use tally_query::context::{Goal, SiteContext};
use tally_query::engine::{execute, Cell, DuckDb, Param, Runner};

/// Records the statements the engine emits and answers each with no rows.
#[derive(Default)]
struct Recorder {
    statements: RefCell<Vec<(String, Vec<Param>)>>,
}

impl Runner for Recorder {
    fn run(&self, sql: &str, params: &[Param]) -> Result<Vec<Vec<Cell>>, String> {
        assert_eq!(sql.matches('?').count(), params.len(), "placeholders and parameters agree: {sql}");
        self.statements.borrow_mut().push((sql.to_string(), params.to_vec()));
        Ok(vec![])
    }
}

fn site() -> SiteContext {
    SiteContext {
        domain: "example.com".into(),
        timezone: chrono_tz::Europe::Tallinn,
        goals: vec![Goal {
            id: 1,
            display_name: "Signup".into(),
            event_name: Some("Signup".into()),
            page_path: None,
            scroll_threshold: -1,
            currency: None,
            custom_props: vec![],
        }],
        segments: vec![],
        props_available: true,
        revenue_available: true,
        stats_start_date: Some(NaiveDate::from_ymd_opt(2024, 1, 1).unwrap()),
        native_stats_start_at: NaiveDate::from_ymd_opt(2020, 1, 1).unwrap().and_hms_opt(0, 0, 0).unwrap(),
        legacy_time_on_page_cutoff: None,
        imports: vec![],
    }
}

fn plan(body: Value) -> (Value, Vec<(String, Vec<Param>)>) {
    let now = Utc.with_ymd_and_hms(2024, 6, 15, 12, 0, 0).unwrap();
    let q = tally_query::parse_query(&body, &site(), now).expect("valid query");
    let r = Recorder::default();
    let resp = execute(&q, 7, &DuckDb, &r).expect("runs");
    (resp, r.statements.into_inner())
}

#[test]
fn session_metrics_read_the_sessions_table_only() {
    let (_, sql) = plan(json!({"site_id": "example.com", "metrics": ["visitors", "bounce_rate"], "date_range": "7d"}));
    assert_eq!(sql.len(), 1);
    assert!(sql[0].0.contains("FROM sessions_all"), "{}", sql[0].0);
    assert!(!sql[0].0.contains("FROM events"), "{}", sql[0].0);
}

#[test]
fn event_metrics_read_the_events_table_and_skip_engagement_events() {
    let (_, sql) = plan(json!({"site_id": "example.com", "metrics": ["pageviews", "events"], "date_range": "7d"}));
    assert_eq!(sql.len(), 1);
    assert!(sql[0].0.contains("FROM events"));
    assert!(sql[0].0.contains("name <> 'engagement'"));
}

#[test]
fn event_filters_on_session_metrics_become_a_membership_subquery() {
    let (_, sql) = plan(json!({
        "site_id": "example.com", "metrics": ["bounce_rate"], "date_range": "7d",
        "filters": [["is", "event:page", ["/pricing"]]]
    }));
    let s = &sql[0].0;
    assert!(s.contains("FROM sessions_all") && s.contains("session_id IN (SELECT session_id FROM events"), "{s}");
}

#[test]
fn user_values_are_bound_never_spliced() {
    let evil = "x'); DROP TABLE events; --";
    let (_, sql) = plan(json!({
        "site_id": "example.com", "metrics": ["visitors"], "date_range": "all",
        "dimensions": [format!("event:props:{evil}")],
        "filters": [["contains", "visit:utm_source", [evil]], ["matches", "event:page", ["^/a.*"]]]
    }));
    for (text, params) in &sql {
        assert!(!text.contains("DROP TABLE"), "{text}");
        assert!(params.iter().any(|p| matches!(p, Param::Text(t) if t == evil)), "{params:?}");
    }
}

#[test]
fn site_and_utc_range_are_parameters() {
    let (_, sql) =
        plan(json!({"site_id": "example.com", "metrics": ["visitors"], "date_range": ["2024-03-01", "2024-03-31"]}));
    let params = &sql[0].1;
    assert_eq!(params[0], Param::Int(7));
    // Tallinn is UTC+2 on 2024-03-01 and UTC+3 (summer time) on 2024-03-31.
    assert_eq!(
        params[1],
        Param::Timestamp(NaiveDate::from_ymd_opt(2024, 2, 29).unwrap().and_hms_opt(22, 0, 0).unwrap())
    );
    assert_eq!(
        params[2],
        Param::Timestamp(NaiveDate::from_ymd_opt(2024, 3, 31).unwrap().and_hms_opt(20, 59, 59).unwrap())
    );
}

#[test]
fn local_time_buckets_follow_the_offset_changes_of_the_range() {
    let (_, sql) = plan(json!({
        "site_id": "example.com", "metrics": ["visitors"], "date_range": ["2024-03-01", "2024-03-31"],
        "dimensions": ["time:day"]
    }));
    let (text, params) = &sql[0];
    assert!(text.contains("CASE WHEN timestamp < ?"), "{text}");
    // The switch to summer time: 2024-03-31 01:00 UTC; offsets 7200 before, 10800 after.
    assert!(
        params.contains(&Param::Timestamp(NaiveDate::from_ymd_opt(2024, 3, 31).unwrap().and_hms_opt(1, 0, 0).unwrap()))
    );
    assert!(params.contains(&Param::Int(7200)) && params.contains(&Param::Int(10800)));
}

#[test]
fn goal_breakdowns_join_the_configured_goals() {
    let (resp, sql) = plan(
        json!({"site_id": "example.com", "metrics": ["visitors", "conversion_rate"], "date_range": "7d", "dimensions": ["event:goal"]}),
    );
    assert!(sql[0].0.contains("goal_idx"), "{}", sql[0].0);
    // The conversion-rate denominator: visitors with any event in the range, counted on sessions when every
    // session runs forward in time (checked first), else on events.
    assert!(sql.iter().any(|(t, _)| t.contains("timestamp < start")), "the session-order check");
    assert!(
        sql.iter().any(|(t, _)| t.contains("FROM sessions_all") && !t.contains("timestamp < start")),
        "the conversion-rate denominator"
    );
    assert_eq!(resp["results"], json!([]));
}

#[test]
fn aggregates_without_data_still_answer_one_row() {
    let (resp, _) = plan(
        json!({"site_id": "example.com", "metrics": ["visitors", "visit_duration", "scroll_depth"], "date_range": "7d", "filters": [["is", "event:page", ["/"]]]}),
    );
    assert_eq!(resp["results"], json!([{"dimensions": [], "metrics": [0, 0, null]}]));
}

#[test]
fn hourly_visitors_spread_sessions_over_their_slots_but_other_session_metrics_do_not() {
    let (_, sql) = plan(json!({
        "site_id": "example.com", "metrics": ["visitors", "visits", "bounce_rate"], "date_range": "day",
        "dimensions": ["time:hour"]
    }));
    assert_eq!(sql.len(), 2, "{sql:?}");
    let (smeared, plain): (Vec<_>, Vec<_>) = sql.iter().partition(|(s, _)| s.contains("generate_series"));
    let (s, params) = &smeared[0];
    assert!(s.contains("tally_uniq(user_id)") && s.contains("tally_uniq(session_id)"), "{s}");
    assert!(s.contains("greatest(start, ?)") && s.contains("least(timestamp, ?)"), "clamped to the range: {s}");
    assert!(!s.contains("is_bounce"), "{s}");
    assert!(params.iter().any(|p| matches!(p, Param::Timestamp(_))));
    let s = &plain[0].0;
    assert!(s.contains("is_bounce") && !s.contains("tally_uniq"), "{s}");
    // By day, one plain sessions query.
    let (_, sql) = plan(json!({
        "site_id": "example.com", "metrics": ["visitors", "visits"], "date_range": "7d", "dimensions": ["time:day"]
    }));
    assert_eq!(sql.len(), 1);
    assert!(!sql[0].0.contains("generate_series"));
}

/// [`Recorder`] with period rollups.
struct KeepingRecorder {
    inner: Recorder,
    rollups: tally_query::engine::run::rollup::PeriodRollups,
}

impl Runner for KeepingRecorder {
    fn run(&self, sql: &str, params: &[Param]) -> Result<Vec<Vec<Cell>>, String> {
        self.inner.run(sql, params)
    }
    fn period_rollups(&self) -> Option<&tally_query::engine::run::rollup::PeriodRollups> {
        Some(&self.rollups)
    }
}

#[test]
fn a_day_whose_midnight_the_clocks_skip_is_kept_like_any_other() {
    // Beirut's clocks jump from 00:00 to 01:00 on 2024-03-31: that day starts at 01:00 local time.
    let mut ctx = site();
    ctx.timezone = chrono_tz::Asia::Beirut;
    let now = Utc.with_ymd_and_hms(2024, 6, 15, 12, 0, 0).unwrap();
    let body = json!({"site_id": "example.com", "metrics": ["visitors", "pageviews"],
                      "date_range": ["2024-03-25", "2024-04-04"], "dimensions": ["time:day"]});
    let q = tally_query::parse_query(&body, &ctx, now).expect("valid query");
    let r = KeepingRecorder {
        inner: Recorder::default(),
        rollups: tally_query::engine::run::rollup::PeriodRollups::new(1000),
    };
    execute(&q, 7, &DuckDb, &r).expect("runs");
    let first = r.inner.statements.borrow().len();
    assert!(first > 0);
    execute(&q, 7, &DuckDb, &r).expect("runs");
    let sql = r.inner.statements.borrow();
    assert_eq!(sql.len(), first, "every day is over and kept, the skipped midnight's too: {:?}", &sql[first..]);
}
