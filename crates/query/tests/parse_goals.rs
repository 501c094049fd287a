//! Goal filters, preloaded goals, revenue currencies and comparisons.

#[path = "parse_helpers.rs"]
mod helpers;

use chrono::NaiveDate;
use helpers::*;
use serde_json::{json, Value};
use tally_query::ast::{ComparisonMode, RevenueCurrencies, RevenueWarning};

fn names(goals: &[tally_query::Goal]) -> Vec<String> {
    let mut n: Vec<String> = goals.iter().map(|g| g.display_name.clone()).collect();
    n.sort();
    n
}

fn goal_site() -> tally_query::SiteContext {
    let mut s = site();
    s.goals = vec![event_goal(1, "Signup"), event_goal(2, "Purchase"), event_goal(3, "Contact")];
    s
}

fn matching(filter: Value) -> Vec<String> {
    let q = ok_with(&goal_site(), body(json!({ "filters": [filter] })));
    assert_eq!(names(&q.goals.all), vec!["Contact", "Purchase", "Signup"]);
    let via_helper: Vec<String> =
        q.filters[0].matching_goals(&q.goals.all).iter().map(|g| g.display_name.clone()).collect();
    let mut via_helper = via_helper;
    via_helper.sort();
    assert_eq!(via_helper, names(&q.goals.matching_toplevel_filters));
    via_helper
}

#[test]
fn goal_filter_matching() {
    assert_eq!(matching(json!(["is", "event:goal", ["Signup", "Purchase"]])), vec!["Purchase", "Signup"]);
    assert_eq!(
        matching(json!(["is", "event:goal", ["signup", "purchase"], {"case_sensitive": false}])),
        vec!["Purchase", "Signup"]
    );
    assert_eq!(matching(json!(["contains", "event:goal", ["Sign", "pur"]])), vec!["Signup"]);
    assert_eq!(
        matching(json!(["contains", "event:goal", ["sign", "CONT"], {"case_sensitive": false}])),
        vec!["Contact", "Signup"]
    );
}

#[test]
fn goals_are_not_preloaded_without_goal_filters_or_dimension() {
    let q = ok_with(&goal_site(), body(json!({})));
    assert!(q.goals.all.is_empty());
    let q = ok_with(&goal_site(), body(json!({"dimensions": ["event:goal"]})));
    assert_eq!(names(&q.goals.matching_toplevel_filters), vec!["Contact", "Purchase", "Signup"]);
}

#[test]
fn page_goal_display_names() {
    let mut s = site();
    s.goals = vec![event_goal(1, "Signup"), page_goal(2, "/thank-you")];
    let q = ok_with(&s, body(json!({"filters": [["is", "event:goal", ["Signup", "Visit /thank-you"]]]})));
    assert_eq!(q.goals.matching_toplevel_filters.len(), 2);
}

fn revenue(site: &tally_query::SiteContext, extra: Value) -> tally_query::ast::RevenueInfo {
    let mut b = body(extra);
    b["metrics"] = json!(["total_revenue", "average_revenue"]);
    ok_with(site, b).revenue
}

#[test]
fn revenue_without_goals() {
    let r = revenue(&site(), json!({}));
    assert_eq!(r.currencies, RevenueCurrencies::None);
    assert_eq!(r.warning, Some(RevenueWarning::NoRevenueGoalsMatching));
}

#[test]
fn revenue_single_currency() {
    let mut s = site();
    s.goals = vec![
        tally_query::Goal { display_name: "PurchaseUSD".into(), ..revenue_goal(1, "Purchase", "USD") },
        revenue_goal(2, "Subscription", "USD"),
        event_goal(3, "Signup"),
        event_goal(4, "Logout"),
    ];
    let r = revenue(&s, json!({"filters": [["is", "event:goal", ["PurchaseUSD", "Signup", "Subscription"]]]}));
    assert_eq!(r.currencies, RevenueCurrencies::Single("USD".into()));
    assert_eq!(r.warning, None);
}

#[test]
fn revenue_multiple_currencies() {
    let mut s = site();
    s.goals = vec![revenue_goal(1, "Purchase", "USD"), revenue_goal(2, "Subscription", "EUR"), event_goal(3, "Signup")];
    let r = revenue(&s, json!({"filters": [["is", "event:goal", ["Purchase", "Signup", "Subscription"]]]}));
    assert_eq!(r.warning, Some(RevenueWarning::NoSingleRevenueCurrency));
    assert_eq!(
        r.warning.unwrap().message(),
        "Revenue metrics are null as there are multiple currencies for the selected event:goals."
    );
    let r = revenue(&s, json!({"filters": [["is", "event:goal", ["Signup"]]]}));
    assert_eq!(r.warning, Some(RevenueWarning::NoRevenueGoalsMatching));
}

#[test]
fn revenue_per_goal_with_goal_dimension() {
    let mut s = site();
    s.goals = vec![revenue_goal(1, "Purchase", "USD"), revenue_goal(2, "Donation", "EUR"), event_goal(3, "Signup")];
    let r = revenue(&s, json!({"dimensions": ["event:goal"]}));
    assert_eq!(
        r.currencies,
        RevenueCurrencies::PerGoal(vec![("Purchase".into(), "USD".into()), ("Donation".into(), "EUR".into())])
    );
    assert_eq!(r.warning, None);
    let r = revenue(&s, json!({"dimensions": ["event:goal"], "filters": [["is", "event:goal", ["Signup"]]]}));
    assert_eq!(r.warning, Some(RevenueWarning::NoRevenueGoalsMatching));
}

// --- comparisons ---------------------------------------------------------------------------------

fn comparison(date_range: Value, comparisons: Value) -> (NaiveDate, NaiveDate) {
    let q = ok(body(json!({"date_range": date_range, "include": {"comparisons": comparisons}})));
    let c = q.include.comparisons.expect("comparison");
    (c.date_range.first_date(), c.date_range.last_date())
}

fn d(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

#[test]
fn previous_period() {
    assert_eq!(
        comparison(json!(["2021-01-07", "2021-01-13"]), json!({"mode": "previous_period"})),
        (d("2020-12-31"), d("2021-01-06"))
    );
    // The source end is capped at today (2021-05-05): this month so far is 5 days.
    assert_eq!(comparison(json!("month"), json!({"mode": "previous_period"})), (d("2021-04-26"), d("2021-04-30")));
}

#[test]
fn year_over_year() {
    assert_eq!(
        comparison(json!(["2021-01-07", "2021-01-13"]), json!({"mode": "year_over_year"})),
        (d("2020-01-08"), d("2020-01-14"))
    );
}

#[test]
fn year_over_year_end_is_capped_at_today() {
    // now = 2021-05-05: a future source range is cut at today before shifting.
    assert_eq!(
        comparison(json!(["2023-01-01", "2023-01-07"]), json!({"mode": "year_over_year"})),
        (d("2022-01-01"), d("2020-05-05"))
    );
}

#[test]
fn custom_comparison() {
    let q =
        ok(body(json!({"include": {"comparisons": {"mode": "custom", "date_range": ["2021-04-05", "2021-05-04"]}}})));
    let c = q.include.comparisons.unwrap();
    assert_eq!(c.mode, ComparisonMode::Custom(d("2021-04-05"), d("2021-05-04")));
    assert_eq!(c.date_range.first_utc().to_string(), "2021-04-05 00:00:00");
    assert_eq!(c.date_range.last_utc().to_string(), "2021-05-04 23:59:59");
}

#[test]
fn match_day_of_week() {
    // Source starts on Sunday 2021-01-03; year over year lands on Saturday 2020-01-04 and moves
    // to the next Sunday.
    let q = ok(body(json!({
        "date_range": ["2021-01-03", "2021-01-09"],
        "include": {"comparisons": {"mode": "year_over_year", "match_day_of_week": true}}
    })));
    let c = q.include.comparisons.unwrap();
    assert!(c.match_day_of_week);
    assert_eq!((c.date_range.first_date(), c.date_range.last_date()), (d("2020-01-05"), d("2020-01-11")));
    // Previous period of a week already starts on the same weekday.
    assert_eq!(
        comparison(json!(["2021-01-07", "2021-01-13"]), json!({"mode": "previous_period", "match_day_of_week": true})),
        (d("2020-12-31"), d("2021-01-06"))
    );
}
