//! The client IP of an Events API request (platform.md §3.8, Plausible's `PlausibleWeb.RemoteIP`).
//!
//! Sources, first non-empty wins: `X-Plausible-IP` → `CF-Connecting-IP` → `B-Forwarded-For` (first
//! comma-separated entry) → `X-Forwarded-For` (first entry) → `Forwarded` (`for=` value, quotes
//! removed) → the socket peer. A trailing port is removed from `1.2.3.4:80` and `[::1]:80`, and IPv6
//! brackets are removed. The value is not validated (Plausible takes it as sent).

use std::net::IpAddr;

/// The client IP from request headers, falling back to `peer`.
///
/// When a header is repeated its first value is used. Values that are not valid UTF-8 count as
/// absent.
pub fn client_ip(headers: &http::HeaderMap, peer: IpAddr) -> String {
    client_ip_with(|name| headers.get(name).and_then(|v| v.to_str().ok()), peer)
}

/// [`client_ip`] over any header lookup; `lookup` receives lower-case header names.
pub fn client_ip_with<'a>(lookup: impl Fn(&str) -> Option<&'a str>, peer: IpAddr) -> String {
    let present = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
    let candidates = [
        present("x-plausible-ip").map(clean_ip),
        present("cf-connecting-ip").map(clean_ip),
        present("b-forwarded-for").map(first_forwarded_for),
        present("x-forwarded-for").map(first_forwarded_for),
        present("forwarded").and_then(forwarded_for),
    ];
    candidates.into_iter().flatten().find(|ip| !ip.is_empty()).unwrap_or_else(|| peer.to_string())
}

/// First entry of an `X-Forwarded-For`-style list, trimmed, port and brackets removed.
fn first_forwarded_for(header: &str) -> String {
    let first = header.split(',').next().unwrap_or("").trim();
    clean_ip(first)
}

/// The value of the first non-empty `for=` in a `Forwarded` header (up to `;` or `,`), quotes
/// trimmed, then cleaned like any other IP. `None` when there is none.
fn forwarded_for(header: &str) -> Option<String> {
    header.match_indices("for=").find_map(|(at, _)| {
        let rest = &header[at + 4..];
        let value = &rest[..rest.find([';', ',']).unwrap_or(rest.len())];
        (!value.is_empty()).then(|| clean_ip(value.trim_matches('"')))
    })
}

/// Removes a `:port` suffix that follows `.digits` (IPv4) or `]` (bracketed IPv6), then any leading
/// `[` and trailing `]`.
fn clean_ip(value: &str) -> String {
    let mut ip = value;
    if let Some(colon) = ip.rfind(':') {
        let port = &ip[colon + 1..];
        let before = &ip[..colon];
        let port_ok = !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit());
        if port_ok && (before.ends_with(']') || ends_with_dot_digits(before)) {
            ip = before;
        }
    }
    ip.trim_start_matches('[').trim_end_matches(']').to_string()
}

/// Whether `s` ends with `.` followed by at least one ASCII digit.
fn ends_with_dot_digits(s: &str) -> bool {
    let digits = s.bytes().rev().take_while(u8::is_ascii_digit).count();
    digits > 0 && s.as_bytes().get(s.len() - digits - 1) == Some(&b'.')
}
