//! User-agent parsing (platform.md 3.12) and bot detection (3.9).
//!
//! Parsing uses the uap-core rules (`data/uap_regexes.yaml`, via the `ua-parser` crate) and maps
//! uap family names onto the names Plausible stores, i.e. Matomo device-detector names after
//! Plausible's normalisation (`Chrome Mobile` -> `Chrome`, `Mobile Safari` -> `Safari`, in-app
//! browsers -> `Mobile App`, ...). Results are cached in an LRU keyed by the UA string.

use std::borrow::Cow;
use std::num::NonZeroUsize;

use lru::LruCache;
use parking_lot::Mutex;

const UAP_REGEXES: &str = include_str!("../data/uap_regexes.yaml");

/// Cache capacity (distinct UA strings).
const CACHE_CAPACITY: usize = 20_000;
/// UA strings longer than this are parsed but not cached (bounds the cache's memory).
const MAX_CACHED_UA_LEN: usize = 1024;
/// UA strings are cut to this many bytes before parsing (bounds regex work on hostile input).
const MAX_PARSED_UA_LEN: usize = 4096;

/// Parsed user agent, with Plausible's names. Unknown values are empty strings.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UaInfo {
    pub browser: String,
    pub browser_version: String,
    pub os: String,
    pub os_version: String,
    /// `screen_size` column: "Mobile", "Tablet", "Desktop" or "".
    pub device: String,
}

/// Compiled UA rules plus an LRU cache. Construct once and share (it is `Send + Sync`).
///
/// The device rules are compiled on first use: they only decide `device` when the tracker sent no screen
/// width, and their ~600 mostly case-insensitive regexes take 17 MB (more than browsers and OS together).
pub struct UaParser {
    ua: ua_parser::user_agent::Extractor<'static>,
    os: ua_parser::os::Extractor<'static>,
    dev: std::sync::OnceLock<ua_parser::device::Extractor<'static>>,
    bots: isbot::Bots,
    /// Parsed UAs; `bool`: whether `device` was worked out.
    cache: Mutex<LruCache<String, (UaInfo, bool)>>,
}

impl Default for UaParser {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for UaParser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UaParser").finish_non_exhaustive()
    }
}

impl UaParser {
    /// Loads the embedded rules. Panics only if the embedded data is corrupt (covered by tests).
    pub fn new() -> UaParser {
        let rules = rules();
        let ua = ua_parser::user_agent::Builder::new()
            .push_all(rules.user_agent_parsers)
            .expect("embedded uap browser rules compile")
            .build()
            .expect("embedded uap browser rules compile");
        let os = ua_parser::os::Builder::new()
            .push_all(rules.os_parsers)
            .expect("embedded uap OS rules compile")
            .build()
            .expect("embedded uap OS rules compile");
        let mut bots = isbot::Bots::default();
        bots.append(EXTRA_BOT_PATTERNS);
        UaParser {
            ua,
            os,
            dev: std::sync::OnceLock::new(),
            bots,
            cache: Mutex::new(LruCache::new(NonZeroUsize::new(CACHE_CAPACITY).expect("non-zero"))),
        }
    }

    /// Parses a UA string into Plausible's browser / OS / device naming.
    pub fn parse(&self, ua: &str) -> UaInfo {
        self.parse_with(ua, true)
    }

    /// [`parse`](Self::parse) without `device` (left empty), for events whose screen width decides it.
    pub fn parse_browser_os(&self, ua: &str) -> UaInfo {
        self.parse_with(ua, false)
    }

    fn parse_with(&self, ua: &str, with_device: bool) -> UaInfo {
        if ua.trim().is_empty() {
            return UaInfo::default();
        }
        let cacheable = ua.len() <= MAX_CACHED_UA_LEN;
        let cut = truncate(ua, MAX_PARSED_UA_LEN);
        // The lock is held only to look up and to store: regex work (and the first compile of the device
        // rules) happens outside it.
        let hit = if cacheable { self.cache.lock().get(ua).cloned() } else { None };
        let mut info = match hit {
            Some((info, has_device)) if has_device || !with_device => return info,
            Some((info, _)) => info,
            None => self.browser_os(cut),
        };
        if with_device {
            info.device = self.device(cut, &info.os, &info.browser).to_string();
        }
        if cacheable {
            self.cache.lock().put(ua.to_string(), (info.clone(), with_device));
        }
        info
    }

    /// Parses without touching the cache.
    pub fn parse_uncached(&self, ua: &str) -> UaInfo {
        let mut info = self.browser_os(ua);
        info.device = self.device(ua, &info.os, &info.browser).to_string();
        info
    }

    fn browser_os(&self, ua: &str) -> UaInfo {
        let (os, os_version) = match self.os.extract(ua) {
            Some(o) => map_os(&o.os, o.major.as_deref(), o.minor.as_deref(), ua),
            None => (String::new(), String::new()),
        };
        let (browser, browser_version) = match self.ua.extract(ua) {
            Some(b) => map_browser(&b.family, b.major, b.minor),
            None => (String::new(), String::new()),
        };
        UaInfo { browser, browser_version, os, os_version, device: String::new() }
    }

    fn device(&self, ua: &str, os: &str, browser: &str) -> &'static str {
        let dev = self.dev.get_or_init(|| {
            ua_parser::device::Builder::new()
                .push_all(rules().device_parsers)
                .expect("embedded uap device rules compile")
                .build()
                .expect("embedded uap device rules compile")
        });
        let d = dev.extract(ua);
        device_type(ua, os, d.as_ref().map(|d| d.device.as_ref()).unwrap_or(""), browser)
    }

    /// Bots, crawlers, headless browsers, HTTP libraries (curl, python-requests...).
    pub fn is_bot(&self, ua: &str) -> bool {
        if ua.is_empty() {
            return false;
        }
        let ua = truncate(ua, MAX_PARSED_UA_LEN);
        if ua.contains("HeadlessChrome") || ua.contains("Headless Chrome") {
            return true;
        }
        self.bots.is_bot(ua)
    }
}

/// Extra patterns on top of the `isbot` list (lower-case regexes).
const EXTRA_BOT_PATTERNS: &[&str] = &[
    r"headless ?chrome",
    r"headless ?edge",
    r"crawler",
    r"spider",
    r"^curl/",
    r"^wget/",
    r"phantomjs",
    r"^python-",
    r"^go-http-client",
    r"^okhttp/",
    r"^java/",
    r"^apache-httpclient",
];

/// Plausible's own site-verification agent; it is dropped before anything else
/// (`verification_agent`, platform.md 3.9 step 4).
pub fn is_verification_agent(ua: &str) -> bool {
    ua.starts_with("Plausible Verification Agent")
}

/// `screen_size` from a reported screen width in CSS pixels (the old tracker's rule).
pub fn device_from_screen_width(w: u32) -> &'static str {
    if w < 576 {
        "Mobile"
    } else if w < 992 {
        "Tablet"
    } else if w < 1440 {
        "Laptop"
    } else {
        "Desktop"
    }
}

/// The embedded uap-core rules.
fn rules() -> ua_parser::Regexes<'static> {
    serde_yaml::from_str(UAP_REGEXES).expect("embedded uap regexes.yaml is valid")
}

fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// "major.minor" (or "major" when there is no minor), as Plausible's `major_minor/1`.
fn major_minor(major: Option<&str>, minor: Option<&str>) -> String {
    match (major.map(str::trim), minor.map(str::trim)) {
        (Some(ma), Some(mi)) if !ma.is_empty() && !mi.is_empty() => format!("{ma}.{mi}"),
        (Some(ma), _) if !ma.is_empty() => ma.to_string(),
        _ => String::new(),
    }
}

/// In-app browsers: Matomo classifies them as client type "mobile app"; Plausible stores
/// browser "Mobile App" with an empty version.
const MOBILE_APPS: &[&str] = &[
    "Facebook",
    "Facebook Messenger",
    "Instagram",
    "Twitter",
    "LINE",
    "Line",
    "Pinterest",
    "Snapchat",
    "WeChat",
    "WhatsApp",
    "LinkedIn",
    "TikTok",
    "Kurio App",
    "ESPN",
    "TopBuzz",
    "Chrome Mobile WebView",
    "Chrome Webview",
    // uap's "Google" family is the Google Search App (GSA/...), a Matomo mobile app.
    "Google",
];

fn map_browser(family: &str, major: Option<&str>, minor: Option<&str>) -> (String, String) {
    let family = family.trim();
    if family.is_empty() || family == "Other" {
        return (String::new(), String::new());
    }
    if MOBILE_APPS.contains(&family) || (family.starts_with("Apple ") && family.ends_with(" App")) {
        return ("Mobile App".to_string(), String::new());
    }
    let name: Cow<'_, str> = match family {
        "Chrome" | "Chrome Mobile" | "Chrome Mobile iOS" | "Chrome Frame" => "Chrome".into(),
        "Safari" | "Mobile Safari" | "Mobile Safari UI/WKWebView" => "Safari".into(),
        "Firefox" | "Firefox Mobile" | "Firefox iOS" | "Firefox Beta" | "Firefox Alpha" => "Firefox".into(),
        f if f.starts_with("Firefox (") => "Firefox".into(),
        "Edge" | "Edge Mobile" => "Microsoft Edge".into(),
        "Opera" | "Opera Mobile" | "Opera Mini" => "Opera".into(),
        "Opera Coast" => "Coast".into(),
        "Samsung Internet" => "Samsung Browser".into(),
        "Yandex Browser" | "Yandex Browser Lite" => "Yandex Browser".into(),
        "IE" | "IE Large Screen" => "Internet Explorer".into(),
        "Android" => "Android Browser".into(),
        "Amazon Silk" => "Mobile Silk".into(),
        "DuckDuckGo" | "DuckDuckGo Mobile" => "DuckDuckGo Privacy Browser".into(),
        "Whale" => "Whale Browser".into(),
        "MiuiBrowser" => "MIUI Browser".into(),
        "QQ Browser" | "QQ Browser Mobile" => "QQ Browser".into(),
        "Ecosia Android" | "Ecosia iOS" => "Ecosia".into(),
        "BlackBerry WebKit" => "BlackBerry Browser".into(),
        "Baidu Explorer" => "Baidu Browser".into(),
        "Seznam prohlížeč" => "Seznam Browser".into(),
        "Mail.ru Chromium Browser" => "Mail.ru Chromium".into(),
        "Nokia Services (WAP) Browser" => "Nokia Browser".into(),
        "Thunderbird" => "Thunderbird".into(),
        "Outlook" => "Microsoft Outlook".into(),
        "Tizen Browser" => "Tizen Browser".into(),
        "webOS Browser" => "webOS Browser".into(),
        other => other.to_string().into(),
    };
    (name.into_owned(), major_minor(major, minor))
}

fn map_os(family: &str, major: Option<&str>, minor: Option<&str>, ua: &str) -> (String, String) {
    let family = family.trim();
    if family.is_empty() || family == "Other" {
        return (String::new(), String::new());
    }
    let version = major_minor(major, minor);
    let name = match family {
        "Mac OS X" | "Mac OS" | "macOS" => "Mac",
        "iOS" => {
            // Every uap device rule that names an iOS device "iPad" matches the token itself.
            let is_ipad = ua.contains("iPad");
            let major_n: u32 = major.and_then(|m| m.trim().parse().ok()).unwrap_or(0);
            if is_ipad && major_n >= 13 {
                "iPadOS"
            } else {
                "iOS"
            }
        }
        "Linux" => "GNU/Linux",
        "Linux Mint" => "Mint",
        "WatchOS" => "watchOS",
        "ATV OS X" => "tvOS",
        "Symbian^3 Anna" | "Symbian^3 Belle" => "Symbian^3",
        "Chromecast Android" | "Chromecast Fuchsia" | "Chromecast Linux" | "Chromecast SmartSpeaker" => "Google TV",
        "Windows" => {
            // uap reports Windows versions as Matomo does ("10", "8.1", "7", "XP", "Vista").
            return ("Windows".to_string(), version);
        }
        other => other,
    };
    (name.to_string(), version)
}

fn contains_ci(haystack: &str, needle: &str) -> bool {
    haystack.to_ascii_lowercase().contains(needle)
}

/// Matomo device type mapped onto Plausible's `screen_size` values.
fn device_type(ua: &str, os: &str, device: &str, browser: &str) -> &'static str {
    let lower = ua.to_ascii_lowercase();

    // TVs, consoles and set-top boxes count as "Desktop" (Matomo types tv / console).
    const TV_MARKERS: &[&str] = &[
        "smart-tv",
        "smarttv",
        "smart tv",
        "hbbtv",
        "googletv",
        "google tv",
        "appletv",
        "apple tv",
        "crkey",
        "web0s",
        "webos.tv",
        "netcast",
        "bravia",
        "roku",
        "aftb",
        "afts",
        "aftt",
        "aftm",
        "aftka",
        "aftmm",
        "playstation",
        "xbox",
        "nintendo",
        "tizen tv",
        "viera",
        "philipstv",
        "android tv",
    ];
    if TV_MARKERS.iter().any(|m| lower.contains(m))
        || matches!(os, "tvOS" | "Google TV" | "FireHbbTV")
        || device.starts_with("PlayStation")
        || device.starts_with("Nintendo")
        || device == "AppleTV"
        || device == "Chromecast"
        || device == "Inettv"
    {
        return "Desktop";
    }

    // Car browsers -> Tablet.
    if device.starts_with("Tesla") || lower.contains("tesla/") {
        return "Tablet";
    }

    // Wearables, feature phones, smartphones, media players -> Mobile.
    if matches!(os, "watchOS" | "Wear OS") || lower.contains("watch os") {
        return "Mobile";
    }

    // Tablets.
    let tablet_device = device == "iPad"
        || device.starts_with("Kindle")
        || device == "Generic Tablet"
        || device.contains("Playbook")
        || device == "HP TouchPad"
        || device == "Microsoft Surface RT"
        || device.starts_with("Lenovo Ideapad")
        || device == "Thor";
    if tablet_device
        || os == "iPadOS"
        || os == "BlackBerry Tablet OS"
        || lower.contains("ipad")
        || (lower.contains("tablet") && !lower.contains("tablet pc"))
        || lower.contains("kindle")
        || lower.contains("silk/")
    {
        return "Tablet";
    }

    // Phones and other handhelds.
    if matches!(device, "iPhone" | "iOS-Device" | "Generic Smartphone" | "Generic Feature Phone" | "BlackBerry")
        || device.starts_with("iPod")
        || matches!(
            os,
            "iOS"
                | "Windows Phone"
                | "Windows Mobile"
                | "BlackBerry OS"
                | "KaiOS"
                | "Symbian OS"
                | "Symbian^3"
                | "Nokia Series 40"
                | "Nokia Series 30 Plus"
                | "Brew MP"
                | "Firefox OS"
                | "Sailfish OS"
                | "Bada"
                | "MeeGo"
                | "Maemo"
        )
        || lower.contains("iphone")
        || lower.contains("ipod")
        || lower.contains("opera mini")
        || lower.contains("j2me")
        || lower.contains("midp")
    {
        return "Mobile";
    }

    // Android (and HarmonyOS): "Mobile" token -> smartphone, otherwise a tablet (Matomo rule).
    if os == "Android" || os == "HarmonyOS" || lower.contains("android") {
        // A device model named as a tablet ("Surfing TAB B 9.7 3G", "Lenovo TAB 2") is one, whatever the
        // browser's "Mobile" token says (Matomo's model rules).
        if android_model(ua)
            .is_some_and(|m| m.split(|c: char| !c.is_ascii_alphanumeric()).any(|w| w.eq_ignore_ascii_case("tab")))
        {
            return "Tablet";
        }
        if contains_ci(ua, "mobile") || lower.contains("phone") {
            return "Mobile";
        }
        return "Tablet";
    }

    // Desktop operating systems. Windows 8+ with "Touch" is a tablet in Matomo.
    if os == "Windows" {
        if lower.contains("touch") && !lower.contains("windows nt 6.1") && ua.contains("Windows NT") {
            return "Tablet";
        }
        return "Desktop";
    }
    const DESKTOP_OS: &[&str] = &[
        "Mac",
        "GNU/Linux",
        "Chrome OS",
        "Ubuntu",
        "Fedora",
        "Debian",
        "FreeBSD",
        "OpenBSD",
        "NetBSD",
        "Red Hat",
        "Gentoo",
        "Solaris",
        "Mint",
        "SUSE",
        "Arch Linux",
        "CentOS",
        "Kubuntu",
        "Xubuntu",
        "Mandriva",
        "Slackware",
        "elementary OS",
        "Fuchsia",
    ];
    if DESKTOP_OS.contains(&os) {
        if contains_ci(ua, "mobile") && !browser.is_empty() && os == "GNU/Linux" {
            return "Mobile";
        }
        return "Desktop";
    }
    if device == "Mac" {
        return "Desktop";
    }
    // Remaining handheld platforms announce themselves with a "Mobile"/"Mobi" token.
    if ua.contains("Mobile") || ua.contains("Mobi/") || ua.contains("Mobi;") {
        return "Mobile";
    }
    // Any other identified OS (other Linux distributions, BSDs, ...) is a desktop.
    if !os.is_empty() {
        return "Desktop";
    }
    ""
}

/// The device model of an Android user agent: the text before ` Build/` after the last `; `.
fn android_model(ua: &str) -> Option<&str> {
    let end = ua.find(" Build/")?;
    let head = &ua[..end];
    Some(head.rsplit_once("; ").map_or(head, |(_, m)| m).trim())
}

#[cfg(test)]
mod tests {
    use super::*;
    use once_cell::sync::Lazy;

    static P: Lazy<UaParser> = Lazy::new(UaParser::new);

    const MAC_CHROME: &str = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_13_4) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/70.0.3538.110 Safari/537.36";

    fn p(ua: &str) -> UaInfo {
        P.parse(ua)
    }

    #[test]
    fn device_rules_compile_only_when_a_device_is_asked_for() {
        let fresh = UaParser::new();
        let ipad = "Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.6 Mobile/15E148 Safari/604.1";
        let without = fresh.parse_browser_os(ipad);
        assert!(fresh.dev.get().is_none(), "browser and OS alone must not build the device rules");
        assert_eq!((without.browser.as_str(), without.os.as_str(), without.device.as_str()), ("Safari", "iPadOS", ""));
        // The same UA again, now with the device: the cached entry is completed, not returned as is.
        let with = fresh.parse(ipad);
        assert!(fresh.dev.get().is_some());
        assert_eq!(with, fresh.parse_uncached(ipad));
        assert_eq!(with.device, "Tablet");
        assert_eq!(UaInfo { device: String::new(), ..with }, without);
    }

    fn check(ua: &str, browser: &str, bv: &str, os: &str, osv: &str, device: &str) {
        let info = p(ua);
        assert_eq!(
            info,
            UaInfo {
                browser: browser.into(),
                browser_version: bv.into(),
                os: os.into(),
                os_version: osv.into(),
                device: device.into(),
            },
            "UA: {ua}"
        );
    }

    #[test]
    fn parser_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<UaParser>();
    }

    #[test]
    fn conformance_mac_chrome() {
        check(MAC_CHROME, "Chrome", "70.0", "Mac", "10.13", "Desktop");
    }

    #[test]
    fn conformance_unknown_ua_has_no_device() {
        check("unknown UA", "", "", "", "", "");
        check("", "", "", "", "", "");
        check("   ", "", "", "", "", "");
    }

    #[test]
    fn conformance_modified_ua_still_parses() {
        // events/different-user-agent-results-in-different-user-id uses this variant
        let info = p(&format!("{MAC_CHROME}!!"));
        assert_eq!(info.os, "Mac");
        assert!(!P.is_bot(&format!("{MAC_CHROME}!!")));
    }

    #[test]
    fn windows_chrome() {
        check(
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
            "Chrome",
            "120.0",
            "Windows",
            "10",
            "Desktop",
        );
    }

    #[test]
    fn windows_versions() {
        let ua7 = "Mozilla/5.0 (Windows NT 6.1; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/109.0.0.0 Safari/537.36";
        assert_eq!(p(ua7).os_version, "7");
        let xp = "Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1; SV1)";
        let info = p(xp);
        assert_eq!(info.os, "Windows");
        assert_eq!(info.os_version, "XP");
        assert_eq!(info.browser, "Internet Explorer");
        assert_eq!(info.browser_version, "6.0");
        let w81 = "Mozilla/5.0 (Windows NT 6.3; Win64; x64; rv:109.0) Gecko/20100101 Firefox/115.0";
        assert_eq!(p(w81).os_version, "8.1");
    }

    #[test]
    fn windows_edge() {
        check(
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.2210.91",
            "Microsoft Edge",
            "120.0",
            "Windows",
            "10",
            "Desktop",
        );
    }

    #[test]
    fn firefox_linux_and_ubuntu() {
        check(
            "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
            "Firefox",
            "121.0",
            "GNU/Linux",
            "",
            "Desktop",
        );
        let u = p("Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0");
        assert_eq!(u.browser, "Firefox");
        assert_eq!(u.os, "Ubuntu");
        assert_eq!(u.device, "Desktop");
    }

    #[test]
    fn mac_safari() {
        check(
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15",
            "Safari",
            "17.1",
            "Mac",
            "10.15",
            "Desktop",
        );
    }

    #[test]
    fn iphone_safari() {
        check(
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1.2 Mobile/15E148 Safari/604.1",
            "Safari",
            "17.1",
            "iOS",
            "17.1",
            "Mobile",
        );
    }

    #[test]
    fn iphone_chrome_and_firefox() {
        let c = p("Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/120.0.6099.119 Mobile/15E148 Safari/604.1");
        assert_eq!((c.browser.as_str(), c.browser_version.as_str()), ("Chrome", "120.0"));
        assert_eq!((c.os.as_str(), c.device.as_str()), ("iOS", "Mobile"));
        let f = p("Mozilla/5.0 (iPhone; CPU iPhone OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) FxiOS/120.0 Mobile/15E148 Safari/605.1.15");
        assert_eq!(f.browser, "Firefox");
        assert_eq!(f.device, "Mobile");
    }

    #[test]
    fn ipad_is_tablet_ipados() {
        let i = p("Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.6 Mobile/15E148 Safari/604.1");
        assert_eq!(i.browser, "Safari");
        assert_eq!(i.os, "iPadOS");
        assert_eq!(i.os_version, "16.6");
        assert_eq!(i.device, "Tablet");
    }

    #[test]
    fn android_phone_chrome() {
        check(
            "Mozilla/5.0 (Linux; Android 13; SM-S908B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36",
            "Chrome",
            "120.0",
            "Android",
            "13",
            "Mobile",
        );
    }

    #[test]
    fn android_models_named_tab_are_tablets() {
        let surfing = "Mozilla/5.0 (Linux; U; Android 4.2.2; it-it; Surfing TAB B 9.7 3G Build/JDQ39) AppleWebKit/534.30 (KHTML, like Gecko) Version/4.0 Mobile Safari/534.30";
        assert_eq!(p(surfing).device, "Tablet");
        let phone = "Mozilla/5.0 (Linux; Android 10; SM-G973F Build/QP1A.190711.020) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/83.0.4103.106 Mobile Safari/537.36";
        assert_eq!(p(phone).device, "Mobile");
        assert_eq!(android_model(surfing), Some("Surfing TAB B 9.7 3G"));
        assert_eq!(android_model("Mozilla/5.0 (X11; Linux x86_64)"), None);
    }

    #[test]
    fn android_tablet_chrome() {
        let t = p("Mozilla/5.0 (Linux; Android 12; SM-X700) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36");
        assert_eq!(t.os, "Android");
        assert_eq!(t.device, "Tablet");
    }

    #[test]
    fn samsung_browser() {
        let s = p("Mozilla/5.0 (Linux; Android 13; SAMSUNG SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/23.0 Chrome/115.0.0.0 Mobile Safari/537.36");
        assert_eq!(s.browser, "Samsung Browser");
        assert_eq!(s.browser_version, "23.0");
        assert_eq!(s.device, "Mobile");
    }

    #[test]
    fn firefox_android() {
        let f = p("Mozilla/5.0 (Android 13; Mobile; rv:121.0) Gecko/121.0 Firefox/121.0");
        assert_eq!(f.browser, "Firefox");
        assert_eq!(f.os, "Android");
        assert_eq!(f.device, "Mobile");
    }

    #[test]
    fn opera_and_yandex_and_uc() {
        let o = p("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 OPR/106.0.0.0");
        assert_eq!(o.browser, "Opera");
        assert_eq!(o.browser_version, "106.0");
        let y = p("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/118.0.0.0 YaBrowser/23.11.0.0 Safari/537.36");
        assert_eq!(y.browser, "Yandex Browser");
        let uc = p("Mozilla/5.0 (Linux; U; Android 10; en-US; RMX2185 Build/QP1A.190711.020) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/78.0.3904.108 UCBrowser/13.4.0.1306 Mobile Safari/537.36");
        assert_eq!(uc.browser, "UC Browser");
        assert_eq!(uc.device, "Mobile");
    }

    #[test]
    fn chrome_os() {
        let c = p("Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36");
        assert_eq!(c.os, "Chrome OS");
        assert_eq!(c.device, "Desktop");
    }

    #[test]
    fn in_app_browsers_are_mobile_app() {
        let fb = p("Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 [FBAN/FBIOS;FBDV/iPhone14,5;FBMD/iPhone;FBSN/iOS;FBSV/17.1;FBSS/3;FBID/phone;FBLC/en_US;FBOP/5]");
        assert_eq!(fb.browser, "Mobile App");
        assert_eq!(fb.browser_version, "");
        assert_eq!(fb.device, "Mobile");
        let wv = p("Mozilla/5.0 (Linux; Android 13; Pixel 7 Build/TQ3A.230901.001; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/120.0.6099.43 Mobile Safari/537.36");
        assert_eq!(wv.browser, "Mobile App");
        assert_eq!(wv.browser_version, "");
    }

    #[test]
    fn windows_tablet_pc_token_is_not_a_tablet() {
        let ie = p("Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1; SV1; Tablet PC 1.7; .NET CLR 1.0.3705)");
        assert_eq!(ie.device, "Desktop");
        let touch = p("Mozilla/5.0 (Windows NT 10.0; WOW64; Trident/7.0; Touch; rv:11.0) like Gecko");
        assert_eq!(touch.device, "Tablet");
    }

    #[test]
    fn google_search_app_is_mobile_app() {
        let g = p("Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) GSA/290.0.590224862 Mobile/15E148 Safari/604.1");
        assert_eq!(g.browser, "Mobile App");
        assert_eq!(g.device, "Mobile");
    }

    #[test]
    fn tizen_phone_is_mobile() {
        let t = p("Mozilla/5.0 (Linux; Tizen 2.3; SAMSUNG SM-Z130H) AppleWebKit/537.3 (KHTML, like Gecko) SamsungBrowser/1.0 Mobile Safari/537.3");
        assert_eq!(t.device, "Mobile");
        assert_eq!(t.browser, "Samsung Browser");
    }

    #[test]
    fn tv_and_console_are_desktop() {
        let ps = p("Mozilla/5.0 (PlayStation; PlayStation 5/2.26) AppleWebKit/605.1.15 (KHTML, like Gecko)");
        assert_eq!(ps.device, "Desktop");
        let tv = p("Mozilla/5.0 (SMART-TV; LINUX; Tizen 6.0) AppleWebKit/537.36 (KHTML, like Gecko) 76.0.3809.146/6.0 TV Safari/537.36");
        assert_eq!(tv.device, "Desktop");
    }

    #[test]
    fn bots() {
        for ua in [
            "generic crawler",
            "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
            "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
            "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
            "curl/8.4.0",
            "Wget/1.21.4",
            "python-requests/2.31.0",
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0.0.0 Safari/537.36",
            "Mozilla/5.0 Headless Chrome",
            "Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)",
        ] {
            assert!(P.is_bot(ua), "should be a bot: {ua}");
        }
        for ua in [
            MAC_CHROME,
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1.2 Mobile/15E148 Safari/604.1",
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.2210.91",
            "Mozilla/5.0 (Linux; Android 13; SM-S908B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36",
            "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
            "unknown UA",
            "",
        ] {
            assert!(!P.is_bot(ua), "should not be a bot: {ua}");
        }
    }

    #[test]
    fn verification_agent() {
        assert!(is_verification_agent("Plausible Verification Agent - if abused, contact support@plausible.io"));
        assert!(!is_verification_agent(MAC_CHROME));
    }

    #[test]
    fn screen_width_buckets() {
        assert_eq!(device_from_screen_width(0), "Mobile");
        assert_eq!(device_from_screen_width(575), "Mobile");
        assert_eq!(device_from_screen_width(576), "Tablet");
        assert_eq!(device_from_screen_width(991), "Tablet");
        assert_eq!(device_from_screen_width(992), "Laptop");
        assert_eq!(device_from_screen_width(1439), "Laptop");
        assert_eq!(device_from_screen_width(1440), "Desktop");
    }

    #[test]
    fn cache_returns_same_result() {
        let a = p(MAC_CHROME);
        let b = p(MAC_CHROME);
        assert_eq!(a, b);
        assert_eq!(a, P.parse_uncached(MAC_CHROME));
    }

    #[test]
    fn huge_and_weird_inputs_do_not_panic() {
        let long = "Mozilla/5.0 ".repeat(2000) + "é";
        let _ = p(&long);
        let _ = P.is_bot(&long);
        let _ = p("\u{0}\u{ffff}ééé (((((");
        let _ = truncate("ééé", 3);
    }

    #[test]
    fn fuzz_random_strings() {
        let mut rng = 0x9E37_79B9_7F4A_7C15u64;
        let alphabet: Vec<char> =
            "abcXYZ019 ;:/()._-[]{}\\?*+^$|éü中\u{0}\t\nMozillaChromeAndroidiPhone".chars().collect();
        for _ in 0..3000 {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            let len = (rng % 120) as usize;
            let s: String = (0..len).map(|i| alphabet[((rng >> (i % 50)) as usize + i * 7) % alphabet.len()]).collect();
            let _ = p(&s);
            let _ = P.is_bot(&s);
        }
    }
}
