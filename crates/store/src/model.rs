//! Plain data types shared by the stores and their users. No database types leak out of this crate.

use chrono::{NaiveDate, NaiveDateTime};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// `scroll_depth` value meaning "not recorded" (Plausible's UInt8 sentinel).
pub const SCROLL_DEPTH_NONE: u8 = 255;

/// Session-level attributes: fixed by a session's first event and copied onto each of its events.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SessionAttrs {
    pub referrer: String,
    pub referrer_source: String,
    pub utm_medium: String,
    pub utm_source: String,
    pub utm_campaign: String,
    pub utm_content: String,
    pub utm_term: String,
    pub click_id_param: String,
    pub channel: String,
    pub country_code: String,
    pub subdivision1_code: String,
    pub subdivision2_code: String,
    pub city_geoname_id: u32,
    pub screen_size: String,
    pub operating_system: String,
    pub operating_system_version: String,
    pub browser: String,
    pub browser_version: String,
}

/// One stored event (Plausible's `events_v2` row).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EventRow {
    pub site_id: u64,
    pub timestamp: NaiveDateTime,
    pub name: String,
    pub user_id: u64,
    pub session_id: u64,
    pub hostname: String,
    pub pathname: String,
    pub attrs: SessionAttrs,
    pub meta_key: Vec<String>,
    pub meta_value: Vec<String>,
    pub revenue_reporting_amount: Option<Decimal>,
    pub revenue_reporting_currency: String,
    pub revenue_source_amount: Option<Decimal>,
    pub revenue_source_currency: String,
    /// 0–100, or [`SCROLL_DEPTH_NONE`].
    pub scroll_depth: u8,
    /// Milliseconds; 0 = not recorded.
    pub engagement_time: u32,
}

impl EventRow {
    pub fn new(timestamp: NaiveDateTime) -> Self {
        EventRow { timestamp, scroll_depth: SCROLL_DEPTH_NONE, ..Default::default() }
    }
}

/// The current state of one session (Plausible's `sessions_v2`, collapsed to one row).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SessionRow {
    pub site_id: u64,
    pub session_id: u64,
    pub user_id: u64,
    /// Entry page hostname.
    pub hostname: String,
    pub entry_page: String,
    pub exit_page: String,
    pub exit_page_hostname: String,
    pub start: NaiveDateTime,
    /// Last activity.
    pub timestamp: NaiveDateTime,
    pub is_bounce: bool,
    pub pageviews: u32,
    pub events: u32,
    pub duration: u32,
    pub attrs: SessionAttrs,
    pub entry_meta_key: Vec<String>,
    pub entry_meta_value: Vec<String>,
}

/// One batch handed to the event store by the write buffer or the bulk import. Written atomically.
#[derive(Default, Debug)]
pub struct WriteBatch {
    pub events: Vec<EventRow>,
    /// New states of sessions that may still change (replace any earlier state of the same session).
    pub live_sessions: Vec<SessionRow>,
    /// Sessions that are complete (bulk import).
    pub final_sessions: Vec<SessionRow>,
    /// Live sessions (by id) that can no longer change: moved to the final set.
    pub finalize: Vec<u64>,
}

impl WriteBatch {
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
            && self.live_sessions.is_empty()
            && self.final_sessions.is_empty()
            && self.finalize.is_empty()
    }
}

/// A value bound to or read from SQL.
#[derive(Clone, Debug, PartialEq)]
pub enum SqlValue {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    Text(String),
    Timestamp(NaiveDateTime),
    Date(NaiveDate),
    Decimal(Decimal),
    TextList(Vec<String>),
    /// Bytes (read back only: the sets of `tally_uniq_state`).
    Blob(Vec<u8>),
}

impl SqlValue {
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            SqlValue::Int(i) => Some(*i as f64),
            SqlValue::UInt(u) => Some(*u as f64),
            SqlValue::Float(f) => Some(*f),
            SqlValue::Decimal(d) => d.to_string().parse().ok(),
            SqlValue::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
            _ => None,
        }
    }
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            SqlValue::Int(i) => Some(*i),
            SqlValue::UInt(u) => i64::try_from(*u).ok(),
            SqlValue::Float(f) => Some(*f as i64),
            SqlValue::Decimal(d) => d.to_string().parse::<f64>().ok().map(|f| f as i64),
            SqlValue::Bool(b) => Some(*b as i64),
            _ => None,
        }
    }
    pub fn as_str(&self) -> Option<&str> {
        match self {
            SqlValue::Text(s) => Some(s),
            _ => None,
        }
    }
    pub fn is_null(&self) -> bool {
        matches!(self, SqlValue::Null)
    }
}

pub type Row = Vec<SqlValue>;

// ---------------------------------------------------------------- configuration

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: i64,
    pub email: String,
    pub name: String,
}

/// A plan: a named tier or a custom feature list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    pub name: String,
    /// `Some` for a custom contract granting exactly these features.
    pub features: Option<Vec<String>>,
}

pub const FEATURES: &[&str] =
    &["stats_api", "sites_api", "props", "funnels", "revenue_goals", "shared_links", "site_segments"];

impl Plan {
    pub fn named(name: &str) -> Self {
        Plan { name: name.to_string(), features: None }
    }
    pub fn is_valid_name(name: &str) -> bool {
        matches!(name, "growth" | "business" | "enterprise" | "trial")
    }
    /// Whether the plan grants a feature id (see [`FEATURES`]).
    pub fn has(&self, feature: &str) -> bool {
        if let Some(list) = &self.features {
            return list.iter().any(|f| f == feature);
        }
        match self.name.as_str() {
            "enterprise" => true,
            "trial" => feature != "sites_api",
            "business" => feature != "sites_api",
            "growth" => matches!(feature, "shared_links" | "site_segments"),
            _ => false,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Team {
    pub id: i64,
    pub identifier: String,
    pub name: String,
    pub personal: bool,
    pub setup_complete: bool,
    pub plan: Plan,
    pub hourly_api_request_limit: Option<i64>,
    pub locked: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    Billing,
    Viewer,
    Editor,
    Admin,
    Owner,
}

impl Role {
    pub fn parse(s: &str) -> Option<Role> {
        Some(match s {
            "owner" => Role::Owner,
            "admin" => Role::Admin,
            "editor" => Role::Editor,
            "viewer" => Role::Viewer,
            "billing" => Role::Billing,
            _ => return None,
        })
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Editor => "editor",
            Role::Viewer => "viewer",
            Role::Billing => "billing",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct TrackerConfig {
    pub id: String,
    pub installation_type: Option<String>,
    pub track_404_pages: bool,
    pub hash_based_routing: bool,
    pub outbound_links: bool,
    pub file_downloads: bool,
    pub revenue_tracking: bool,
    pub tagged_events: bool,
    pub form_submissions: bool,
    pub pageview_props: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Site {
    pub id: i64,
    pub team_id: i64,
    pub domain: String,
    pub timezone: String,
    pub allowed_event_props: Vec<String>,
    pub legacy_time_on_page_cutoff: Option<NaiveDate>,
    pub domain_changed_from: Option<String>,
    pub native_stats_start_at: NaiveDateTime,
    pub ingest_rate_limit_threshold: Option<i64>,
    pub consolidated: bool,
    pub tracker_config: Option<TrackerConfig>,
    pub inserted_at: NaiveDateTime,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Goal {
    pub id: i64,
    pub site_id: i64,
    pub event_name: Option<String>,
    pub page_path: Option<String>,
    pub scroll_threshold: i16,
    pub display_name: String,
    pub currency: Option<String>,
    pub custom_props: Vec<(String, String)>,
}

impl Goal {
    pub fn goal_type(&self) -> &'static str {
        if self.event_name.is_some() {
            "event"
        } else if self.scroll_threshold > -1 {
            "scroll"
        } else {
            "page"
        }
    }
}

/// Fields of a goal to create.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NewGoal {
    pub event_name: Option<String>,
    pub page_path: Option<String>,
    pub scroll_threshold: i16,
    pub display_name: Option<String>,
    pub currency: Option<String>,
    pub custom_props: Vec<(String, String)>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Segment {
    pub id: i64,
    pub site_id: i64,
    pub owner_id: Option<i64>,
    pub name: String,
    pub segment_type: String,
    pub segment_data: serde_json::Value,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiKey {
    pub id: i64,
    pub user_id: i64,
    pub team_id: Option<i64>,
    pub name: String,
    pub prefix: String,
    pub scopes: Vec<String>,
    pub hourly_request_limit: Option<i64>,
    pub inserted_at: NaiveDateTime,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Import {
    pub id: i64,
    pub site_id: i64,
    pub start_date: NaiveDate,
    pub end_date: NaiveDate,
    pub source: String,
    pub status: String,
    pub legacy: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SharedLink {
    pub id: i64,
    pub site_id: i64,
    pub name: String,
    pub slug: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Guest {
    pub email: String,
    pub role: String,
    /// "accepted" or "invited".
    pub status: String,
    pub user_id: Option<i64>,
    pub inserted_at: NaiveDateTime,
    pub id: i64,
}
