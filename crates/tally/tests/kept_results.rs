//! What the server keeps between queries, checked against what it would read afresh, through the real server:
//!
//! - period rollups (the rows of day, week and month series, kept for buckets that are over): a series
//!   asked again, and asked after writes to some of its buckets, equals the same series from a server that
//!   keeps none, unfiltered and with filters (deciding row by row, and not);
//! - kept row counts and spans (the per-day bounds of top-N breakdowns; the visitor sets and counts of
//!   breakdowns, top-N candidates and totals over the range's past days): breakdowns and aggregates equal a
//!   server's that keeps none, after every write, and goals changed without a write count at once;
//! - the session-order check, and the first native event, which starts `all` ranges: an earlier event
//!   moves the start at once.

mod common;
use common::Server;
use proptest::prelude::*;
use proptest::test_runner::TestRunner;
use serde_json::{json, Value};

/// Beirut's clocks jump from 00:00 to 01:00 on 2024-03-31: that day starts at 01:00.
const TIMEZONES: &[&str] = &["Etc/UTC", "Europe/Tallinn", "America/Los_Angeles", "Asia/Kathmandu", "Asia/Beirut"];

/// A server in a fresh temporary data directory, keeping at most `rows` rollup rows (and answering more than
/// the default 600 API requests an hour).
fn server_with_rollup_rows(rows: &str) -> (tempfile::TempDir, Server) {
    let dir = tempfile::Builder::new().prefix("tally-rollup-rows").tempdir().unwrap();
    let env = [("TALLY_ROLLUP_ROWS", rows), ("TALLY_HOURLY_API_LIMIT", "100000")];
    let server = Server::start_in(dir.path().to_path_buf(), &env);
    (dir, server)
}

/// Runs `cases` random cases of two batches of import lines. Each case creates the same site on the reference
/// and on every server, in the next of `TIMEZONES` in turn (so that every one is run); then, after importing
/// the first batch into all of them and again after the second, asks every server each body twice (with the
/// site filled in) and requires both answers to equal the reference's.
fn answers_equal_the_reference(
    reference: &Server,
    servers: &[&Server],
    cases: u32,
    batches: impl Strategy<Value = (Vec<Value>, Vec<Value>)>,
    bodies: &[Value],
) {
    let mut runner = TestRunner::new(ProptestConfig { cases, failure_persistence: None, ..Default::default() });
    let case = std::cell::Cell::new(0usize);
    runner
        .run(&batches, |(before, after)| {
            let tz = TIMEZONES[case.get() % TIMEZONES.len()];
            case.set(case.get() + 1);
            let sites: Vec<(&Server, String, String)> = std::iter::once(reference)
                .chain(servers.iter().copied())
                .map(|server| {
                    let goals = json!([{"event_name": "Signup"}, {"page_path": "/p1*"}]);
                    let (domain, key) = server.setup_site("enterprise", json!({"timezone": tz, "goals": goals}));
                    (server, domain, key)
                })
                .collect();
            for (round, lines) in [("first import", &before), ("second import", &after)] {
                for (server, domain, _) in &sites {
                    server.import(domain, lines);
                }
                for body in bodies {
                    let ask = |(server, domain, key): &(&Server, String, String)| {
                        let mut body = body.clone();
                        body["site_id"] = json!(domain);
                        server.results(key, body)
                    };
                    let expected = ask(&sites[0]);
                    for (i, site) in sites.iter().enumerate().skip(1) {
                        prop_assert_eq!(&ask(site), &expected, "{} server {} {} {}", round, i, tz, body);
                        prop_assert_eq!(&ask(site), &expected, "{} server {} {} {} (asked again)", round, i, tz, body);
                    }
                }
            }
            Ok(())
        })
        .unwrap();
}

/// `around` seconds from the midnight (UTC) `day` days after 2024-03-02, as an import timestamp.
fn near_midnight(day: i64, around: i64) -> String {
    let ts = chrono::NaiveDate::from_ymd_opt(2024, 3, 2).unwrap().and_hms_opt(0, 0, 0).unwrap()
        + chrono::Duration::days(day)
        + chrono::Duration::seconds(around);
    ts.format("%Y-%m-%d %H:%M:%S").to_string()
}

/// Events over 2024-03-01..04-02 (UTC), clustered around midnights so that sessions cross them.
fn event() -> impl Strategy<Value = Value> {
    (0u64..25, 0i64..32, -5400i64..5400, prop::bool::weighted(0.2), prop::bool::ANY).prop_map(
        |(user, day, around, custom, chrome)| {
            json!({
                "name": if custom { "Signup" } else { "pageview" },
                "timestamp": near_midnight(day, around),
                "user_id": user,
                "pathname": if custom { "/signup" } else { "/" },
                "country_code": "EE",
                "browser": if chrome { "Chrome" } else { "Firefox" },
            })
        },
    )
}

#[test]
fn period_series_equal_the_series_without_rollups_after_every_write() {
    let s = Server::start();
    // The reference: the same data on a server that keeps no rollups.
    let (_dir, plain) = server_with_rollup_rows("0");
    let mut bodies = Vec::new();
    for metrics in [
        json!(["visitors", "pageviews", "events", "visits"]),
        json!(["visitors", "visits", "bounce_rate", "visit_duration"]),
    ] {
        for (range, dim) in [
            (json!(["2024-03-01", "2024-03-20"]), "time:day"),
            (json!(["2024-03-03", "2024-03-09"]), "time:day"),
            (json!(["2024-03-25", "2024-04-04"]), "time:day"),
            (json!(["2024-03-02T13:30:00+00:00", "2024-03-12T20:00:00+00:00"]), "time:day"),
            // The same partial first day from a later instant: kept apart.
            (json!(["2024-03-02T23:59:00+00:00", "2024-03-10T00:00:00+00:00"]), "time:day"),
            (json!(["2024-02-28", "2024-03-20"]), "time:week"),
            (json!(["2024-03-06T13:30:00+00:00", "2024-03-21T20:00:00+00:00"]), "time:week"),
            (json!(["2024-02-10", "2024-04-30"]), "time:month"),
        ] {
            for filters in [
                json!([]),
                json!([["is", "visit:browser", ["Chrome"]]]),
                json!([["is", "event:page", ["/"]], ["is_not", "visit:country", ["FR"]]]),
                json!([["is", "event:name", ["Signup"]]]),
                json!([["has_done", ["is", "event:page", ["/signup"]]]]),
            ] {
                bodies.push(json!({"metrics": metrics, "date_range": range, "dimensions": [dim], "filters": filters}));
            }
        }
    }
    let batches = (prop::collection::vec(event(), 1..80), prop::collection::vec(event(), 1..30));
    answers_equal_the_reference(&plain, &[&s], 6, batches, &bodies);
}

#[test]
fn an_all_range_starts_at_an_earlier_event_as_soon_as_it_is_written() {
    let s = Server::start();
    let (domain, key) = s.setup_site("enterprise", json!({}));
    let at = |day: &str| json!({"timestamp": format!("{day} 10:00:00"), "user_id": 1, "pathname": "/"});
    let start = |s: &Server| {
        s.flush();
        let (status, body) = s.query(&key, json!({"site_id": domain, "metrics": ["pageviews"], "date_range": "all"}));
        assert_eq!(status, 200, "{body}");
        body["query"]["date_range"][0].as_str().unwrap().to_string()
    };
    s.import(&domain, &[at("2024-03-10")]);
    assert!(start(&s).starts_with("2024-03-10"), "{}", start(&s));
    // A later event leaves the start; an earlier one moves it, without waiting for anything to expire.
    s.import(&domain, &[at("2024-03-12")]);
    assert!(start(&s).starts_with("2024-03-10"));
    s.import(&domain, &[at("2024-03-05")]);
    assert!(start(&s).starts_with("2024-03-05"), "{}", start(&s));
}

#[test]
fn a_session_written_backwards_ends_the_kept_session_order() {
    let s = Server::start();
    let (domain, key) = s.setup_site("enterprise", json!({"goals": [{"event_name": "Signup"}]}));
    let line = |user: u64, time: &str, name: &str| json!({"name": name, "timestamp": format!("2021-01-01 {time}"), "user_id": user, "pathname": "/"});
    // Up to 09:55: visitors with an event in the range are the conversion rate's total.
    let conversion_rate = |s: &Server| {
        s.flush();
        s.results(
            &key,
            json!({"site_id": domain, "metrics": ["visitors", "conversion_rate"], "dimensions": ["event:goal"],
                   "date_range": ["2021-01-01T00:00:00Z", "2021-01-01T09:55:00Z"]}),
        )
    };
    s.import(
        &domain,
        &[line(1, "08:00:00", "pageview"), line(1, "08:05:00", "Signup"), line(2, "08:30:00", "pageview")],
    );
    // Every session runs forward: the total comes from sessions, and that check is kept.
    assert_eq!(conversion_rate(&s), json!([{"dimensions": ["Signup"], "metrics": [1, 50.0]}]));
    assert_eq!(conversion_rate(&s), json!([{"dimensions": ["Signup"], "metrics": [1, 50.0]}]));
    // A session replayed out of time order (an explicit session id keeps the listed order): it starts at
    // 10:00 and ends at 09:50, so only the events table sees its 09:50 event inside the range. The kept
    // check must not survive this write.
    let replayed = |time: &str| {
        let mut l = line(3, time, "pageview");
        l["session_id"] = json!(33);
        l
    };
    s.import(&domain, &[replayed("10:00:00"), replayed("09:50:00")]);
    assert_eq!(conversion_rate(&s), json!([{"dimensions": ["Signup"], "metrics": [1, 33.33]}]));
}

/// Events over 2024-03-01..21 (UTC) with many pages and sources, for top-N breakdowns; `flip` turns the
/// page distribution around (rare pages become common), so that a later write reorders the top pages.
fn varied_event(flip: bool) -> impl Strategy<Value = Value> {
    (0u64..40, 0i64..20, -5400i64..5400, 0usize..16, 0usize..14, prop::bool::weighted(0.2)).prop_map(
        move |(user, day, around, page, source, custom)| {
            json!({
                "name": if custom { "Signup" } else { "pageview" },
                "timestamp": near_midnight(day, around),
                "user_id": user,
                // Skewed, so that the top groups stand out and the pruning has groups to rule out.
                "pathname": format!("/p{}", if flip { 14 - page * page / 16 } else { page * page / 16 }),
                "referrer_source": format!("Source {}", source * source / 14),
                "browser": if user % 3 == 0 { "Chrome" } else { "Firefox" },
            })
        },
    )
}

#[test]
fn top_breakdowns_equal_the_breakdowns_without_rollups_after_every_write() {
    let (_room_dir, s) = server_with_rollup_rows("200000");
    let (_dir, plain) = server_with_rollup_rows("0");
    // Room for so few rows that the day counts of a breakdown are too many to keep.
    let (_tight_dir, tight) = server_with_rollup_rows("40");
    let mut bodies = Vec::new();
    for (dim, metrics) in [
        ("event:page", json!(["visitors", "pageviews"])),
        ("event:page", json!(["visitors", "visits", "events"])),
        ("visit:source", json!(["visitors", "visits", "bounce_rate"])),
        ("visit:entry_page", json!(["visitors", "visits"])),
        ("visit:entry_page", json!(["visitors"])),
        ("visit:exit_page", json!(["visitors"])),
        // Whole breakdowns and aggregates (with the totals behind percentages and conversion rates).
        ("visit:source", json!(["visitors"])),
        ("visit:browser", json!(["visitors", "percentage"])),
        ("event:goal", json!(["visitors", "events", "conversion_rate"])),
        ("", json!(["visitors", "visits", "pageviews", "events"])),
        ("", json!(["visitors", "visits", "bounce_rate", "visit_duration", "views_per_visit"])),
    ] {
        for range in [
            json!(["2024-03-01", "2024-03-25"]),
            json!(["2024-03-04", "2024-03-09"]),
            json!(["2024-03-02T13:30:00+00:00", "2024-03-12T20:00:00+00:00"]),
        ] {
            for filters in [
                json!([]),
                json!([["is", "visit:browser", ["Chrome"]]]),
                json!([["has_done", ["is", "event:name", ["Signup"]]]]),
            ] {
                for limit in [1, 3] {
                    let dims = if dim.is_empty() { json!([]) } else { json!([dim]) };
                    bodies.push(json!({"metrics": metrics, "date_range": range, "dimensions": dims,
                                       "filters": filters, "pagination": {"limit": limit}}));
                }
            }
        }
    }
    let batches =
        (prop::collection::vec(varied_event(false), 20..150), prop::collection::vec(varied_event(true), 20..120));
    answers_equal_the_reference(&plain, &[&s, &tight], 5, batches, &bodies);
}

/// A page view by `user` at `time` ("DD HH:MM:SS") in March 2024 on `page`, as an import line.
fn visit(user: u64, time: &str, page: &str) -> Value {
    json!({"timestamp": format!("2024-03-{time}"), "user_id": user, "pathname": page})
}

#[test]
fn kept_counts_and_sets_are_not_used_while_a_session_runs_backwards() {
    let s = Server::start();
    let (domain, key) = s.setup_site("enterprise", json!({}));
    let mut lines = vec![visit(1, "05 10:00:00", "/a"), visit(2, "05 11:00:00", "/b"), visit(3, "05 12:00:00", "/b")];
    lines.extend([visit(4, "04 10:00:00", "/c"), visit(5, "04 11:00:00", "/c")]);
    lines.extend((0..8).map(|i| visit(10 + i, "04 09:00:00", &format!("/z{i}"))));
    // Visitor 6 enters on /a in a session replayed out of time order (explicit session id), from 03-06 00:10
    // back to 03-05 23:50. It belongs to any range that holds both instants, and to no single day.
    for time in ["06 00:10:00", "05 23:50:00"] {
        let mut l = visit(6, time, "/a");
        l["session_id"] = json!(66);
        lines.push(l);
    }
    s.import(&domain, &lines);
    let top = |range: Value| {
        s.results(
            &key,
            json!({"site_id": domain, "metrics": ["visitors"], "date_range": range,
                   "dimensions": ["visit:entry_page"], "pagination": {"limit": 1}}),
        )
    };
    // Up to 03-05 the replayed session is out (it starts after the range); with 03-06 it is in, and /a leads
    // (ties go by name). Day-by-day counts kept from the first query would have /a at 1 and leave it out.
    assert_eq!(top(json!(["2024-03-03", "2024-03-05"])), json!([{"dimensions": ["/b"], "metrics": [2]}]));
    assert_eq!(top(json!(["2024-03-03", "2024-03-06"])), json!([{"dimensions": ["/a"], "metrics": [2]}]));
    // Ending at noon on 03-06, the range's whole days end before the session starts and the rest begins after
    // it ends: kept sets of the days merged with the rest would leave it out too.
    let to_noon = json!(["2024-03-03T00:00:00+00:00", "2024-03-06T12:00:00+00:00"]);
    assert_eq!(top(to_noon), json!([{"dimensions": ["/a"], "metrics": [2]}]));
}

#[test]
fn a_session_across_the_end_of_the_kept_days_counts_once() {
    let s = Server::start();
    let (domain, key) = s.setup_site("enterprise", json!({}));
    // Visitor 1's session enters on /a at 03-05 23:50 and goes on past midnight; /a has one more visit.
    let mut lines = vec![visit(1, "05 23:50:00", "/a"), visit(1, "06 00:10:00", "/x"), visit(2, "05 10:00:00", "/a")];
    // Enough other entry pages for the top-1 breakdown to rule some out (and so to read candidates only).
    lines.extend((0..12).map(|i| visit(10 + i, "04 09:00:00", &format!("/z{i}"))));
    s.import(&domain, &lines);
    // The range's whole days end at 03-06 00:00, where the rest (read each time) begins: the session belongs
    // to both parts. Its visitor is one value of a set either way; as a visit it must not count twice.
    let body = json!({"site_id": domain, "metrics": ["visitors", "visits"], "dimensions": ["visit:entry_page"],
                      "date_range": ["2024-03-03T00:00:00+00:00", "2024-03-06T12:00:00+00:00"],
                      "pagination": {"limit": 1}});
    for _ in 0..2 {
        assert_eq!(s.results(&key, body.clone()), json!([{"dimensions": ["/a"], "metrics": [2, 2]}]));
    }
    let visitors_only = json!({"site_id": domain, "metrics": ["visitors"], "dimensions": ["visit:entry_page"],
                               "date_range": ["2024-03-03T00:00:00+00:00", "2024-03-06T12:00:00+00:00"],
                               "pagination": {"limit": 1}});
    for _ in 0..2 {
        assert_eq!(s.results(&key, visitors_only.clone()), json!([{"dimensions": ["/a"], "metrics": [2]}]));
    }
}

#[test]
fn a_goal_added_without_a_write_is_counted_at_once() {
    let s = Server::start();
    let (domain, key) = s.setup_site("enterprise", json!({"goals": [{"event_name": "Signup"}]}));
    let at = |user: u64, name: &str, page: &str| json!({"name": name, "timestamp": "2024-03-05 10:00:00", "user_id": user, "pathname": page});
    s.import(&domain, &[at(1, "pageview", "/x"), at(2, "pageview", "/x"), at(2, "Signup", "/x")]);
    let body = json!({"site_id": domain, "metrics": ["visitors", "events"], "dimensions": ["event:goal"],
                      "date_range": ["2024-03-01", "2024-03-10"]});
    for _ in 0..2 {
        assert_eq!(s.results(&key, body.clone()), json!([{"dimensions": ["Signup"], "metrics": [1, 1]}]));
    }
    // A new goal changes no stored row (and no data version): what was kept for the old goals must not answer.
    let goal = serde_json::to_vec(&json!({"site_id": domain, "goal_type": "page", "page_path": "/x"})).unwrap();
    let auth = format!("Bearer {key}");
    let headers = [("Authorization", auth.as_str()), ("Content-Type", "application/json")];
    let (status, text, _) = s.send("PUT", "/api/v1/sites/goals", &headers, Some(&goal));
    assert_eq!(status, 200, "{text}");
    let both = json!([{"dimensions": ["Visit /x"], "metrics": [2, 2]}, {"dimensions": ["Signup"], "metrics": [1, 1]}]);
    assert_eq!(s.results(&key, body), both);
}

#[test]
fn a_partial_first_day_is_kept_from_the_range_start_only() {
    let s = Server::start();
    let (domain, key) = s.setup_site("enterprise", json!({}));
    let at = |user: u64, time: &str| json!({"timestamp": format!("2024-03-{time}"), "user_id": user, "pathname": "/"});
    s.import(&domain, &[at(1, "02 14:00:00"), at(2, "02 23:00:00"), at(3, "03 10:00:00")]);
    let day = |from: &str| {
        let body = json!({"site_id": domain, "metrics": ["visitors"], "dimensions": ["time:day"],
                          "date_range": [from, "2024-03-03T23:59:59+00:00"]});
        s.results(&key, body)
    };
    let series = |first: u64| json!([{"dimensions": ["2024-03-02"], "metrics": [first]}, {"dimensions": ["2024-03-03"], "metrics": [1]}]);
    // Each range's first day is over and partial; each is kept from its own start.
    for _ in 0..2 {
        assert_eq!(day("2024-03-02T13:30:00+00:00"), series(2));
        assert_eq!(day("2024-03-02T20:00:00+00:00"), series(1));
    }
}
