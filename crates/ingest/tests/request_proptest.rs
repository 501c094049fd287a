//! Property tests: no input makes the request layer panic, and its invariants hold.

use std::net::{IpAddr, Ipv4Addr};

use proptest::prelude::*;
use serde_json::{json, Value};
use tally_ingest::client_ip::client_ip_with;
use tally_ingest::request::parse_event_request;
use tally_ingest::visitor::root_domain;

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::from),
        ".{0,40}".prop_map(Value::from),
        prop_oneof![
            Just("pageview"),
            Just("engagement"),
            Just("404"),
            Just("http://www.example.com/a?b=c#d"),
            Just("/blog"),
            Just("data:,x"),
            Just("file:///x"),
            Just("USD"),
            Just("12.5abc"),
            Just("1"),
            Just("{\"amount\":1,\"currency\":\"EUR\"}"),
            Just("{\"k\":\"v\"}"),
            Just(""),
            Just(" "),
        ]
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
            prop::collection::vec((".{0,8}", inner), 0..6).prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

const KEYS: [&str; 28] = [
    "n",
    "name",
    "u",
    "url",
    "d",
    "domain",
    "r",
    "referrer",
    "m",
    "meta",
    "p",
    "props",
    "h",
    "hashMode",
    "revenue",
    "$",
    "i",
    "interactive",
    "sd",
    "e",
    "v",
    "w",
    "screen_width",
    "x",
    "amount",
    "currency",
    "path",
    "",
];

fn arb_request() -> impl Strategy<Value = Value> {
    prop::collection::vec((prop::sample::select(&KEYS[..]), arb_json()), 0..12)
        .prop_map(|kv| Value::Object(kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect()))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn random_bytes_never_panic(body in prop::collection::vec(any::<u8>(), 0..300)) {
        let _ = parse_event_request(Some("text/plain"), &body);
    }

    #[test]
    fn random_text_never_panics(body in "\\PC{0,200}") {
        let _ = parse_event_request(None, body.as_bytes());
    }

    #[test]
    fn random_requests_never_panic(body in arb_request()) {
        let bytes = body.to_string().into_bytes();
        match parse_event_request(Some("application/json"), &bytes) {
            Ok(r) => {
                prop_assert!(r.props.len() <= 30);
                prop_assert!(r.props.windows(2).all(|w| w[0].0.as_bytes() < w[1].0.as_bytes()));
                prop_assert!(r.props.iter().all(|(k, v)| !k.trim().is_empty() && !v.trim().is_empty()));
                prop_assert!(r.props.iter().all(|(k, v)| k.len() <= 300 && v.len() <= 2000));
                prop_assert!(!r.name.trim().is_empty());
                prop_assert!(!r.hostname.trim().is_empty());
                prop_assert!(!r.pathname.trim().is_empty());
                prop_assert!(r.url.len() <= 2000);
                prop_assert!(r.scroll_depth.is_none_or(|sd| sd <= 100));
                prop_assert!(r.engagement_time.is_none_or(|e| u64::from(e) < 2_592_000_000));
                if r.name != "engagement" {
                    prop_assert_eq!((r.scroll_depth, r.engagement_time), (None, None));
                }
                prop_assert!(r.referrer.as_ref().is_none_or(|s| s.chars().count() <= 2000));
            }
            Err(e) => {
                prop_assert_eq!(e.status, 400);
                let errors = e.body["errors"].as_object().unwrap();
                prop_assert!(!errors.is_empty());
                for messages in errors.values() {
                    prop_assert!(messages.as_array().is_some_and(|m| !m.is_empty()));
                }
            }
        }
    }

    #[test]
    fn random_urls_never_panic(url in "\\PC{0,80}", h in prop::option::of(0i64..3)) {
        let mut body = json!({"n": "pageview", "u": url});
        if let Some(h) = h {
            body["h"] = json!(h);
        }
        let _ = parse_event_request(None, body.to_string().as_bytes());
        let mut with_domain = body.clone();
        with_domain["d"] = json!("site.test");
        let _ = parse_event_request(None, with_domain.to_string().as_bytes());
    }

    #[test]
    fn random_url_like_strings_never_panic(url in "[a-zA-Z]{0,5}:?(//)?[\\[\\]@:a-z0-9.%/?#&=+ \\n-]{0,40}") {
        let body = json!({"n": "pageview", "u": url, "d": "site.test", "h": 1});
        let _ = parse_event_request(None, body.to_string().as_bytes());
    }

    #[test]
    fn client_ip_never_panics(value in "\\PC{0,60}", which in 0usize..5) {
        let names = ["x-plausible-ip", "cf-connecting-ip", "b-forwarded-for", "x-forwarded-for", "forwarded"];
        let peer = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
        let got = client_ip_with(|name| (name == names[which]).then_some(value.as_str()), peer);
        prop_assert!(!got.is_empty());
    }

    #[test]
    fn root_domain_never_panics(host in "\\PC{0,40}") {
        let _ = root_domain(&host);
    }
}
