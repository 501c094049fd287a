//! Times SQL statements on a Tally DuckDB file, with Tally's functions registered (e.g. `tally_uniq`):
//! the tool behind the query-engine notes in docs/benchmarks.md.
//!
//! `tally-sql <events.duckdb> [--reps N] "SELECT ..." ["SELECT ..." ...]`

use clap::Parser;
use std::time::Instant;
use tally_store::duck::DuckEventStore;
use tally_store::EventStore;

#[derive(Parser)]
struct Args {
    db: std::path::PathBuf,
    #[arg(long, default_value_t = 5)]
    reps: usize,
    sql: Vec<String>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    tally_store::duck::tune_allocator();
    let store = DuckEventStore::open(&args.db, 1).map_err(|e| anyhow::anyhow!("{e}"))?;
    for sql in &args.sql {
        let mut times = Vec::new();
        let mut rows = Vec::new();
        for _ in 0..args.reps.max(1) {
            let t = Instant::now();
            rows = store.query(sql, &[]).map_err(|e| anyhow::anyhow!("{sql}: {e}"))?;
            times.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        times.sort_by(|a, b| a.total_cmp(b));
        println!("{:>9.1} ms median  {:>9.1} ms min  {} rows  {sql}", times[times.len() / 2], times[0], rows.len());
        for r in rows.iter().take(3) {
            println!("            {r:?}");
        }
    }
    Ok(())
}
