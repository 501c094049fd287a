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

/// A site's traffic over 90 days ending at `end` (UTC seconds), generated as NDJSON in chunks so that
/// 100M events never sit in memory at once. Sessions start in chronological order, as a traffic log
/// would; each has 1–10 pageviews (Zipf) a few seconds to minutes apart; pages (500), sources,
/// countries, browsers, OS and devices are Zipf-distributed; 10% of sessions end with a `Signup` event
/// with a `plan` prop, a fifth of those a `Purchase` with revenue instead.
pub struct Dataset {
    rng: rand::rngs::StdRng,
    target: usize,
    emitted: usize,
    session: u64,
    users: u64,
    t: f64,
    gap: f64,
    zipf: ZipfTables,
}

struct ZipfTables {
    pages: Vec<f64>,
    sources: Vec<f64>,
    countries: Vec<f64>,
    browsers: Vec<f64>,
    oses: Vec<f64>,
    devices: Vec<f64>,
    lengths: Vec<f64>,
    plans: Vec<f64>,
}

/// Cumulative Zipf weights over `n` ranks.
fn zipf_cdf(n: usize, s: f64) -> Vec<f64> {
    let mut acc = 0.0;
    let mut v: Vec<f64> = (1..=n)
        .map(|i| {
            acc += 1.0 / (i as f64).powf(s);
            acc
        })
        .collect();
    v.iter_mut().for_each(|x| *x /= acc);
    v
}

fn pick(rng: &mut impl Rng, cdf: &[f64]) -> usize {
    let x = rng.random::<f64>();
    cdf.partition_point(|&c| c < x).min(cdf.len() - 1)
}

const SOURCES: [&str; 10] = [
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
const COUNTRIES: [&str; 15] =
    ["US", "DE", "GB", "FR", "IN", "BR", "CA", "NL", "EE", "JP", "ES", "IT", "PL", "SE", "AU"];
const BROWSERS: [&str; 6] = ["Chrome", "Safari", "Firefox", "Microsoft Edge", "Samsung Browser", "Opera"];
const OSES: [&str; 5] = ["Windows", "Mac", "iOS", "Android", "GNU/Linux"];
const DEVICES: [&str; 3] = ["Desktop", "Mobile", "Tablet"];
const PLANS: [&str; 3] = ["free", "pro", "team"];

impl Dataset {
    pub fn new(events: usize, end: i64, seed: u64) -> Self {
        // ≈ 3.5 events per session (1 + Zipf(10) pageviews, plus a custom event in 10% of sessions).
        let sessions = (events as f64 / 3.51).max(1.0);
        let span = 90.0 * 86400.0 - 3600.0;
        Dataset {
            rng: rand::rngs::StdRng::seed_from_u64(seed),
            target: events,
            emitted: 0,
            session: 0,
            users: (events as u64 / 3).max(1),
            t: (end - 90 * 86400) as f64,
            gap: span / sessions,
            zipf: ZipfTables {
                pages: zipf_cdf(500, 1.1),
                sources: zipf_cdf(SOURCES.len(), 1.0),
                countries: zipf_cdf(COUNTRIES.len(), 1.0),
                browsers: zipf_cdf(BROWSERS.len(), 1.2),
                oses: zipf_cdf(OSES.len(), 1.0),
                devices: zipf_cdf(DEVICES.len(), 1.0),
                lengths: zipf_cdf(10, 1.0),
                plans: zipf_cdf(PLANS.len(), 1.0),
            },
        }
    }

    /// The next NDJSON body of whole sessions with at least `lines` lines (empty when done) and its line count.
    pub fn next_body(&mut self, lines: usize) -> (String, usize) {
        use std::fmt::Write;
        let mut out = String::with_capacity(lines * 260);
        let mut n = 0;
        while n < lines && self.emitted < self.target {
            let r = &mut self.rng;
            self.session += 1;
            self.t += r.random::<f64>() * 2.0 * self.gap;
            let user = r.random_range(0..self.users);
            let z = &self.zipf;
            let attrs = format!(
                r#""referrer_source":"{}","country_code":"{}","browser":"{}","operating_system":"{}","screen_size":"{}","hostname":"bench.example","user_id":{user},"session_id":{}"#,
                SOURCES[pick(r, &z.sources)],
                COUNTRIES[pick(r, &z.countries)],
                BROWSERS[pick(r, &z.browsers)],
                OSES[pick(r, &z.oses)],
                DEVICES[pick(r, &z.devices)],
                self.session
            );
            let mut t = self.t as i64;
            let stamp = |t: i64| chrono::DateTime::from_timestamp(t, 0).unwrap().format("%Y-%m-%d %H:%M:%S");
            for _ in 0..1 + pick(r, &z.lengths) {
                let page = pick(r, &z.pages);
                let _ = writeln!(out, r#"{{"timestamp":"{}","pathname":"/page/{page}",{attrs}}}"#, stamp(t));
                n += 1;
                self.emitted += 1;
                t += r.random_range(5..300);
            }
            if r.random_ratio(1, 10) {
                let plan = PLANS[pick(r, &z.plans)];
                let (name, revenue) = if r.random_ratio(1, 5) {
                    (
                        "Purchase",
                        format!(
                            r#","revenue_reporting_amount":"{}.99","revenue_reporting_currency":"USD""#,
                            r.random_range(5..200)
                        ),
                    )
                } else {
                    ("Signup", String::new())
                };
                let _ = writeln!(
                    out,
                    r#"{{"name":"{name}","timestamp":"{}","pathname":"/signup","props":{{"plan":"{plan}"}}{revenue},{attrs}}}"#,
                    stamp(t)
                );
                n += 1;
                self.emitted += 1;
            }
        }
        (out, n)
    }
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
    fn period_rollups(&self) -> Option<&tally_query::engine::run::rollup::PeriodRollups> {
        self.inner.period_rollups()
    }
    fn data_version(
        &self,
        site_id: i64,
        table: tally_query::engine::Table,
        from: chrono::NaiveDateTime,
        to: chrono::NaiveDateTime,
    ) -> u64 {
        self.inner.data_version(site_id, table, from, to)
    }
    fn session_order_version(&self, site_id: i64) -> u64 {
        self.inner.session_order_version(site_id)
    }
    fn run(&self, sql: &str, params: &[Param]) -> Result<Vec<Vec<Cell>>, String> {
        // `TALLY_BENCH_PRINT_SQL=1 tally-query-bench --engine-only …` prints what the planner emits.
        if std::env::var_os("TALLY_BENCH_PRINT_SQL").is_some() {
            eprintln!("SQL: {sql}\nPARAMS: {params:?}");
        }
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

/// One query's times: the first run (nothing kept yet from earlier runs: no period rollups), then the median
/// and 95th percentile of all runs; in-process, `raw` is the median time of the SQL alone.
pub struct Timing {
    pub name: String,
    pub range: String,
    pub first: f64,
    pub median: f64,
    pub p95: f64,
    pub raw: f64,
}

/// Times the mix through HTTP against a running server.
pub fn time_http(agent: &ureq::Agent, base: &str, key: &str, site: &str, reps: usize) -> anyhow::Result<Vec<Timing>> {
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
            let first = times[0];
            let (median, p95) = median_p95(times);
            out.push(Timing { name, range: range.to_string(), first, median, p95, raw: f64::NAN });
        }
    }
    Ok(out)
}

/// Times the mix in-process on the (stopped server's) DuckDB file: engine total vs the SQL alone.
/// `only`: the queries whose name and range (`"top pages all"`) contain it (all when `None`).
pub fn time_in_process(
    db: &std::path::Path,
    site_id: i64,
    site: &str,
    reps: usize,
    only: Option<&str>,
) -> anyhow::Result<Vec<Timing>> {
    let rollups = std::sync::Arc::new(tally_query::engine::run::rollup::PeriodRollups::new(200_000));
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
            if only.is_some_and(|o| !format!("{name} {range}").contains(o)) {
                continue;
            }
            let mut engine = Vec::new();
            let mut raw = Vec::new();
            for _ in 0..reps {
                let runner = TimedRunner {
                    inner: tally_api::stats::StoreRunner { events: store.clone(), rollups: Some(rollups.clone()) },
                    sql_time: RefCell::new(Duration::ZERO),
                };
                let t = Instant::now();
                let q = tally_query::parse_query(&body, &ctx, chrono::Utc::now())
                    .map_err(|e| anyhow::anyhow!(e.message))?;
                tally_query::engine::execute(&q, site_id, &DuckDb, &runner).map_err(|e| anyhow::anyhow!(e))?;
                engine.push(t.elapsed().as_secs_f64() * 1000.0);
                raw.push(runner.sql_time.borrow().as_secs_f64() * 1000.0);
            }
            let first = engine[0];
            let (median, p95) = median_p95(engine);
            out.push(Timing { name, range: range.to_string(), first, median, p95, raw: median_p95(raw).0 });
        }
    }
    Ok(out)
}

/// One line of the estimate report: groups counted, groups above 65,536 (estimated), max and mean
/// relative error of the estimated groups, and the time of `tally_uniq` vs exact `count(DISTINCT)`.
pub struct EstimateError {
    pub what: String,
    pub groups: usize,
    pub estimated: usize,
    pub max_err: f64,
    pub mean_err: f64,
    pub uniq_ms: f64,
    pub exact_ms: f64,
}

/// Compares `tally_uniq` with exact `count(DISTINCT)` on the loaded data (whole 90 days).
pub fn estimate_errors(db: &std::path::Path) -> anyhow::Result<Vec<EstimateError>> {
    use tally_store::{EventStore, SqlValue};
    let store = DuckEventStore::open(db, 1).context("opening the event store")?;
    let int = |v: &SqlValue| match v {
        SqlValue::Int(i) => *i as f64,
        SqlValue::UInt(u) => *u as f64,
        _ => f64::NAN,
    };
    let cases = [
        ("visitors, whole range", "'all'", "events WHERE name <> 'engagement'", "user_id"),
        ("visitors by page", "pathname", "events WHERE name = 'pageview'", "user_id"),
        ("visitors by day", "CAST(timestamp AS DATE)", "events WHERE name <> 'engagement'", "user_id"),
        ("visits by page", "pathname", "events WHERE name = 'pageview'", "session_id"),
        ("visitors by source (sessions)", "referrer_source", "sessions_all WHERE true", "user_id"),
    ];
    let mut out = Vec::new();
    for (what, group, from, col) in cases {
        let time = |agg: &str| -> anyhow::Result<(Vec<tally_store::Row>, f64)> {
            let sql = format!("SELECT {group} AS g, {agg} FROM {from} AND site_id = 1 GROUP BY g ORDER BY g");
            let t = Instant::now();
            let rows = store.query(&sql, &[]).map_err(|e| anyhow::anyhow!("{e}"))?;
            Ok((rows, t.elapsed().as_secs_f64() * 1000.0))
        };
        let (uniq, uniq_ms) = time(&format!("tally_uniq({col})"))?;
        let (exact, exact_ms) = time(&format!("count(DISTINCT {col})"))?;
        let errs: Vec<f64> = uniq
            .iter()
            .zip(&exact)
            .filter(|(_, e)| int(&e[1]) > 65_536.0)
            .map(|(u, e)| (int(&u[1]) - int(&e[1])).abs() / int(&e[1]))
            .collect();
        for (u, e) in uniq.iter().zip(&exact) {
            anyhow::ensure!(int(&e[1]) > 65_536.0 || int(&u[1]) == int(&e[1]), "{what}: inexact small group");
        }
        out.push(EstimateError {
            what: what.into(),
            groups: exact.len(),
            estimated: errs.len(),
            max_err: errs.iter().copied().fold(0.0, f64::max),
            mean_err: if errs.is_empty() { 0.0 } else { errs.iter().sum::<f64>() / errs.len() as f64 },
            uniq_ms,
            exact_ms,
        });
    }
    Ok(out)
}
