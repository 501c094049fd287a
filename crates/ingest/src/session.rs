//! Sessions: the one rule that live ingestion and the bulk import share (platform.md §5.3).

use chrono::NaiveDateTime;
use tally_store::{EventRow, SessionRow};

/// A session continues when the event is at most 30 whole minutes after its last activity.
pub fn is_live(last_activity: NaiveDateTime, event_time: NaiveDateTime) -> bool {
    let minutes = (event_time - last_activity).num_seconds().div_euclid(60);
    minutes <= 30
}

/// What kind of event updates a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Pageview,
    /// A custom event; `interactive: false` events do not end a bounce.
    Custom {
        interactive: bool,
    },
    /// Engagement events never create or change a session.
    Engagement,
}

impl Kind {
    pub fn of(name: &str, interactive: bool) -> Kind {
        match name {
            "pageview" => Kind::Pageview,
            "engagement" => Kind::Engagement,
            _ => Kind::Custom { interactive },
        }
    }
}

/// A new session started by `event` (not an engagement event). The event's session attributes become the
/// session's; `event.session_id` must already be set.
pub fn start(event: &EventRow, kind: Kind) -> SessionRow {
    let pageview = kind == Kind::Pageview;
    let (host, page) = if pageview { (event.hostname.clone(), event.pathname.clone()) } else { Default::default() };
    SessionRow {
        site_id: event.site_id,
        session_id: event.session_id,
        user_id: event.user_id,
        hostname: host.clone(),
        entry_page: page.clone(),
        exit_page: page,
        exit_page_hostname: host,
        start: event.timestamp,
        timestamp: event.timestamp,
        is_bounce: true,
        pageviews: pageview as u32,
        events: 1,
        duration: 0,
        attrs: event.attrs.clone(),
        entry_meta_key: event.meta_key.clone(),
        entry_meta_value: event.meta_value.clone(),
    }
}

/// The next state of `session` after a (non-engagement) event.
///
/// Since Plausible 3.1 a session is a bounce unless it has two or more pageviews or an interactive custom
/// event.
pub fn update(session: SessionRow, event: &EventRow, kind: Kind) -> SessionRow {
    let mut s = session;
    s.user_id = event.user_id;
    s.timestamp = event.timestamp;
    if kind == Kind::Pageview {
        if s.entry_page.is_empty() && s.hostname.is_empty() {
            s.entry_page = event.pathname.clone();
            s.hostname = event.hostname.clone();
        }
        s.exit_page = event.pathname.clone();
        s.exit_page_hostname = event.hostname.clone();
        s.pageviews += 1;
    }
    s.events += 1;
    s.duration = (event.timestamp - s.start).num_seconds().unsigned_abs().min(u32::MAX as u64) as u32;
    let ends_bounce = match kind {
        Kind::Pageview => s.pageviews >= 2,
        Kind::Custom { interactive } => interactive,
        Kind::Engagement => false,
    };
    if ends_bounce {
        s.is_bounce = false;
    }
    s
}

/// Copies the session's identity and attributes onto an event (Plausible's `merge_session`).
pub fn merge_into_event(session: &SessionRow, event: &mut EventRow) {
    event.session_id = session.session_id;
    event.attrs = session.attrs.clone();
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn t(h: u32, m: u32, s: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(2024, 1, 1).unwrap().and_hms_opt(h, m, s).unwrap()
    }

    fn ev(name: &str, ts: NaiveDateTime, path: &str) -> EventRow {
        let mut e = EventRow::new(ts);
        e.name = name.into();
        e.pathname = path.into();
        e.hostname = "example.com".into();
        e.session_id = 7;
        e
    }

    #[test]
    fn liveness_is_thirty_whole_minutes() {
        assert!(is_live(t(10, 0, 0), t(10, 30, 59)));
        assert!(!is_live(t(10, 0, 0), t(10, 31, 0)));
    }

    #[test]
    fn pageviews_and_custom_events_end_bounce() {
        let s = start(&ev("pageview", t(10, 0, 0), "/a"), Kind::Pageview);
        assert!(s.is_bounce);
        let s2 = update(s.clone(), &ev("Signup", t(10, 1, 0), "/a"), Kind::Custom { interactive: false });
        assert!(s2.is_bounce);
        assert_eq!(s2.events, 2);
        let s3 = update(s2.clone(), &ev("pageview", t(10, 5, 0), "/b"), Kind::Pageview);
        assert!(!s3.is_bounce);
        assert_eq!((s3.entry_page.as_str(), s3.exit_page.as_str(), s3.duration, s3.pageviews), ("/a", "/b", 300, 2));
        let s4 = update(s.clone(), &ev("Signup", t(10, 1, 0), "/a"), Kind::Custom { interactive: true });
        assert!(!s4.is_bounce);
    }

    #[test]
    fn custom_event_session_gets_entry_page_from_first_pageview() {
        let s = start(&ev("Signup", t(10, 0, 0), "/x"), Kind::Custom { interactive: true });
        assert_eq!(s.entry_page, "");
        let s2 = update(s.clone(), &ev("pageview", t(10, 0, 5), "/y"), Kind::Pageview);
        assert_eq!((s2.entry_page.as_str(), s2.exit_page.as_str()), ("/y", "/y"));
    }
}
