//! The pure request layer of `POST /api/event` (platform.md §3.1–3.7).
//!
//! [`parse_event_request`] turns a raw body into an [`EventRequest`] or into the 400 body Plausible
//! answers with. Validation errors are collected the way an Ecto changeset collects them: every
//! failing field lands in one `{"errors": {field: [message]}}` object, except an unreadable body,
//! which is reported alone as `{"errors": {"request": [...]}}`.
//!
//! Plausible reads the body with Jason and the URL with Elixir's lenient `URI.parse/1`; both are
//! reproduced here (a small JSON reader that keeps integer literals exact, and an RFC 3986
//! appendix-B splitter), so that URLs the `url` crate would reject are still accepted the way
//! Plausible accepts them (`/blog`, `file:///x`, `chrome-extension://id/popup.html`, ...).

use std::collections::BTreeMap;
use std::fmt;

use rust_decimal::Decimal;
use serde_json::{Map, Value};
use unicode_segmentation::UnicodeSegmentation;

/// Bodies longer than this are rejected like invalid JSON (`read_body_limit`).
pub const MAX_BODY_BYTES: usize = 1_000_000;
/// `u`/`url` longer than this many bytes → `url: must be a valid url`.
pub const MAX_URL_BYTES: usize = 2_000;
/// The referrer is cut to this many characters (graphemes, as Elixir's `String.slice`).
pub const MAX_REFERRER_CHARS: usize = 2_000;
/// Event names longer than this many characters (graphemes) are rejected.
pub const MAX_EVENT_NAME_CHARS: usize = 120;
/// At most this many custom properties are kept.
pub const MAX_PROPS: usize = 30;
/// A kept property key longer than this many bytes rejects the request.
pub const MAX_PROP_KEY_BYTES: usize = 300;
/// A kept property value longer than this many bytes rejects the request.
pub const MAX_PROP_VALUE_BYTES: usize = 2_000;
/// Engagement times at or above this many milliseconds (30 days) are treated as missing.
pub const MAX_ENGAGEMENT_TIME_MS: u64 = 2_592_000_000;
/// System goals that get a `path` prop equal to the pathname when the request has none.
pub const SYSTEM_GOALS_WITH_PATH: [&str; 3] = ["404", "WP Form Completions", "Form: Submission"];

/// `{"errors": {"request": [ERR_UNPARSABLE_BODY]}}`
pub const ERR_UNPARSABLE_BODY: &str = "Unable to parse request body as json";
/// `can't be blank` (event_name, domain, hostname, pathname).
pub const ERR_BLANK: &str = "can't be blank";
/// `url: is required`
pub const ERR_URL_REQUIRED: &str = "is required";
/// `url: must be a valid url` (not a string, or longer than [`MAX_URL_BYTES`]).
pub const ERR_URL_INVALID: &str = "must be a valid url";
/// `url: scheme is not allowed` (`data:` URLs).
pub const ERR_URL_SCHEME: &str = "scheme is not allowed";
/// Ecto cast error (`event_name` of a type other than string/integer, non-integer `h`).
pub const ERR_CAST: &str = "is invalid";
/// `event_name` longer than [`MAX_EVENT_NAME_CHARS`].
pub const ERR_NAME_TOO_LONG: &str = "should be at most 120 character(s)";
/// Any kept prop too long.
pub const ERR_PROPS_TOO_LONG: &str = "keys should have at most 300 bytes and values 2000 bytes";
/// An `engagement` event with neither a usable `sd` nor a usable `e`.
pub const ERR_ENGAGEMENT_BLANK: &str =
    "engagement event requires a valid integer value for at least one of 'sd' or 'e' fields";

/// Revenue as sent with the event (§3.5), before any goal matching or currency conversion.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Revenue {
    pub amount: Decimal,
    /// An ISO 4217 code from [`is_valid_currency`].
    pub currency: String,
}

/// A validated Events API request.
#[derive(Clone, Debug, PartialEq)]
pub struct EventRequest {
    /// `pageview`, `engagement`, or a custom event name.
    pub name: String,
    /// The URL as sent.
    pub url: String,
    /// URL host, trimmed, leading `www.` removed; `(none)` when the URL has no host.
    pub hostname: String,
    /// URL path (default `/`), percent-decoded, trailing whitespace trimmed, `#fragment` in hash mode.
    pub pathname: String,
    /// Decoded query pairs of the URL in order, duplicates included (see [`EventRequest::query_param`]).
    pub query: Vec<(String, String)>,
    /// Site domains the event is recorded for (trimmed, `www.` removed). May contain empty strings
    /// (`d: "a.com,"`, or a URL with an empty host); those match no site.
    pub domains: Vec<String>,
    /// The referrer, cut to its first 2000 characters.
    pub referrer: Option<String>,
    /// Cleaned custom properties (≤ 30), sorted by key (bytewise), as Plausible stores them.
    pub props: Vec<(String, String)>,
    /// Parsed revenue (attaching and converting it is the caller's job).
    pub revenue: Option<Revenue>,
    /// `false` only for an explicit boolean `false`.
    pub interactive: bool,
    /// Engagement events only: 0–100 (larger values clamped), `None` = missing (stored as 255).
    pub scroll_depth: Option<u8>,
    /// Engagement events only: milliseconds, `None` = missing (stored as 0).
    pub engagement_time: Option<u32>,
    /// Legacy tracker field `w` / `screen_width`, if present and a non-negative integer.
    pub screen_width: Option<u32>,
    /// Hash mode (`h: 1`) was requested.
    pub hash_mode: bool,
    /// Tracker script version `v` (0 when absent or not an integer in `u32` range).
    pub script_version: u32,
}

impl EventRequest {
    pub fn is_pageview(&self) -> bool {
        self.name == "pageview"
    }

    pub fn is_engagement(&self) -> bool {
        self.name == "engagement"
    }

    /// A query parameter's value; for a repeated key the last one wins (Elixir `URI.decode_query`
    /// builds a map).
    pub fn query_param(&self, key: &str) -> Option<&str> {
        self.query.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
}

/// A rejected request: HTTP status (always 400) and the JSON body to send.
#[derive(Clone, Debug, PartialEq)]
pub struct RequestError {
    pub status: u16,
    pub body: Value,
}

impl RequestError {
    fn from_errors(errors: BTreeMap<&'static str, Vec<String>>) -> RequestError {
        let mut fields = Map::new();
        for (field, messages) in errors {
            fields.insert(field.to_string(), Value::from(messages));
        }
        let mut body = Map::new();
        body.insert("errors".to_string(), Value::Object(fields));
        RequestError { status: 400, body: Value::Object(body) }
    }

    fn unparsable() -> RequestError {
        let mut errors = BTreeMap::new();
        errors.insert("request", vec![ERR_UNPARSABLE_BODY.to_string()]);
        RequestError::from_errors(errors)
    }

    /// The messages reported for one field (empty when the field has none).
    pub fn messages(&self, field: &str) -> Vec<&str> {
        self.body
            .get("errors")
            .and_then(|e| e.get(field))
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default()
    }
}

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.status, self.body)
    }
}

impl std::error::Error for RequestError {}

/// Parses and validates an Events API body.
///
/// `content_type` is accepted for the caller's convenience but does not change the outcome: every
/// body must be one JSON object of at most [`MAX_BODY_BYTES`] bytes (the tracker posts `text/plain`).
pub fn parse_event_request(content_type: Option<&str>, body: &[u8]) -> Result<EventRequest, RequestError> {
    let _ = content_type;
    if body.len() > MAX_BODY_BYTES {
        return Err(RequestError::unparsable());
    }
    let text = std::str::from_utf8(body).map_err(|_| RequestError::unparsable())?;
    match json::parse(text) {
        Some(Json::Obj(fields)) => build(&Obj(fields)),
        _ => Err(RequestError::unparsable()),
    }
}

// ---------------------------------------------------------------------------------------------
// Building the request
// ---------------------------------------------------------------------------------------------

use json::Json;

/// A decoded JSON object; a repeated key resolves to its last value (as a Jason-built map).
struct Obj(Vec<(String, Json)>);

impl Obj {
    fn get(&self, key: &str) -> Option<&Json> {
        self.0.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// Elixir `body[a] || body[b] || ...`: the first truthy value (not nil/false), else the last
    /// alias's value. `None` stands for nil (absent or JSON null).
    fn either(&self, keys: &[&str]) -> Option<&Json> {
        let mut last = None;
        for key in keys {
            last = self.get(key).filter(|v| !matches!(v, Json::Null));
            if last.is_some_and(|v| !matches!(v, Json::Bool(false))) {
                return last;
            }
        }
        last
    }

    /// First alias whose value is not null.
    fn first_non_null(&self, keys: &[&str]) -> Option<&Json> {
        keys.iter().find_map(|k| self.get(k).filter(|v| !matches!(v, Json::Null)))
    }
}

struct Errors(BTreeMap<&'static str, Vec<String>>);

impl Errors {
    fn add(&mut self, field: &'static str, message: &str) {
        self.0.entry(field).or_default().push(message.to_string());
    }

    fn has(&self, field: &str) -> bool {
        self.0.contains_key(field)
    }
}

fn build(body: &Obj) -> Result<EventRequest, RequestError> {
    let mut errors = Errors(BTreeMap::new());

    // url (put_uri)
    let mut raw_url = String::new();
    let uri = match body.either(&["u", "url"]) {
        None => {
            errors.add("url", ERR_URL_REQUIRED);
            None
        }
        Some(Json::Str(s)) if s.len() <= MAX_URL_BYTES => {
            raw_url = s.clone();
            let uri = uri::parse(s);
            if uri.scheme.as_deref() == Some("data") {
                errors.add("url", ERR_URL_SCHEME);
                None
            } else {
                Some(uri)
            }
        }
        Some(_) => {
            errors.add("url", ERR_URL_INVALID);
            None
        }
    };

    // hostname (put_hostname)
    let hostname = match uri.as_ref().and_then(|u| u.host.as_deref()) {
        Some(host) if !host.is_empty() => sanitize_hostname(host),
        _ => "(none)".to_string(),
    };

    // event_name and hash_mode (Ecto cast)
    let name = match body.either(&["n", "name"]) {
        None => None,
        Some(Json::Str(s)) if is_blank(s) => None,
        Some(Json::Str(s)) => Some(s.clone()),
        Some(Json::Int(text)) => Some(text.clone()),
        Some(_) => {
            errors.add("event_name", ERR_CAST);
            None
        }
    };
    let hash_mode = match body.either(&["h", "hashMode"]) {
        None => None,
        Some(Json::Int(text)) => Some(saturating_int(text)),
        Some(Json::Str(s)) if is_blank(s) => None,
        // Ecto's integer cast reads strings shorter than 32 bytes only
        Some(Json::Str(s)) => match elixir_integer_parse(s) {
            Some((n, "")) if s.len() < 32 => Some(n),
            _ => {
                errors.add("hash_mode", ERR_CAST);
                None
            }
        },
        Some(_) => {
            errors.add("hash_mode", ERR_CAST);
            None
        }
    };
    let hash_mode = hash_mode == Some(1);

    // referrer
    let referrer = match body.either(&["r", "referrer"]) {
        Some(Json::Str(s)) => Some(take_graphemes(s, MAX_REFERRER_CHARS)),
        _ => None,
    };

    // pathname
    let pathname = match &uri {
        None => "/".to_string(),
        Some(u) => {
            let path = decode_lossy(u.path.as_deref().unwrap_or("/"), false);
            let mut pathname = path.trim_end().to_string();
            if hash_mode {
                if let Some(fragment) = &u.fragment {
                    pathname.push('#');
                    pathname.push_str(&decode_lossy(fragment, false));
                }
            }
            pathname
        }
    };

    // props
    let props = build_props(body, name.as_deref(), &pathname, &mut errors);

    // engagement fields
    let (mut scroll_depth, mut engagement_time) = (None, None);
    if name.as_deref() == Some("engagement") {
        scroll_depth = parse_scroll_depth(body.get("sd"));
        engagement_time = parse_engagement_time(body.get("e"));
        if scroll_depth.is_none() && engagement_time.unwrap_or(0) == 0 {
            errors.add("event_name", ERR_ENGAGEMENT_BLANK);
        }
    }

    // query params
    let query = uri.as_ref().and_then(|u| u.query.as_deref()).map(decode_query).unwrap_or_default();

    // revenue, interactive, script version, legacy screen width
    let revenue = parse_revenue(body.either(&["revenue", "$"]));
    let interactive = !matches!(body.first_non_null(&["i", "interactive"]), Some(Json::Bool(false)));
    let script_version = match body.get("v") {
        Some(Json::Int(text)) => u32::try_from(saturating_int(text)).unwrap_or(0),
        _ => 0,
    };
    let screen_width = match body.either(&["w", "screen_width"]) {
        Some(Json::Int(text)) => u32::try_from(saturating_int(text)).ok(),
        Some(Json::Str(s)) => match elixir_integer_parse(s) {
            Some((n, "")) => u32::try_from(n).ok(),
            _ => None,
        },
        _ => None,
    };

    // domains (map_domains)
    let domains = match body.either(&["d", "domain"]) {
        Some(Json::Str(raw)) => {
            let raw = raw.trim();
            if raw.is_empty() {
                errors.add("domain", ERR_BLANK);
                Vec::new()
            } else {
                raw.split(',').map(sanitize_hostname).collect()
            }
        }
        _ => match uri.as_ref().and_then(|u| u.host.as_deref()) {
            Some(host) => vec![sanitize_hostname(host)],
            None => {
                errors.add("domain", ERR_BLANK);
                Vec::new()
            }
        },
    };

    // validate_required([:event_name, :hostname, :pathname]) — skips fields that already failed
    if name.is_none() && !errors.has("event_name") {
        errors.add("event_name", ERR_BLANK);
    }
    if is_blank(&hostname) {
        errors.add("hostname", ERR_BLANK);
    }
    if is_blank(&pathname) {
        errors.add("pathname", ERR_BLANK);
    }
    // validate_length(:event_name, max: 120)
    if let Some(n) = &name {
        if n.graphemes(true).count() > MAX_EVENT_NAME_CHARS {
            errors.add("event_name", ERR_NAME_TOO_LONG);
        }
    }

    if !errors.0.is_empty() {
        return Err(RequestError::from_errors(errors.0));
    }

    Ok(EventRequest {
        name: name.unwrap_or_default(),
        url: raw_url,
        hostname,
        pathname,
        query,
        domains,
        referrer,
        props,
        revenue,
        interactive,
        scroll_depth,
        engagement_time,
        screen_width,
        hash_mode,
        script_version,
    })
}

/// Elixir `String.trim/1` then `String.replace_prefix("www.", "")`.
fn sanitize_hostname(host: &str) -> String {
    let host = host.trim();
    host.strip_prefix("www.").unwrap_or(host).to_string()
}

/// Ecto's notion of a blank string: empty after trimming leading whitespace.
fn is_blank(s: &str) -> bool {
    s.trim_start().is_empty()
}

fn take_graphemes(s: &str, max: usize) -> String {
    match s.grapheme_indices(true).nth(max) {
        Some((idx, _)) => s[..idx].to_string(),
        None => s.to_string(),
    }
}

/// Elixir `Integer.parse/1`: optional sign, at least one digit; returns the value (saturated to
/// the `i128` range) and the unparsed rest.
fn elixir_integer_parse(s: &str) -> Option<(i128, &str)> {
    let bytes = s.as_bytes();
    let (negative, start) = match bytes.first() {
        Some(b'-') => (true, 1),
        Some(b'+') => (false, 1),
        _ => (false, 0),
    };
    let digits = bytes[start..].iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 {
        return None;
    }
    let end = start + digits;
    let mut value: i128 = 0;
    for &b in &bytes[start..end] {
        value = value.saturating_mul(10).saturating_add(i128::from(b - b'0'));
    }
    Some((if negative { -value } else { value }, &s[end..]))
}

/// An integer JSON literal as `i128`, saturating.
fn saturating_int(text: &str) -> i128 {
    elixir_integer_parse(text).map(|(n, _)| n).unwrap_or(0)
}

fn parse_scroll_depth(value: Option<&Json>) -> Option<u8> {
    let n = match value? {
        Json::Int(text) => saturating_int(text),
        Json::Str(s) => match elixir_integer_parse(s)? {
            (n, "") => n,
            _ => return None,
        },
        _ => return None,
    };
    match n {
        n if n < 0 => None,
        n if n > 100 => Some(100),
        n => Some(n as u8),
    }
}

fn parse_engagement_time(value: Option<&Json>) -> Option<u32> {
    let n = match value? {
        Json::Int(text) => saturating_int(text),
        Json::Str(s) => match elixir_integer_parse(s)? {
            (n, "") => n,
            _ => return None,
        },
        _ => return None,
    };
    if (0..i128::from(MAX_ENGAGEMENT_TIME_MS)).contains(&n) {
        u32::try_from(n).ok()
    } else {
        None
    }
}

/// `Plausible.Helpers.JSON.decode_or_fallback/1`: an object, or a string holding a JSON object.
fn decode_or_fallback(value: Option<&Json>) -> Option<Obj> {
    match value? {
        Json::Obj(fields) => Some(Obj(fields.clone())),
        Json::Str(s) => match json::parse(s)? {
            Json::Obj(fields) => Some(Obj(fields)),
            _ => None,
        },
        _ => None,
    }
}

/// Elixir `to_string/1` of a scalar JSON value; `None` for lists and maps.
fn scalar_to_string(value: &Json) -> Option<String> {
    match value {
        Json::Null => Some(String::new()),
        Json::Bool(b) => Some(b.to_string()),
        Json::Int(text) => Some(text.clone()),
        Json::Float(f) => Some(elixir_float_to_string(*f)),
        Json::Str(s) => Some(s.clone()),
        Json::Arr(_) | Json::Obj(_) => None,
    }
}

fn build_props(body: &Obj, name: Option<&str>, pathname: &str, errors: &mut Errors) -> Vec<(String, String)> {
    let fields = decode_or_fallback(body.either(&["m", "meta", "p", "props"])).map_or(Vec::new(), |o| o.0);
    // The decoded map, in Elixir map order (keys sorted bytewise; a repeated key keeps its last value).
    let mut map: BTreeMap<String, Json> = BTreeMap::new();
    for (k, v) in fields {
        map.insert(k, v);
    }
    // Enum.reduce prepends the pairs that pass the filter, so the list runs in reverse map order.
    let mut kept: Vec<(String, String)> = Vec::new();
    for (k, v) in map.iter().rev() {
        let Some(value) = scalar_to_string(v) else {
            continue;
        };
        if is_blank(k) || is_blank(&value) {
            continue;
        }
        kept.push((k.clone(), value));
    }
    if let Some(name) = name {
        if SYSTEM_GOALS_WITH_PATH.contains(&name) && !kept.iter().any(|(k, _)| k == "path") {
            kept.insert(0, ("path".to_string(), pathname.to_string()));
        }
    }
    kept.truncate(MAX_PROPS);
    if kept.iter().any(|(k, v)| k.len() > MAX_PROP_KEY_BYTES || v.len() > MAX_PROP_VALUE_BYTES) {
        errors.add("props", ERR_PROPS_TOO_LONG);
    }
    kept.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    kept
}

// ---------------------------------------------------------------------------------------------
// Revenue (§3.5)
// ---------------------------------------------------------------------------------------------

fn parse_revenue(value: Option<&Json>) -> Option<Revenue> {
    let obj = decode_or_fallback(value)?;
    // The map must carry both keys (any values).
    let amount = obj.0.iter().rev().find(|(k, _)| k == "amount").map(|(_, v)| v)?;
    let currency = obj.0.iter().rev().find(|(k, _)| k == "currency").map(|(_, v)| v)?;
    let Json::Str(currency) = currency else {
        return None;
    };
    if !is_valid_currency(currency) {
        return None;
    }
    let amount = match amount {
        Json::Str(s) => {
            let (negative, digits, exponent) = decimal_parse_prefix(s)?;
            decimal_from_parts(negative, &digits, exponent)?
        }
        Json::Int(text) => {
            let negative = text.starts_with('-');
            decimal_from_parts(negative, text.trim_start_matches('-'), 0)?
        }
        Json::Float(f) => {
            let (digits, place) = shortest_digits(*f);
            decimal_from_parts(*f < 0.0, &digits, i64::from(place))?
        }
        _ => return None,
    };
    Some(Revenue { amount, currency: currency.clone() })
}

/// Elixir `Decimal.parse/1` on a string: the longest decimal prefix (`[+-]digits[.digits][e[+-]digits]`),
/// the rest ignored. Returns sign, coefficient digits and exponent. `inf`/`nan` are not representable
/// here and yield `None`, as does an exponent sign without digits (which makes Elixir raise).
fn decimal_parse_prefix(s: &str) -> Option<(bool, String, i64)> {
    let b = s.as_bytes();
    let mut i = 0;
    let negative = match b.first() {
        Some(b'-') => {
            i = 1;
            true
        }
        Some(b'+') => {
            i = 1;
            false
        }
        _ => false,
    };
    let int_start = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    let int_digits = &s[int_start..i];
    let mut frac_digits = "";
    if b.get(i) == Some(&b'.') {
        let start = i + 1;
        let mut j = start;
        while j < b.len() && b[j].is_ascii_digit() {
            j += 1;
        }
        frac_digits = &s[start..j];
        i = j;
    }
    if int_digits.is_empty() && frac_digits.is_empty() {
        return None;
    }
    let mut exponent: i64 = 0;
    if matches!(b.get(i), Some(b'e' | b'E')) {
        let mut j = i + 1;
        let exp_negative = match b.get(j) {
            Some(b'-') => {
                j += 1;
                Some(true)
            }
            Some(b'+') => {
                j += 1;
                Some(false)
            }
            _ => None,
        };
        let start = j;
        while j < b.len() && b[j].is_ascii_digit() {
            j += 1;
        }
        let exp_digits = &s[start..j];
        if exp_digits.is_empty() {
            if exp_negative.is_some() {
                return None;
            }
        } else {
            let magnitude: i64 = exp_digits.parse().unwrap_or(i64::MAX / 4).min(i64::MAX / 4);
            exponent = if exp_negative == Some(true) { -magnitude } else { magnitude };
        }
    }
    let digits = format!("{int_digits}{frac_digits}");
    Some((negative, digits, exponent - frac_digits.len() as i64))
}

/// `(-1)^negative × digits × 10^exponent` as a `rust_decimal::Decimal`, rounding away fractional
/// digits beyond its 28-digit scale; `None` when the value does not fit.
fn decimal_from_parts(negative: bool, digits: &str, exponent: i64) -> Option<Decimal> {
    let digits = digits.trim_start_matches('0');
    if digits.is_empty() {
        return Some(Decimal::ZERO);
    }
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut digits: Vec<u8> = digits.bytes().map(|b| b - b'0').collect();
    let mut exponent = exponent;
    if exponent > 0 {
        if exponent > 40 {
            return None;
        }
        digits.extend(std::iter::repeat_n(0, exponent as usize));
        exponent = 0;
    }
    // Drop fractional digits until the scale and the 96-bit mantissa fit, rounding half up.
    let max_mantissa: u128 = (1u128 << 96) - 1;
    loop {
        let scale = -exponent;
        let fits_scale = scale <= i64::from(Decimal::MAX_SCALE);
        let mantissa = if digits.len() <= 38 {
            digits.iter().try_fold(0u128, |acc, &d| acc.checked_mul(10)?.checked_add(u128::from(d)))
        } else {
            None
        };
        if let (true, Some(m)) = (fits_scale, mantissa) {
            if m <= max_mantissa {
                let signed = if negative { -(m as i128) } else { m as i128 };
                return Decimal::try_from_i128_with_scale(signed, scale as u32).ok();
            }
        }
        if scale <= 0 {
            return None;
        }
        let dropped = digits.pop()?;
        exponent += 1;
        if dropped >= 5 {
            // propagate the carry
            let mut idx = digits.len();
            loop {
                if idx == 0 {
                    digits.insert(0, 1);
                    break;
                }
                idx -= 1;
                if digits[idx] == 9 {
                    digits[idx] = 0;
                } else {
                    digits[idx] += 1;
                    break;
                }
            }
        }
        if digits.is_empty() {
            return Some(Decimal::ZERO);
        }
    }
}

/// The ISO 4217 codes Plausible accepts (`Money.Currency.known_current_currencies/0`).
pub const CURRENCIES: [&str; 177] = [
    "AED", "AFN", "ALL", "AMD", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT", "BHD", "BIF", "BMD", "BND",
    "BOB", "BOV", "BRL", "BSD", "BTN", "BWP", "BYN", "BZD", "CAD", "CDF", "CHE", "CHF", "CHW", "CLF", "CLP", "CNY",
    "COP", "COU", "CRC", "CUP", "CVE", "CZK", "DJF", "DKK", "DOP", "DZD", "EGP", "ERN", "ETB", "EUR", "FJD", "FKP",
    "GBP", "GEL", "GHS", "GIP", "GMD", "GNF", "GTQ", "GYD", "HKD", "HNL", "HTG", "HUF", "IDR", "ILS", "INR", "IQD",
    "IRR", "ISK", "JMD", "JOD", "JPY", "KES", "KGS", "KHR", "KMF", "KPW", "KRW", "KWD", "KYD", "KZT", "LAK", "LBP",
    "LKR", "LRD", "LSL", "LYD", "MAD", "MDL", "MGA", "MKD", "MMK", "MNT", "MOP", "MRU", "MUR", "MVR", "MWK", "MXN",
    "MXV", "MYR", "MZN", "NAD", "NGN", "NIO", "NOK", "NPR", "NZD", "OMR", "PAB", "PEN", "PGK", "PHP", "PKR", "PLN",
    "PYG", "QAR", "RON", "RSD", "RUB", "RWF", "SAR", "SBD", "SCR", "SDG", "SEK", "SGD", "SHP", "SLE", "SOS", "SRD",
    "SSP", "STN", "SVC", "SYP", "SZL", "THB", "TJS", "TMT", "TND", "TOP", "TRY", "TTD", "TWD", "TZS", "UAH", "UGX",
    "USD", "USN", "UYI", "UYU", "UYW", "UZS", "VED", "VES", "VND", "VUV", "WST", "XAF", "XAG", "XAU", "XBA", "XBB",
    "XBC", "XBD", "XCD", "XCG", "XDR", "XOF", "XPD", "XPF", "XPT", "XSU", "XTS", "XUA", "XXX", "YER", "ZAR", "ZMW",
    "ZWG",
];

/// Whether `code` is an accepted currency code (exact, upper case).
pub fn is_valid_currency(code: &str) -> bool {
    CURRENCIES.binary_search(&code).is_ok()
}

// ---------------------------------------------------------------------------------------------
// Elixir number formatting
// ---------------------------------------------------------------------------------------------

/// Shortest round-trip digits of `|f|` and the power of ten of the last digit
/// (`|f| = digits × 10^place`). `f` must be finite and non-zero for a meaningful result.
fn shortest_digits(f: f64) -> (String, i32) {
    let formatted = format!("{:e}", f.abs());
    let (mantissa, exp) = formatted.split_once('e').unwrap_or((&formatted, "0"));
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let exp: i32 = exp.parse().unwrap_or(0);
    let place = exp - (digits.len() as i32 - 1);
    (digits, place)
}

/// Elixir's `to_string/1` of a float (Erlang `float_to_binary(F, [short])`): `1.5`, `12.0`,
/// `100.0`, `1.0e3`, `0.1`, `1.0e-7`.
pub fn elixir_float_to_string(f: f64) -> String {
    if f == 0.0 {
        return if f.is_sign_negative() { "-0.0".into() } else { "0.0".into() };
    }
    let (s, place) = shortest_digits(f);
    let l = s.len() as i32;
    let exp = place + l - 1;
    let exp_str = exp.to_string();
    let exp_cost = exp_str.len() as i32 + 2;
    let insert_exp = |s: &str| -> String {
        if s.len() == 1 {
            format!("{s}.0e{exp_str}")
        } else {
            format!("{}.{}e{exp_str}", &s[..1], &s[1..])
        }
    };
    let body = if place < 0 {
        if exp >= 0 {
            let split = (l + place) as usize;
            format!("{}.{}", &s[..split], &s[split..])
        } else if 2 - place - l <= exp_cost {
            format!("0.{}{}", "0".repeat((-place - l) as usize), s)
        } else {
            insert_exp(&s)
        }
    } else {
        let dot = if l == 1 { 1 } else { 0 };
        if exp_cost + dot >= place + 2 && f.abs() < 9_007_199_254_740_992.0 {
            format!("{}{}.0", s, "0".repeat(place as usize))
        } else {
            insert_exp(&s)
        }
    };
    if f < 0.0 {
        format!("-{body}")
    } else {
        body
    }
}

// ---------------------------------------------------------------------------------------------
// Percent decoding (Elixir URI.decode / URI.decode_www_form / URI.decode_query)
// ---------------------------------------------------------------------------------------------

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Percent-decodes; a `%` not followed by two hex digits stays literal. With `plus_as_space`,
/// `+` decodes to a space. Invalid UTF-8 in the result is replaced (U+FFFD).
fn decode_lossy(s: &str, plus_as_space: bool) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' if plus_as_space => {
                out.push(b' ');
                i += 1;
            }
            b'%' => match (b.get(i + 1).and_then(|&h| hex_value(h)), b.get(i + 2).and_then(|&l| hex_value(l))) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 3;
                }
                _ => {
                    out.push(b'%');
                    i += 1;
                }
            },
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    match String::from_utf8(out) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    }
}

/// `URI.decode_query/1` as an ordered pair list (pairs split on `&`, then on the first `=`).
fn decode_query(query: &str) -> Vec<(String, String)> {
    let mut pairs = Vec::new();
    let mut rest = query;
    while !rest.is_empty() {
        let (pair, next) = rest.split_once('&').unwrap_or((rest, ""));
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        pairs.push((decode_lossy(key, true), decode_lossy(value, true)));
        rest = next;
    }
    pairs
}

// ---------------------------------------------------------------------------------------------
// Elixir URI.parse/1
// ---------------------------------------------------------------------------------------------

mod uri {
    /// The parts of a URL as Elixir's `URI.parse/1` splits it (RFC 3986 appendix B, lenient).
    #[derive(Debug, Default)]
    pub(super) struct Uri {
        /// Lower-cased.
        pub scheme: Option<String>,
        /// `None` without an authority (or with an empty host); `Some("")` for `scheme:///path`.
        pub host: Option<String>,
        /// `None` when empty.
        pub path: Option<String>,
        pub query: Option<String>,
        pub fragment: Option<String>,
    }

    pub(super) fn parse(s: &str) -> Uri {
        let b = s.as_bytes();
        let mut uri = Uri::default();
        let mut i = 0;

        // ^(([a-z][a-z0-9\+\-\.]*):)?   (case-insensitive, ASCII)
        if b.first().is_some_and(u8::is_ascii_alphabetic) {
            let mut j = 1;
            while j < b.len() && (b[j].is_ascii_alphanumeric() || matches!(b[j], b'+' | b'-' | b'.')) {
                j += 1;
            }
            if b.get(j) == Some(&b':') {
                uri.scheme = Some(s[..j].to_ascii_lowercase());
                i = j + 1;
            }
        }

        // (//([^/?#]*))?
        if s[i..].starts_with("//") {
            let start = i + 2;
            let end = s[start..].find(['/', '?', '#']).map_or(s.len(), |k| start + k);
            uri.host = authority_host(&s[start..end]);
            i = end;
        }

        // ([^?#]*)
        let end = s[i..].find(['?', '#']).map_or(s.len(), |k| i + k);
        if end > i {
            uri.path = Some(s[i..end].to_string());
        }
        i = end;

        // (\?([^#]*))?
        if b.get(i) == Some(&b'?') {
            let start = i + 1;
            let end = s[start..].find('#').map_or(s.len(), |k| start + k);
            uri.query = Some(s[start..end].to_string());
            i = end;
        }

        // (#(.*))?   — `.` stops at a newline
        if b.get(i) == Some(&b'#') {
            let rest = &s[i + 1..];
            let end = rest.find('\n').unwrap_or(rest.len());
            uri.fragment = Some(rest[..end].to_string());
        }
        uri
    }

    /// The host of an authority, per Elixir's `split_authority/1`:
    /// `(^(.*)@)?(\[[a-zA-Z0-9:.]*\]|[^:]*)(:(\d*))?`, brackets trimmed, empty → `None`.
    fn authority_host(authority: &str) -> Option<String> {
        if authority.is_empty() {
            return Some(String::new());
        }
        // userinfo: greedy `.*@` (no newline) → up to the last `@` before the first newline
        let line_end = authority.find('\n').unwrap_or(authority.len());
        let rest = match authority[..line_end].rfind('@') {
            Some(at) => &authority[at + 1..],
            None => authority,
        };
        let host = match bracketed_len(rest) {
            Some(len) => &rest[..len],
            None => &rest[..rest.find(':').unwrap_or(rest.len())],
        };
        if host.is_empty() {
            return None;
        }
        Some(host.trim_start_matches('[').trim_end_matches(']').to_string())
    }

    /// Length of a leading `\[[a-zA-Z0-9:.]*\]`, if present.
    fn bracketed_len(s: &str) -> Option<usize> {
        let b = s.as_bytes();
        if b.first() != Some(&b'[') {
            return None;
        }
        let inner = b[1..].iter().take_while(|c| c.is_ascii_alphanumeric() || matches!(c, b':' | b'.')).count();
        (b.get(1 + inner) == Some(&b']')).then_some(inner + 2)
    }
}

// ---------------------------------------------------------------------------------------------
// A Jason-compatible JSON reader
// ---------------------------------------------------------------------------------------------

mod json {
    /// A decoded JSON value. Integers keep their exact literal (Elixir integers are unbounded).
    #[derive(Clone, Debug, PartialEq)]
    pub(super) enum Json {
        Null,
        Bool(bool),
        /// Canonical decimal text of an integer literal (`-0` becomes `0`).
        Int(String),
        Float(f64),
        Str(String),
        Arr(Vec<Json>),
        /// Fields in document order; duplicates kept (lookups take the last).
        Obj(Vec<(String, Json)>),
    }

    /// Containers nested deeper than this are checked but not kept (they become empty): nothing
    /// in a request is read below the third level, and a shallow tree keeps dropping it cheap.
    const KEEP_DEPTH: usize = 3;

    enum Frame {
        Arr(Vec<Json>),
        Obj(Vec<(String, Json)>, String),
        SkipArr,
        SkipObj,
    }

    struct Reader<'a> {
        b: &'a [u8],
        s: &'a str,
        i: usize,
    }

    /// Parses one JSON document (RFC 8259, surrounding whitespace allowed). `None` on any error,
    /// including non-finite floats (`1e400`) and lone surrogate escapes. Iterative, so nesting depth
    /// is bounded only by the input size.
    pub(super) fn parse(s: &str) -> Option<Json> {
        let mut r = Reader { b: s.as_bytes(), s, i: 0 };
        let mut stack: Vec<Frame> = Vec::new();
        'value: loop {
            r.skip_ws();
            let keep = stack.len() < KEEP_DEPTH;
            let mut value = match *r.b.get(r.i)? {
                b'{' => {
                    r.i += 1;
                    r.skip_ws();
                    if r.peek() == Some(b'}') {
                        r.i += 1;
                        Json::Obj(Vec::new())
                    } else {
                        let key = r.key()?;
                        stack.push(if keep { Frame::Obj(Vec::new(), key) } else { Frame::SkipObj });
                        continue 'value;
                    }
                }
                b'[' => {
                    r.i += 1;
                    r.skip_ws();
                    if r.peek() == Some(b']') {
                        r.i += 1;
                        Json::Arr(Vec::new())
                    } else {
                        stack.push(if keep { Frame::Arr(Vec::new()) } else { Frame::SkipArr });
                        continue 'value;
                    }
                }
                b'"' => Json::Str(r.string()?),
                b't' => r.literal("true", Json::Bool(true))?,
                b'f' => r.literal("false", Json::Bool(false))?,
                b'n' => r.literal("null", Json::Null)?,
                b'-' | b'0'..=b'9' => r.number()?,
                _ => return None,
            };
            // Attach the finished value to its container(s).
            loop {
                r.skip_ws();
                let frame = match stack.pop() {
                    None => return (r.i == r.b.len()).then_some(value),
                    Some(frame) => frame,
                };
                let (is_arr, frame) = match frame {
                    Frame::Arr(mut items) => {
                        items.push(value);
                        (true, Frame::Arr(items))
                    }
                    Frame::Obj(mut fields, key) => {
                        fields.push((key, value));
                        (false, Frame::Obj(fields, String::new()))
                    }
                    Frame::SkipArr => (true, Frame::SkipArr),
                    Frame::SkipObj => (false, Frame::SkipObj),
                };
                match (r.peek()?, is_arr) {
                    (b',', true) => {
                        r.i += 1;
                        stack.push(frame);
                        continue 'value;
                    }
                    (b',', false) => {
                        r.i += 1;
                        r.skip_ws();
                        let key = r.key()?;
                        stack.push(match frame {
                            Frame::Obj(fields, _) => Frame::Obj(fields, key),
                            other => other,
                        });
                        continue 'value;
                    }
                    (b']', true) | (b'}', false) => {
                        r.i += 1;
                        value = match frame {
                            Frame::Arr(items) => Json::Arr(items),
                            Frame::Obj(fields, _) => Json::Obj(fields),
                            Frame::SkipArr => Json::Arr(Vec::new()),
                            Frame::SkipObj => Json::Obj(Vec::new()),
                        };
                    }
                    _ => return None,
                }
            }
        }
    }

    impl Reader<'_> {
        fn peek(&self) -> Option<u8> {
            self.b.get(self.i).copied()
        }

        fn skip_ws(&mut self) {
            while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
                self.i += 1;
            }
        }

        fn literal(&mut self, word: &str, value: Json) -> Option<Json> {
            if self.b[self.i..].starts_with(word.as_bytes()) {
                self.i += word.len();
                Some(value)
            } else {
                None
            }
        }

        /// `"key"` followed by `:`.
        fn key(&mut self) -> Option<String> {
            if self.peek() != Some(b'"') {
                return None;
            }
            let key = self.string()?;
            self.skip_ws();
            if self.peek() != Some(b':') {
                return None;
            }
            self.i += 1;
            Some(key)
        }

        fn hex4(&mut self) -> Option<u32> {
            let digits = self.s.get(self.i..self.i + 4)?;
            if !digits.bytes().all(|c| c.is_ascii_hexdigit()) {
                return None;
            }
            self.i += 4;
            u32::from_str_radix(digits, 16).ok()
        }

        fn string(&mut self) -> Option<String> {
            self.i += 1; // opening quote
            let mut out = String::new();
            loop {
                let start = self.i;
                while let Some(c) = self.peek() {
                    if c == b'"' || c == b'\\' || c < 0x20 {
                        break;
                    }
                    self.i += 1;
                }
                out.push_str(&self.s[start..self.i]);
                match self.peek()? {
                    b'"' => {
                        self.i += 1;
                        return Some(out);
                    }
                    b'\\' => {
                        self.i += 1;
                        let escape = self.peek()?;
                        self.i += 1;
                        match escape {
                            b'"' => out.push('"'),
                            b'\\' => out.push('\\'),
                            b'/' => out.push('/'),
                            b'b' => out.push('\u{8}'),
                            b'f' => out.push('\u{c}'),
                            b'n' => out.push('\n'),
                            b'r' => out.push('\r'),
                            b't' => out.push('\t'),
                            b'u' => {
                                let first = self.hex4()?;
                                let code = match first {
                                    0xD800..=0xDBFF => {
                                        if !self.b[self.i..].starts_with(b"\\u") {
                                            return None;
                                        }
                                        self.i += 2;
                                        let second = self.hex4()?;
                                        if !(0xDC00..=0xDFFF).contains(&second) {
                                            return None;
                                        }
                                        0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00)
                                    }
                                    0xDC00..=0xDFFF => return None,
                                    c => c,
                                };
                                out.push(char::from_u32(code)?);
                            }
                            _ => return None,
                        }
                    }
                    _ => return None, // raw control character
                }
            }
        }

        fn number(&mut self) -> Option<Json> {
            let start = self.i;
            if self.peek() == Some(b'-') {
                self.i += 1;
            }
            match self.peek()? {
                b'0' => self.i += 1,
                b'1'..=b'9' => self.digits(),
                _ => return None,
            }
            let mut is_float = false;
            if self.peek() == Some(b'.') {
                self.i += 1;
                if !self.peek()?.is_ascii_digit() {
                    return None;
                }
                self.digits();
                is_float = true;
            }
            if matches!(self.peek(), Some(b'e' | b'E')) {
                self.i += 1;
                if matches!(self.peek(), Some(b'+' | b'-')) {
                    self.i += 1;
                }
                if !self.peek()?.is_ascii_digit() {
                    return None;
                }
                self.digits();
                is_float = true;
            }
            let text = &self.s[start..self.i];
            if is_float {
                let f: f64 = text.parse().ok()?;
                f.is_finite().then_some(Json::Float(f))
            } else if text == "-0" {
                Some(Json::Int("0".to_string()))
            } else {
                Some(Json::Int(text.to_string()))
            }
        }

        fn digits(&mut self) {
            while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                self.i += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float_formatting_matches_erlang_short() {
        let cases = [
            (1.5, "1.5"),
            (12.0, "12.0"),
            (100.0, "100.0"),
            (1000.0, "1.0e3"),
            (0.1, "0.1"),
            (0.001, "0.001"),
            (0.0001, "1.0e-4"),
            (1e-7, "1.0e-7"),
            (123456.0, "123456.0"),
            (1.0e20, "1.0e20"),
            (-2.5, "-2.5"),
            (0.0, "0.0"),
            (10.2, "10.2"),
            (1234.5, "1234.5"),
            (9007199254740992.0, "9.007199254740992e15"),
        ];
        for (f, want) in cases {
            assert_eq!(elixir_float_to_string(f), want, "{f}");
        }
    }

    #[test]
    fn decimal_prefix_parsing() {
        let d = |s: &str| decimal_parse_prefix(s).and_then(|(n, d, e)| decimal_from_parts(n, &d, e));
        assert_eq!(d("12.5abc").unwrap().to_string(), "12.5");
        assert_eq!(d(".5").unwrap().to_string(), "0.5");
        assert_eq!(d("-3").unwrap().to_string(), "-3");
        assert_eq!(d("1e2").unwrap().to_string(), "100");
        assert_eq!(d("1.5E-1x").unwrap().to_string(), "0.15");
        assert_eq!(d("5.").unwrap().to_string(), "5");
        assert_eq!(d("1ex").unwrap().to_string(), "1");
        assert!(d("abc").is_none());
        assert!(d(" 12").is_none());
        assert!(d(".").is_none());
        assert!(d("1e+").is_none());
        assert!(d("").is_none());
        assert_eq!(d("0.1234567890123456789012345678901").unwrap().to_string(), "0.1234567890123456789012345679");
        assert!(d("1e40").is_none());
    }

    #[test]
    fn json_reader_basics() {
        assert_eq!(json::parse(" {} "), Some(Json::Obj(vec![])));
        assert_eq!(
            json::parse("[1,-0,2.5]"),
            Some(Json::Arr(vec![Json::Int("1".into()), Json::Int("0".into()), Json::Float(2.5)]))
        );
        assert_eq!(json::parse("\"\\ud83d\\ude00\""), Some(Json::Str("😀".into())));
        for bad in
            ["", "{", "{]", "[1,]", "{\"a\":1,}", "01", "1.", "-", "\"\\ud800\"", "1e400", "\"a\nb\"", "{} x", "nul"]
        {
            assert_eq!(json::parse(bad), None, "{bad:?}");
        }
        let deep = "[".repeat(100_000) + &"]".repeat(100_000);
        assert_eq!(json::parse(&deep), Some(Json::Arr(vec![Json::Arr(vec![Json::Arr(vec![Json::Arr(vec![])])])])));
        let deep_obj = "{\"a\":".repeat(50_000) + "1" + &"}".repeat(50_000);
        assert!(json::parse(&deep_obj).is_some());
        assert!(json::parse(&("[".repeat(1000) + &"]".repeat(999))).is_none());
    }

    #[test]
    fn uri_parse_like_elixir() {
        let u = uri::parse("chrome-extension://liipgellkffekalgefpjolodblggkmjg/popup.html");
        assert_eq!(u.scheme.as_deref(), Some("chrome-extension"));
        assert_eq!(u.host.as_deref(), Some("liipgellkffekalgefpjolodblggkmjg"));
        assert_eq!(u.path.as_deref(), Some("/popup.html"));
        let u = uri::parse("file:///android_asset/www/index.html");
        assert_eq!(u.host.as_deref(), Some(""));
        let u = uri::parse("/blog?x=1#y");
        assert_eq!(
            (u.scheme, u.host, u.path.as_deref(), u.query.as_deref(), u.fragment.as_deref()),
            (None, None, Some("/blog"), Some("x=1"), Some("y"))
        );
        let u = uri::parse("http://user:pw@[::1]:8080/p");
        assert_eq!(u.host.as_deref(), Some("::1"));
        let u = uri::parse("HTTP://Example.com");
        assert_eq!((u.scheme.as_deref(), u.host.as_deref(), u.path), (Some("http"), Some("Example.com"), None));
        let u = uri::parse("http://:80/");
        assert_eq!(u.host, None);
    }
}
