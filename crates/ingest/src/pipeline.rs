//! Live ingestion: validated request -> per-domain gatekeeping -> enrichment -> visitor id -> session
//! update -> write buffer (platform.md §3.9, §5).

use crate::buffer::Buffer;
use crate::request::EventRequest;
use crate::salts::Salts;
use crate::session::{self, Kind};
use crate::visitor::{root_domain, visitor_id};
use chrono::{NaiveDateTime, Timelike};
use parking_lot::Mutex;
use rand::Rng;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use tally_enrich::{GeoDb, UaParser};
use tally_store::{ConfigStore, EventRow, SessionAttrs, SessionRow, Site};

/// Why an event was not recorded (Plausible's drop reasons that apply to Tally).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Drop {
    NotFound,
    Block,
    Throttle,
    VerificationAgent,
    /// `X-Plausible-IP-Type: dc_ip`: a data-centre address, as classified by a proxy in front.
    DcIp,
    Bot,
    NoSessionForEngagement,
}

/// One request as it reached the server.
pub struct Incoming {
    pub request: EventRequest,
    pub user_agent: String,
    pub client_ip: String,
    /// `X-Plausible-IP-Type`, set by a proxy that classifies addresses (`dc_ip`, `anonymous_vpn_ip`).
    pub ip_type: Option<String>,
    pub now: NaiveDateTime,
}

struct Cached {
    row: SessionRow,
    last_seen: NaiveDateTime,
}

const SHARDS: usize = 64;

/// In-memory live sessions keyed by (site, visitor); a shard's lock also serialises the buffer
/// pushes of its sessions so a session's rows are buffered in the order its events were processed.
pub struct SessionCache {
    shards: Vec<Mutex<HashMap<(u64, u64), Cached>>>,
}

impl Default for SessionCache {
    fn default() -> Self {
        SessionCache { shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect() }
    }
}

impl SessionCache {
    /// Sessions are sharded by site, so that a visitor's ids under the current and the previous salt
    /// are always in one shard.
    fn shard(&self, site: u64) -> &Mutex<HashMap<(u64, u64), Cached>> {
        let h = site.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        &self.shards[(h >> 58) as usize % SHARDS]
    }

    /// Restores sessions read back from the store at start-up.
    pub fn restore(&self, rows: Vec<SessionRow>) {
        for row in rows {
            let key = (row.site_id, row.user_id);
            let last_seen = row.timestamp;
            self.shard(key.0).lock().insert(key, Cached { row, last_seen });
        }
    }

    /// Removes sessions idle for longer than a session can last; returns their ids.
    pub fn evict_idle(&self, now: NaiveDateTime) -> Vec<u64> {
        let mut out = Vec::new();
        for s in &self.shards {
            s.lock().retain(|_, c| {
                let keep = session::is_live(c.last_seen, now);
                if !keep {
                    out.push(c.row.session_id);
                }
                keep
            });
        }
        out
    }

    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

pub struct Ingestor {
    pub config: Arc<dyn ConfigStore>,
    pub buffer: Arc<Buffer>,
    pub salts: Salts,
    pub sessions: SessionCache,
    pub ua: Arc<UaParser>,
    pub geo: Option<Arc<GeoDb>>,
    rate: Mutex<HashMap<i64, (i64, i64)>>,
    /// The minute of the last check for domain changes older than 72 hours.
    domain_expiry_minute: std::sync::atomic::AtomicI64,
}

/// How long a site keeps ingesting under the domain it changed from (Plausible: 72 hours).
pub const DOMAIN_CHANGE_TRANSITION: chrono::Duration = chrono::Duration::hours(72);

impl Ingestor {
    pub fn new(
        config: Arc<dyn ConfigStore>,
        buffer: Arc<Buffer>,
        salts: Salts,
        ua: Arc<UaParser>,
        geo: Option<Arc<GeoDb>>,
    ) -> Self {
        Ingestor {
            config,
            buffer,
            salts,
            sessions: SessionCache::default(),
            ua,
            geo,
            rate: Mutex::new(HashMap::new()),
            domain_expiry_minute: std::sync::atomic::AtomicI64::new(i64::MIN),
        }
    }

    /// Processes one accepted request; returns how many domain-events were dropped.
    pub async fn ingest(&self, inc: &Incoming) -> usize {
        let mut dropped = 0;
        // One event per listed domain, a domain listed twice included (as Plausible's request builder).
        let domains = &inc.request.domains;
        // A spam referrer drops the event for every domain before any of them is looked at.
        if inc.request.referrer.as_deref().is_some_and(tally_enrich::is_spam_referrer) {
            return domains.len();
        }
        for domain in domains {
            if self.ingest_domain(inc, domain).await.is_err() {
                dropped += 1;
            }
        }
        dropped
    }

    fn gatekeep(&self, domain: &str, now: NaiveDateTime) -> Result<Site, Drop> {
        let site = match self.config.site_by_domain(domain) {
            Ok(Some(s)) if !s.consolidated => s,
            _ => return Err(Drop::NotFound),
        };
        match site.ingest_rate_limit_threshold {
            Some(0) => return Err(Drop::Block),
            Some(limit) => {
                let window = now.and_utc().timestamp().div_euclid(60);
                let mut rate = self.rate.lock();
                let entry = rate.entry(site.id).or_insert((window, 0));
                if entry.0 != window {
                    *entry = (window, 0);
                }
                entry.1 += 1;
                if entry.1 > limit {
                    return Err(Drop::Throttle);
                }
            }
            None => {}
        }
        Ok(site)
    }

    async fn ingest_domain(&self, inc: &Incoming, domain: &str) -> Result<(), Drop> {
        let req = &inc.request;
        let site = self.gatekeep(domain, inc.now)?;
        if tally_enrich::is_verification_agent(&inc.user_agent) {
            return Err(Drop::VerificationAgent);
        }
        if inc.ip_type.as_deref() == Some("dc_ip") {
            return Err(Drop::DcIp);
        }
        if self.ua.is_bot(&inc.user_agent) {
            return Err(Drop::Bot);
        }
        let mut event = EventRow::new(inc.now.with_nanosecond(0).unwrap_or(inc.now));
        event.site_id = site.id as u64;
        event.name = req.name.clone();
        event.hostname = req.hostname.clone();
        event.pathname = req.pathname.clone();
        for (k, v) in &req.props {
            event.meta_key.push(k.clone());
            event.meta_value.push(v.clone());
        }
        let kind = Kind::of(&req.name, req.interactive);
        if kind == Kind::Engagement {
            event.scroll_depth = req.scroll_depth.unwrap_or(tally_store::SCROLL_DEPTH_NONE);
            event.engagement_time = req.engagement_time.unwrap_or(0);
        }
        if let Some(rev) = &req.revenue {
            self.attach_revenue(&site, &mut event, rev);
        }

        let salts = self.salts.get();
        let root = root_domain(&req.hostname);
        let ua = inc.user_agent.as_str();
        let user_id = visitor_id(&salts.current, ua, &inc.client_ip, &site.domain, &root);
        let previous_id = salts.previous.map(|p| visitor_id(&p, ua, &inc.client_ip, &site.domain, &root));
        event.user_id = user_id;
        let site_id = site.id as u64;

        let mut attrs = SessionAttrs::default();
        self.enrich(inc, &mut attrs);

        self.buffer.reserve().await;
        let mut cache = self.sessions.shard(site_id).lock();
        let found_key = [Some(user_id), previous_id]
            .into_iter()
            .flatten()
            .map(|u| (site_id, u))
            .find(|k| cache.get(k).is_some_and(|c| session::is_live(c.last_seen, event.timestamp)));

        match kind {
            Kind::Engagement => {
                let Some(k) = found_key else {
                    drop(cache);
                    self.buffer.release(1);
                    return Err(Drop::NoSessionForEngagement);
                };
                let c = cache.get_mut(&k).unwrap();
                c.last_seen = c.last_seen.max(event.timestamp);
                session::merge_into_event(&c.row, &mut event);
                self.buffer.push(event, None);
            }
            _ => {
                let previous = found_key.and_then(|k| cache.remove(&k)).map(|c| c.row);
                let new_state = match previous {
                    Some(prev) => {
                        session::merge_into_event(&prev, &mut event);
                        session::update(prev, &event, kind)
                    }
                    None => {
                        event.attrs = attrs;
                        event.session_id = rand::rng().random::<u64>() >> 1;
                        if let Some(old) = cache.remove(&(site_id, user_id)) {
                            self.buffer.finalize(vec![old.row.session_id]);
                        }
                        session::start(&event, kind)
                    }
                };
                cache.insert((site_id, user_id), Cached { row: new_state.clone(), last_seen: event.timestamp });
                self.buffer.push(event, Some(new_state));
            }
        }
        Ok(())
    }

    /// Session attributes from the request: attribution, channel, user agent, location.
    fn enrich(&self, inc: &Incoming, attrs: &mut SessionAttrs) {
        let req = &inc.request;
        let host = if req.hostname == "(none)" { "" } else { req.hostname.as_str() };
        let a = tally_enrich::attribution(host, &req.query, req.referrer.as_deref());
        attrs.referrer = a.referrer;
        attrs.referrer_source = a.referrer_source;
        attrs.utm_medium = a.utm_medium;
        attrs.utm_source = a.utm_source;
        attrs.utm_campaign = a.utm_campaign;
        attrs.utm_content = a.utm_content;
        attrs.utm_term = a.utm_term;
        attrs.click_id_param = a.click_id_param;
        attrs.channel = tally_enrich::acquisition_channel(
            &attrs.referrer_source,
            &attrs.utm_source,
            &attrs.utm_medium,
            &attrs.utm_campaign,
            &attrs.click_id_param,
        )
        .to_string();
        // The tracker always sends a screen width, which decides the device; the UA only when it is missing.
        let ua = match req.screen_width {
            Some(_) => self.ua.parse_browser_os(&inc.user_agent),
            None => self.ua.parse(&inc.user_agent),
        };
        attrs.browser = ua.browser;
        attrs.browser_version = ua.browser_version;
        attrs.operating_system = ua.os;
        attrs.operating_system_version = ua.os_version;
        attrs.screen_size = match req.screen_width {
            Some(w) => tally_enrich::device_from_screen_width(w).to_string(),
            None => ua.device,
        };
        if let (Some(geo), Ok(ip)) = (&self.geo, inc.client_ip.parse::<IpAddr>()) {
            let g = geo.lookup(ip);
            attrs.country_code = g.country_code;
            attrs.subdivision1_code = g.subdivision1_code;
            attrs.subdivision2_code = g.subdivision2_code;
            attrs.city_geoname_id = g.city_geoname_id;
        }
        // An anonymising VPN's address locates nothing but the VPN: Plausible reports such visits as "A1".
        if inc.ip_type.as_deref() == Some("anonymous_vpn_ip") {
            attrs.country_code = "A1".into();
            attrs.subdivision1_code = String::new();
            attrs.subdivision2_code = String::new();
            attrs.city_geoname_id = 0;
        }
    }

    fn attach_revenue(&self, site: &Site, event: &mut EventRow, rev: &crate::request::Revenue) {
        let Ok(goals) = self.config.goals(site.id) else {
            return;
        };
        let Some(goal) = goals.iter().find(|g| g.currency.is_some() && g.event_name.as_deref() == Some(&event.name))
        else {
            return;
        };
        let goal_currency = goal.currency.clone().unwrap_or_default();
        event.revenue_source_amount = Some(rev.amount);
        event.revenue_source_currency = rev.currency.clone();
        if let Some(amount) = crate::currency::convert(rev.amount, &rev.currency, &goal_currency) {
            event.revenue_reporting_amount = Some(amount);
            event.revenue_reporting_currency = goal_currency;
        }
    }

    /// Periodic housekeeping: evict idle sessions (they become final at the next flush) and rotate salts.
    pub fn tick(&self, now: NaiveDateTime) {
        let ids = self.sessions.evict_idle(now);
        self.buffer.finalize(ids);
        if let Err(e) = self.salts.rotate_if_due(now) {
            tracing::warn!(error = %e, "salt rotation failed");
        }
        let window = now.and_utc().timestamp().div_euclid(60);
        self.rate.lock().retain(|_, (w, _)| *w >= window - 1);
        // Once a minute: old domains stop ingesting 72 hours after a domain change.
        if self.domain_expiry_minute.swap(window, std::sync::atomic::Ordering::Relaxed) != window {
            if let Err(e) = self.config.expire_domain_changes(now - DOMAIN_CHANGE_TRANSITION) {
                tracing::warn!(error = %e, "expiring domain changes failed");
            }
        }
    }
}
