//! Query benchmark: a realistic dataset loaded through the bulk import, then the dashboard's query mix timed
//! through HTTP and in-process, where every SQL statement the planner emits is also timed on its own so
//! Tally's overhead over the raw engine time can be reported.

use anyhow::Context;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use std::cell::RefCell;
use std::time::{Duration, Instant};
use tally_query::context::{Goal, SiteContext};
use tally_query::engine::{Cell, DuckDb, Param, Runner};
use tally_store::duck::DuckEventStore;

fn zipf(rng: &mut impl Rng, n: usize, s: f64) -> usize {
    // Inverse-CDF over 1/(i+1)^s weights, cheap enough for data generation.
    let h: f64 = (1..=n).map(|i| 1.0 / (i as f64).powf(s)).sum();
    let mut x = rng.random::<f64>() * h;
    for i in 0..n {
        x -= 1.0 / ((i + 1) as f64).powf(s);
        if x <= 0.0 {
            return i;
        }
    }
    n - 1
}

/// NDJSON lines of a site with `events` events over 90 days ending at `end` (UTC seconds).
pub fn dataset(events: usize, end: i64, seed: u64) -> Vec<String> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let pages: Vec<String> = (0..500).map(|i| format!("/page/{i}")).collect();
    let sources = [
        "",
        "Google",
        "Bing",
        "DuckDuckGo",
        "Twitter",
        "Facebook",
        "Reddit",
        "news.ycombinator.com",
        "GitHub",
        "Newsletter",
    ];
    let countries = ["US", "DE", "GB", "FR", "IN", "BR", "CA", "NL", "EE", "JP", "ES", "IT", "PL", "SE", "AU"];
    let browsers = ["Chrome", "Safari", "Firefox", "Microsoft Edge", "Samsung Browser", "Opera"];
    let oses = ["Windows", "Mac", "iOS", "Android", "GNU/Linux"];
    let devices = ["Desktop", "Mobile", "Tablet"];
    let plans = ["free", "pro", "team"];
    let start = end - 90 * 86400;
    let mut lines = Vec::with_capacity(events + events / 4);
    let mut session = 0u64;
    while lines.len() < events {
        session += 1;
        let user = rng.random_range(0..(events as u64 / 3).max(1));
        let mut t = rng.random_range(start..end - 3600);
        let src = sources[zipf(&mut rng, sources.len(), 1.0)];
        let attrs = json!({
            "referrer_source": src, "country_code": countries[zipf(&mut rng, countries.len(), 1.0)],
            "browser": browsers[zipf(&mut rng, browsers.len(), 1.2)], "operating_system": oses[zipf(&mut rng, oses.len(), 1.0)],
            "screen_size": devices[zipf(&mut rng, devices.len(), 1.0)], "hostname": "bench.example",
        });
        let n = 1 + zipf(&mut rng, 10, 1.0);
        for _ in 0..n {
            let mut e = attrs.clone();
            e["timestamp"] =
                json!(chrono::DateTime::from_timestamp(t, 0).unwrap().format("%Y-%m-%d %H:%M:%S").to_string());
            e["user_id"] = json!(user);
            e["session_id"] = json!(session);
            e["pathname"] = json!(pages[zipf(&mut rng, pages.len(), 1.1)]);
            lines.push(e.to_string());
            t += rng.random_range(5..300);
        }
        if rng.random_ratio(1, 10) {
            let mut e = attrs.clone();
            e["name"] = json!("Signup");
            e["timestamp"] =
                json!(chrono::DateTime::from_timestamp(t, 0).unwrap().format("%Y-%m-%d %H:%M:%S").to_string());
            e["user_id"] = json!(user);
            e["session_id"] = json!(session);
            e["pathname"] = json!("/signup");
            e["props"] = json!({"plan": plans[zipf(&mut rng, plans.len(), 1.0)]});
            if rng.random_ratio(1, 5) {
                e["name"] = json!("Purchase");
                e["revenue_reporting_amount"] = json!(format!("{}.99", rng.random_range(5..200)));
                e["revenue_reporting_currency"] = json!("USD");
            }
            lines.push(e.to_string());
        }
    }
    lines
}

/// The dashboard's query mix for one date range.
pub fn mix(site: &str, range: &str) -> Vec<(String, Value)> {
    let q = |metrics: Value, extra: Value| {
        let mut b = json!({"site_id": site, "metrics": metrics, "date_range": range});
        for (k, v) in extra.as_object().unwrap() {
            b[k] = v.clone();
        }
        b
    };
    let top = |dim: &str| q(json!(["visitors"]), json!({"dimensions": [dim], "pagination": {"limit": 10}}));
    vec![
        ("top stats".into(), q(json!(["visitors", "visits", "pageviews", "bounce_rate", "visit_duration"]), json!({}))),
        ("timeseries by day".into(), q(json!(["visitors", "pageviews"]), json!({"dimensions": ["time:day"]}))),
        ("top sources".into(), top("visit:source")),
        (
            "top pages".into(),
            q(json!(["visitors", "pageviews"]), json!({"dimensions": ["event:page"], "pagination": {"limit": 10}})),
        ),
        ("top entry pages".into(), top("visit:entry_page")),
        ("top countries".into(), top("visit:country")),
        ("top browsers".into(), top("visit:browser")),
        ("top OS".into(), top("visit:os")),
        ("top devices".into(), top("visit:device")),
        (
            "goal conversions".into(),
            q(json!(["visitors", "events", "conversion_rate"]), json!({"dimensions": ["event:goal"]})),
        ),
    ]
}

/// Times each statement the engine runs (through the API's store runner).
struct TimedRunner {
    inner: tally_api::stats::StoreRunner,
    sql_time: RefCell<Duration>,
}

impl Runner for TimedRunner {
    fn run(&self, sql: &str, params: &[Param]) -> Result<Vec<Vec<Cell>>, String> {
        let t = Instant::now();
        let rows = self.inner.run(sql, params);
        *self.sql_time.borrow_mut() += t.elapsed();
        rows
    }
}

fn median_p95(mut v: Vec<f64>) -> (f64, f64) {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    (v[v.len() / 2], v[((v.len() as f64 * 0.95) as usize).min(v.len() - 1)])
}

/// Times the mix through HTTP against a running server.
pub fn time_http(
    agent: &ureq::Agent,
    base: &str,
    key: &str,
    site: &str,
    reps: usize,
) -> anyhow::Result<Vec<(String, String, f64, f64)>> {
    let mut out = Vec::new();
    for range in ["30d", "all"] {
        for (name, body) in mix(site, range) {
            let mut times = Vec::new();
            for _ in 0..reps {
                let t = Instant::now();
                let mut r = agent
                    .post(format!("{base}/api/v2/query"))
                    .header("Authorization", format!("Bearer {key}"))
                    .send_json(&body)?;
                let text = r.body_mut().read_to_string()?;
                anyhow::ensure!(r.status() == 200, "{name}: {text}");
                times.push(t.elapsed().as_secs_f64() * 1000.0);
            }
            let (m, p) = median_p95(times);
            out.push((name, range.to_string(), m, p));
        }
    }
    Ok(out)
}

/// Times the mix in-process on the (stopped server's) DuckDB file: engine total vs the SQL alone.
pub fn time_in_process(
    db: &std::path::Path,
    site_id: i64,
    site: &str,
    reps: usize,
) -> anyhow::Result<Vec<(String, String, f64, f64)>> {
    let store: std::sync::Arc<dyn tally_store::EventStore> =
        std::sync::Arc::new(DuckEventStore::open(db, 1).context("opening the event store")?);
    let ctx = SiteContext {
        domain: site.into(),
        timezone: chrono_tz::UTC,
        goals: ["Signup", "Purchase"]
            .iter()
            .enumerate()
            .map(|(i, g)| Goal {
                id: i as i64 + 1,
                display_name: g.to_string(),
                event_name: Some(g.to_string()),
                page_path: None,
                scroll_threshold: -1,
                currency: None,
                custom_props: vec![],
            })
            .collect(),
        segments: vec![],
        props_available: true,
        revenue_available: true,
        stats_start_date: Some(chrono::Utc::now().date_naive() - chrono::Duration::days(91)),
        native_stats_start_at: chrono::NaiveDate::from_ymd_opt(2000, 1, 1).unwrap().and_hms_opt(0, 0, 0).unwrap(),
        legacy_time_on_page_cutoff: None,
        imports: vec![],
    };
    let mut out = Vec::new();
    for range in ["30d", "all"] {
        for (name, body) in mix(site, range) {
            let mut engine = Vec::new();
            let mut raw = Vec::new();
            for _ in 0..reps {
                let runner = TimedRunner {
                    inner: tally_api::stats::StoreRunner(store.clone()),
                    sql_time: RefCell::new(Duration::ZERO),
                };
                let t = Instant::now();
                let q = tally_query::parse_query(&body, &ctx, chrono::Utc::now())
                    .map_err(|e| anyhow::anyhow!(e.message))?;
                tally_query::engine::execute(&q, site_id, &DuckDb, &runner).map_err(|e| anyhow::anyhow!(e))?;
                engine.push(t.elapsed().as_secs_f64() * 1000.0);
                raw.push(runner.sql_time.borrow().as_secs_f64() * 1000.0);
            }
            out.push((name, range.to_string(), median_p95(engine).0, median_p95(raw).0));
        }
    }
    Ok(out)
}
