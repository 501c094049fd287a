//! The embedded event store on DuckDB.
//!
//! Layout: `events` (one row per event), `sessions` (final sessions, one row each), `live_sessions`
//! (sessions that may still change, one row each, replaced on change) and the view `sessions_all`, their
//! union. Plausible keeps sessions in a VersionedCollapsingMergeTree (a +1 and a -1 row per change, summed
//! with `sign` at query time). DuckDB has no background collapsing, so sign rows would grow the table by
//! two rows per event forever and every session metric would have to aggregate them; replacing the one
//! live row instead keeps `sessions_all` at exactly one row per session, so queries count a session with a
//! plain `count(*)`. The live set is small (sessions active in the last ~30 minutes), which keeps the
//! delete-and-append replacement cheap; the final set is append-only and scanned in insertion (time) order.

use crate::imported::{ColKind, ImportedValue, IMPORTED_TABLES};
use crate::model::*;
use crate::{EventStore, ImportedRow, StoreError, StoreResult};
use chrono::{NaiveDate, NaiveDateTime};
use duckdb::types::{TimeUnit, Value};
use duckdb::{ffi, Connection};
use parking_lot::Mutex;
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

const ATTR_COLUMNS: &str = "referrer VARCHAR, referrer_source VARCHAR, utm_medium VARCHAR, utm_source VARCHAR, \
     utm_campaign VARCHAR, utm_content VARCHAR, utm_term VARCHAR, click_id_param VARCHAR, channel VARCHAR, \
     country_code VARCHAR, subdivision1_code VARCHAR, subdivision2_code VARCHAR, city_geoname_id UINTEGER, \
     screen_size VARCHAR, operating_system VARCHAR, operating_system_version VARCHAR, browser VARCHAR, \
     browser_version VARCHAR";

fn session_table_sql(name: &str) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {name} (site_id UBIGINT, session_id UBIGINT, user_id UBIGINT, \
         hostname VARCHAR, entry_page VARCHAR, exit_page VARCHAR, exit_page_hostname VARCHAR, \
         start TIMESTAMP, timestamp TIMESTAMP, is_bounce BOOLEAN, pageviews UINTEGER, events UINTEGER, \
         duration UINTEGER, {ATTR_COLUMNS}, entry_meta_key VARCHAR[], entry_meta_value VARCHAR[])"
    )
}

fn schema_sql() -> Vec<String> {
    let mut v = vec![
        format!(
            "CREATE TABLE IF NOT EXISTS events (site_id UBIGINT, timestamp TIMESTAMP, name VARCHAR, \
             user_id UBIGINT, session_id UBIGINT, hostname VARCHAR, pathname VARCHAR, {ATTR_COLUMNS}, \
             meta_key VARCHAR[], meta_value VARCHAR[], revenue_reporting_amount BIGINT, \
             revenue_reporting_currency VARCHAR, revenue_source_amount BIGINT, revenue_source_currency VARCHAR, \
             scroll_depth UTINYINT, engagement_time UINTEGER)"
        ),
        session_table_sql("sessions"),
        session_table_sql("live_sessions"),
        "CREATE OR REPLACE VIEW sessions_all AS SELECT * FROM sessions UNION ALL SELECT * FROM live_sessions"
            .to_string(),
    ];
    for t in IMPORTED_TABLES {
        let cols: Vec<String> = t
            .columns
            .iter()
            .map(|(c, k)| format!("{c} {}", if *k == ColKind::Text { "VARCHAR" } else { "BIGINT" }))
            .collect();
        v.push(format!(
            "CREATE TABLE IF NOT EXISTS {} (site_id UBIGINT, import_id BIGINT, date DATE, {})",
            t.name,
            cols.join(", ")
        ));
    }
    v
}

/// Revenue amounts are stored as exact integer thousandths (Plausible's Decimal(18, 3)).
pub fn decimal_to_milli(d: Decimal) -> i64 {
    (d * Decimal::from(1000)).round().to_i64().unwrap_or(0)
}

fn ts(t: NaiveDateTime) -> Value {
    Value::Timestamp(TimeUnit::Microsecond, t.and_utc().timestamp_micros())
}

fn list(v: &[String]) -> Value {
    Value::List(v.iter().map(|s| Value::Text(s.clone())).collect())
}

mod batch {
    //! Columnar (Arrow) batches for the appender: one FFI call per 2048 rows instead of one per value.
    use super::{decimal_to_milli, EventRow, SessionAttrs, SessionRow};
    use duckdb::arrow::array::{
        Array, ArrayRef, BooleanArray, Int64Array, ListBuilder, StringBuilder, TimestampMicrosecondArray, UInt32Array,
        UInt64Array, UInt8Array,
    };
    use duckdb::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
    use duckdb::arrow::record_batch::RecordBatch;
    use std::sync::Arc;

    struct Cols {
        fields: Vec<Field>,
        arrays: Vec<ArrayRef>,
    }

    impl Cols {
        fn new() -> Self {
            Cols { fields: vec![], arrays: vec![] }
        }
        fn u64(&mut self, name: &str, v: impl Iterator<Item = u64>) {
            self.fields.push(Field::new(name, DataType::UInt64, true));
            self.arrays.push(Arc::new(UInt64Array::from_iter_values(v)));
        }
        fn u32(&mut self, name: &str, v: impl Iterator<Item = u32>) {
            self.fields.push(Field::new(name, DataType::UInt32, true));
            self.arrays.push(Arc::new(UInt32Array::from_iter_values(v)));
        }
        fn u8(&mut self, name: &str, v: impl Iterator<Item = u8>) {
            self.fields.push(Field::new(name, DataType::UInt8, true));
            self.arrays.push(Arc::new(UInt8Array::from_iter_values(v)));
        }
        fn i64_opt(&mut self, name: &str, v: impl Iterator<Item = Option<i64>>) {
            self.fields.push(Field::new(name, DataType::Int64, true));
            self.arrays.push(Arc::new(Int64Array::from_iter(v)));
        }
        fn bool(&mut self, name: &str, v: impl Iterator<Item = bool>) {
            self.fields.push(Field::new(name, DataType::Boolean, true));
            self.arrays.push(Arc::new(BooleanArray::from_iter(v.map(Some))));
        }
        fn ts(&mut self, name: &str, v: impl Iterator<Item = chrono::NaiveDateTime>) {
            self.fields.push(Field::new(name, DataType::Timestamp(TimeUnit::Microsecond, None), true));
            self.arrays
                .push(Arc::new(TimestampMicrosecondArray::from_iter_values(v.map(|t| t.and_utc().timestamp_micros()))));
        }
        fn str<'a>(&mut self, name: &str, v: impl Iterator<Item = &'a str>) {
            let mut b = StringBuilder::new();
            for x in v {
                b.append_value(x);
            }
            self.fields.push(Field::new(name, DataType::Utf8, true));
            self.arrays.push(Arc::new(b.finish()));
        }
        fn list<'a>(&mut self, name: &str, v: impl Iterator<Item = &'a Vec<String>>) {
            let mut b = ListBuilder::new(StringBuilder::new());
            for l in v {
                for x in l {
                    b.values().append_value(x);
                }
                b.append(true);
            }
            let arr = b.finish();
            self.fields.push(Field::new(name, arr.data_type().clone(), true));
            self.arrays.push(Arc::new(arr));
        }
        fn attrs<'a, T: 'a>(&mut self, rows: &'a [T], a: impl Fn(&'a T) -> &'a SessionAttrs + Copy) {
            self.str("referrer", rows.iter().map(|r| a(r).referrer.as_str()));
            self.str("referrer_source", rows.iter().map(|r| a(r).referrer_source.as_str()));
            self.str("utm_medium", rows.iter().map(|r| a(r).utm_medium.as_str()));
            self.str("utm_source", rows.iter().map(|r| a(r).utm_source.as_str()));
            self.str("utm_campaign", rows.iter().map(|r| a(r).utm_campaign.as_str()));
            self.str("utm_content", rows.iter().map(|r| a(r).utm_content.as_str()));
            self.str("utm_term", rows.iter().map(|r| a(r).utm_term.as_str()));
            self.str("click_id_param", rows.iter().map(|r| a(r).click_id_param.as_str()));
            self.str("channel", rows.iter().map(|r| a(r).channel.as_str()));
            self.str("country_code", rows.iter().map(|r| a(r).country_code.as_str()));
            self.str("subdivision1_code", rows.iter().map(|r| a(r).subdivision1_code.as_str()));
            self.str("subdivision2_code", rows.iter().map(|r| a(r).subdivision2_code.as_str()));
            self.u32("city_geoname_id", rows.iter().map(|r| a(r).city_geoname_id));
            self.str("screen_size", rows.iter().map(|r| a(r).screen_size.as_str()));
            self.str("operating_system", rows.iter().map(|r| a(r).operating_system.as_str()));
            self.str("operating_system_version", rows.iter().map(|r| a(r).operating_system_version.as_str()));
            self.str("browser", rows.iter().map(|r| a(r).browser.as_str()));
            self.str("browser_version", rows.iter().map(|r| a(r).browser_version.as_str()));
        }
        fn finish(self) -> duckdb::arrow::error::Result<RecordBatch> {
            RecordBatch::try_new(Arc::new(Schema::new(self.fields)), self.arrays)
        }
    }

    /// Columns in the order of the `events` table.
    pub fn events(rows: &[EventRow]) -> duckdb::arrow::error::Result<RecordBatch> {
        let mut c = Cols::new();
        c.u64("site_id", rows.iter().map(|r| r.site_id));
        c.ts("timestamp", rows.iter().map(|r| r.timestamp));
        c.str("name", rows.iter().map(|r| r.name.as_str()));
        c.u64("user_id", rows.iter().map(|r| r.user_id));
        c.u64("session_id", rows.iter().map(|r| r.session_id));
        c.str("hostname", rows.iter().map(|r| r.hostname.as_str()));
        c.str("pathname", rows.iter().map(|r| r.pathname.as_str()));
        c.attrs(rows, |r| &r.attrs);
        c.list("meta_key", rows.iter().map(|r| &r.meta_key));
        c.list("meta_value", rows.iter().map(|r| &r.meta_value));
        c.i64_opt("revenue_reporting_amount", rows.iter().map(|r| r.revenue_reporting_amount.map(decimal_to_milli)));
        c.str("revenue_reporting_currency", rows.iter().map(|r| r.revenue_reporting_currency.as_str()));
        c.i64_opt("revenue_source_amount", rows.iter().map(|r| r.revenue_source_amount.map(decimal_to_milli)));
        c.str("revenue_source_currency", rows.iter().map(|r| r.revenue_source_currency.as_str()));
        c.u8("scroll_depth", rows.iter().map(|r| r.scroll_depth));
        c.u32("engagement_time", rows.iter().map(|r| r.engagement_time));
        c.finish()
    }

    /// Columns in the order of the session tables.
    pub fn sessions(rows: &[&SessionRow]) -> duckdb::arrow::error::Result<RecordBatch> {
        let mut c = Cols::new();
        c.u64("site_id", rows.iter().map(|r| r.site_id));
        c.u64("session_id", rows.iter().map(|r| r.session_id));
        c.u64("user_id", rows.iter().map(|r| r.user_id));
        c.str("hostname", rows.iter().map(|r| r.hostname.as_str()));
        c.str("entry_page", rows.iter().map(|r| r.entry_page.as_str()));
        c.str("exit_page", rows.iter().map(|r| r.exit_page.as_str()));
        c.str("exit_page_hostname", rows.iter().map(|r| r.exit_page_hostname.as_str()));
        c.ts("start", rows.iter().map(|r| r.start));
        c.ts("timestamp", rows.iter().map(|r| r.timestamp));
        c.bool("is_bounce", rows.iter().map(|r| r.is_bounce));
        c.u32("pageviews", rows.iter().map(|r| r.pageviews));
        c.u32("events", rows.iter().map(|r| r.events));
        c.u32("duration", rows.iter().map(|r| r.duration));
        c.attrs(rows, |r| &r.attrs);
        c.list("entry_meta_key", rows.iter().map(|r| &r.entry_meta_key));
        c.list("entry_meta_value", rows.iter().map(|r| &r.entry_meta_value));
        c.finish()
    }
}

/// DuckDB's row group size. Each appender flush is stored as row groups of its own, so appends are flushed
/// in whole row groups: a large write then leaves at most one partly filled row group (the appender's own
/// automatic flush, every 204,800 rows, left two per 250,000-row import, and automatic checkpoints no
/// longer vacuum them together, see `open_with`).
const ROW_GROUP: usize = 122_880;

/// Appends rows through Arrow batches of one row group each, flushed one by one.
fn append_events(conn: &Connection, rows: &[EventRow]) -> Result<(), StoreError> {
    let mut app = conn.appender("events").map_err(err)?;
    for chunk in rows.chunks(ROW_GROUP) {
        app.append_record_batch(batch::events(chunk).map_err(err)?).map_err(err)?;
        app.flush().map_err(err)?;
    }
    Ok(())
}

fn append_sessions(conn: &Connection, table: &str, rows: &[&SessionRow]) -> Result<(), StoreError> {
    let mut app = conn.appender(table).map_err(err)?;
    for chunk in rows.chunks(ROW_GROUP) {
        app.append_record_batch(batch::sessions(chunk).map_err(err)?).map_err(err)?;
        app.flush().map_err(err)?;
    }
    Ok(())
}

fn err(e: impl std::fmt::Display) -> StoreError {
    StoreError::Db(e.to_string())
}

fn to_sql_value(v: &SqlValue) -> Value {
    match v {
        SqlValue::Null => Value::Null,
        SqlValue::Bool(b) => Value::Boolean(*b),
        SqlValue::Int(i) => Value::BigInt(*i),
        SqlValue::UInt(u) => Value::UBigInt(*u),
        SqlValue::Float(f) => Value::Double(*f),
        SqlValue::Text(s) => Value::Text(s.clone()),
        SqlValue::Timestamp(t) => ts(*t),
        SqlValue::Date(d) => Value::Date32((*d - NaiveDate::from_ymd_opt(1970, 1, 1).unwrap()).num_days() as i32),
        SqlValue::Decimal(d) => Value::Double(d.to_f64().unwrap_or(0.0)),
        SqlValue::TextList(l) => list(l),
        SqlValue::Blob(b) => Value::Blob(b.clone()),
    }
}

fn from_value(v: Value) -> SqlValue {
    match v {
        Value::Null => SqlValue::Null,
        Value::Boolean(b) => SqlValue::Bool(b),
        Value::TinyInt(i) => SqlValue::Int(i as i64),
        Value::SmallInt(i) => SqlValue::Int(i as i64),
        Value::Int(i) => SqlValue::Int(i as i64),
        Value::BigInt(i) => SqlValue::Int(i),
        Value::HugeInt(i) => i64::try_from(i).map(SqlValue::Int).unwrap_or(SqlValue::Float(i as f64)),
        Value::UHugeInt(i) => u64::try_from(i).map(SqlValue::UInt).unwrap_or(SqlValue::Float(i as f64)),
        Value::UTinyInt(i) => SqlValue::Int(i as i64),
        Value::USmallInt(i) => SqlValue::Int(i as i64),
        Value::UInt(i) => SqlValue::Int(i as i64),
        Value::UBigInt(i) => SqlValue::UInt(i),
        Value::Float(f) => SqlValue::Float(f as f64),
        Value::Double(f) => SqlValue::Float(f),
        Value::Decimal(d) => {
            let s = d.to_string();
            s.parse::<Decimal>().map(SqlValue::Decimal).unwrap_or_else(|_| SqlValue::Text(s))
        }
        Value::Timestamp(unit, n) => {
            let micros = match unit {
                TimeUnit::Second => n * 1_000_000,
                TimeUnit::Millisecond => n * 1000,
                TimeUnit::Microsecond => n,
                TimeUnit::Nanosecond => n / 1000,
            };
            chrono::DateTime::from_timestamp_micros(micros)
                .map(|t| SqlValue::Timestamp(t.naive_utc()))
                .unwrap_or(SqlValue::Null)
        }
        Value::Text(s) | Value::Enum(s) => SqlValue::Text(s),
        Value::Blob(b) => SqlValue::Blob(b),
        Value::Date32(d) => {
            SqlValue::Date(NaiveDate::from_ymd_opt(1970, 1, 1).unwrap() + chrono::Duration::days(d as i64))
        }
        Value::List(l) | Value::Array(l) => SqlValue::TextList(
            l.into_iter()
                .map(|x| match from_value(x) {
                    SqlValue::Text(s) => s,
                    other => format!("{other:?}"),
                })
                .collect(),
        ),
        other => SqlValue::Text(format!("{other:?}")),
    }
}

pub struct DuckEventStore {
    writer: Mutex<Connection>,
    readers: Vec<Mutex<Connection>>,
    next_reader: AtomicUsize,
    versions: crate::versions::DataVersions,
    /// Declared last: dropped (closed) after every connection above.
    _db: RawDatabase,
}

/// The database handle, opened through the C API so that `tally_uniq` can be registered on it (duckdb-rs
/// exposes no raw connection); duckdb-rs connections are then made from it.
struct RawDatabase(ffi::duckdb_database);

// SAFETY: a DuckDB database handle may be used from any thread; it is only closed on drop.
unsafe impl Send for RawDatabase {}
unsafe impl Sync for RawDatabase {}

/// Process-wide malloc settings suited to DuckDB's (and `tally_uniq`'s) allocation pattern; call once at
/// start-up, before threads start. By default glibc maps blocks above 128 KiB straight from the OS and
/// trims freed heap eagerly, so every aggregate's hash tables were mapped, zeroed by the kernel and
/// unmapped again (with TLB shootdowns to the other cores): distinct counts ran 1.5–2x slower. Blocks
/// up to 4 MiB now come from the heap, and up to 128 MiB of freed heap is kept for the next query.
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 4 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 128 << 20);
    }
}

/// DuckDB settings a deployment may change.
#[derive(Clone, Debug, Default)]
pub struct DuckSettings {
    /// DuckDB's `memory_limit` (its buffer pool and operator memory), e.g. `"1GB"`; DuckDB's default
    /// (80% of RAM) when `None`. Data beyond it is re-read from the OS page cache or spilled.
    pub memory_limit: Option<String>,
}

impl RawDatabase {
    fn open(path: &Path, settings: &DuckSettings) -> Result<Self, String> {
        let c_path = std::ffi::CString::new(path.to_string_lossy().as_bytes()).map_err(|e| e.to_string())?;
        unsafe {
            let mut config: ffi::duckdb_config = std::ptr::null_mut();
            if ffi::duckdb_create_config(&mut config) != ffi::DuckDBSuccess {
                return Err("cannot create a DuckDB configuration".into());
            }
            let mut options = vec![("autoinstall_known_extensions", "false"), ("autoload_known_extensions", "false")];
            if let Some(m) = &settings.memory_limit {
                options.push(("memory_limit", m.as_str()));
            }
            for (k, v) in options {
                let (Ok(k), Ok(v)) = (std::ffi::CString::new(k), std::ffi::CString::new(v)) else {
                    ffi::duckdb_destroy_config(&mut config);
                    return Err("invalid DuckDB setting".into());
                };
                if ffi::duckdb_set_config(config, k.as_ptr(), v.as_ptr()) != ffi::DuckDBSuccess {
                    ffi::duckdb_destroy_config(&mut config);
                    return Err(format!("invalid DuckDB setting {}={}", k.to_string_lossy(), v.to_string_lossy()));
                }
            }
            let mut db: ffi::duckdb_database = std::ptr::null_mut();
            let mut c_err: *mut std::os::raw::c_char = std::ptr::null_mut();
            let r = ffi::duckdb_open_ext(c_path.as_ptr(), &mut db, config, &mut c_err);
            ffi::duckdb_destroy_config(&mut config);
            if r != ffi::DuckDBSuccess {
                let msg = if c_err.is_null() {
                    "cannot open the DuckDB database".to_string()
                } else {
                    let m = std::ffi::CStr::from_ptr(c_err).to_string_lossy().into_owned();
                    ffi::duckdb_free(c_err as *mut std::os::raw::c_void);
                    m
                };
                return Err(msg);
            }
            let raw = RawDatabase(db);
            let mut con: ffi::duckdb_connection = std::ptr::null_mut();
            if ffi::duckdb_connect(db, &mut con) != ffi::DuckDBSuccess {
                return Err("cannot connect to the DuckDB database".into());
            }
            let registered = crate::uniq::register(con);
            ffi::duckdb_disconnect(&mut con);
            registered?;
            Ok(raw)
        }
    }
}

impl Drop for RawDatabase {
    fn drop(&mut self) {
        unsafe { ffi::duckdb_close(&mut self.0) };
    }
}

/// `max_vacuum_tasks` for automatic checkpoints, and for the checkpoint after a deletion (DuckDB's default).
const NO_VACUUM: u32 = 0;
const VACUUM: u32 = 100;

fn prepare_connection(c: &Connection) -> duckdb::Result<()> {
    c.execute_batch("SET autoinstall_known_extensions=false; SET autoload_known_extensions=false;")
}

impl DuckEventStore {
    /// Opens (or creates) the database file at `path`. `readers` = number of reader connections.
    pub fn open(path: &Path, readers: usize) -> StoreResult<Self> {
        Self::open_with(path, readers, &DuckSettings::default())
    }

    /// [`open`](Self::open) with explicit DuckDB settings.
    pub fn open_with(path: &Path, readers: usize, settings: &DuckSettings) -> StoreResult<Self> {
        let db = RawDatabase::open(path, settings).map_err(StoreError::Db)?;
        // SAFETY: `db` is open and outlives every connection (it is the store's last field).
        let conn = unsafe { Connection::open_from_raw(db.0) }.map_err(err)?;
        prepare_connection(&conn).map_err(err)?;
        // Automatic checkpoints (at commits that grow the WAL past its threshold) do not vacuum. Vacuuming
        // merges partly filled or partly deleted row groups by rewriting up to three full ones: after a
        // bulk import that was 30-60% of the import's time, to merge a row group or two. Appends are
        // flushed in whole row groups (`ROW_GROUP`), so a write leaves at most one partial group; live
        // sessions' replaced rows free whole row groups within about half an hour (fully deleted groups
        // are dropped without vacuuming); and `delete_site` runs a vacuuming checkpoint of its own.
        conn.execute_batch(&format!("SET max_vacuum_tasks = {NO_VACUUM}")).map_err(err)?;
        for stmt in schema_sql() {
            conn.execute_batch(&stmt).map_err(err)?;
        }
        let mut rs = Vec::new();
        for _ in 0..readers.max(1) {
            let r = conn.try_clone().map_err(err)?;
            prepare_connection(&r).map_err(err)?;
            rs.push(Mutex::new(r));
        }
        Ok(DuckEventStore {
            writer: Mutex::new(conn),
            readers: rs,
            next_reader: AtomicUsize::new(0),
            versions: Default::default(),
            _db: db,
        })
    }

    fn reader(&self) -> parking_lot::MutexGuard<'_, Connection> {
        for r in &self.readers {
            if let Some(g) = r.try_lock() {
                return g;
            }
        }
        let i = self.next_reader.fetch_add(1, Ordering::Relaxed) % self.readers.len();
        self.readers[i].lock()
    }
}

fn append_rows(conn: &Connection, table: &str, rows: impl Iterator<Item = Vec<Value>>) -> duckdb::Result<()> {
    let mut app = conn.appender(table)?;
    for r in rows {
        app.append_row(duckdb::appender_params_from_iter(r))?;
    }
    app.flush()
}

fn read_session(row: &duckdb::Row<'_>) -> duckdb::Result<SessionRow> {
    let g = |i: usize| -> duckdb::Result<SqlValue> { Ok(from_value(row.get::<usize, Value>(i)?)) };
    let s = |i: usize| -> duckdb::Result<String> { Ok(g(i)?.as_str().unwrap_or_default().to_string()) };
    let n = |i: usize| -> duckdb::Result<i64> { Ok(g(i)?.as_i64().unwrap_or(0)) };
    let t = |i: usize| -> duckdb::Result<NaiveDateTime> {
        Ok(match g(i)? {
            SqlValue::Timestamp(t) => t,
            _ => NaiveDateTime::default(),
        })
    };
    let l = |i: usize| -> duckdb::Result<Vec<String>> {
        Ok(match g(i)? {
            SqlValue::TextList(l) => l,
            _ => vec![],
        })
    };
    Ok(SessionRow {
        site_id: n(0)? as u64,
        session_id: match g(1)? {
            SqlValue::UInt(u) => u,
            v => v.as_i64().unwrap_or(0) as u64,
        },
        user_id: match g(2)? {
            SqlValue::UInt(u) => u,
            v => v.as_i64().unwrap_or(0) as u64,
        },
        hostname: s(3)?,
        entry_page: s(4)?,
        exit_page: s(5)?,
        exit_page_hostname: s(6)?,
        start: t(7)?,
        timestamp: t(8)?,
        is_bounce: matches!(g(9)?, SqlValue::Bool(true)),
        pageviews: n(10)? as u32,
        events: n(11)? as u32,
        duration: n(12)? as u32,
        attrs: SessionAttrs {
            referrer: s(13)?,
            referrer_source: s(14)?,
            utm_medium: s(15)?,
            utm_source: s(16)?,
            utm_campaign: s(17)?,
            utm_content: s(18)?,
            utm_term: s(19)?,
            click_id_param: s(20)?,
            channel: s(21)?,
            country_code: s(22)?,
            subdivision1_code: s(23)?,
            subdivision2_code: s(24)?,
            city_geoname_id: n(25)? as u32,
            screen_size: s(26)?,
            operating_system: s(27)?,
            operating_system_version: s(28)?,
            browser: s(29)?,
            browser_version: s(30)?,
        },
        entry_meta_key: l(31)?,
        entry_meta_value: l(32)?,
    })
}

impl EventStore for DuckEventStore {
    fn write(&self, batch: &WriteBatch) -> StoreResult<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let mut conn = self.writer.lock();
        let tx = conn.transaction().map_err(err)?;
        let mut replaced = Vec::new();
        if !batch.events.is_empty() {
            append_events(&tx, &batch.events)?;
        }
        if !batch.live_sessions.is_empty() {
            // Keep only the newest state per session within the batch, then replace the stored states.
            let mut newest: std::collections::HashMap<u64, &SessionRow> = std::collections::HashMap::new();
            for s in &batch.live_sessions {
                newest.insert(s.session_id, s);
            }
            tx.execute_batch(
                "CREATE TEMP TABLE IF NOT EXISTS touched_sessions (session_id UBIGINT); DELETE FROM touched_sessions;",
            )
            .map_err(err)?;
            append_rows(&tx, "touched_sessions", newest.keys().map(|id| vec![Value::UBigInt(*id)])).map_err(err)?;
            // The replaced states' last events: the sessions left those days (see `versions`).
            let mut stmt = tx
                .prepare(
                    "DELETE FROM live_sessions WHERE session_id IN (SELECT session_id FROM touched_sessions) \
                     RETURNING site_id, epoch_us(timestamp)",
                )
                .map_err(err)?;
            let mut rows = stmt.query([]).map_err(err)?;
            while let Some(row) = rows.next().map_err(err)? {
                let (site, us): (u64, i64) = (row.get(0).map_err(err)?, row.get(1).map_err(err)?);
                if let Some(t) = chrono::DateTime::from_timestamp_micros(us) {
                    replaced.push((site, t.naive_utc()));
                }
            }
            let newest: Vec<&SessionRow> = newest.into_values().collect();
            append_sessions(&tx, "live_sessions", &newest)?;
        }
        if !batch.final_sessions.is_empty() {
            let rows: Vec<&SessionRow> = batch.final_sessions.iter().collect();
            append_sessions(&tx, "sessions", &rows)?;
        }
        if !batch.finalize.is_empty() {
            tx.execute_batch(
                "CREATE TEMP TABLE IF NOT EXISTS done_sessions (session_id UBIGINT); DELETE FROM done_sessions;",
            )
            .map_err(err)?;
            append_rows(&tx, "done_sessions", batch.finalize.iter().map(|id| vec![Value::UBigInt(*id)]))
                .map_err(err)?;
            tx.execute_batch(
                "INSERT INTO sessions SELECT * FROM live_sessions WHERE session_id IN (SELECT session_id FROM done_sessions); \
                 DELETE FROM live_sessions WHERE session_id IN (SELECT session_id FROM done_sessions);",
            )
            .map_err(err)?;
        }
        tx.commit().map_err(err)?;
        self.versions.touch_batch(batch, &replaced);
        Ok(())
    }

    fn live_sessions(&self) -> StoreResult<Vec<SessionRow>> {
        let conn = self.writer.lock();
        let mut stmt = conn.prepare("SELECT * FROM live_sessions").map_err(err)?;
        let rows = stmt.query_map([], read_session).map_err(err)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(err)
    }

    fn write_imported(&self, rows: &[ImportedRow]) -> StoreResult<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let mut conn = self.writer.lock();
        let tx = conn.transaction().map_err(err)?;
        for t in IMPORTED_TABLES {
            let mine: Vec<&ImportedRow> = rows.iter().filter(|r| r.table.name == t.name).collect();
            if mine.is_empty() {
                continue;
            }
            append_rows(
                &tx,
                t.name,
                mine.into_iter().map(|r| {
                    let mut v = vec![
                        Value::UBigInt(r.site_id),
                        Value::BigInt(r.import_id),
                        to_sql_value(&SqlValue::Date(r.date)),
                    ];
                    v.extend(r.values.iter().map(|x| match x {
                        ImportedValue::Text(s) => Value::Text(s.clone()),
                        ImportedValue::Count(n) => Value::BigInt(*n),
                    }));
                    v
                }),
            )
            .map_err(err)?;
        }
        tx.commit().map_err(err)
    }

    fn delete_site(&self, site_id: u64) -> StoreResult<()> {
        let mut conn = self.writer.lock();
        let tx = conn.transaction().map_err(err)?;
        let mut tables = vec!["events", "sessions", "live_sessions"];
        tables.extend(IMPORTED_TABLES.iter().map(|t| t.name));
        for t in tables {
            tx.execute(&format!("DELETE FROM {t} WHERE site_id = ?"), [Value::UBigInt(site_id)]).map_err(err)?;
        }
        tx.commit().map_err(err)?;
        self.versions.touch_site(site_id);
        // Reclaim the deleted rows now: row groups shared with other sites are only compacted by a
        // vacuuming checkpoint. The rows are already gone for queries, so a failure here only leaves their
        // space in the file until the next deletion.
        let vacuumed = conn.execute_batch(&format!("SET max_vacuum_tasks = {VACUUM}; CHECKPOINT"));
        let restored = conn.execute_batch(&format!("SET max_vacuum_tasks = {NO_VACUUM}"));
        if let Err(e) = vacuumed {
            tracing::warn!(error = %e, "checkpoint after deleting a site failed; the deleted rows keep their space until the next one");
        }
        restored.map_err(err)
    }

    fn query(&self, sql: &str, params: &[SqlValue]) -> StoreResult<Vec<Row>> {
        let conn = self.reader();
        let mut stmt = conn.prepare_cached(sql).map_err(err)?;
        let values: Vec<Value> = params.iter().map(to_sql_value).collect();
        let mut rows = stmt.query(duckdb::params_from_iter(values)).map_err(err)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(err)? {
            let n = row.as_ref().column_count();
            let mut r = Vec::with_capacity(n);
            for i in 0..n {
                r.push(from_value(row.get::<usize, Value>(i).map_err(err)?));
            }
            out.push(r);
        }
        Ok(out)
    }

    fn checkpoint(&self) -> StoreResult<()> {
        self.writer.lock().execute_batch("CHECKPOINT").map_err(err)
    }

    fn data_version(&self, site_id: u64, rows: crate::versions::Rows, from: NaiveDateTime, to: NaiveDateTime) -> u64 {
        self.versions.version(site_id, rows, from, to)
    }

    fn session_order_version(&self, site_id: u64) -> u64 {
        self.versions.session_order_version(site_id)
    }
}
