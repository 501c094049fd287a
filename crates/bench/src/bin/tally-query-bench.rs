//! Query benchmark (issue 3): generates a realistic 90-day dataset, loads it through the bulk import, and
//! times the dashboard's query mix over `30d` and `all` — through HTTP (median and p95), and in-process
//! against the same DuckDB file with every planner statement also timed alone (Tally's overhead over the
//! raw engine). Reports the server's RSS.
//!
//! `cargo run --release -p tally-bench --bin tally-query-bench -- --events 1000000`

#[path = "../queries.rs"]
mod queries;
#[path = "../server.rs"]
mod server;

use server::BenchServer;

use clap::Parser;
use serde_json::json;
use std::time::Instant;

#[derive(Parser)]
struct Args {
    #[arg(long)]
    bin: Option<std::path::PathBuf>,
    /// Events in the dataset.
    #[arg(long, default_value_t = 1_000_000)]
    events: usize,
    /// Repetitions per query.
    #[arg(long, default_value_t = 7)]
    reps: usize,
    /// Keep the server's data directory (its path is printed) for `tally-sql`.
    #[arg(long)]
    keep: bool,
    /// Only time the engine in-process on a kept `events.duckdb` (no server, no load): for iterating on
    /// the engine between full runs.
    #[arg(long)]
    engine_only: Option<std::path::PathBuf>,
    /// With `--engine-only`: only the queries whose name and range contain this (`"top pages all"`).
    #[arg(long)]
    only: Option<String>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    tally_store::duck::tune_allocator(); // as `tally serve` does, for the in-process timings
    if let Some(db) = &args.engine_only {
        println!("| query | range | engine first run ms | engine median ms | raw SQL median ms | Tally / raw |");
        println!("|---|---|---|---|---|---|");
        for t in queries::time_in_process(db, 1, "bench.example", args.reps, args.only.as_deref())? {
            println!(
                "| {} | {} | {:.1} | {:.1} | {:.1} | {} |",
                t.name,
                t.range,
                t.first,
                t.median,
                t.raw,
                ratio(t.median, t.raw)
            );
        }
        return Ok(());
    }
    let server = BenchServer::start(args.bin.clone(), &[("TALLY_HOURLY_API_LIMIT", "100000000")])?;
    let admin = |path: &str, body: serde_json::Value| server.admin(path, body);
    let site = "bench.example";
    let team = admin("/api/admin/teams", json!({"owner_email": "bench@example.test", "name": "Bench"}))?;
    admin(
        "/api/admin/sites",
        json!({"team_id": team["id"], "domain": site, "goals": [{"event_name": "Signup"}, {"event_name": "Purchase", "currency": "USD"}]}),
    )?;
    let key = admin("/api/admin/api-keys", json!({"user_email": "bench@example.test", "team_id": team["id"]}))?["key"]
        .as_str()
        .unwrap()
        .to_string();

    let end = chrono::Utc::now().timestamp() - 86400;
    let mut data = queries::Dataset::new(args.events, end, 7);
    let (mut lines, mut load_s) = (0usize, 0.0f64);
    loop {
        let (body, n) = data.next_body(250_000);
        if n == 0 {
            break;
        }
        let t = Instant::now();
        server.import(site, body.as_bytes())?;
        load_s += t.elapsed().as_secs_f64();
        lines += n;
    }
    let loaded_rss = server.status_kb("VmRSS:");
    let http = queries::time_http(&server.agent, &server.base, &key, site, args.reps)?;
    let peak = server.status_kb("VmHWM:");
    let dir = server.stop();
    let db = dir.path().join("events.duckdb");
    let inproc = queries::time_in_process(&db, 1, site, args.reps, None)?;
    let errors = queries::estimate_errors(&db)?;
    if args.keep {
        println!("data directory kept: {}", dir.keep().display());
    }

    println!(
        "dataset: {} events ({} lines), loaded in {:.1} s ({:.0} rows/s)",
        args.events,
        lines,
        load_s,
        lines as f64 / load_s
    );
    println!("server RSS after load {:.0} MB, peak {:.0} MB", loaded_rss as f64 / 1024.0, peak as f64 / 1024.0);
    println!();
    println!(
        "| query | range | HTTP first run ms | HTTP median ms | HTTP p95 ms | engine median ms | raw SQL median ms | Tally / raw |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for (h, e) in http.iter().zip(&inproc) {
        println!(
            "| {} | {} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {} |",
            h.name,
            h.range,
            h.first,
            h.median,
            h.p95,
            e.median,
            e.raw,
            ratio(e.median, e.raw)
        );
    }
    println!();
    println!("| counted (whole range) | groups | estimated (> 65,536) | max error | mean error | tally_uniq ms | count(DISTINCT) ms |");
    println!("|---|---|---|---|---|---|---|");
    for e in errors {
        println!(
            "| {} | {} | {} | {:.2}% | {:.2}% | {:.1} | {:.1} |",
            e.what,
            e.groups,
            e.estimated,
            e.max_err * 100.0,
            e.mean_err * 100.0,
            e.uniq_ms,
            e.exact_ms
        );
    }
    Ok(())
}

/// Tally's time over the raw SQL time, or "—" when no SQL ran (the answer was kept).
fn ratio(engine_ms: f64, raw_ms: f64) -> String {
    if raw_ms >= 0.05 {
        format!("{:.2}", engine_ms / raw_ms)
    } else {
        "—".into()
    }
}
