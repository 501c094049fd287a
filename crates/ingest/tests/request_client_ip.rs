//! Client IP selection (platform.md §3.8), including the header cases of cases/events/ingestion.json.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use http::{HeaderMap, HeaderName, HeaderValue};
use tally_ingest::client_ip::{client_ip, client_ip_with};

const PEER: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 9));

fn ip(headers: &[(&str, &str)]) -> String {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        map.append(HeaderName::from_bytes(name.as_bytes()).unwrap(), HeaderValue::from_str(value).unwrap());
    }
    client_ip(&map, PEER)
}

#[test]
fn peer_address_without_headers() {
    assert_eq!(ip(&[]), "10.0.0.9");
    let v6 = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1));
    assert_eq!(client_ip(&HeaderMap::new(), v6), "2001:db8::1");
    let mapped = IpAddr::V6(Ipv4Addr::new(1, 2, 3, 4).to_ipv6_mapped());
    assert_eq!(client_ip(&HeaderMap::new(), mapped), "::ffff:1.2.3.4");
}

#[test]
fn looks_up_location_data_from_the_ip_address() {
    assert_eq!(ip(&[("X-Forwarded-For", "2.125.160.216")]), "2.125.160.216");
    assert_eq!(ip(&[("X-Forwarded-For", "0.0.0.1")]), "0.0.0.1");
    assert_eq!(ip(&[("X-Forwarded-For", "0.0.0.2")]), "0.0.0.2");
    assert_eq!(ip(&[("X-Forwarded-For", "127.0.0.1")]), "127.0.0.1");
}

#[test]
fn works_with_ipv6_with_a_port_number_in_x_forwarded_for() {
    assert_eq!(ip(&[("X-Forwarded-For", "[2001:218:1:1:1:1:1:1]:123")]), "2001:218:1:1:1:1:1:1");
}

#[test]
fn x_forwarded_for_takes_the_first_entry_trimmed() {
    assert_eq!(ip(&[("X-Forwarded-For", "1.1.1.1, 2.2.2.2")]), "1.1.1.1");
    assert_eq!(ip(&[("X-Forwarded-For", "  3.3.3.3 ,4.4.4.4")]), "3.3.3.3");
    assert_eq!(ip(&[("X-Forwarded-For", "1.2.3.4:8080")]), "1.2.3.4");
    assert_eq!(ip(&[("X-Forwarded-For", "2001:db8::1")]), "2001:db8::1");
    assert_eq!(ip(&[("X-Forwarded-For", "[2001:db8::1]")]), "2001:db8::1");
    assert_eq!(ip(&[("X-Forwarded-For", "2001:db8::1, 1.1.1.1")]), "2001:db8::1");
    // not validated: taken as sent
    assert_eq!(ip(&[("X-Forwarded-For", "unknown")]), "unknown");
    // repeated header: the first one
    assert_eq!(ip(&[("X-Forwarded-For", "5.5.5.5"), ("X-Forwarded-For", "6.6.6.6")]), "5.5.5.5");
}

#[test]
fn uses_bunnycdn_s_custom_header_if_present() {
    assert_eq!(ip(&[("X-Forwarded-For", "0.0.0.0"), ("B-Forwarded-For", "216.160.83.56,9.9.9.9")]), "216.160.83.56");
    assert_eq!(ip(&[("B-Forwarded-For", " 1.2.3.4:443 , 9.9.9.9")]), "1.2.3.4");
    assert_eq!(ip(&[("B-Forwarded-For", "[::1]:80,9.9.9.9")]), "::1");
}

#[test]
fn prioritizes_x_plausible_ip_header_over_everything_else() {
    assert_eq!(
        ip(&[
            ("CF-Connecting-IP", "0.0.0.0"),
            ("B-Forwarded-For", "0.0.0.0"),
            ("X-Forwarded-For", "0.0.0.0"),
            ("Forwarded", "for=0.0.0.0;host=dashboard.site.com;proto=https"),
            ("X-Plausible-IP", "216.160.83.56"),
        ]),
        "216.160.83.56"
    );
    assert_eq!(ip(&[("X-Plausible-IP", "[2001:db8::2]:9000")]), "2001:db8::2");
}

#[test]
fn cf_connecting_ip_comes_next() {
    assert_eq!(
        ip(&[
            ("B-Forwarded-For", "0.0.0.0"),
            ("X-Forwarded-For", "0.0.0.0"),
            ("Forwarded", "for=0.0.0.0"),
            ("CF-Connecting-IP", "8.8.4.4"),
        ]),
        "8.8.4.4"
    );
    assert_eq!(ip(&[("CF-Connecting-IP", "8.8.4.4:1234")]), "8.8.4.4");
}

#[test]
fn b_forwarded_for_beats_x_forwarded_for_beats_forwarded() {
    assert_eq!(
        ip(&[("X-Forwarded-For", "2.2.2.2"), ("Forwarded", "for=3.3.3.3"), ("B-Forwarded-For", "1.1.1.1")]),
        "1.1.1.1"
    );
    assert_eq!(ip(&[("X-Forwarded-For", "2.2.2.2"), ("Forwarded", "for=3.3.3.3")]), "2.2.2.2");
}

#[test]
fn uses_the_forwarded_header_when_others_are_missing() {
    assert_eq!(ip(&[("Forwarded", "by=0.0.0.0;for=216.160.83.56;host=somehost.com;proto=https")]), "216.160.83.56");
    assert_eq!(ip(&[("Forwarded", "for=192.0.2.60:8080;proto=http")]), "192.0.2.60");
    assert_eq!(ip(&[("Forwarded", "for=1.1.1.1, for=2.2.2.2")]), "1.1.1.1");
}

#[test]
fn forwarded_header_can_parse_ipv6() {
    assert_eq!(
        ip(&[("Forwarded", "by=0.0.0.0;for=\"[2001:218:1:1:1:1:1:1]\",for=0.0.0.0;host=somehost.com;proto=https")]),
        "2001:218:1:1:1:1:1:1"
    );
    assert_eq!(ip(&[("Forwarded", "for=\"[2001:db8:cafe::17]:4711\"")]), "2001:db8:cafe::17");
}

#[test]
fn forwarded_without_for_falls_back_to_the_peer() {
    assert_eq!(ip(&[("Forwarded", "by=1.1.1.1;proto=https")]), "10.0.0.9");
    assert_eq!(ip(&[("Forwarded", "for=;proto=https")]), "10.0.0.9");
    // an empty `for=` is skipped in favour of a later one
    assert_eq!(ip(&[("Forwarded", "for=;for=1.2.3.4")]), "1.2.3.4");
}

#[test]
fn empty_headers_are_skipped() {
    assert_eq!(ip(&[("X-Plausible-IP", ""), ("X-Forwarded-For", "4.4.4.4")]), "4.4.4.4");
    assert_eq!(ip(&[("CF-Connecting-IP", "   "), ("Forwarded", "for=5.5.5.5")]), "5.5.5.5");
    assert_eq!(ip(&[("X-Forwarded-For", " , 7.7.7.7")]), "10.0.0.9");
}

#[test]
fn lookup_closure_variant() {
    let headers = [("x-forwarded-for", "9.9.9.9, 1.1.1.1"), ("forwarded", "for=2.2.2.2")];
    let lookup = |name: &str| headers.iter().find(|(n, _)| *n == name).map(|(_, v)| *v);
    assert_eq!(client_ip_with(lookup, PEER), "9.9.9.9");
    assert_eq!(client_ip_with(|_| None, PEER), "10.0.0.9");
}
