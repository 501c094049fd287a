//! The `tally` binary: `tally serve` runs the server; `tally admin …` drives the operator API.

mod admin;

use anyhow::Context;
use clap::{Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tally_api::{AppState, Settings};
use tally_enrich::{GeoDb, UaParser};
use tally_ingest::salts::Salts;
use tally_ingest::{Buffer, Ingestor};
use tally_store::duck::{DuckEventStore, DuckSettings};
use tally_store::sqlite::SqliteConfigStore;
use tally_store::{ConfigStore, EventStore, Plan};

#[derive(Parser)]
#[command(name = "tally", version, about = "Tally: a Plausible-compatible web analytics server")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve(ServeArgs),
    /// Call the operator API of a running server (set-up from a shell).
    #[command(subcommand)]
    Admin(admin::AdminCommand),
}

#[derive(Parser, Debug, Clone)]
struct ServeArgs {
    /// Directory holding all embedded state (events.duckdb, config.sqlite3).
    #[arg(long, env = "TALLY_DATA_DIR", default_value = "./tally-data")]
    data_dir: PathBuf,
    /// Address to listen on.
    #[arg(long, env = "TALLY_LISTEN", default_value = "127.0.0.1:8000")]
    listen: SocketAddr,
    /// Enables the operator API (/api/admin/*), authenticated by `Authorization: Bearer <token>`.
    #[arg(long, env = "TALLY_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
    /// Plan of teams created without one: growth, business, enterprise or trial.
    #[arg(long, env = "TALLY_DEFAULT_PLAN", default_value = "enterprise")]
    default_plan: String,
    /// MaxMind DB (GeoLite2/DB-IP City format) used to locate visitors. Unset: no location.
    #[arg(long, env = "TALLY_GEOIP_DB")]
    geoip_db: Option<PathBuf>,
    /// How long an accepted event may wait in the write buffer before it is stored (ms).
    #[arg(long, env = "TALLY_FLUSH_INTERVAL_MS", default_value_t = 1000)]
    flush_interval_ms: u64,
    /// Events the write buffer holds before ingestion waits for a flush (back-pressure).
    #[arg(long, env = "TALLY_BUFFER_CAPACITY", default_value_t = 200_000)]
    buffer_capacity: usize,
    /// Memory DuckDB may use for caching data and running queries (its `memory_limit`, e.g. `1GB`,
    /// `512MB`); beyond it data is re-read from the OS page cache or spilled to the data directory.
    #[arg(long, env = "TALLY_DUCKDB_MEMORY", default_value = "512MB")]
    duckdb_memory: String,
    /// Rows kept for buckets that are over: of day, week and month series, and the per-day row counts of
    /// top-N page breakdowns (0: none are kept). The visitor sets of kept spans (breakdowns and totals) get
    /// room for 32 hashes per row besides.
    #[arg(long, env = "TALLY_ROLLUP_ROWS", default_value_t = 200_000)]
    rollup_rows: usize,
    /// Default hourly Stats/Sites API request limit per team (and per legacy key user).
    #[arg(long, env = "TALLY_HOURLY_API_LIMIT", default_value_t = 600)]
    hourly_api_limit: i64,
    /// Public base URL of this server (used in shared-link URLs).
    #[arg(long, env = "TALLY_BASE_URL", default_value = "http://localhost:8000")]
    base_url: String,
    /// Log format: text or json.
    #[arg(long, env = "TALLY_LOG_FORMAT", default_value = "text")]
    log_format: String,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => {
            tally_store::duck::tune_allocator();
            init_tracing(&args.log_format);
            let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
            rt.block_on(serve(args))
        }
        Command::Admin(cmd) => admin::run(cmd),
    }
}

fn init_tracing(format: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    if format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let default_plan = if Plan::is_valid_name(&args.default_plan) {
        Plan::named(&args.default_plan)
    } else {
        anyhow::bail!("unknown plan {:?} in TALLY_DEFAULT_PLAN", args.default_plan);
    };
    std::fs::create_dir_all(&args.data_dir).with_context(|| format!("creating {}", args.data_dir.display()))?;
    let config: Arc<dyn ConfigStore> = Arc::new(SqliteConfigStore::open(&args.data_dir.join("config.sqlite3"))?);
    let events: Arc<dyn EventStore> = Arc::new(DuckEventStore::open_with(
        &args.data_dir.join("events.duckdb"),
        2,
        &DuckSettings { memory_limit: Some(args.duckdb_memory.clone()) },
    )?);
    let geo = match &args.geoip_db {
        Some(p) => Some(Arc::new(GeoDb::open(p).map_err(|e| anyhow::anyhow!("opening {}: {e}", p.display()))?)),
        None => None,
    };
    let salts = Salts::load(config.clone())?;
    let buffer = Arc::new(Buffer::new(events.clone(), args.buffer_capacity.max(1)));
    let ingestor = Arc::new(Ingestor::new(config.clone(), buffer.clone(), salts, Arc::new(UaParser::new()), geo));
    ingestor.sessions.restore(events.live_sessions()?);
    let state = Arc::new(AppState {
        config,
        events: events.clone(),
        ingestor: ingestor.clone(),
        settings: Settings {
            admin_token: args.admin_token.clone().filter(|t| !t.is_empty()),
            default_plan,
            hourly_api_limit: args.hourly_api_limit,
            base_url: args.base_url.trim_end_matches('/').to_string(),
        },
        rate: Default::default(),
        native_start: Default::default(),
        period_rollups: (args.rollup_rows > 0)
            .then(|| Arc::new(tally_query::engine::run::rollup::PeriodRollups::new(args.rollup_rows))),
    });

    // Background writer: flush on a timer or when the buffer fills; housekeeping every 30 s.
    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    let flusher = {
        let ingestor = ingestor.clone();
        let interval = Duration::from_millis(args.flush_interval_ms.max(10));
        tokio::spawn(async move {
            let mut last_tick = std::time::Instant::now();
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(interval) => {}
                    _ = ingestor.buffer.wake.notified() => {}
                    _ = stop_rx.changed() => break,
                }
                if last_tick.elapsed() >= Duration::from_secs(30) {
                    ingestor.tick(chrono::Utc::now().naive_utc());
                    last_tick = std::time::Instant::now();
                }
                if let Err(e) = ingestor.buffer.flush().await {
                    tracing::error!(error = %e, "writing buffered events failed; will retry");
                }
            }
        })
    };

    let listener =
        tokio::net::TcpListener::bind(args.listen).await.with_context(|| format!("binding {}", args.listen))?;
    tracing::info!(listen = %args.listen, data_dir = %args.data_dir.display(), "tally listening");
    let app = tally_api::router(state);
    axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(shutdown_signal())
        .await?;

    tracing::info!("shutting down: flushing buffered events");
    let _ = stop_tx.send(true);
    let _ = flusher.await;
    let mut attempts = 0;
    loop {
        match ingestor.buffer.flush().await {
            Ok(_) => break,
            Err(e) if attempts < 10 => {
                attempts += 1;
                tracing::error!(error = %e, "final flush failed; retrying");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => anyhow::bail!("could not store buffered events: {e}"),
        }
    }
    events.checkpoint()?;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
