//! Ingestion benchmark: events/s and latency through `POST /api/event` over loopback with realistic user
//! agents and referrers, rows/s through the bulk NDJSON import, and the server's RSS (idle and peak).
//!
//! `cargo run --release -p tally-bench -- --events 200000 --connections 32 --import-rows 2000000`

mod server;

use server::BenchServer;

use clap::Parser;
use rand::{Rng, SeedableRng};
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[derive(Parser)]
struct Args {
    /// The tally binary (default: next to this one).
    #[arg(long)]
    bin: Option<std::path::PathBuf>,
    /// Events sent through POST /api/event.
    #[arg(long, default_value_t = 200_000)]
    events: usize,
    /// Concurrent keep-alive connections.
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// Rows loaded through the bulk import.
    #[arg(long, default_value_t = 2_000_000)]
    import_rows: usize,
    /// Rows per import request.
    #[arg(long, default_value_t = 250_000)]
    import_batch: usize,
}

const UAS: &[&str] = &[
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.144 Mobile Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.0.0",
    "Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.6 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 13; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/23.0 Chrome/115.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:120.0) Gecko/20100101 Firefox/120.0",
];
const REFERRERS: &[&str] = &[
    "",
    "",
    "",
    "https://www.google.com/",
    "https://duckduckgo.com/",
    "https://t.co/abc",
    "https://news.ycombinator.com/item?id=1",
    "https://www.reddit.com/r/rust/",
    "https://www.facebook.com/",
    "https://github.com/org/repo",
    "https://blog.example.org/post",
];
const PAGES: &[&str] = &[
    "/",
    "/pricing",
    "/blog",
    "/blog/post-1",
    "/blog/post-2",
    "/docs",
    "/docs/start",
    "/about",
    "/contact",
    "/signup",
];

fn zipf(rng: &mut impl Rng, n: usize) -> usize {
    // P(i) ~ 1/(i+1): inverse-CDF over harmonic weights.
    let h: f64 = (1..=n).map(|i| 1.0 / i as f64).sum();
    let mut x = rng.random::<f64>() * h;
    for i in 0..n {
        x -= 1.0 / (i + 1) as f64;
        if x <= 0.0 {
            return i;
        }
    }
    n - 1
}

async fn send_all(port: u16, reqs: Arc<Vec<Vec<u8>>>, start: usize, step: usize) -> anyhow::Result<Vec<Duration>> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await?;
    stream.set_nodelay(true)?;
    let mut lat = Vec::new();
    let mut buf = vec![0u8; 4096];
    let mut i = start;
    while i < reqs.len() {
        let t = Instant::now();
        stream.write_all(&reqs[i]).await?;
        // Read one response: headers then Content-Length bytes.
        let mut got = Vec::new();
        loop {
            let n = stream.read(&mut buf).await?;
            anyhow::ensure!(n > 0, "connection closed");
            got.extend_from_slice(&buf[..n]);
            if let Some(p) = got.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&got[..p]).to_lowercase();
                anyhow::ensure!(head.starts_with("http/1.1 202"), "unexpected answer: {head}");
                let len: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:").map(|v| v.trim().parse().unwrap_or(0)))
                    .unwrap_or(0);
                if got.len() >= p + 4 + len {
                    break;
                }
            }
        }
        lat.push(t.elapsed());
        i += step;
    }
    Ok(lat)
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let server = BenchServer::start(args.bin.clone(), &[])?;
    let (port, pid) = (server.base.rsplit(':').next().unwrap().parse::<u16>()?, server.pid);
    let admin = |path: &str, body: serde_json::Value| server.admin(path, body);
    let team = admin("/api/admin/teams", json!({"owner_email": "bench@example.test", "name": "Bench"}))?;
    admin("/api/admin/sites", json!({"team_id": team["id"], "domain": "bench.example"}))?;
    admin("/api/admin/sites", json!({"team_id": team["id"], "domain": "import.example"}))?;
    std::thread::sleep(Duration::from_secs(2));
    let idle_rss = server.status_kb("VmRSS:");

    // HTTP ingestion.
    let mut rng = rand::rngs::StdRng::seed_from_u64(42);
    let reqs: Vec<Vec<u8>> = (0..args.events)
        .map(|_| {
            let ua = UAS[zipf(&mut rng, UAS.len())];
            let r = REFERRERS[rng.random_range(0..REFERRERS.len())];
            let page = PAGES[zipf(&mut rng, PAGES.len())];
            let ip = format!("{}.{}.{}.{}", rng.random_range(1..223), rng.random::<u8>(), rng.random::<u8>(), rng.random_range(1..255));
            let name = if rng.random_ratio(1, 10) { "Signup" } else { "pageview" };
            let body = json!({"n": name, "u": format!("https://bench.example{page}?utm_campaign=c{}", rng.random_range(0..5)), "d": "bench.example", "r": r}).to_string();
            format!(
                "POST /api/event HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: {ua}\r\nX-Forwarded-For: {ip}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .into_bytes()
        })
        .collect();
    let reqs = Arc::new(reqs);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()?;
    let t0 = Instant::now();
    let mut lat: Vec<Duration> = rt.block_on(async {
        let mut handles = Vec::new();
        for c in 0..args.connections {
            handles.push(tokio::spawn(send_all(port, reqs.clone(), c, args.connections)));
        }
        let mut all = Vec::new();
        for h in handles {
            all.extend(h.await??);
        }
        anyhow::Ok(all)
    })?;
    let http_secs = t0.elapsed().as_secs_f64();
    let t1 = Instant::now();
    admin("/api/admin/flush", json!({}))?;
    let flush_secs = t1.elapsed().as_secs_f64();
    lat.sort();
    let pct = |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)].as_secs_f64() * 1000.0;
    let peak_after_http = server.status_kb("VmHWM:");

    // Bulk import (request bodies are generated before timing).
    let day0 = 1_700_000_000i64;
    let mut bodies = Vec::new();
    let mut made = 0usize;
    while made < args.import_rows {
        let n = args.import_batch.min(args.import_rows - made);
        let mut body = String::with_capacity(n * 200);
        for i in 0..n {
            let k = made + i;
            let t = chrono_like(day0 + (k as i64) * 2);
            let page = PAGES[zipf(&mut rng, PAGES.len())];
            body.push_str(&format!(
                "{{\"timestamp\":\"{t}\",\"user_id\":{},\"pathname\":\"{page}\",\"hostname\":\"import.example\",\"referrer_source\":\"Google\",\"browser\":\"Chrome\",\"operating_system\":\"Mac\",\"screen_size\":\"Desktop\",\"country_code\":\"EE\"}}\n",
                k / 4
            ));
        }
        bodies.push(body);
        made += n;
    }
    let mut imported = 0usize;
    let t2 = Instant::now();
    for body in &bodies {
        imported += server.import("import.example", body.as_bytes())? as usize;
    }
    let import_secs = t2.elapsed().as_secs_f64();
    let peak = server.status_kb("VmHWM:");
    let _ = pid;
    server.stop();

    println!("machine: {} cores", std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0));
    println!("idle RSS after start-up:        {:>10.1} MB", idle_rss as f64 / 1024.0);
    println!(
        "POST /api/event:                {:>10.0} events/s  ({} events, {} connections, {:.2} s)",
        args.events as f64 / http_secs,
        args.events,
        args.connections,
        http_secs
    );
    println!(
        "  latency p50 / p99 / max:      {:>7.2} / {:.2} / {:.2} ms",
        pct(0.50),
        pct(0.99),
        lat.last().unwrap().as_secs_f64() * 1000.0
    );
    println!("  flush of the tail:            {:>10.3} s", flush_secs);
    println!("  peak RSS after HTTP load:     {:>10.1} MB", peak_after_http as f64 / 1024.0);
    println!(
        "bulk import:                    {:>10.0} rows/s    ({} rows, {:.2} s)",
        imported as f64 / import_secs,
        imported,
        import_secs
    );
    println!("peak RSS overall:               {:>10.1} MB", peak as f64 / 1024.0);
    Ok(())
}

fn chrono_like(ts: i64) -> String {
    chrono::DateTime::from_timestamp(ts, 0).unwrap_or_default().format("%Y-%m-%d %H:%M:%S").to_string()
}
