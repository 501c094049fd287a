//! Bulk NDJSON import (operator-api.md "Bulk event import line"): events with explicit timestamps and
//! visitors, sessionized exactly like live events, and imported-data rows.

use crate::session::{self, Kind};
use chrono::{DateTime, NaiveDate, NaiveDateTime, Timelike};
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
    /// 128-bit fingerprint of `event.attrs` (two keyed SipHashes): equal attributes, equal fingerprints; a
    /// false match between different ones has probability 2^-128.
    attrs_fingerprint: u128,
}

fn fingerprint(a: &tally_store::SessionAttrs) -> u128 {
    use std::hash::{Hash, Hasher};
    let half = |seed: u64| {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        seed.hash(&mut h);
        a.hash(&mut h);
        h.finish()
    };
    (u128::from(half(0x243f_6a88_85a3_08d3)) << 64) | u128::from(half(0x1319_8a2e_0370_7344))
}

fn parse_timestamp(s: &str) -> Option<NaiveDateTime> {
    fast_timestamp(s)
        .or_else(|| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").ok())
        .or_else(|| NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S").ok())
        .or_else(|| DateTime::parse_from_rfc3339(s).ok().map(|d| d.naive_utc()))
        .or_else(|| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f").ok())
}

/// `YYYY-MM-DD HH:MM:SS` (or with `T`), the form nearly every line uses, without chrono's format
/// interpreter; `None` sends anything else (and invalid dates) down the general path.
fn fast_timestamp(s: &str) -> Option<NaiveDateTime> {
    let b = s.as_bytes();
    if b.len() != 19
        || b[4] != b'-'
        || b[7] != b'-'
        || !(b[10] == b' ' || b[10] == b'T')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        b[r].iter().try_fold(0u32, |acc, &c| c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0')))
    };
    chrono::NaiveDate::from_ymd_opt(num(0..4)? as i32, num(5..7)?, num(8..10)?)?.and_hms_opt(
        num(11..13)?,
        num(14..16)?,
        num(17..19)?,
    )
}

/// A JSON scalar read without building a `Value` tree (the hot path of the import).
#[derive(Debug)]
enum Scalar {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    Str(String),
    /// An array or object where a scalar was expected.
    Composite,
}

impl<'de> serde::Deserialize<'de> for Scalar {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Scalar;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_unit<E>(self) -> Result<Scalar, E> {
                Ok(Scalar::Null)
            }
            fn visit_none<E>(self) -> Result<Scalar, E> {
                Ok(Scalar::Null)
            }
            fn visit_bool<E>(self, v: bool) -> Result<Scalar, E> {
                Ok(Scalar::Bool(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Scalar, E> {
                Ok(Scalar::Int(v))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Scalar, E> {
                Ok(Scalar::UInt(v))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Scalar, E> {
                Ok(Scalar::Float(v))
            }
            fn visit_str<E>(self, v: &str) -> Result<Scalar, E> {
                Ok(Scalar::Str(v.to_string()))
            }
            fn visit_string<E>(self, v: String) -> Result<Scalar, E> {
                Ok(Scalar::Str(v))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut a: A) -> Result<Scalar, A::Error> {
                while a.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                Ok(Scalar::Composite)
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut a: A) -> Result<Scalar, A::Error> {
                while a.next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?.is_some() {}
                Ok(Scalar::Composite)
            }
        }
        d.deserialize_any(V)
    }
}

impl Scalar {
    fn into_value(self) -> Value {
        match self {
            Scalar::Null => Value::Null,
            Scalar::Bool(b) => Value::Bool(b),
            Scalar::Int(i) => Value::from(i),
            Scalar::UInt(u) => Value::from(u),
            Scalar::Float(f) => serde_json::Number::from_f64(f).map(Value::Number).unwrap_or(Value::Null),
            Scalar::Str(s) => Value::String(s),
            Scalar::Composite => Value::Array(vec![]),
        }
    }
}

/// An event line, field by field (unknown fields are ignored).
#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct RawEvent {
    table: Option<Scalar>,
    name: Option<Scalar>,
    timestamp: Option<Scalar>,
    user_id: Option<Scalar>,
    session_id: Option<Scalar>,
    pathname: Option<Scalar>,
    hostname: Option<Scalar>,
    referrer: Option<Scalar>,
    referrer_source: Option<Scalar>,
    click_id_param: Option<Scalar>,
    utm_medium: Option<Scalar>,
    utm_source: Option<Scalar>,
    utm_campaign: Option<Scalar>,
    utm_content: Option<Scalar>,
    utm_term: Option<Scalar>,
    country_code: Option<Scalar>,
    subdivision1_code: Option<Scalar>,
    subdivision2_code: Option<Scalar>,
    city_geoname_id: Option<Scalar>,
    screen_size: Option<Scalar>,
    browser: Option<Scalar>,
    browser_version: Option<Scalar>,
    operating_system: Option<Scalar>,
    operating_system_version: Option<Scalar>,
    props: Option<Value>,
    revenue_reporting_amount: Option<Scalar>,
    revenue_source_amount: Option<Scalar>,
    revenue_reporting_currency: Option<Scalar>,
    revenue_source_currency: Option<Scalar>,
    engagement_time: Option<Scalar>,
    scroll_depth: Option<Scalar>,
    interactive: Option<Scalar>,
}

/// Field access shared by the typed event path and the `Value` path of imported-data rows. A field is
/// moved out (each is read once), so its string is not copied.
trait Fields {
    fn field(&mut self, k: &str) -> Option<Value>;
}

impl Fields for Map<String, Value> {
    fn field(&mut self, k: &str) -> Option<Value> {
        self.remove(k)
    }
}

/// Imported-data rows read fields by reference (their map is checked as a whole first).
impl Fields for &Map<String, Value> {
    fn field(&mut self, k: &str) -> Option<Value> {
        self.get(k).cloned()
    }
}

impl Fields for RawEvent {
    fn field(&mut self, k: &str) -> Option<Value> {
        let f = match k {
            "name" => &mut self.name,
            "timestamp" => &mut self.timestamp,
            "user_id" => &mut self.user_id,
            "session_id" => &mut self.session_id,
            "pathname" => &mut self.pathname,
            "hostname" => &mut self.hostname,
            "referrer" => &mut self.referrer,
            "referrer_source" => &mut self.referrer_source,
            "click_id_param" => &mut self.click_id_param,
            "utm_medium" => &mut self.utm_medium,
            "utm_source" => &mut self.utm_source,
            "utm_campaign" => &mut self.utm_campaign,
            "utm_content" => &mut self.utm_content,
            "utm_term" => &mut self.utm_term,
            "country_code" => &mut self.country_code,
            "subdivision1_code" => &mut self.subdivision1_code,
            "subdivision2_code" => &mut self.subdivision2_code,
            "city_geoname_id" => &mut self.city_geoname_id,
            "screen_size" => &mut self.screen_size,
            "browser" => &mut self.browser,
            "browser_version" => &mut self.browser_version,
            "operating_system" => &mut self.operating_system,
            "operating_system_version" => &mut self.operating_system_version,
            "revenue_reporting_amount" => &mut self.revenue_reporting_amount,
            "revenue_source_amount" => &mut self.revenue_source_amount,
            "revenue_reporting_currency" => &mut self.revenue_reporting_currency,
            "revenue_source_currency" => &mut self.revenue_source_currency,
            "engagement_time" => &mut self.engagement_time,
            "scroll_depth" => &mut self.scroll_depth,
            "interactive" => &mut self.interactive,
            "props" => return self.props.take(),
            _ => return None,
        };
        f.take().map(Scalar::into_value)
    }
}

fn str_field(o: &mut impl Fields, k: &str) -> Result<String, String> {
    match o.field(k) {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s),
        Some(Value::Number(n)) => Ok(n.to_string()),
        Some(_) => Err(format!("{k} must be a string")),
    }
}

fn u64_field(o: &mut impl Fields, k: &str) -> Result<Option<u64>, String> {
    match o.field(k).as_ref() {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n.as_u64().map(Some).ok_or_else(|| format!("{k} must be a non-negative integer")),
        Some(Value::String(s)) => s.parse().map(Some).map_err(|_| format!("{k} must be a non-negative integer")),
        Some(_) => Err(format!("{k} must be a non-negative integer")),
    }
}

fn decimal_field(o: &mut impl Fields, k: &str) -> Result<Option<Decimal>, String> {
    match o.field(k).as_ref() {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => Decimal::from_str(s).map(Some).map_err(|_| format!("{k} must be a decimal")),
        Some(Value::Number(n)) => {
            Decimal::from_str(&n.to_string()).map(Some).map_err(|_| format!("{k} must be a decimal"))
        }
        Some(_) => Err(format!("{k} must be a decimal")),
    }
}

/// The acquisition channel, memoised per thread: imports repeat the same few attribution tuples. Looked
/// up by a hash of the five fields, so a hit copies no string.
fn channel_of(a: &tally_store::SessionAttrs) -> &'static str {
    type Memo = HashMap<u64, Vec<([String; 5], &'static str)>>;
    thread_local! {
        static CACHE: std::cell::RefCell<Memo> = std::cell::RefCell::new(HashMap::new());
    }
    let key = [&a.referrer_source, &a.utm_source, &a.utm_medium, &a.utm_campaign, &a.click_id_param];
    let hash = {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        key.hash(&mut h);
        h.finish()
    };
    CACHE.with(|c| {
        let mut m = c.borrow_mut();
        if let Some(v) = m.get(&hash).and_then(|b| b.iter().find(|(k, _)| k.iter().eq(key))) {
            return v.1;
        }
        let v = tally_enrich::acquisition_channel(key[0], key[1], key[2], key[3], key[4]);
        if m.len() > 100_000 {
            m.clear();
        }
        m.entry(hash).or_default().push((key.map(|s| s.clone()), v));
        v
    })
}

fn parse_event(o: &mut impl Fields, site_id: u64) -> Result<Line, String> {
    let ts = match o.field("timestamp").as_ref() {
        Some(Value::String(s)) => parse_timestamp(s).ok_or_else(|| format!("invalid timestamp {s:?}"))?,
        _ => return Err("timestamp is required".into()),
    };
    // Whole seconds, as the Events API stores them (and Plausible's `DateTime` columns): a day's last
    // second then ends every range that ends with that day.
    let ts = ts.with_nanosecond(0).unwrap_or(ts);
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
    match o.field("props").as_ref() {
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
    let interactive = !matches!(o.field("interactive"), Some(Value::Bool(false)));
    Ok(Line {
        kind: Kind::of(&e.name, interactive),
        attrs_fingerprint: fingerprint(&e.attrs),
        event: e,
        given_session: u64_field(o, "session_id")?,
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
            ColKind::Text => ImportedValue::Text(str_field(&mut { o }, c)?),
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
        // Event lines take the typed path; imported-data rows (and malformed lines, for their messages)
        // the generic one.
        match serde_json::from_str::<RawEvent>(raw) {
            Ok(mut ev) if ev.table.is_none() => lines.push(parse_event(&mut ev, site_id).map_err(fail)?),
            _ => {
                let v: Value = serde_json::from_str(raw).map_err(|e| fail(format!("invalid JSON: {e}")))?;
                let Value::Object(mut o) = v else {
                    return Err(fail("expected a JSON object".into()));
                };
                if o.contains_key("table") {
                    imported.push(parse_imported(&o, site_id, import_id).map_err(fail)?);
                } else {
                    lines.push(parse_event(&mut o, site_id).map_err(fail)?);
                }
            }
        }
    }
    Ok((lines, imported))
}

/// Parses an NDJSON body. `import_id`: the site's newest import (for `table` lines).
pub fn parse(body: &[u8], site_id: u64, import_id: Option<i64>) -> Result<Parsed, ImportError> {
    let text = std::str::from_utf8(body).map_err(|_| ImportError("body is not valid UTF-8".into()))?;
    let t0 = std::time::Instant::now();
    let all: Vec<(usize, &str)> =
        text.split('\n').enumerate().map(|(i, l)| (i + 1, l.trim())).filter(|(_, l)| !l.is_empty()).collect();
    // Lines are independent: parse them on every core, in pieces, then keep their order. Small pieces keep
    // the peak memory near one copy of the parsed rows (each piece is freed as it is moved into `lines`).
    const PIECE: usize = 8192;
    let pieces: Vec<&[(usize, &str)]> = all.chunks(PIECE).collect();
    let threads =
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).clamp(1, 8).min(pieces.len().max(1));
    let mut results: Vec<Option<Result<ParsedLines, ImportError>>> = (0..pieces.len()).map(|_| None).collect();
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let pieces = &pieces;
                scope.spawn(move || {
                    pieces
                        .iter()
                        .enumerate()
                        .skip(t)
                        .step_by(threads)
                        .map(|(i, part)| (i, parse_lines(part, site_id, import_id)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for h in handles {
            if let Ok(done) = h.join() {
                for (i, r) in done {
                    results[i] = Some(r);
                }
            }
        }
    });
    let mut lines = Vec::with_capacity(all.len());
    let mut out = Parsed::default();
    for r in results {
        let (l, imp) = r.unwrap_or_else(|| Err(ImportError("internal error".into())))?;
        lines.extend(l);
        out.imported.extend(imp);
    }
    let t1 = t0.elapsed();
    let (events, sessions) = sessionize(lines);
    tracing::debug!(parse_ms = t1.as_millis(), sessionize_ms = (t0.elapsed() - t1).as_millis(), "import parse");
    out.earliest = events.iter().map(|e| e.timestamp).min();
    out.batch.events = events;
    out.batch.final_sessions = sessions;
    Ok(out)
}

/// Groups lines into sessions (explicit `session_id` in listed order; otherwise per visitor in time order with
/// the 30-minute rule) and builds each session like live ingestion does.
fn sessionize(lines: Vec<Line>) -> (Vec<EventRow>, Vec<SessionRow>) {
    // Lines are large: group them by index, work on them in place, move each one once into the output.
    let mut rng = rand::rng();
    let mut groups: Vec<Vec<usize>> = Vec::new();
    let mut by_given: HashMap<u64, usize> = HashMap::new();
    let mut by_user: HashMap<u64, Vec<usize>> = HashMap::new();
    let mut user_order: Vec<u64> = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        if let Some(sid) = l.given_session {
            let idx = *by_given.entry(sid).or_insert_with(|| {
                groups.push(Vec::new());
                groups.len() - 1
            });
            groups[idx].push(i);
        } else {
            let u = l.event.user_id;
            by_user
                .entry(u)
                .or_insert_with(|| {
                    user_order.push(u);
                    Vec::new()
                })
                .push(i);
        }
    }
    for u in user_order {
        let mut idx = by_user.remove(&u).unwrap_or_default();
        idx.sort_by_key(|i| lines[*i].event.timestamp);
        let mut current: Vec<usize> = Vec::new();
        let mut last: Option<NaiveDateTime> = None;
        for i in idx {
            let l = &lines[i];
            if let Some(t) = last {
                if !session::is_live(t, l.event.timestamp) && !current.is_empty() {
                    groups.push(std::mem::take(&mut current));
                }
            }
            last = if l.kind != Kind::Engagement || last.is_none() {
                Some(l.event.timestamp)
            } else {
                last.max(Some(l.event.timestamp))
            };
            current.push(i);
        }
        if !current.is_empty() {
            groups.push(current);
        }
    }
    let mut lines = lines;
    let mut sessions = Vec::with_capacity(groups.len());
    for g in groups {
        let Some(&first) = g.first() else { continue };
        let sid: u64 = rng.random::<u64>() >> 1;
        let mut state: Option<SessionRow> = None;
        // Session attributes come from the session's first event and are copied onto all its events, as
        // live ingestion does (Plausible's merge_session). Fingerprints spare comparing ~20 strings per
        // event (cold in memory by now); a copy of the first event's attributes is made only if needed.
        let mut attrs: Option<tally_store::SessionAttrs> = None;
        for i in g {
            if lines[i].attrs_fingerprint != lines[first].attrs_fingerprint {
                let a = attrs.get_or_insert_with(|| lines[first].event.attrs.clone());
                lines[i].event.attrs = a.clone();
                lines[i].attrs_fingerprint = lines[first].attrs_fingerprint;
            }
            let l = &mut lines[i];
            l.event.session_id = sid;
            if l.kind != Kind::Engagement {
                state = Some(match state {
                    None => session::start(&l.event, l.kind),
                    Some(s) => session::update(s, &l.event, l.kind),
                });
            }
        }
        if let Some(s) = state {
            sessions.push(s);
        }
    }
    // Stored in time order: DuckDB's per-row-group min/max (zone maps) then skip what a date range excludes.
    sessions.sort_unstable_by_key(|s| s.start);
    in_time_order(&mut lines, |l| l.event.timestamp);
    (lines.into_iter().map(|l| l.event).collect(), sessions)
}

/// Sorts events by timestamp (stable) in place: sorts indices, then applies the permutation by cycles, so
/// each (large) row moves about twice and no second copy of the rows is allocated.
fn in_time_order<T>(events: &mut [T], ts: impl Fn(&T) -> NaiveDateTime) {
    if events.windows(2).all(|w| ts(&w[0]) <= ts(&w[1])) {
        return;
    }
    let mut order: Vec<u32> = (0..events.len() as u32).collect();
    order.sort_unstable_by_key(|&i| (ts(&events[i as usize]), i));
    // Position p receives the row at order[p].
    let mut done = vec![false; events.len()];
    for start in 0..events.len() {
        if done[start] {
            continue;
        }
        let mut p = start;
        loop {
            done[p] = true;
            let q = order[p] as usize;
            if q == start {
                break;
            }
            events.swap(p, q);
            p = q;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_timestamp_fast_path_agrees_with_chrono() {
        let cases = [
            "2026-05-28 20:27:00",
            "2026-05-28T20:27:00",
            "2024-02-29 23:59:59",
            "2023-02-29 10:00:00", // no such day
            "2026-13-01 00:00:00",
            "2026-01-01 24:00:00",
            "2026-01-01 23:60:00",
            "2026-01-01 23:59:60", // leap second: chrono's business
            "2026-1-01 00:00:00x",
            "+026-01-01 00:00:00",
            "2026-01-01 00:00:0a",
            "2026/01/01 00:00:00",
        ];
        assert!(cases[..3].iter().all(|c| fast_timestamp(c).is_some()));
        for c in cases {
            let chrono = NaiveDateTime::parse_from_str(c, "%Y-%m-%d %H:%M:%S")
                .or_else(|_| NaiveDateTime::parse_from_str(c, "%Y-%m-%dT%H:%M:%S"))
                .ok();
            // Whatever the fast path accepts, chrono reads the same; the rest goes down chrono's path.
            if let Some(t) = fast_timestamp(c) {
                assert_eq!(Some(t), chrono, "{c}");
            }
            assert_eq!(parse_timestamp(c), chrono, "{c}");
        }
    }

    #[test]
    fn channel_memo_tells_attribution_tuples_apart() {
        let mut a = tally_store::SessionAttrs { referrer_source: "Google".into(), ..Default::default() };
        let organic = channel_of(&a);
        a.utm_medium = "cpc".into();
        let paid = channel_of(&a);
        assert_eq!((organic, paid), ("Organic Search", "Paid Search"));
        a.utm_medium.clear();
        assert_eq!(channel_of(&a), organic);
    }

    #[test]
    fn time_order_is_a_stable_sort() {
        let base = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap().and_hms_opt(0, 0, 0).unwrap();
        // Timestamps with many ties and long permutation cycles; pathname records the original position.
        let mut events: Vec<EventRow> = (0..5000u32)
            .map(|i| EventRow {
                timestamp: base + chrono::Duration::seconds(((i * 7919) % 613) as i64),
                pathname: format!("/{i}"),
                ..Default::default()
            })
            .collect();
        let mut expected: Vec<(NaiveDateTime, u32)> =
            events.iter().enumerate().map(|(i, e)| (e.timestamp, i as u32)).collect();
        expected.sort();
        in_time_order(&mut events, |e| e.timestamp);
        let got: Vec<(NaiveDateTime, u32)> =
            events.iter().map(|e| (e.timestamp, e.pathname[1..].parse().unwrap())).collect();
        assert_eq!(got, expected);
    }

    #[test]
    fn parallel_parsing_keeps_line_order_and_the_first_error_wins() {
        let lines: Vec<String> = (0..20_000)
            .map(|i| format!(r#"{{"timestamp":"2026-01-01 00:00:00","user_id":{i},"pathname":"/{i}"}}"#))
            .collect();
        let parsed = parse(lines.join("\n").as_bytes(), 1, None).unwrap();
        assert_eq!(parsed.batch.events.len(), 20_000);
        // Same timestamp everywhere: the stable time order is the line order.
        assert!(parsed.batch.events.iter().enumerate().all(|(i, e)| e.pathname == format!("/{i}")));
        let mut bad = lines.clone();
        bad[15_000] = "{".into();
        bad[9_000] = "[]".into();
        let err = parse(bad.join("\n").as_bytes(), 1, None).err().unwrap();
        assert!(err.0.starts_with("line 9001:"), "{}", err.0);
    }
}
