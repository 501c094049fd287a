//! The embedded configuration store on SQLite, with versioned migrations.

use crate::config::*;
use crate::model::*;
use chrono::{NaiveDate, NaiveDateTime, Utc};
use parking_lot::Mutex;
use rand::RngCore;
use rusqlite::{params, Connection, OptionalExtension, Row};
use sha2::{Digest, Sha256};
use std::path::Path;

/// Migrations, applied in order; the index + 1 is the schema version. Never edit a shipped entry.
const MIGRATIONS: &[&str] = &[r#"
CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL UNIQUE, name TEXT NOT NULL DEFAULT '',
  inserted_at TEXT NOT NULL);
CREATE TABLE teams (id INTEGER PRIMARY KEY, identifier TEXT NOT NULL UNIQUE, name TEXT NOT NULL,
  personal INTEGER NOT NULL, setup_complete INTEGER NOT NULL, plan TEXT NOT NULL, plan_features TEXT,
  hourly_api_request_limit INTEGER, locked INTEGER NOT NULL DEFAULT 0, inserted_at TEXT NOT NULL);
CREATE TABLE team_memberships (id INTEGER PRIMARY KEY, team_id INTEGER NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE, role TEXT NOT NULL, inserted_at TEXT NOT NULL,
  UNIQUE(team_id, user_id));
CREATE TABLE sites (id INTEGER PRIMARY KEY, team_id INTEGER NOT NULL REFERENCES teams(id), domain TEXT NOT NULL UNIQUE,
  timezone TEXT NOT NULL, allowed_event_props TEXT NOT NULL DEFAULT '[]', legacy_time_on_page_cutoff TEXT,
  domain_changed_from TEXT, domain_changed_at TEXT, native_stats_start_at TEXT NOT NULL,
  ingest_rate_limit_threshold INTEGER, consolidated INTEGER NOT NULL DEFAULT 0, tracker_config TEXT,
  inserted_at TEXT NOT NULL);
CREATE INDEX sites_changed_from ON sites(domain_changed_from);
CREATE TABLE guest_memberships (id INTEGER PRIMARY KEY, site_id INTEGER NOT NULL REFERENCES sites(id) ON DELETE CASCADE,
  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE, role TEXT NOT NULL, inserted_at TEXT NOT NULL,
  UNIQUE(site_id, user_id));
CREATE TABLE guest_invitations (id INTEGER PRIMARY KEY, site_id INTEGER NOT NULL REFERENCES sites(id) ON DELETE CASCADE,
  email TEXT NOT NULL, role TEXT NOT NULL, inviter_user_id INTEGER, inserted_at TEXT NOT NULL, UNIQUE(site_id, email));
CREATE TABLE api_keys (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  team_id INTEGER REFERENCES teams(id) ON DELETE CASCADE, name TEXT NOT NULL, key_prefix TEXT NOT NULL,
  key_hash TEXT NOT NULL UNIQUE, scopes TEXT NOT NULL, hourly_request_limit INTEGER, revoked_at TEXT,
  inserted_at TEXT NOT NULL);
CREATE TABLE goals (id INTEGER PRIMARY KEY, site_id INTEGER NOT NULL REFERENCES sites(id) ON DELETE CASCADE,
  event_name TEXT, page_path TEXT, scroll_threshold INTEGER NOT NULL DEFAULT -1, display_name TEXT NOT NULL,
  currency TEXT, custom_props TEXT NOT NULL DEFAULT '[]', inserted_at TEXT NOT NULL,
  UNIQUE(site_id, display_name));
CREATE TABLE shared_links (id INTEGER PRIMARY KEY, site_id INTEGER NOT NULL REFERENCES sites(id) ON DELETE CASCADE,
  name TEXT NOT NULL, slug TEXT NOT NULL UNIQUE, password_hash TEXT, inserted_at TEXT NOT NULL, UNIQUE(site_id, name));
CREATE TABLE segments (id INTEGER PRIMARY KEY, site_id INTEGER NOT NULL REFERENCES sites(id) ON DELETE CASCADE,
  owner_id INTEGER, name TEXT NOT NULL, type TEXT NOT NULL, segment_data TEXT NOT NULL, inserted_at TEXT NOT NULL);
CREATE TABLE imports (id INTEGER PRIMARY KEY, site_id INTEGER NOT NULL REFERENCES sites(id) ON DELETE CASCADE,
  start_date TEXT NOT NULL, end_date TEXT NOT NULL, source TEXT NOT NULL, status TEXT NOT NULL,
  legacy INTEGER NOT NULL DEFAULT 0, inserted_at TEXT NOT NULL);
CREATE TABLE salts (id INTEGER PRIMARY KEY, salt BLOB NOT NULL, inserted_at TEXT NOT NULL);
CREATE TABLE documents (id INTEGER PRIMARY KEY, kind TEXT NOT NULL, site_id INTEGER NOT NULL REFERENCES sites(id) ON DELETE CASCADE,
  doc TEXT NOT NULL, inserted_at TEXT NOT NULL);
"#];

const TS: &str = "%Y-%m-%d %H:%M:%S%.f";

fn fmt_ts(t: NaiveDateTime) -> String {
    t.format(TS).to_string()
}
fn parse_ts(s: &str) -> NaiveDateTime {
    NaiveDateTime::parse_from_str(s, TS).unwrap_or_default()
}
fn now() -> String {
    fmt_ts(Utc::now().naive_utc())
}
fn db(e: rusqlite::Error) -> ConfigError {
    if let rusqlite::Error::SqliteFailure(f, msg) = &e {
        if f.code == rusqlite::ErrorCode::ConstraintViolation {
            return ConfigError::Conflict(msg.clone().unwrap_or_else(|| "constraint violation".into()));
        }
    }
    ConfigError::Db(e.to_string())
}

pub struct SqliteConfigStore {
    conn: Mutex<Connection>,
    secret: String,
    /// Sites by domain, for the Events API (a lookup per event was a fifth of its CPU). Only valid while
    /// `generation` equals the connection's `total_changes()`: every write goes through `conn`, so any
    /// INSERT/UPDATE/DELETE anywhere (a site, a team cascade, a salt) empties it before the next lookup.
    sites_by_domain: Mutex<SiteCache>,
}

#[derive(Default)]
struct SiteCache {
    generation: u64,
    map: std::collections::HashMap<String, Option<Site>>,
}

/// Distinct domains remembered at most (events may name any domain, so unknown ones are cached too).
const SITE_CACHE_MAX: usize = 4096;

fn random_identifier() -> String {
    // A random UUID v4 in its canonical text form.
    let mut b = [0u8; 16];
    rand::rng().fill_bytes(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

impl SqliteConfigStore {
    pub fn open(path: &Path) -> ConfigResult<Self> {
        let conn = Connection::open(path).map_err(db)?;
        conn.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;")
            .map_err(db)?;
        let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).map_err(db)?;
        for (i, m) in MIGRATIONS.iter().enumerate() {
            let v = i as i64 + 1;
            if v > version {
                conn.execute_batch(&format!("BEGIN; {m}; PRAGMA user_version = {v}; COMMIT;")).map_err(db)?;
            }
        }
        let secret: Option<String> = conn
            .query_row("SELECT value FROM settings WHERE key = 'secret_key_base'", [], |r| r.get(0))
            .optional()
            .map_err(db)?;
        let secret = match secret {
            Some(s) => s,
            None => {
                let mut b = [0u8; 48];
                rand::rng().fill_bytes(&mut b);
                let s = hex::encode(b);
                conn.execute("INSERT INTO settings (key, value) VALUES ('secret_key_base', ?)", [&s]).map_err(db)?;
                s
            }
        };
        Ok(SqliteConfigStore { conn: Mutex::new(conn), secret, sites_by_domain: Mutex::new(SiteCache::default()) })
    }

    fn hash_key(&self, key: &str) -> String {
        let mut h = Sha256::new();
        h.update(self.secret.as_bytes());
        h.update(key.as_bytes());
        hex::encode(h.finalize())
    }
}

const TEAM_COLS: &str =
    "id, identifier, name, personal, setup_complete, plan, plan_features, hourly_api_request_limit, locked";
fn team_row(r: &Row) -> rusqlite::Result<Team> {
    let features: Option<String> = r.get(6)?;
    Ok(Team {
        id: r.get(0)?,
        identifier: r.get(1)?,
        name: r.get(2)?,
        personal: r.get(3)?,
        setup_complete: r.get(4)?,
        plan: Plan { name: r.get(5)?, features: features.and_then(|f| serde_json::from_str(&f).ok()) },
        hourly_api_request_limit: r.get(7)?,
        locked: r.get(8)?,
    })
}

const SITE_COLS: &str = "id, team_id, domain, timezone, allowed_event_props, legacy_time_on_page_cutoff, \
    domain_changed_from, native_stats_start_at, ingest_rate_limit_threshold, consolidated, tracker_config, inserted_at";
fn site_row(r: &Row) -> rusqlite::Result<Site> {
    let props: String = r.get(4)?;
    let cutoff: Option<String> = r.get(5)?;
    let tracker: Option<String> = r.get(10)?;
    Ok(Site {
        id: r.get(0)?,
        team_id: r.get(1)?,
        domain: r.get(2)?,
        timezone: r.get(3)?,
        allowed_event_props: serde_json::from_str(&props).unwrap_or_default(),
        legacy_time_on_page_cutoff: cutoff.and_then(|c| NaiveDate::parse_from_str(&c, "%Y-%m-%d").ok()),
        domain_changed_from: r.get(6)?,
        native_stats_start_at: parse_ts(&r.get::<_, String>(7)?),
        ingest_rate_limit_threshold: r.get(8)?,
        consolidated: r.get(9)?,
        tracker_config: tracker.and_then(|t| serde_json::from_str(&t).ok()),
        inserted_at: parse_ts(&r.get::<_, String>(11)?),
    })
}

const GOAL_COLS: &str = "id, site_id, event_name, page_path, scroll_threshold, display_name, currency, custom_props";
fn goal_row(r: &Row) -> rusqlite::Result<Goal> {
    let props: String = r.get(7)?;
    Ok(Goal {
        id: r.get(0)?,
        site_id: r.get(1)?,
        event_name: r.get(2)?,
        page_path: r.get(3)?,
        scroll_threshold: r.get(4)?,
        display_name: r.get(5)?,
        currency: r.get(6)?,
        custom_props: serde_json::from_str(&props).unwrap_or_default(),
    })
}

const KEY_COLS: &str = "id, user_id, team_id, name, key_prefix, scopes, hourly_request_limit, inserted_at";
fn key_row(r: &Row) -> rusqlite::Result<ApiKey> {
    let scopes: String = r.get(5)?;
    Ok(ApiKey {
        id: r.get(0)?,
        user_id: r.get(1)?,
        team_id: r.get(2)?,
        name: r.get(3)?,
        prefix: r.get(4)?,
        scopes: serde_json::from_str(&scopes).unwrap_or_default(),
        hourly_request_limit: r.get(6)?,
        inserted_at: parse_ts(&r.get::<_, String>(7)?),
    })
}

fn segment_row(r: &Row) -> rusqlite::Result<Segment> {
    let data: String = r.get(5)?;
    Ok(Segment {
        id: r.get(0)?,
        site_id: r.get(1)?,
        owner_id: r.get(2)?,
        name: r.get(3)?,
        segment_type: r.get(4)?,
        segment_data: serde_json::from_str(&data).unwrap_or(serde_json::Value::Null),
    })
}

fn user_row(r: &Row) -> rusqlite::Result<User> {
    Ok(User { id: r.get(0)?, email: r.get(1)?, name: r.get(2)? })
}

fn import_row(r: &Row) -> rusqlite::Result<Import> {
    let d = |s: String| NaiveDate::parse_from_str(&s, "%Y-%m-%d").unwrap_or_default();
    Ok(Import {
        id: r.get(0)?,
        site_id: r.get(1)?,
        start_date: d(r.get(2)?),
        end_date: d(r.get(3)?),
        source: r.get(4)?,
        status: r.get(5)?,
        legacy: r.get(6)?,
    })
}

impl ConfigStore for SqliteConfigStore {
    fn create_user(&self, email: &str, name: &str) -> ConfigResult<User> {
        let c = self.conn.lock();
        c.execute("INSERT INTO users (email, name, inserted_at) VALUES (?, ?, ?)", params![email, name, now()])
            .map_err(db)?;
        Ok(User { id: c.last_insert_rowid(), email: email.to_string(), name: name.to_string() })
    }

    fn user(&self, id: i64) -> ConfigResult<Option<User>> {
        let c = self.conn.lock();
        c.query_row("SELECT id, email, name FROM users WHERE id = ?", [id], user_row).optional().map_err(db)
    }

    fn user_by_email(&self, email: &str) -> ConfigResult<Option<User>> {
        let c = self.conn.lock();
        c.query_row("SELECT id, email, name FROM users WHERE email = ?", [email], user_row).optional().map_err(db)
    }

    fn create_team(&self, t: &NewTeam) -> ConfigResult<Team> {
        let mut c = self.conn.lock();
        let tx = c.transaction().map_err(db)?;
        if t.personal {
            let exists: Option<i64> = tx
                .query_row(
                    "SELECT t.id FROM teams t JOIN team_memberships m ON m.team_id = t.id \
                     WHERE m.user_id = ? AND m.role = 'owner' AND t.personal = 1",
                    [t.owner_user_id],
                    |r| r.get(0),
                )
                .optional()
                .map_err(db)?;
            if exists.is_some() {
                return Err(ConfigError::Conflict("the user already has a personal team".into()));
            }
        }
        let identifier = random_identifier();
        let features = t.plan.features.as_ref().map(|f| serde_json::to_string(f).unwrap());
        tx.execute(
            "INSERT INTO teams (identifier, name, personal, setup_complete, plan, plan_features, inserted_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?)",
            params![identifier, t.name, t.personal, t.setup_complete, t.plan.name, features, now()],
        )
        .map_err(db)?;
        let id = tx.last_insert_rowid();
        tx.execute(
            "INSERT INTO team_memberships (team_id, user_id, role, inserted_at) VALUES (?, ?, 'owner', ?)",
            params![id, t.owner_user_id, now()],
        )
        .map_err(db)?;
        tx.commit().map_err(db)?;
        Ok(Team {
            id,
            identifier,
            name: t.name.clone(),
            personal: t.personal,
            setup_complete: t.setup_complete,
            plan: t.plan.clone(),
            hourly_api_request_limit: None,
            locked: false,
        })
    }

    fn team(&self, id: i64) -> ConfigResult<Option<Team>> {
        let c = self.conn.lock();
        c.query_row(&format!("SELECT {TEAM_COLS} FROM teams WHERE id = ?"), [id], team_row).optional().map_err(db)
    }

    fn team_by_identifier(&self, identifier: &str) -> ConfigResult<Option<Team>> {
        let c = self.conn.lock();
        c.query_row(&format!("SELECT {TEAM_COLS} FROM teams WHERE identifier = ?"), [identifier], team_row)
            .optional()
            .map_err(db)
    }

    fn set_team_plan(&self, id: i64, plan: &Plan) -> ConfigResult<()> {
        let c = self.conn.lock();
        let features = plan.features.as_ref().map(|f| serde_json::to_string(f).unwrap());
        c.execute("UPDATE teams SET plan = ?, plan_features = ? WHERE id = ?", params![plan.name, features, id])
            .map_err(db)?;
        Ok(())
    }

    fn set_team_api_limit(&self, id: i64, limit: Option<i64>) -> ConfigResult<()> {
        let c = self.conn.lock();
        c.execute("UPDATE teams SET hourly_api_request_limit = ? WHERE id = ?", params![limit, id]).map_err(db)?;
        Ok(())
    }

    fn set_team_member(&self, team_id: i64, user_id: i64, role: Role) -> ConfigResult<()> {
        let c = self.conn.lock();
        c.execute(
            "INSERT INTO team_memberships (team_id, user_id, role, inserted_at) VALUES (?, ?, ?, ?) \
             ON CONFLICT(team_id, user_id) DO UPDATE SET role = excluded.role",
            params![team_id, user_id, role.as_str(), now()],
        )
        .map_err(db)?;
        Ok(())
    }

    fn team_role(&self, team_id: i64, user_id: i64) -> ConfigResult<Option<Role>> {
        let c = self.conn.lock();
        let r: Option<String> = c
            .query_row("SELECT role FROM team_memberships WHERE team_id = ? AND user_id = ?", [team_id, user_id], |r| {
                r.get(0)
            })
            .optional()
            .map_err(db)?;
        Ok(r.and_then(|r| Role::parse(&r)))
    }

    fn teams_of_user(&self, user_id: i64) -> ConfigResult<Vec<(Team, Role)>> {
        let c = self.conn.lock();
        let cols: Vec<String> = TEAM_COLS.split(", ").map(|s| format!("t.{s}")).collect();
        let mut st = c
            .prepare(&format!(
                "SELECT {}, m.role FROM teams t JOIN team_memberships m ON m.team_id = t.id \
                 WHERE m.user_id = ? ORDER BY t.id DESC",
                cols.join(", ")
            ))
            .map_err(db)?;
        let rows = st
            .query_map([user_id], |r| Ok((team_row(r)?, r.get::<_, String>(9)?)))
            .map_err(db)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(db)?;
        Ok(rows.into_iter().filter_map(|(t, r)| Role::parse(&r).map(|r| (t, r))).collect())
    }

    fn team_owner(&self, team_id: i64) -> ConfigResult<Option<User>> {
        let c = self.conn.lock();
        c.query_row(
            "SELECT u.id, u.email, u.name FROM users u JOIN team_memberships m ON m.user_id = u.id \
             WHERE m.team_id = ? AND m.role = 'owner' ORDER BY m.id LIMIT 1",
            [team_id],
            user_row,
        )
        .optional()
        .map_err(db)
    }

    fn create_site(&self, s: &NewSite) -> ConfigResult<Site> {
        let c = self.conn.lock();
        let taken: Option<i64> = c
            .query_row("SELECT id FROM sites WHERE domain = ?1 OR domain_changed_from = ?1", [&s.domain], |r| r.get(0))
            .optional()
            .map_err(db)?;
        if taken.is_some() {
            return Err(ConfigError::Conflict("domain taken".into()));
        }
        let at = Utc::now().naive_utc().with_nanosecond_zero();
        c.execute(
            "INSERT INTO sites (team_id, domain, timezone, allowed_event_props, legacy_time_on_page_cutoff, \
             native_stats_start_at, ingest_rate_limit_threshold, consolidated, tracker_config, inserted_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            params![
                s.team_id,
                s.domain,
                s.timezone,
                serde_json::to_string(&s.allowed_event_props).unwrap(),
                s.legacy_time_on_page_cutoff.map(|d| d.to_string()),
                fmt_ts(at),
                s.ingest_rate_limit_threshold,
                s.consolidated,
                s.tracker_config.as_ref().map(|t| serde_json::to_string(t).unwrap()),
                fmt_ts(at),
            ],
        )
        .map_err(db)?;
        let id = c.last_insert_rowid();
        c.query_row(&format!("SELECT {SITE_COLS} FROM sites WHERE id = ?"), [id], site_row).map_err(db)
    }

    fn site(&self, id: i64) -> ConfigResult<Option<Site>> {
        let c = self.conn.lock();
        c.query_row(&format!("SELECT {SITE_COLS} FROM sites WHERE id = ?"), [id], site_row).optional().map_err(db)
    }

    fn site_by_domain(&self, domain: &str) -> ConfigResult<Option<Site>> {
        let c = self.conn.lock();
        let generation = c.total_changes();
        let mut cache = self.sites_by_domain.lock();
        if cache.generation != generation {
            cache.generation = generation;
            cache.map.clear();
        }
        if let Some(hit) = cache.map.get(domain) {
            return Ok(hit.clone());
        }
        let mut st = c
            .prepare_cached(&format!(
                "SELECT {SITE_COLS} FROM sites WHERE domain = ?1 OR domain_changed_from = ?1 \
                 ORDER BY (domain = ?1) DESC LIMIT 1"
            ))
            .map_err(db)?;
        let site = st.query_row([domain], site_row).optional().map_err(db)?;
        if cache.map.len() >= SITE_CACHE_MAX {
            cache.map.clear();
        }
        cache.map.insert(domain.to_string(), site.clone());
        Ok(site)
    }

    fn sites_of_team(&self, team_id: i64) -> ConfigResult<Vec<Site>> {
        let c = self.conn.lock();
        let mut st =
            c.prepare(&format!("SELECT {SITE_COLS} FROM sites WHERE team_id = ? ORDER BY id DESC")).map_err(db)?;
        let rows = st.query_map([team_id], site_row).map_err(db)?.collect::<Result<Vec<_>, _>>().map_err(db);
        rows
    }

    fn all_sites(&self) -> ConfigResult<Vec<Site>> {
        let c = self.conn.lock();
        let mut st = c.prepare(&format!("SELECT {SITE_COLS} FROM sites ORDER BY id")).map_err(db)?;
        let rows = st.query_map([], site_row).map_err(db)?.collect::<Result<Vec<_>, _>>().map_err(db);
        rows
    }

    fn update_site(&self, s: &Site) -> ConfigResult<()> {
        let c = self.conn.lock();
        c.execute(
            "UPDATE sites SET team_id = ?, domain = ?, timezone = ?, allowed_event_props = ?, \
             legacy_time_on_page_cutoff = ?, domain_changed_from = ?, native_stats_start_at = ?, \
             ingest_rate_limit_threshold = ?, consolidated = ?, tracker_config = ? WHERE id = ?",
            params![
                s.team_id,
                s.domain,
                s.timezone,
                serde_json::to_string(&s.allowed_event_props).unwrap(),
                s.legacy_time_on_page_cutoff.map(|d| d.to_string()),
                s.domain_changed_from,
                fmt_ts(s.native_stats_start_at),
                s.ingest_rate_limit_threshold,
                s.consolidated,
                s.tracker_config.as_ref().map(|t| serde_json::to_string(t).unwrap()),
                s.id
            ],
        )
        .map_err(db)?;
        Ok(())
    }

    fn delete_site(&self, id: i64) -> ConfigResult<()> {
        let c = self.conn.lock();
        c.execute("DELETE FROM sites WHERE id = ?", [id]).map_err(db)?;
        Ok(())
    }

    fn set_native_stats_start_at(&self, site_id: i64, at: NaiveDateTime) -> ConfigResult<()> {
        let c = self.conn.lock();
        c.execute("UPDATE sites SET native_stats_start_at = ? WHERE id = ?", params![fmt_ts(at), site_id])
            .map_err(db)?;
        Ok(())
    }

    fn set_guest(&self, site_id: i64, user_id: i64, role: &str) -> ConfigResult<()> {
        let c = self.conn.lock();
        c.execute(
            "INSERT INTO guest_memberships (site_id, user_id, role, inserted_at) VALUES (?, ?, ?, ?) \
             ON CONFLICT(site_id, user_id) DO UPDATE SET role = excluded.role",
            params![site_id, user_id, role, now()],
        )
        .map_err(db)?;
        Ok(())
    }

    fn invite_guest(&self, site_id: i64, email: &str, role: &str, inviter: i64) -> ConfigResult<i64> {
        let c = self.conn.lock();
        c.execute(
            "INSERT INTO guest_invitations (site_id, email, role, inviter_user_id, inserted_at) VALUES (?, ?, ?, ?, ?)",
            params![site_id, email, role, inviter, now()],
        )
        .map_err(db)?;
        Ok(c.last_insert_rowid())
    }

    fn guest_role(&self, site_id: i64, user_id: i64) -> ConfigResult<Option<String>> {
        let c = self.conn.lock();
        c.query_row("SELECT role FROM guest_memberships WHERE site_id = ? AND user_id = ?", [site_id, user_id], |r| {
            r.get(0)
        })
        .optional()
        .map_err(db)
    }

    fn guests(&self, site_id: i64) -> ConfigResult<Vec<Guest>> {
        let c = self.conn.lock();
        let mut st = c
            .prepare(
                "SELECT u.email, g.role, 'accepted', g.user_id, g.inserted_at, g.id FROM guest_memberships g \
                 JOIN users u ON u.id = g.user_id WHERE g.site_id = ?1 \
                 UNION ALL SELECT email, role, 'invited', NULL, inserted_at, id FROM guest_invitations WHERE site_id = ?1",
            )
            .map_err(db)?;
        let mut rows = st
            .query_map([site_id], |r| {
                Ok(Guest {
                    email: r.get(0)?,
                    role: r.get(1)?,
                    status: r.get(2)?,
                    user_id: r.get(3)?,
                    inserted_at: parse_ts(&r.get::<_, String>(4)?),
                    id: r.get(5)?,
                })
            })
            .map_err(db)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(db)?;
        rows.sort_by(|a, b| b.inserted_at.cmp(&a.inserted_at).then(b.id.cmp(&a.id)));
        Ok(rows)
    }

    fn remove_guest(&self, site_id: i64, email: &str) -> ConfigResult<()> {
        let c = self.conn.lock();
        c.execute("DELETE FROM guest_invitations WHERE site_id = ? AND email = ?", params![site_id, email])
            .map_err(db)?;
        c.execute(
            "DELETE FROM guest_memberships WHERE site_id = ? AND user_id IN (SELECT id FROM users WHERE email = ?)",
            params![site_id, email],
        )
        .map_err(db)?;
        Ok(())
    }

    fn guest_sites(&self, user_id: i64) -> ConfigResult<Vec<(Site, String)>> {
        let c = self.conn.lock();
        let cols: Vec<String> = SITE_COLS.split(", ").map(|s| format!("s.{s}")).collect();
        let mut st = c
            .prepare(&format!(
                "SELECT {}, g.role FROM sites s JOIN guest_memberships g ON g.site_id = s.id WHERE g.user_id = ? \
                 ORDER BY s.id DESC",
                cols.join(", ")
            ))
            .map_err(db)?;
        let rows = st
            .query_map([user_id], |r| Ok((site_row(r)?, r.get::<_, String>(12)?)))
            .map_err(db)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(db);
        rows
    }

    fn goals(&self, site_id: i64) -> ConfigResult<Vec<Goal>> {
        let c = self.conn.lock();
        let mut st =
            c.prepare_cached(&format!("SELECT {GOAL_COLS} FROM goals WHERE site_id = ? ORDER BY id")).map_err(db)?;
        let rows = st.query_map([site_id], goal_row).map_err(db)?.collect::<Result<Vec<_>, _>>().map_err(db);
        rows
    }

    fn create_goal(&self, site_id: i64, g: &NewGoal) -> ConfigResult<Goal> {
        let c = self.conn.lock();
        let display = g.display_name.clone().unwrap_or_else(|| match (&g.event_name, &g.page_path) {
            (Some(e), _) => e.clone(),
            (None, Some(p)) => format!("Visit {p}"),
            _ => String::new(),
        });
        c.execute(
            "INSERT INTO goals (site_id, event_name, page_path, scroll_threshold, display_name, currency, custom_props, inserted_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            params![
                site_id,
                g.event_name,
                g.page_path,
                g.scroll_threshold,
                display,
                g.currency,
                serde_json::to_string(&g.custom_props).unwrap(),
                now()
            ],
        )
        .map_err(db)?;
        let id = c.last_insert_rowid();
        c.query_row(&format!("SELECT {GOAL_COLS} FROM goals WHERE id = ?"), [id], goal_row).map_err(db)
    }

    fn delete_goal(&self, site_id: i64, goal_id: i64) -> ConfigResult<bool> {
        let c = self.conn.lock();
        Ok(c.execute("DELETE FROM goals WHERE site_id = ? AND id = ?", [site_id, goal_id]).map_err(db)? > 0)
    }

    fn segments(&self, site_id: i64) -> ConfigResult<Vec<Segment>> {
        let c = self.conn.lock();
        let mut st = c
            .prepare_cached(
                "SELECT id, site_id, owner_id, name, type, segment_data FROM segments WHERE site_id = ? ORDER BY id",
            )
            .map_err(db)?;
        let rows = st.query_map([site_id], segment_row).map_err(db)?.collect::<Result<Vec<_>, _>>().map_err(db);
        rows
    }

    fn create_segment(
        &self,
        site_id: i64,
        owner_id: Option<i64>,
        name: &str,
        segment_type: &str,
        data: &serde_json::Value,
    ) -> ConfigResult<Segment> {
        let c = self.conn.lock();
        c.execute(
            "INSERT INTO segments (site_id, owner_id, name, type, segment_data, inserted_at) VALUES (?, ?, ?, ?, ?, ?)",
            params![site_id, owner_id, name, segment_type, data.to_string(), now()],
        )
        .map_err(db)?;
        Ok(Segment {
            id: c.last_insert_rowid(),
            site_id,
            owner_id,
            name: name.to_string(),
            segment_type: segment_type.to_string(),
            segment_data: data.clone(),
        })
    }

    fn update_segment(&self, s: &Segment) -> ConfigResult<()> {
        let c = self.conn.lock();
        c.execute(
            "UPDATE segments SET name = ?, type = ?, segment_data = ? WHERE id = ? AND site_id = ?",
            params![s.name, s.segment_type, s.segment_data.to_string(), s.id, s.site_id],
        )
        .map_err(db)?;
        Ok(())
    }

    fn delete_segment(&self, site_id: i64, id: i64) -> ConfigResult<bool> {
        let c = self.conn.lock();
        Ok(c.execute("DELETE FROM segments WHERE site_id = ? AND id = ?", [site_id, id]).map_err(db)? > 0)
    }

    fn create_api_key(&self, k: &NewApiKey) -> ConfigResult<(ApiKey, String)> {
        use base64::Engine;
        let mut b = [0u8; 64];
        rand::rng().fill_bytes(&mut b);
        let mut secret = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
        secret.truncate(64);
        let prefix = secret[..6].to_string();
        let hash = self.hash_key(&secret);
        let c = self.conn.lock();
        let at = now();
        c.execute(
            "INSERT INTO api_keys (user_id, team_id, name, key_prefix, key_hash, scopes, hourly_request_limit, inserted_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            params![k.user_id, k.team_id, k.name, prefix, hash, serde_json::to_string(&k.scopes).unwrap(), k.hourly_request_limit, at],
        )
        .map_err(db)?;
        let key = ApiKey {
            id: c.last_insert_rowid(),
            user_id: k.user_id,
            team_id: k.team_id,
            name: k.name.clone(),
            prefix,
            scopes: k.scopes.clone(),
            hourly_request_limit: k.hourly_request_limit,
            inserted_at: parse_ts(&at),
        };
        Ok((key, secret))
    }

    fn api_key_by_secret(&self, secret: &str) -> ConfigResult<Option<ApiKey>> {
        let hash = self.hash_key(secret);
        let c = self.conn.lock();
        let mut st = c
            .prepare_cached(&format!("SELECT {KEY_COLS} FROM api_keys WHERE key_hash = ? AND revoked_at IS NULL"))
            .map_err(db)?;
        st.query_row([hash], key_row).optional().map_err(db)
    }

    fn api_keys_of_user(&self, user_id: i64) -> ConfigResult<Vec<ApiKey>> {
        let c = self.conn.lock();
        let mut st = c
            .prepare(&format!(
                "SELECT {KEY_COLS} FROM api_keys WHERE user_id = ? AND revoked_at IS NULL ORDER BY id DESC"
            ))
            .map_err(db)?;
        let rows = st.query_map([user_id], key_row).map_err(db)?.collect::<Result<Vec<_>, _>>().map_err(db);
        rows
    }

    fn revoke_api_key(&self, id: i64) -> ConfigResult<bool> {
        let c = self.conn.lock();
        Ok(c.execute("UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", params![now(), id])
            .map_err(db)?
            > 0)
    }

    fn create_import(&self, i: &Import) -> ConfigResult<Import> {
        let c = self.conn.lock();
        c.execute(
            "INSERT INTO imports (site_id, start_date, end_date, source, status, legacy, inserted_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            params![i.site_id, i.start_date.to_string(), i.end_date.to_string(), i.source, i.status, i.legacy, now()],
        )
        .map_err(db)?;
        Ok(Import { id: c.last_insert_rowid(), ..i.clone() })
    }

    fn imports(&self, site_id: i64) -> ConfigResult<Vec<Import>> {
        let c = self.conn.lock();
        let mut st = c
            .prepare_cached(
                "SELECT id, site_id, start_date, end_date, source, status, legacy FROM imports WHERE site_id = ? ORDER BY id",
            )
            .map_err(db)?;
        let rows = st.query_map([site_id], import_row).map_err(db)?.collect::<Result<Vec<_>, _>>().map_err(db);
        rows
    }

    fn shared_link(&self, site_id: i64, name: &str) -> ConfigResult<Option<SharedLink>> {
        let c = self.conn.lock();
        c.query_row(
            "SELECT id, site_id, name, slug FROM shared_links WHERE site_id = ? AND name = ?",
            params![site_id, name],
            |r| Ok(SharedLink { id: r.get(0)?, site_id: r.get(1)?, name: r.get(2)?, slug: r.get(3)? }),
        )
        .optional()
        .map_err(db)
    }

    fn create_shared_link(&self, site_id: i64, name: &str, slug: &str) -> ConfigResult<SharedLink> {
        let c = self.conn.lock();
        c.execute(
            "INSERT INTO shared_links (site_id, name, slug, inserted_at) VALUES (?, ?, ?, ?)",
            params![site_id, name, slug, now()],
        )
        .map_err(db)?;
        Ok(SharedLink { id: c.last_insert_rowid(), site_id, name: name.into(), slug: slug.into() })
    }

    fn salts(&self) -> ConfigResult<Vec<([u8; 16], NaiveDateTime)>> {
        let c = self.conn.lock();
        let mut st = c.prepare("SELECT salt, inserted_at FROM salts ORDER BY id DESC").map_err(db)?;
        let rows = st
            .query_map([], |r| Ok((r.get::<_, Vec<u8>>(0)?, parse_ts(&r.get::<_, String>(1)?))))
            .map_err(db)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(db)?;
        Ok(rows.into_iter().filter_map(|(s, t)| <[u8; 16]>::try_from(s.as_slice()).ok().map(|s| (s, t))).collect())
    }

    fn add_salt(&self, salt: [u8; 16], at: NaiveDateTime) -> ConfigResult<()> {
        let c = self.conn.lock();
        c.execute("INSERT INTO salts (salt, inserted_at) VALUES (?, ?)", params![salt.to_vec(), fmt_ts(at)])
            .map_err(db)?;
        Ok(())
    }

    fn delete_salts_before(&self, at: NaiveDateTime) -> ConfigResult<()> {
        let c = self.conn.lock();
        c.execute("DELETE FROM salts WHERE inserted_at < ?", [fmt_ts(at)]).map_err(db)?;
        Ok(())
    }

    fn documents(&self, kind: &str, site_id: i64) -> ConfigResult<Vec<(i64, serde_json::Value)>> {
        let c = self.conn.lock();
        let mut st =
            c.prepare("SELECT id, doc FROM documents WHERE kind = ? AND site_id = ? ORDER BY id").map_err(db)?;
        let rows = st
            .query_map(params![kind, site_id], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))
            .map_err(db)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(db)?;
        Ok(rows.into_iter().map(|(id, d)| (id, serde_json::from_str(&d).unwrap_or_default())).collect())
    }

    fn put_document(&self, kind: &str, site_id: i64, id: Option<i64>, doc: &serde_json::Value) -> ConfigResult<i64> {
        let c = self.conn.lock();
        match id {
            Some(id) => {
                c.execute(
                    "UPDATE documents SET doc = ? WHERE id = ? AND kind = ? AND site_id = ?",
                    params![doc.to_string(), id, kind, site_id],
                )
                .map_err(db)?;
                Ok(id)
            }
            None => {
                c.execute(
                    "INSERT INTO documents (kind, site_id, doc, inserted_at) VALUES (?, ?, ?, ?)",
                    params![kind, site_id, doc.to_string(), now()],
                )
                .map_err(db)?;
                Ok(c.last_insert_rowid())
            }
        }
    }

    fn delete_document(&self, kind: &str, site_id: i64, id: i64) -> ConfigResult<bool> {
        let c = self.conn.lock();
        Ok(c.execute("DELETE FROM documents WHERE kind = ? AND site_id = ? AND id = ?", params![kind, site_id, id])
            .map_err(db)?
            > 0)
    }

    fn change_site(
        &self,
        site_id: i64,
        new_domain: Option<&str>,
        tracker: Option<&TrackerConfig>,
    ) -> ConfigResult<Site> {
        let mut c = self.conn.lock();
        let tx = c.transaction().map_err(db)?;
        if let Some(domain) = new_domain {
            let taken: Option<i64> = tx
                .query_row(
                    "SELECT id FROM sites WHERE id <> ?1 AND (domain = ?2 OR domain_changed_from = ?2) LIMIT 1",
                    params![site_id, domain],
                    |r| r.get(0),
                )
                .optional()
                .map_err(db)?;
            if taken.is_some() {
                return Err(ConfigError::Conflict("domain taken".into()));
            }
            let at = fmt_ts(Utc::now().naive_utc().with_nanosecond_zero());
            let changed = tx
                .execute(
                    "UPDATE sites SET domain_changed_from = domain, domain = ?, domain_changed_at = ? \
                     WHERE id = ? AND domain <> ?",
                    params![domain, at, site_id, domain],
                )
                .map_err(db)?;
            if changed == 0 {
                return Err(ConfigError::Invalid("New domain must be different than the current one".into()));
            }
        }
        if let Some(t) = tracker {
            tx.execute(
                "UPDATE sites SET tracker_config = ? WHERE id = ?",
                params![serde_json::to_string(t).unwrap(), site_id],
            )
            .map_err(db)?;
        }
        let site = tx
            .query_row(&format!("SELECT {SITE_COLS} FROM sites WHERE id = ?"), [site_id], site_row)
            .optional()
            .map_err(db)?
            .ok_or(ConfigError::NotFound)?;
        tx.commit().map_err(db)?;
        Ok(site)
    }

    fn ensure_tracker_config(&self, site_id: i64, tracker: &TrackerConfig) -> ConfigResult<Site> {
        let c = self.conn.lock();
        c.execute(
            "UPDATE sites SET tracker_config = ? WHERE id = ? AND tracker_config IS NULL",
            params![serde_json::to_string(tracker).unwrap(), site_id],
        )
        .map_err(db)?;
        c.query_row(&format!("SELECT {SITE_COLS} FROM sites WHERE id = ?"), [site_id], site_row)
            .optional()
            .map_err(db)?
            .ok_or(ConfigError::NotFound)
    }

    fn clear_domain_changed_from(&self, site_id: i64) -> ConfigResult<()> {
        let c = self.conn.lock();
        c.execute("UPDATE sites SET domain_changed_from = NULL, domain_changed_at = NULL WHERE id = ?", [site_id])
            .map_err(db)?;
        Ok(())
    }

    fn expire_domain_changes(&self, changed_before: NaiveDateTime) -> ConfigResult<usize> {
        let c = self.conn.lock();
        c.execute(
            "UPDATE sites SET domain_changed_from = NULL, domain_changed_at = NULL \
             WHERE domain_changed_at IS NOT NULL AND domain_changed_at < ?",
            [fmt_ts(changed_before)],
        )
        .map_err(db)
    }

    fn modify_allowed_event_props(
        &self,
        site_id: i64,
        edit: &mut dyn FnMut(&mut Vec<String>) -> ConfigResult<()>,
    ) -> ConfigResult<Vec<String>> {
        let c = self.conn.lock();
        let raw: Option<String> = c
            .query_row("SELECT allowed_event_props FROM sites WHERE id = ?", [site_id], |r| r.get(0))
            .optional()
            .map_err(db)?;
        let mut props: Vec<String> = serde_json::from_str(&raw.ok_or(ConfigError::NotFound)?).unwrap_or_default();
        edit(&mut props)?;
        c.execute(
            "UPDATE sites SET allowed_event_props = ? WHERE id = ?",
            params![serde_json::to_string(&props).unwrap(), site_id],
        )
        .map_err(db)?;
        Ok(props)
    }
}

trait NoNanos {
    fn with_nanosecond_zero(self) -> Self;
}
impl NoNanos for NaiveDateTime {
    fn with_nanosecond_zero(self) -> Self {
        use chrono::Timelike;
        self.with_nanosecond(0).unwrap_or(self)
    }
}
