//! Bulk NDJSON import (operator-api.md "Bulk event import line"): events with explicit timestamps and
//! visitors, sessionized exactly like live events, and imported-data rows.

use crate::session::{self, Kind};
use chrono::{DateTime, NaiveDate, NaiveDateTime};
use rand::Rng;
use rust_decimal::Decimal;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::str::FromStr;
use tally_store::imported::{imported_table, ColKind, ImportedRow, ImportedValue};
use tally_store::{EventRow, SessionRow, WriteBatch};

#[derive(Debug, PartialEq, Eq)]
pub struct ImportError(pub String);

/// The parsed contents of one import request.
#[derive(Debug, Default)]
pub struct Parsed {
    pub batch: WriteBatch,
    pub imported: Vec<ImportedRow>,
    pub earliest: Option<NaiveDateTime>,
}

impl Parsed {
    pub fn lines(&self) -> usize {
        self.batch.events.len() + self.imported.len()
    }
}

struct Line {
    event: EventRow,
    kind: Kind,
    given_session: Option<u64>,
    given_user: bool,
}

fn parse_timestamp(s: &str) -> Option<NaiveDateTime> {
    NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S")
        .ok()
        .or_else(|| NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S").ok())
        .or_else(|| DateTime::parse_from_rfc3339(s).ok().map(|d| d.naive_utc()))
        .or_else(|| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f").ok())
}

fn str_field(o: &Map<String, Value>, k: &str) -> Result<String, String> {
    match o.get(k) {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Number(n)) => Ok(n.to_string()),
        Some(_) => Err(format!("{k} must be a string")),
    }
}

fn u64_field(o: &Map<String, Value>, k: &str) -> Result<Option<u64>, String> {
    match o.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n.as_u64().map(Some).ok_or_else(|| format!("{k} must be a non-negative integer")),
        Some(Value::String(s)) => s.parse().map(Some).map_err(|_| format!("{k} must be a non-negative integer")),
        Some(_) => Err(format!("{k} must be a non-negative integer")),
    }
}

fn decimal_field(o: &Map<String, Value>, k: &str) -> Result<Option<Decimal>, String> {
    match o.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => Decimal::from_str(s).map(Some).map_err(|_| format!("{k} must be a decimal")),
        Some(Value::Number(n)) => {
            Decimal::from_str(&n.to_string()).map(Some).map_err(|_| format!("{k} must be a decimal"))
        }
        Some(_) => Err(format!("{k} must be a decimal")),
    }
}

/// The acquisition channel, memoised per thread: imports repeat the same few attribution tuples.
fn channel_of(a: &tally_store::SessionAttrs) -> &'static str {
    thread_local! {
        static CACHE: std::cell::RefCell<HashMap<[String; 5], &'static str>> = std::cell::RefCell::new(HashMap::new());
    }
    let key = [
        a.referrer_source.clone(),
        a.utm_source.clone(),
        a.utm_medium.clone(),
        a.utm_campaign.clone(),
        a.click_id_param.clone(),
    ];
    CACHE.with(|c| {
        if let Some(v) = c.borrow().get(&key) {
            return *v;
        }
        let v = tally_enrich::acquisition_channel(&key[0], &key[1], &key[2], &key[3], &key[4]);
        let mut m = c.borrow_mut();
        if m.len() > 100_000 {
            m.clear();
        }
        m.insert(key, v);
        v
    })
}

fn parse_event(o: &Map<String, Value>, site_id: u64) -> Result<Line, String> {
    let ts = match o.get("timestamp") {
        Some(Value::String(s)) => parse_timestamp(s).ok_or_else(|| format!("invalid timestamp {s:?}"))?,
        _ => return Err("timestamp is required".into()),
    };
    let mut e = EventRow::new(ts);
    e.site_id = site_id;
    e.name = match str_field(o, "name")? {
        n if n.is_empty() => "pageview".into(),
        n => n,
    };
    e.hostname = str_field(o, "hostname")?;
    e.pathname = str_field(o, "pathname")?;
    let given_user = u64_field(o, "user_id")?;
    e.user_id = given_user.unwrap_or_else(|| rand::rng().random::<u64>() >> 1);
    let a = &mut e.attrs;
    a.referrer = str_field(o, "referrer")?;
    a.referrer_source = str_field(o, "referrer_source")?;
    a.click_id_param = str_field(o, "click_id_param")?;
    a.utm_medium = str_field(o, "utm_medium")?;
    a.utm_source = str_field(o, "utm_source")?;
    a.utm_campaign = str_field(o, "utm_campaign")?;
    a.utm_content = str_field(o, "utm_content")?;
    a.utm_term = str_field(o, "utm_term")?;
    a.country_code = str_field(o, "country_code")?;
    a.subdivision1_code = str_field(o, "subdivision1_code")?;
    a.subdivision2_code = str_field(o, "subdivision2_code")?;
    a.city_geoname_id = u64_field(o, "city_geoname_id")?.unwrap_or(0) as u32;
    a.screen_size = str_field(o, "screen_size")?;
    a.browser = str_field(o, "browser")?;
    a.browser_version = str_field(o, "browser_version")?;
    a.operating_system = str_field(o, "operating_system")?;
    a.operating_system_version = str_field(o, "operating_system_version")?;
    a.channel = channel_of(a).to_string();
    match o.get("props") {
        None | Some(Value::Null) => {}
        Some(Value::Object(m)) => {
            for (k, v) in m {
                let v = match v {
                    Value::String(s) => s.clone(),
                    Value::Number(n) => n.to_string(),
                    Value::Bool(b) => b.to_string(),
                    _ => return Err(format!("props.{k} must be a string")),
                };
                e.meta_key.push(k.clone());
                e.meta_value.push(v);
            }
        }
        Some(_) => return Err("props must be an object".into()),
    }
    e.revenue_reporting_amount = decimal_field(o, "revenue_reporting_amount")?;
    e.revenue_source_amount = decimal_field(o, "revenue_source_amount")?;
    e.revenue_reporting_currency = str_field(o, "revenue_reporting_currency")?;
    e.revenue_source_currency = str_field(o, "revenue_source_currency")?;
    e.engagement_time = u64_field(o, "engagement_time")?.unwrap_or(0).min(u32::MAX as u64) as u32;
    e.scroll_depth = match u64_field(o, "scroll_depth")? {
        None => 0,
        Some(v) if v <= 100 || v == 255 => v as u8,
        Some(_) => return Err("scroll_depth must be 0..100 or 255".into()),
    };
    let interactive = !matches!(o.get("interactive"), Some(Value::Bool(false)));
    Ok(Line {
        kind: Kind::of(&e.name, interactive),
        event: e,
        given_session: u64_field(o, "session_id")?,
        given_user: given_user.is_some(),
    })
}

fn parse_imported(o: &Map<String, Value>, site_id: u64, import_id: Option<i64>) -> Result<ImportedRow, String> {
    let name = o.get("table").and_then(|t| t.as_str()).unwrap_or_default();
    let table = imported_table(name).ok_or_else(|| format!("unknown table {name:?}"))?;
    let import_id = import_id.ok_or("no import exists for this site; create one first")?;
    let date = match o.get("date") {
        Some(Value::String(s)) => {
            NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| format!("invalid date {s:?}"))?
        }
        _ => return Err("date is required".into()),
    };
    for k in o.keys() {
        if k != "table" && k != "date" && !table.columns.iter().any(|(c, _)| c == k) {
            return Err(format!("unknown column {k:?} for {name}"));
        }
    }
    let mut values = Vec::with_capacity(table.columns.len());
    for (c, kind) in table.columns {
        values.push(match kind {
            ColKind::Text => ImportedValue::Text(str_field(o, c)?),
            ColKind::Count => ImportedValue::Count(match o.get(*c) {
                None | Some(Value::Null) => 0,
                Some(Value::Number(n)) => n
                    .as_i64()
                    .or_else(|| n.as_f64().map(|f| f.round() as i64))
                    .ok_or_else(|| format!("{c} must be a number"))?,
                Some(Value::String(s)) => s.parse().map_err(|_| format!("{c} must be a number"))?,
                Some(_) => return Err(format!("{c} must be a number")),
            }),
        });
    }
    Ok(ImportedRow { table, site_id, import_id, date, values })
}

/// Events and imported-data rows of some lines.
type ParsedLines = (Vec<Line>, Vec<ImportedRow>);

/// Parses some lines (line number, text) of an NDJSON body.
fn parse_lines(part: &[(usize, &str)], site_id: u64, import_id: Option<i64>) -> Result<ParsedLines, ImportError> {
    let mut lines = Vec::with_capacity(part.len());
    let mut imported = Vec::new();
    for (n, raw) in part {
        let fail = |m: String| ImportError(format!("line {n}: {m}"));
        let v: Value = serde_json::from_str(raw).map_err(|e| fail(format!("invalid JSON: {e}")))?;
        let Value::Object(o) = v else {
            return Err(fail("expected a JSON object".into()));
        };
        if o.contains_key("table") {
            imported.push(parse_imported(&o, site_id, import_id).map_err(fail)?);
        } else {
            lines.push(parse_event(&o, site_id).map_err(fail)?);
        }
    }
    Ok((lines, imported))
}

/// Parses an NDJSON body. `import_id`: the site's newest import (for `table` lines).
pub fn parse(body: &[u8], site_id: u64, import_id: Option<i64>) -> Result<Parsed, ImportError> {
    let text = std::str::from_utf8(body).map_err(|_| ImportError("body is not valid UTF-8".into()))?;
    let all: Vec<(usize, &str)> =
        text.split('\n').enumerate().map(|(i, l)| (i + 1, l.trim())).filter(|(_, l)| !l.is_empty()).collect();
    // Lines are independent: parse them on every core, then keep their order.
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).min(8);
    let chunk = all.len().div_ceil(threads).max(1024);
    let parsed: Vec<Result<ParsedLines, ImportError>> = std::thread::scope(|scope| {
        let handles: Vec<_> =
            all.chunks(chunk).map(|part| scope.spawn(move || parse_lines(part, site_id, import_id))).collect();
        handles.into_iter().map(|h| h.join().unwrap_or_else(|_| Err(ImportError("internal error".into())))).collect()
    });
    let mut lines = Vec::with_capacity(all.len());
    let mut out = Parsed::default();
    for p in parsed {
        let (l, imp) = p?;
        lines.extend(l);
        out.imported.extend(imp);
    }
    let (events, sessions) = sessionize(lines);
    out.earliest = events.iter().map(|e| e.timestamp).min();
    out.batch.events = events;
    out.batch.final_sessions = sessions;
    Ok(out)
}

/// Groups lines into sessions (explicit `session_id` in listed order; otherwise per visitor in time order with
/// the 30-minute rule) and builds each session like live ingestion does.
fn sessionize(lines: Vec<Line>) -> (Vec<EventRow>, Vec<SessionRow>) {
    let mut rng = rand::rng();
    let mut groups: Vec<Vec<Line>> = Vec::new();
    let mut by_given: HashMap<u64, usize> = HashMap::new();
    let mut by_user: HashMap<u64, Vec<Line>> = HashMap::new();
    let mut user_order: Vec<u64> = Vec::new();
    for l in lines {
        if let Some(sid) = l.given_session {
            let idx = *by_given.entry(sid).or_insert_with(|| {
                groups.push(Vec::new());
                groups.len() - 1
            });
            groups[idx].push(l);
        } else {
            let u = l.event.user_id;
            if !by_user.contains_key(&u) {
                user_order.push(u);
            }
            let _ = l.given_user;
            by_user.entry(u).or_default().push(l);
        }
    }
    for u in user_order {
        let mut ls = by_user.remove(&u).unwrap_or_default();
        ls.sort_by_key(|l| l.event.timestamp);
        let mut current: Vec<Line> = Vec::new();
        let mut last: Option<NaiveDateTime> = None;
        for l in ls {
            if let Some(t) = last {
                if !session::is_live(t, l.event.timestamp) && !current.is_empty() {
                    groups.push(std::mem::take(&mut current));
                }
            }
            if l.kind != Kind::Engagement || last.is_none() {
                last = Some(l.event.timestamp);
            } else {
                last = last.max(Some(l.event.timestamp));
            }
            current.push(l);
        }
        if !current.is_empty() {
            groups.push(current);
        }
    }
    let mut events = Vec::new();
    let mut sessions = Vec::new();
    for g in groups {
        let sid: u64 = rng.random::<u64>() >> 1;
        let mut state: Option<SessionRow> = None;
        // Session attributes come from the session's first event and are copied onto all its events, as
        // live ingestion does (Plausible's merge_session).
        let attrs = g.first().map(|l| l.event.attrs.clone()).unwrap_or_default();
        for mut l in g {
            l.event.session_id = sid;
            l.event.attrs = attrs.clone();
            if l.kind != Kind::Engagement {
                state = Some(match state {
                    None => session::start(&l.event, l.kind),
                    Some(s) => session::update(&s, &l.event, l.kind),
                });
            }
            events.push(l.event);
        }
        if let Some(s) = state {
            sessions.push(s);
        }
    }
    (events, sessions)
}
