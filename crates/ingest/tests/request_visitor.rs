//! Visitor identity (platform.md §5.1): root domains and the SipHash user id.

use tally_ingest::visitor::{root_domain, visitor_id};

#[test]
fn root_domain_is_the_registrable_domain() {
    for (host, root) in [
        ("example.com", "example.com"),
        ("blog.example.com", "example.com"),
        ("a.b.c.example.com", "example.com"),
        ("example.co.uk", "example.co.uk"),
        ("shop.example.co.uk", "example.co.uk"),
        ("user-id-test-domain.com", "user-id-test-domain.com"),
        ("feature-flag-test.com", "feature-flag-test.com"),
        ("ab.cd", "ab.cd"),
        // private section of the list
        ("foo.github.io", "foo.github.io"),
        ("a.foo.github.io", "foo.github.io"),
        ("myapp.herokuapp.com", "myapp.herokuapp.com"),
        // unlisted TLD: the last label is the suffix
        ("foo.bar.unknowntld", "bar.unknowntld"),
        ("liipgellkffekalgefpjolodblggkmjg", "liipgellkffekalgefpjolodblggkmjg"),
        // no registrable domain: the hostname itself
        ("com", "com"),
        ("co.uk", "co.uk"),
        ("github.io", "github.io"),
        ("localhost", "localhost"),
        ("(none)", "(none)"),
        ("", ""),
        ("::1", "::1"),
        ("2001:db8::1", "2001:db8::1"),
        // IPv4 literals (Erlang inet:parse_ipv4_address/1 forms)
        ("127.0.0.1", "127.0.0.1"),
        ("192.168.1.20", "192.168.1.20"),
        ("127.1", "127.1"),
        ("10.0.1", "10.0.1"),
        ("0x7f.0.0.1", "0x7f.0.0.1"),
        // not IPv4 (octet too large): a domain whose TLD is unknown
        ("1.2.3.256", "3.256"),
        // case is kept, matching is case-insensitive
        ("Blog.Example.COM", "Example.COM"),
        // malformed names are left alone
        (".example.com", ".example.com"),
        ("a..example.com", "a..example.com"),
    ] {
        assert_eq!(root_domain(host), root, "{host}");
    }
}

#[test]
fn siphash_reference_vector() {
    // SipHash-2-4 paper, appendix A: key 00..0f, message 00..0e → 0xa129ca6149be45e5.
    let key: [u8; 16] = core::array::from_fn(|i| i as u8);
    let msg: String = (0u8..15).map(char::from).collect();
    let expected = 0xa129_ca61_49be_45e5_u64;
    assert_eq!(visitor_id(&key, &msg, "", "", ""), expected);
    // the four parts are concatenated without separators
    assert_eq!(visitor_id(&key, &msg[..3], &msg[3..8], &msg[8..9], &msg[9..]), expected);
    assert_eq!(visitor_id(&key, "", "", "", &msg), expected);
}

#[test]
fn visitor_id_depends_on_every_input() {
    let salt = [7u8; 16];
    let ua = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_13_4) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/70.0.3538.110 Safari/537.36";
    let base = visitor_id(&salt, ua, "127.0.0.1", "site.test", "user-id-test-domain.com");
    assert_eq!(base, visitor_id(&salt, ua, "127.0.0.1", "site.test", "user-id-test-domain.com"));
    // different-user-agent-results-in-different-user-id
    assert_ne!(base, visitor_id(&salt, &format!("{ua}!!"), "127.0.0.1", "site.test", "user-id-test-domain.com"));
    assert_ne!(base, visitor_id(&salt, ua, "127.0.0.2", "site.test", "user-id-test-domain.com"));
    assert_ne!(base, visitor_id(&salt, ua, "127.0.0.1", "site2.test", "user-id-test-domain.com"));
    assert_ne!(base, visitor_id(&salt, ua, "127.0.0.1", "site.test", "other.com"));
    assert_ne!(base, visitor_id(&[8u8; 16], ua, "127.0.0.1", "site.test", "user-id-test-domain.com"));
    // subdomains of one registrable domain share a visitor
    let a = visitor_id(&salt, ua, "1.1.1.1", "site.test", &root_domain("a.example.com"));
    let b = visitor_id(&salt, ua, "1.1.1.1", "site.test", &root_domain("b.example.com"));
    assert_eq!(a, b);
}
