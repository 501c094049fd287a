//! Domain changes in the real SQLite config store: both domains resolve for 72 hours, then only the new one.

use chrono::{Duration, Utc};
use tally_store::config::{NewSite, NewTeam};
use tally_store::sqlite::SqliteConfigStore;
use tally_store::{ConfigStore, Plan};

#[test]
fn the_old_domain_stops_resolving_when_its_transition_expires() {
    let dir = tempfile::tempdir().unwrap();
    let c = SqliteConfigStore::open(&dir.path().join("config.sqlite3")).unwrap();
    let user = c.create_user("owner@example.test", "Owner").unwrap();
    let team = c
        .create_team(&NewTeam {
            name: "Team".into(),
            owner_user_id: user.id,
            plan: Plan { name: "business".into(), features: None },
            personal: false,
            setup_complete: true,
        })
        .unwrap();
    let site = c
        .create_site(&NewSite {
            team_id: team.id,
            domain: "old.example".into(),
            timezone: "Etc/UTC".into(),
            allowed_event_props: vec![],
            legacy_time_on_page_cutoff: None,
            ingest_rate_limit_threshold: None,
            consolidated: false,
            tracker_config: None,
        })
        .unwrap();
    c.change_site(site.id, Some("new.example"), None).unwrap();
    let resolves = |d: &str| c.site_by_domain(d).unwrap().map(|s| s.id);
    // Looked up (and so cached) while both domains are valid.
    assert_eq!(resolves("old.example"), Some(site.id));
    assert_eq!(resolves("new.example"), Some(site.id));

    let now = Utc::now().naive_utc();
    assert_eq!(c.expire_domain_changes(now - Duration::hours(72)).unwrap(), 0, "changed just now: kept");
    assert_eq!(resolves("old.example"), Some(site.id));

    // 72 hours later.
    assert_eq!(c.expire_domain_changes(now + Duration::hours(1)).unwrap(), 1);
    assert_eq!(resolves("old.example"), None);
    assert_eq!(resolves("new.example"), Some(site.id));
    assert_eq!(c.site(site.id).unwrap().unwrap().domain_changed_from, None);
}
