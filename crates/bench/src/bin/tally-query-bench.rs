//! Query benchmark (issue 3): generates a realistic 90-day dataset, loads it through the bulk import, and
//! times the dashboard's query mix over `30d` and `all` — through HTTP (median and p95), and in-process
//! against the same DuckDB file with every planner statement also timed alone (Tally's overhead over the
//! raw engine). Reports the server's RSS.
//!
//! `cargo run --release -p tally-bench --bin tally-query-bench -- --events 1000000`

#[path = "../queries.rs"]
mod queries;

use anyhow::Context;
use clap::Parser;
use serde_json::json;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

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
}

fn rss_kb(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let bin = args.bin.clone().unwrap_or_else(|| std::env::current_exe().unwrap().with_file_name("tally"));
    let dir = tempfile::Builder::new().prefix("tally-query-bench").tempdir()?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let token = "bench-token";
    let mut child = Command::new(&bin)
        .arg("serve")
        .env("TALLY_DATA_DIR", dir.path())
        .env("TALLY_LISTEN", format!("127.0.0.1:{port}"))
        .env("TALLY_ADMIN_TOKEN", token)
        .env("TALLY_HOURLY_API_LIMIT", "100000000")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {}", bin.display()))?;
    let pid = child.id();
    let base = format!("http://127.0.0.1:{port}");
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(3600)))
        .build()
        .into();
    for _ in 0..300 {
        if agent.get(format!("{base}/api/health")).call().is_ok_and(|r| r.status() == 200) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let admin = |path: &str, body: serde_json::Value| -> anyhow::Result<serde_json::Value> {
        let mut r =
            agent.post(format!("{base}{path}")).header("Authorization", format!("Bearer {token}")).send_json(body)?;
        Ok(serde_json::from_str(&r.body_mut().read_to_string()?)?)
    };
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
    let lines = queries::dataset(args.events, end, 7);
    let t = Instant::now();
    for chunk in lines.chunks(250_000) {
        let body = chunk.join("\n");
        let mut r = agent
            .post(format!("{base}/api/admin/sites/{site}/events"))
            .header("Authorization", format!("Bearer {token}"))
            .header("Content-Type", "application/x-ndjson")
            .send(body.as_bytes())?;
        anyhow::ensure!(r.status() == 200, "import: {}", r.body_mut().read_to_string()?);
    }
    let load_s = t.elapsed().as_secs_f64();
    let loaded_rss = rss_kb(pid, "VmRSS:");
    let http = queries::time_http(&agent, &base, &key, site, args.reps)?;
    let peak = rss_kb(pid, "VmHWM:");
    let _ = Command::new("kill").arg("-TERM").arg(pid.to_string()).status();
    let _ = child.wait();
    let inproc = queries::time_in_process(&dir.path().join("events.duckdb"), 1, site, args.reps)?;

    println!(
        "dataset: {} events ({} lines), loaded in {:.1} s ({:.0} rows/s)",
        args.events,
        lines.len(),
        load_s,
        lines.len() as f64 / load_s
    );
    println!("server RSS after load {:.0} MB, peak {:.0} MB", loaded_rss as f64 / 1024.0, peak as f64 / 1024.0);
    println!();
    println!("| query | range | HTTP median ms | HTTP p95 ms | engine median ms | raw SQL median ms | Tally / raw |");
    println!("|---|---|---|---|---|---|---|");
    for ((name, range, hm, hp), (_, _, em, rm)) in http.iter().zip(&inproc) {
        println!(
            "| {name} | {range} | {hm:.1} | {hp:.1} | {em:.1} | {rm:.1} | {:.2} |",
            if *rm > 0.0 { em / rm } else { 0.0 }
        );
    }
    Ok(())
}
