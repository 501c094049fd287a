//! The configuration store: users, teams, sites, goals, keys, salts… (SQLite now, PostgreSQL later).

use crate::model::*;
use chrono::{NaiveDate, NaiveDateTime};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("not found")]
    NotFound,
    /// A uniqueness rule was violated; the message says which.
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Invalid(String),
    #[error("database error: {0}")]
    Db(String),
}

pub type ConfigResult<T> = Result<T, ConfigError>;

#[derive(Clone, Debug)]
pub struct NewSite {
    pub team_id: i64,
    pub domain: String,
    pub timezone: String,
    pub allowed_event_props: Vec<String>,
    pub legacy_time_on_page_cutoff: Option<NaiveDate>,
    pub ingest_rate_limit_threshold: Option<i64>,
    pub consolidated: bool,
    pub tracker_config: Option<TrackerConfig>,
}

#[derive(Clone, Debug)]
pub struct NewTeam {
    pub name: String,
    pub owner_user_id: i64,
    pub plan: Plan,
    pub personal: bool,
    pub setup_complete: bool,
}

#[derive(Clone, Debug, Default)]
pub struct NewApiKey {
    pub user_id: i64,
    pub team_id: Option<i64>,
    pub name: String,
    pub scopes: Vec<String>,
    pub hourly_request_limit: Option<i64>,
}

pub trait ConfigStore: Send + Sync {
    // users
    fn create_user(&self, email: &str, name: &str) -> ConfigResult<User>;
    fn user(&self, id: i64) -> ConfigResult<Option<User>>;
    fn user_by_email(&self, email: &str) -> ConfigResult<Option<User>>;

    // teams and memberships
    fn create_team(&self, team: &NewTeam) -> ConfigResult<Team>;
    fn team(&self, id: i64) -> ConfigResult<Option<Team>>;
    fn team_by_identifier(&self, identifier: &str) -> ConfigResult<Option<Team>>;
    fn set_team_plan(&self, id: i64, plan: &Plan) -> ConfigResult<()>;
    fn set_team_api_limit(&self, id: i64, limit: Option<i64>) -> ConfigResult<()>;
    fn set_team_member(&self, team_id: i64, user_id: i64, role: Role) -> ConfigResult<()>;
    fn team_role(&self, team_id: i64, user_id: i64) -> ConfigResult<Option<Role>>;
    /// Teams the user is a member of, newest first.
    fn teams_of_user(&self, user_id: i64) -> ConfigResult<Vec<(Team, Role)>>;
    fn team_owner(&self, team_id: i64) -> ConfigResult<Option<User>>;

    // sites
    fn create_site(&self, site: &NewSite) -> ConfigResult<Site>;
    fn site(&self, id: i64) -> ConfigResult<Option<Site>>;
    /// By current domain or by the domain it changed from.
    fn site_by_domain(&self, domain: &str) -> ConfigResult<Option<Site>>;
    fn sites_of_team(&self, team_id: i64) -> ConfigResult<Vec<Site>>;
    fn all_sites(&self) -> ConfigResult<Vec<Site>>;
    /// Saves every mutable field of the site.
    fn update_site(&self, site: &Site) -> ConfigResult<()>;
    fn delete_site(&self, id: i64) -> ConfigResult<()>;
    /// Stats start date cache (first native or imported data, site-local date).
    fn set_native_stats_start_at(&self, site_id: i64, at: NaiveDateTime) -> ConfigResult<()>;

    // guests
    fn set_guest(&self, site_id: i64, user_id: i64, role: &str) -> ConfigResult<()>;
    fn invite_guest(&self, site_id: i64, email: &str, role: &str, inviter_user_id: i64) -> ConfigResult<i64>;
    fn guest_role(&self, site_id: i64, user_id: i64) -> ConfigResult<Option<String>>;
    /// Accepted guests and pending invitations, newest first.
    fn guests(&self, site_id: i64) -> ConfigResult<Vec<Guest>>;
    fn remove_guest(&self, site_id: i64, email: &str) -> ConfigResult<()>;
    /// Sites where the user is a guest.
    fn guest_sites(&self, user_id: i64) -> ConfigResult<Vec<(Site, String)>>;

    // goals
    fn goals(&self, site_id: i64) -> ConfigResult<Vec<Goal>>;
    fn create_goal(&self, site_id: i64, goal: &NewGoal) -> ConfigResult<Goal>;
    fn delete_goal(&self, site_id: i64, goal_id: i64) -> ConfigResult<bool>;

    // segments
    fn segments(&self, site_id: i64) -> ConfigResult<Vec<Segment>>;
    fn create_segment(
        &self,
        site_id: i64,
        owner_id: Option<i64>,
        name: &str,
        segment_type: &str,
        data: &serde_json::Value,
    ) -> ConfigResult<Segment>;
    fn update_segment(&self, segment: &Segment) -> ConfigResult<()>;
    fn delete_segment(&self, site_id: i64, id: i64) -> ConfigResult<bool>;

    // API keys (the plaintext key is returned once and never stored)
    fn create_api_key(&self, key: &NewApiKey) -> ConfigResult<(ApiKey, String)>;
    fn api_key_by_secret(&self, secret: &str) -> ConfigResult<Option<ApiKey>>;
    fn api_keys_of_user(&self, user_id: i64) -> ConfigResult<Vec<ApiKey>>;
    fn revoke_api_key(&self, id: i64) -> ConfigResult<bool>;

    // imports
    fn create_import(&self, import: &Import) -> ConfigResult<Import>;
    fn imports(&self, site_id: i64) -> ConfigResult<Vec<Import>>;

    // shared links
    fn shared_link(&self, site_id: i64, name: &str) -> ConfigResult<Option<SharedLink>>;
    fn create_shared_link(&self, site_id: i64, name: &str, slug: &str) -> ConfigResult<SharedLink>;

    // visitor-id salts: (salt, created)
    fn salts(&self) -> ConfigResult<Vec<([u8; 16], NaiveDateTime)>>;
    fn add_salt(&self, salt: [u8; 16], at: NaiveDateTime) -> ConfigResult<()>;
    fn delete_salts_before(&self, at: NaiveDateTime) -> ConfigResult<()>;

    // generic JSON documents for Tally extensions (funnels, …): (kind, site) -> rows
    fn documents(&self, kind: &str, site_id: i64) -> ConfigResult<Vec<(i64, serde_json::Value)>>;
    fn put_document(&self, kind: &str, site_id: i64, id: Option<i64>, doc: &serde_json::Value) -> ConfigResult<i64>;
    fn delete_document(&self, kind: &str, site_id: i64, id: i64) -> ConfigResult<bool>;

    // Sites API
    /// Changes a site's domain (the old one kept in `domain_changed_from`, with the time of the change)
    /// and/or its tracker configuration, in one transaction. A domain used by another site (as its domain
    /// or its previous domain) is a `Conflict`.
    fn change_site(
        &self,
        site_id: i64,
        new_domain: Option<&str>,
        tracker: Option<&TrackerConfig>,
    ) -> ConfigResult<Site>;
    /// Gives the site this tracker configuration unless it has one; returns the site.
    fn ensure_tracker_config(&self, site_id: i64, tracker: &TrackerConfig) -> ConfigResult<Site>;
    /// Forgets the domain a site changed from.
    fn clear_domain_changed_from(&self, site_id: i64) -> ConfigResult<()>;
    /// Ends the transition of every domain change made before `changed_before`: the old domains stop
    /// ingesting (Plausible keeps both for 72 hours). Returns how many sites it ended.
    fn expire_domain_changes(&self, changed_before: NaiveDateTime) -> ConfigResult<usize>;
    /// Edits a site's allowed event props atomically; an error from `edit` leaves them unchanged.
    fn modify_allowed_event_props(
        &self,
        site_id: i64,
        edit: &mut dyn FnMut(&mut Vec<String>) -> ConfigResult<()>,
    ) -> ConfigResult<Vec<String>>;
}
