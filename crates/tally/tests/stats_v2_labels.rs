//! Labels of empty values through the real server: an empty source is "Direct / None", an empty browser
//! "(not set)", and a stored value equal to the label is the same group (as Plausible groups by the shown
//! value), with and without the top-N pruning of large breakdowns.

mod common;
use common::Server;
use serde_json::{json, Value};

fn session(user_id: u64, source: &str, browser: &str) -> Value {
    json!({"timestamp": format!("2021-01-01 {:02}:00:00", user_id % 24), "user_id": user_id, "pathname": "/",
           "referrer_source": source, "browser": browser})
}

#[test]
fn a_stored_label_and_the_empty_value_are_one_group() {
    let s = Server::start();
    let (domain, key) = s.setup_site("enterprise", json!({}));
    let mut lines = vec![
        session(1, "", ""),
        session(2, "", "Chrome"),
        session(3, "Direct / None", "(not set)"),
        session(4, "Direct / None", "Chrome"),
    ];
    // Twelve other sources with three visitors each: enough groups for the pruned path of a top-1 breakdown.
    for i in 0..12u64 {
        for j in 0..3u64 {
            lines.push(session(100 + i * 3 + j, &format!("Source {i}"), "Firefox"));
        }
    }
    s.import(&domain, &lines);
    let query = |dim: &str, limit: Option<u64>| {
        let mut body = json!({"site_id": domain, "metrics": ["visitors"], "date_range": ["2021-01-01", "2021-01-01"],
                              "dimensions": [dim]});
        if let Some(l) = limit {
            body["pagination"] = json!({"limit": l});
        }
        s.results(&key, body)
    };

    // Every group, read in full.
    let all = query("visit:source", None);
    assert_eq!(all.as_array().unwrap().len(), 13, "{all}");
    assert_eq!(all[0], json!({"dimensions": ["Direct / None"], "metrics": [4]}));
    // Top 1 of 13 groups: the candidates are read by value, the empty one included.
    assert_eq!(query("visit:source", Some(1)), json!([{"dimensions": ["Direct / None"], "metrics": [4]}]));
    assert_eq!(
        query("visit:browser", None),
        json!([
            {"dimensions": ["Firefox"], "metrics": [36]},
            {"dimensions": ["(not set)"], "metrics": [2]},
            {"dimensions": ["Chrome"], "metrics": [2]}
        ])
    );
}
