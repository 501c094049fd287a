//! Source, referrer, UTM and click-id attribution (platform.md 3.10).
//!
//! Data: `data/referers.tsv` (Snowplow referer-parser list, as used by RefInspector),
//! `data/custom_sources.json` (Plausible's overrides plus Tally additions).

use std::collections::{HashMap, HashSet};

use once_cell::sync::Lazy;

/// Attribution of one event (the session's first event decides; section 5).
/// Empty strings mean "not set".
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Attribution {
    pub referrer: String,
    pub referrer_source: String,
    pub utm_medium: String,
    pub utm_source: String,
    pub utm_campaign: String,
    pub utm_content: String,
    pub utm_term: String,
    pub click_id_param: String,
}

const REFERERS_TSV: &str = include_str!("../data/referers.tsv");
const CUSTOM_SOURCES_JSON: &str = include_str!("../data/custom_sources.json");
/// Matomo's referrer-spam list (public domain), one host per line.
const REFERRER_SPAM_TXT: &str = include_str!("../data/referrer_spam.txt");

static SPAM_HOSTS: Lazy<HashSet<&'static str>> =
    Lazy::new(|| REFERRER_SPAM_TXT.lines().map(str::trim).filter(|l| !l.is_empty()).collect());

/// Whether a referrer's host (`www.` stripped) is on the referrer-spam blocklist, as Plausible's
/// `ReferrerBlocklist` checks before anything else is done with an event. Exact host match.
pub fn is_spam_referrer(referrer: &str) -> bool {
    let Ok(url) = url::Url::parse(referrer.trim()) else {
        return false;
    };
    url.host_str().is_some_and(|h| SPAM_HOSTS.contains(strip_www(&h.to_ascii_lowercase())))
}

/// Click-id parameters, in priority order.
pub const CLICK_ID_PARAMS: &[&str] = &["gclid", "gbraid", "wbraid", "msclkid", "fbclid", "twclid"];

/// Host-suffix families: the host itself or any subdomain of it.
const SUFFIX_FAMILIES: &[(&str, &str)] = &[("officeapps.live.com", "Microsoft 365"), ("wikipedia.org", "Wikipedia")];

struct RefEntry {
    /// Path prefix ("" for host-only entries), starting with '/'.
    path: String,
    name: String,
}

struct Rules {
    /// custom_sources.json: key -> canonical name (keys are matched exactly).
    custom: HashMap<String, String>,
    /// Lower-case name/key -> canonical name (RefInspector names + custom keys and values).
    lookup: HashMap<String, String>,
    /// Snowplow domains (lower-case host) -> entries, longest path first.
    referers: HashMap<String, Vec<RefEntry>>,
    /// Custom source keys ending in "ad"/"ads", plus "adwords".
    paid_sources: HashSet<String>,
}

static RULES: Lazy<Rules> = Lazy::new(load_rules);

fn load_rules() -> Rules {
    let custom_ordered: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(CUSTOM_SOURCES_JSON).expect("embedded custom_sources.json is valid");
    let mut custom = HashMap::new();
    for (k, v) in &custom_ordered {
        if let Some(v) = v.as_str() {
            custom.insert(k.clone(), v.to_string());
        }
    }

    let mut referers: HashMap<String, Vec<RefEntry>> = HashMap::new();
    let mut lookup: HashMap<String, String> = HashMap::new();
    for line in REFERERS_TSV.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let mut parts = line.splitn(3, '\t');
        let (Some(_medium), Some(name), Some(domain)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        let domain = domain.trim().to_ascii_lowercase();
        let (host, path) = match domain.find('/') {
            Some(i) => (domain[..i].to_string(), domain[i..].to_string()),
            None => (domain.clone(), String::new()),
        };
        let entries = referers.entry(host).or_default();
        // First occurrence of an identical (host, path) wins, like the list order.
        if !entries.iter().any(|e| e.path == path) {
            entries.push(RefEntry { path, name: name.to_string() });
        }
        lookup.entry(name.to_lowercase()).or_insert_with(|| name.to_string());
    }
    for entries in referers.values_mut() {
        entries.sort_by_key(|e| std::cmp::Reverse(e.path.len()));
    }

    // Custom entries override RefInspector names: values first, then explicit keys win.
    for v in custom.values() {
        lookup.insert(v.to_lowercase(), v.clone());
    }
    for (k, v) in &custom {
        lookup.insert(k.to_lowercase(), v.clone());
    }

    let mut paid_sources: HashSet<String> =
        custom.keys().filter(|k| k.ends_with("ads") || k.ends_with("ad")).cloned().collect();
    paid_sources.insert("adwords".to_string());

    Rules { custom, lookup, referers, paid_sources }
}

/// Whether a (lower-cased) `utm_source` is a known paid source (`acquisition_channel_paid_sources`).
pub fn is_paid_source(utm_source_lower: &str) -> bool {
    RULES.paid_sources.contains(utm_source_lower)
}

/// All paid source keys (custom source keys ending in `ad`/`ads`, plus `adwords`), sorted.
pub fn paid_sources() -> Vec<&'static str> {
    let mut v: Vec<&'static str> = RULES.paid_sources.iter().map(String::as_str).collect();
    v.sort_unstable();
    v
}

/// Canonical name for a tagged source (`utm_source` / `source` / `ref`) or a RefInspector
/// name: the lookup table entry for its lower-case form, else the input unchanged.
pub fn canonical_source(tagged: &str) -> String {
    match RULES.lookup.get(&tagged.to_lowercase()) {
        Some(name) => name.clone(),
        None => tagged.to_string(),
    }
}

fn strip_www(host: &str) -> &str {
    host.strip_prefix("www.").unwrap_or(host)
}

/// A referrer that passed the validity checks of 3.10.
struct Referral {
    scheme_prefix: &'static str,
    /// Lower-case host as sent (may start with "www.").
    host: String,
    path: String,
}

fn parse_referral(page_host: &str, referrer: &str) -> Option<Referral> {
    let referrer = referrer.trim();
    if referrer.is_empty() {
        return None;
    }
    let url = url::Url::parse(referrer).ok()?;
    let scheme_prefix = match url.scheme() {
        "http" | "https" => "",
        "android-app" => "android-app://",
        _ => return None,
    };
    let host = url.host_str()?.trim().to_ascii_lowercase();
    let host = host.trim_end_matches('.').to_string();
    if host.is_empty() || host == "localhost" {
        return None;
    }
    let page = page_host.trim().to_ascii_lowercase();
    if strip_www(&host) == strip_www(page.trim_end_matches('.')) {
        return None;
    }
    Some(Referral { scheme_prefix, host, path: url.path().to_string() })
}

/// RefInspector-style match: exact host (with path prefix entries first), then parent domains.
fn refinspector_match(host: &str, path: &str) -> Option<&'static str> {
    let rules: &'static Rules = &RULES;
    let mut candidate = host;
    loop {
        if let Some(entries) = rules.referers.get(candidate) {
            for e in entries {
                if e.path.is_empty() || path.starts_with(e.path.as_str()) {
                    return Some(e.name.as_str());
                }
            }
        }
        match candidate.find('.') {
            Some(i) if candidate[i + 1..].contains('.') => candidate = &candidate[i + 1..],
            _ => return None,
        }
    }
}

fn source_from_referral(r: &Referral) -> String {
    let rules: &Rules = &RULES;
    let bare = strip_www(&r.host);
    // 1. exact custom key (android-app referrers are keyed with their scheme)
    let keys: [String; 2] = [format!("{}{}", r.scheme_prefix, r.host), format!("{}{}", r.scheme_prefix, bare)];
    for k in &keys {
        if let Some(v) = rules.custom.get(k) {
            return v.clone();
        }
    }
    // 2. suffix families
    for (suffix, name) in SUFFIX_FAMILIES {
        if bare == *suffix || bare.ends_with(&format!(".{suffix}")) {
            return (*name).to_string();
        }
    }
    // 3. RefInspector (Snowplow list), re-canonicalised through the lookup table
    if let Some(name) = refinspector_match(&r.host, &r.path) {
        return canonical_source(name);
    }
    // 4. the host itself
    format!("{}{}", r.scheme_prefix, bare)
}

/// Value of the last occurrence of `key` (like a decoded query map where later keys win).
fn param<'a>(query: &'a [(String, String)], key: &str) -> Option<&'a str> {
    query.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// Attribution for one event.
///
/// * `page_host`: the event URL's host (www-stripped; may be "").
/// * `query`: decoded query pairs of the event URL, in order.
/// * `referrer`: the raw referrer string from the request, if any.
pub fn attribution(page_host: &str, query: &[(String, String)], referrer: Option<&str>) -> Attribution {
    let referral = referrer.and_then(|r| parse_referral(page_host, r));

    let referrer_col = referral
        .as_ref()
        .map(|r| format!("{}{}{}", r.scheme_prefix, strip_www(&r.host), r.path.trim_end_matches('/')))
        .unwrap_or_default();

    let tagged = param(query, "utm_source").or_else(|| param(query, "source")).or_else(|| param(query, "ref"));

    let referrer_source = match (tagged, &referral) {
        (Some(t), _) => canonical_source(t),
        (None, Some(r)) => source_from_referral(r),
        (None, None) => String::new(),
    };

    let click_id_param =
        CLICK_ID_PARAMS.iter().find(|p| query.iter().any(|(k, _)| k == **p)).map(|p| p.to_string()).unwrap_or_default();

    let utm_medium = match param(query, "utm_medium") {
        Some(m) => m.to_string(),
        None => match (referrer_source.as_str(), click_id_param.as_str()) {
            ("Google", "gclid") => "(gclid)".to_string(),
            ("Bing", "msclkid") => "(msclkid)".to_string(),
            _ => String::new(),
        },
    };

    Attribution {
        referrer: referrer_col,
        referrer_source,
        utm_medium,
        // The tagged source (utm_source, else source, else ref) is stored raw in utm_source.
        utm_source: tagged.unwrap_or_default().to_string(),
        utm_campaign: param(query, "utm_campaign").unwrap_or_default().to_string(),
        utm_content: param(query, "utm_content").unwrap_or_default().to_string(),
        utm_term: param(query, "utm_term").unwrap_or_default().to_string(),
        click_id_param,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spam_referrers_are_matched_by_exact_host_without_www() {
        assert!(is_spam_referrer("https://www.1-best-seo.com"));
        assert!(is_spam_referrer("http://0-0.fr/some/path?x=1"));
        assert!(is_spam_referrer("https://1-BEST-SEO.com/"));
        assert!(!is_spam_referrer("https://sub.1-best-seo.com"));
        assert!(!is_spam_referrer("https://google.com"));
        assert!(!is_spam_referrer("not a url"));
        assert!(!is_spam_referrer(""));
    }

    fn q(s: &str) -> Vec<(String, String)> {
        url::form_urlencoded::parse(s.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
    }

    fn src_ref(referrer: &str) -> String {
        attribution("example.com", &[], Some(referrer)).referrer_source
    }

    fn src_tag(query: &str) -> String {
        attribution("example.com", &q(query), None).referrer_source
    }

    #[test]
    fn tagged_sources_from_conformance() {
        for (query, source) in [
            ("utm_source=threads", "Threads"),
            ("utm_source=ig", "Instagram"),
            ("utm_source=yt", "Youtube"),
            ("utm_source=fb", "Facebook"),
            ("utm_source=fbad", "Facebook"),
            ("utm_source=facebook-ads", "Facebook"),
            ("utm_source=Reddit-ads", "Reddit"),
            ("utm_source=google_ads", "Google"),
            ("source=Google-ads", "Google"),
            ("utm_source=Adwords", "Google"),
            ("utm_source=twitter-ads", "X (Twitter)"),
            ("utm_source=perplexity", "Perplexity"),
            ("utm_source=linktree", "Linktree"),
            ("utm_source=Newsletter-UK", "Newsletter-UK"),
            ("ref=producthunt", "producthunt"),
            ("utm_source=betalist", "betalist"),
            ("source=betalist", "betalist"),
            ("utm_source=facebook", "Facebook"),
            ("utm_source=instagram", "Instagram"),
            ("utm_source=twitter", "X (Twitter)"),
            ("utm_source=duckduckgo", "DuckDuckGo"),
            ("utm_source=google", "Google"),
            ("utm_source=GOOGLE", "Google"),
            ("utm_source=wikipedia", "Wikipedia"),
            ("utm_source=tiktok", "TikTok"),
            ("utm_source=shopify", "shopify"),
            ("utm_source=email", "email"),
            ("utm_source=sms", "sms"),
            ("utm_source=Something+%22quoted%22", "Something \"quoted\""),
        ] {
            assert_eq!(src_tag(query), source, "query {query}");
        }
    }

    #[test]
    fn tagged_source_is_stored_raw_in_utm_source() {
        let a = attribution("example.com", &q("utm_source=Reddit-ads"), None);
        assert_eq!(a.utm_source, "Reddit-ads");
        assert_eq!(a.referrer_source, "Reddit");
        let a = attribution("example.com", &q("source=Google-ads"), None);
        assert_eq!(a.utm_source, "Google-ads");
        assert_eq!(a.referrer_source, "Google");
        let a = attribution("example.com", &q("utm_source=Something+%22quoted%22"), None);
        assert_eq!(a.utm_source, "Something \"quoted\"");
    }

    #[test]
    fn tagged_priority_utm_source_then_source_then_ref() {
        assert_eq!(src_tag("ref=c&source=b&utm_source=a"), "a");
        let a = attribution("example.com", &q("ref=producthunt"), None);
        assert_eq!(a.utm_source, "producthunt");
        let a = attribution("example.com", &q("source=betalist"), None);
        assert_eq!((a.referrer_source.as_str(), a.utm_source.as_str()), ("betalist", "betalist"));
        assert_eq!(src_tag("ref=c&source=b"), "b");
        assert_eq!(src_tag("ref=c"), "c");
    }

    #[test]
    fn referrer_sources_from_conformance() {
        for (referrer, source) in [
            ("android-app://com.reddit.frontpage", "Reddit"),
            ("https://perplexity.ai", "Perplexity"),
            ("https://pplx.ai", "Perplexity"),
            ("https://statics.teams.cdn.office.net", "Microsoft Teams"),
            ("https://ntp.msn.com", "Bing"),
            ("https://search.brave.com", "Brave"),
            ("https://yandex.com.tr", "Yandex"),
            ("https://ya.ru", "Yandex"),
            ("https://yandex.uz", "Yandex"),
            ("https://yandex.eu", "Yandex"),
            ("https://yandex.tm", "Yandex"),
            ("https://discord.com", "Discord"),
            ("https://discordapp.com", "Discord"),
            ("https://t.me", "Telegram"),
            ("https://m.sogou.com", "Sogou"),
            ("https://news.ycombinator.com", "Hacker News"),
            ("https://search.yahoo.com", "Yahoo!"),
            ("https://temu.com", "temu.com"),
            ("https://app.slack.com", "Slack"),
            ("https://github.com", "GitHub"),
            ("https://steamcommunity.com", "steamcommunity.com"),
            ("https://threads.net", "Threads"),
            ("https://go.bsky.app", "Bluesky"),
            ("https://fosstodon.org", "Mastodon"),
            ("https://gemini.google.com", "Google Gemini"),
            ("https://chat.openai.com", "ChatGPT"),
            ("https://claude.ai", "Claude"),
            ("https://phind.com", "Phind"),
            ("https://copilot.microsoft.com", "Microsoft Copilot"),
            ("https://copilot.com", "Microsoft Copilot"),
            ("https://x.com", "X (Twitter)"),
            ("https://twitter.com", "X (Twitter)"),
            ("https://t.co/abc", "X (Twitter)"),
            ("http://m.facebook.com/", "Facebook"),
            ("https://facebook.com", "Facebook"),
            ("https://facebook.com/page/", "Facebook"),
            ("https://shopify.com", "shopify.com"),
            ("https://duckduckgo.com", "DuckDuckGo"),
            ("https://google.com", "Google"),
            ("https://www.google.co.uk/", "Google"),
            ("https://bing.com", "Bing"),
            ("https://tiktok.com", "TikTok"),
            ("https://youtube.com", "Youtube"),
            ("https://vimeo.com", "Vimeo"),
            ("https://othersite.com", "othersite.com"),
            ("https://blog.example.com", "blog.example.com"),
            ("https://www.indiehackers.com/landing-page-feedback", "indiehackers.com"),
            ("https://en.m.wikipedia.org/wiki/X", "Wikipedia"),
            ("https://xx.wikipedia.org/", "Wikipedia"),
            ("https://view.officeapps.live.com/op", "Microsoft 365"),
            ("https://linktr.ee/x", "Linktree"),
            ("android-app://some.android.app", "android-app://some.android.app"),
            ("android-app://com.slack", "Slack"),
        ] {
            assert_eq!(src_ref(referrer), source, "referrer {referrer}");
        }
    }

    #[test]
    fn referrer_column() {
        let a = attribution("example.com", &[], Some("https://facebook.com/page/"));
        assert_eq!(a.referrer, "facebook.com/page");
        assert_eq!(a.referrer_source, "Facebook");
        let a = attribution("example.com", &[], Some("https://www.indiehackers.com/page?query=param#hash"));
        assert_eq!(a.referrer, "indiehackers.com/page");
        assert_eq!(a.referrer_source, "indiehackers.com");
        let a = attribution("example.com", &[], Some("http://m.facebook.com/"));
        assert_eq!(a.referrer, "m.facebook.com");
        let a = attribution("example.com", &[], Some("android-app://some.android.app"));
        assert_eq!(a.referrer, "android-app://some.android.app");
        assert_eq!(a.referrer_source, "android-app://some.android.app");
        let a = attribution("example.com", &[], Some("https://x.com//a//"));
        assert_eq!(a.referrer, "x.com//a");
    }

    #[test]
    fn ignored_referrers() {
        for r in [
            "https://example.com",
            "https://www.example.com/page",
            "http://localhost:4000/",
            "ftp://wat",
            "https:://twitter.com",
            "",
            "   ",
            "not a url",
            "javascript:alert(1)",
            "data:text/plain,hi",
        ] {
            let a = attribution("example.com", &[], Some(r));
            assert_eq!(a.referrer, "", "referrer {r:?}");
            assert_eq!(a.referrer_source, "", "referrer {r:?}");
        }
        let a = attribution("example.com", &[], None);
        assert_eq!(a, Attribution::default());
    }

    #[test]
    fn utm_source_overrides_referrer_source() {
        let a = attribution("example.com", &q("utm_source=betalist"), Some("https://betalist.com/my-produxct"));
        assert_eq!(a.referrer_source, "betalist");
        assert_eq!(a.utm_source, "betalist");
        assert_eq!(a.referrer, "betalist.com/my-produxct");
    }

    #[test]
    fn utm_tags_are_stored_raw() {
        let a = attribution(
            "example.com",
            &q("utm_medium=ads&utm_source=instagram&utm_campaign=video_story&utm_content=c&utm_term=t"),
            None,
        );
        assert_eq!(a.utm_medium, "ads");
        assert_eq!(a.utm_source, "instagram");
        assert_eq!(a.utm_campaign, "video_story");
        assert_eq!(a.utm_content, "c");
        assert_eq!(a.utm_term, "t");
        assert_eq!(a.referrer_source, "Instagram");
    }

    #[test]
    fn medium_inference_from_click_ids() {
        let a = attribution("example.com", &q("gclid=123identifier"), Some("https://google.com"));
        assert_eq!(a.utm_medium, "(gclid)");
        assert_eq!(a.click_id_param, "gclid");
        let a = attribution("example.com", &q("gclid=123identifier"), Some("https://duckduckgo.com"));
        assert_eq!(a.utm_medium, "");
        assert_eq!(a.click_id_param, "gclid");
        let a = attribution("example.com", &q("gclid=123identifier&utm_medium=paidads"), Some("https://google.com"));
        assert_eq!(a.utm_medium, "paidads");
        let a = attribution("example.com", &q("msclkid=123identifier"), Some("https://bing.com"));
        assert_eq!(a.utm_medium, "(msclkid)");
        assert_eq!(a.click_id_param, "msclkid");
        let a = attribution("example.com", &q("utm_medium=display&utm_source=google&gclid=123identifier"), None);
        assert_eq!(a.utm_medium, "display");
        assert_eq!(a.referrer_source, "Google");
    }

    #[test]
    fn click_id_priority() {
        let a = attribution("example.com", &q("fbclid=1&wbraid=2&twclid=3"), None);
        assert_eq!(a.click_id_param, "wbraid");
        let a = attribution("example.com", &q("twclid=3"), None);
        assert_eq!(a.click_id_param, "twclid");
        let a = attribution("example.com", &q("x=1"), None);
        assert_eq!(a.click_id_param, "");
    }

    #[test]
    fn canonical_source_api() {
        assert_eq!(canonical_source("fb"), "Facebook");
        assert_eq!(canonical_source("FACEBOOK"), "Facebook");
        assert_eq!(canonical_source("Twitter"), "X (Twitter)");
        assert_eq!(canonical_source("Claude.ai"), "Claude");
        assert_eq!(canonical_source("unknown-thing"), "unknown-thing");
        assert_eq!(canonical_source(""), "");
    }

    #[test]
    fn paid_sources_list() {
        for s in [
            "adwords",
            "google_ads",
            "fbad",
            "facebook-ads",
            "reddit-ads",
            "twitter-ads",
            "yt-ads",
            "tiktokads",
            "google ads",
        ] {
            assert!(is_paid_source(s), "{s}");
        }
        for s in ["google", "facebook", "fb", "reddit"] {
            assert!(!is_paid_source(s), "{s}");
        }
        assert!(paid_sources().contains(&"adwords"));
    }

    #[test]
    fn fuzz_random_inputs_do_not_panic() {
        let mut rng = 0x2545_F491_4F6C_DD1Du64;
        let pieces = [
            "http://",
            "https://",
            "android-app://",
            "ftp://",
            "www.",
            "example.com",
            "google.",
            "com",
            "/",
            "?",
            "#",
            "%",
            "%zz",
            ":",
            "::",
            "@",
            "[",
            "]",
            "é",
            "中",
            " ",
            ".",
            "..",
            "localhost",
            "utm_source",
            "=",
            "&",
        ];
        for _ in 0..5000 {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            let n = (rng % 9) as usize;
            let mut s = String::new();
            for i in 0..n {
                s.push_str(pieces[((rng >> (i * 5)) as usize) % pieces.len()]);
            }
            let query = vec![("utm_source".to_string(), s.clone()), ("gclid".to_string(), s.clone())];
            let _ = attribution(&s, &query, Some(&s));
            let _ = attribution("", &[], Some(&s));
            let _ = canonical_source(&s);
        }
    }
}
