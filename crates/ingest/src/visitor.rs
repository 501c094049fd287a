//! Visitor identity (platform.md §5.1).
//!
//! `user_id = SipHash-2-4(salt, UA ‖ client_ip ‖ domain ‖ root_domain)` as an unsigned 64-bit
//! integer, where `root_domain` is the registrable domain of the event hostname.

use std::hash::Hasher;

use siphasher::sip::SipHasher24;

/// The registrable domain of `hostname` per the Public Suffix List (ICANN and private sections;
/// an unlisted TLD counts as a public suffix). An IPv4 literal (including the short forms Erlang's
/// `inet:parse_ipv4_address/1` accepts, e.g. `127.1`), a hostname that has no registrable domain
/// (a public suffix itself, `localhost`, an IPv6 literal) and `(none)` are returned unchanged.
pub fn root_domain(hostname: &str) -> String {
    if hostname == "(none)" || is_ipv4_literal(hostname) {
        return hostname.to_string();
    }
    let labels = hostname.strip_suffix('.').unwrap_or(hostname);
    if labels.is_empty() || labels.split('.').any(str::is_empty) {
        return hostname.to_string();
    }
    // The list is lower case; ASCII lower-casing keeps byte offsets, so the original spelling of
    // the registrable part is returned.
    let lower = hostname.to_ascii_lowercase();
    match psl::domain(lower.as_bytes()) {
        Some(domain) => {
            let len = domain.as_bytes().len();
            hostname[hostname.len() - len..].to_string()
        }
        None => hostname.to_string(),
    }
}

/// SipHash-2-4 keyed with `salt` over `user_agent ‖ client_ip ‖ domain ‖ root_domain` (no
/// separators).
pub fn visitor_id(salt: &[u8; 16], user_agent: &str, client_ip: &str, domain: &str, root_domain: &str) -> u64 {
    let mut hasher = SipHasher24::new_with_key(salt);
    for part in [user_agent, client_ip, domain, root_domain] {
        hasher.write(part.as_bytes());
    }
    hasher.finish()
}

/// Erlang `inet:parse_ipv4_address/1`: one to four dot-separated parts, each decimal, octal
/// (leading `0`) or hexadecimal (`0x`); the last part fills the remaining bytes.
fn is_ipv4_literal(s: &str) -> bool {
    let parts: Vec<&str> = s.split('.').collect();
    if parts.is_empty() || parts.len() > 4 {
        return false;
    }
    let mut values = Vec::with_capacity(parts.len());
    for part in &parts {
        match ipv4_part(part) {
            Some(v) => values.push(v),
            None => return false,
        }
    }
    let (last, leading) = values.split_last().expect("at least one part");
    let last_limit = 1u64 << (8 * (5 - values.len()));
    leading.iter().all(|&v| v < 256) && *last < last_limit
}

fn ipv4_part(part: &str) -> Option<u64> {
    let (digits, radix, max_len) = if let Some(hex) = part.strip_prefix("0x").or_else(|| part.strip_prefix("0X")) {
        (hex, 16, 8)
    } else if part.len() > 1 && part.starts_with('0') {
        (&part[1..], 8, 11)
    } else {
        (part, 10, 10)
    };
    let digits = digits.trim_start_matches('0');
    if digits.is_empty() {
        // "0", "00", "0x0", "0x": all zero
        return (!part.is_empty()).then_some(0);
    }
    if digits.len() > max_len || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    u64::from_str_radix(digits, radix).ok()
}
