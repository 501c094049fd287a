//! Tally's storage room: the traits the rest of the server writes and reads through, and their embedded
//! implementations (events in DuckDB, configuration in SQLite). Nothing outside this crate knows which
//! database is underneath.

pub mod config;
pub mod imported;
pub mod model;
pub mod versions;

#[cfg(feature = "embedded")]
pub mod duck;
#[cfg(feature = "embedded")]
pub mod sqlite;
#[cfg(feature = "embedded")]
pub mod uniq;

pub use config::{ConfigError, ConfigStore};
pub use imported::{ImportedRow, ImportedTable, ImportedValue, IMPORTED_TABLES};
pub use model::*;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0}")]
    Db(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// The event store: events, sessions and imported aggregates.
///
/// Sessions are kept as one row per session: a session that may still change lives in the *live* set and
/// is replaced whenever it changes; once it can no longer change (30 minutes without activity) it moves to
/// the final set. Queries read the union, so each session counts once without any collapsing.
pub trait EventStore: Send + Sync {
    /// Writes events and session states atomically.
    fn write(&self, batch: &WriteBatch) -> StoreResult<()>;
    /// Every live session (to rebuild the session cache at start-up).
    fn live_sessions(&self) -> StoreResult<Vec<SessionRow>>;
    fn write_imported(&self, rows: &[ImportedRow]) -> StoreResult<()>;
    /// Deletes all events, sessions and imported rows of a site.
    fn delete_site(&self, site_id: u64) -> StoreResult<()>;
    /// Runs a read-only query built by the query planner. Values are bound parameters.
    fn query(&self, sql: &str, params: &[SqlValue]) -> StoreResult<Vec<Row>>;
    /// Flushes storage to disk (checkpoint).
    fn checkpoint(&self) -> StoreResult<()>;
    /// The version of a site's `rows` counting in `[from, to)` (UTC: events by timestamp, sessions by last
    /// event): it changes whenever a write changes them (see [`versions`]).
    fn data_version(
        &self,
        site_id: u64,
        rows: versions::Rows,
        from: chrono::NaiveDateTime,
        to: chrono::NaiveDateTime,
    ) -> u64;
    /// A number that changes whenever a write may have stored a session of the site that ends before it
    /// starts (see [`versions`]).
    fn session_order_version(&self, site_id: u64) -> u64;
}
