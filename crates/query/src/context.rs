//! What the caller knows about the queried site, filled from the config store.
//!
//! Nothing in here is request-specific: one `SiteContext` can be reused for any number of
//! [`crate::parse_query`] calls against the same site.

use chrono::{NaiveDate, NaiveDateTime};
use chrono_tz::Tz;

/// Site facts needed to validate and resolve a v2 query.
#[derive(Debug, Clone)]
pub struct SiteContext {
    /// The site's current domain (echoed as `query.site_id`).
    pub domain: String,
    /// The site's reporting timezone (IANA).
    pub timezone: Tz,
    /// All goals configured for the site.
    pub goals: Vec<Goal>,
    /// Saved segments the requester may use (site segments and personal segments of any user of
    /// the site; Plausible resolves both on the API).
    pub segments: Vec<Segment>,
    /// Plan feature "props" (custom properties).
    pub props_available: bool,
    /// Plan feature "revenue_goals".
    pub revenue_available: bool,
    /// First day with data (native or imported), in site tz; `None` = no data yet
    /// (`"all"` then resolves to today..today).
    pub stats_start_date: Option<NaiveDate>,
    /// UTC instant before which native rows are ignored (the planner applies it).
    pub native_stats_start_at: NaiveDateTime,
    /// Date (site tz) up to which the legacy time-on-page method applies, if the site has one.
    pub legacy_time_on_page_cutoff: Option<NaiveDate>,
    /// Completed imports of the site.
    pub imports: Vec<ImportInfo>,
}

/// A configured goal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Goal {
    pub id: i64,
    /// The only identifier the API uses (filter clauses, `event:goal` dimension values).
    pub display_name: String,
    /// Custom event goal: the event name.
    pub event_name: Option<String>,
    /// Pageview (or scroll) goal: the page path, possibly with `*` / `**` wildcards.
    pub page_path: Option<String>,
    /// Scroll threshold 0..=100 for scroll-depth goals; `-1` = not a scroll goal.
    pub scroll_threshold: i16,
    /// Revenue goal currency (ISO 4217), custom event goals only.
    pub currency: Option<String>,
    /// Custom property conditions narrowing the goal (key, value).
    pub custom_props: Vec<(String, String)>,
}

/// What kind of goal a [`Goal`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GoalKind {
    /// Matches events with `name == event_name`.
    Event,
    /// Matches `pageview` events on `page_path`.
    Page,
    /// Matches `engagement` events on `page_path` with `threshold <= scroll_depth <= 100`.
    Scroll,
}

impl Goal {
    /// The goal's kind (event, page or scroll).
    pub fn kind(&self) -> GoalKind {
        if self.event_name.is_some() {
            GoalKind::Event
        } else if self.scroll_threshold >= 0 {
            GoalKind::Scroll
        } else {
            GoalKind::Page
        }
    }

    /// True for scroll-depth goals.
    pub fn is_scroll(&self) -> bool {
        self.kind() == GoalKind::Scroll
    }

    /// True for goals with a revenue currency.
    pub fn is_revenue(&self) -> bool {
        self.currency.is_some()
    }
}

/// A saved segment.
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    pub id: i64,
    pub name: String,
    /// `{"filters": [...]}` in the v2 filter syntax (dashboard operators such as
    /// `matches_wildcard` allowed).
    pub segment_data: serde_json::Value,
}

/// A completed import of a site.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportInfo {
    pub id: i64,
    pub start_date: NaiveDate,
    pub end_date: NaiveDate,
    pub has_scroll_depth: bool,
}
