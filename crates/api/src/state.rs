//! Shared server state handed to every handler.

use crate::ratelimit::RateLimiter;
use std::sync::Arc;
use tally_ingest::Ingestor;
use tally_store::{ConfigStore, EventStore, Plan};

#[derive(Clone, Debug)]
pub struct Settings {
    /// Enables the operator API when set.
    pub admin_token: Option<String>,
    /// Plan of teams created without one.
    pub default_plan: Plan,
    /// Hourly API request limit of teams without their own, and of legacy (user) keys.
    pub hourly_api_limit: i64,
    /// Public base URL (for shared links).
    pub base_url: String,
}

pub struct AppState {
    pub config: Arc<dyn ConfigStore>,
    pub events: Arc<dyn EventStore>,
    pub ingestor: Arc<Ingestor>,
    pub settings: Settings,
    pub rate: RateLimiter,
    /// First native event per site (the expensive part of `date_range: "all"`), kept while no write touches
    /// the days up to it.
    pub native_start: parking_lot::Mutex<std::collections::HashMap<i64, FirstEvent>>,
    /// Rows of day, week and month series for buckets that are over, reused while their data is unchanged
    /// (`None`: nothing is kept).
    pub period_rollups: Option<Arc<tally_query::engine::run::rollup::PeriodRollups>>,
}

pub type SharedState = Arc<AppState>;

/// A site's first native event as last read: from which `native_stats_start_at`, and the store's data
/// version of the days from there to the event (see `tally_store::versions`) when it was read.
#[derive(Clone, Copy, Debug)]
pub struct FirstEvent {
    pub since: chrono::NaiveDateTime,
    pub first: Option<chrono::NaiveDateTime>,
    pub version: u64,
}
