//! Acquisition channel classification (platform.md 3.11), in the order of Plausible's
//! ClickHouse `acquisition_channel` column, plus the `AI Assistants` channel.
//!
//! Source categories: GA4's list (`data/ga4_source_categories.csv`, from Plausible's
//! `priv/ga4-source-categories.csv`) plus Plausible's custom categories below.

use std::collections::HashMap;

use once_cell::sync::Lazy;
use regex::Regex;

use crate::referrer::is_paid_source;

const GA4_CSV: &str = include_str!("../data/ga4_source_categories.csv");

/// GA4 source category of a (lower-cased) referrer source.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SourceCategory {
    Search,
    Social,
    Shopping,
    Video,
    Email,
    AiAssistants,
}

impl SourceCategory {
    fn parse(s: &str) -> Option<SourceCategory> {
        Some(match s.trim() {
            "SOURCE_CATEGORY_SEARCH" => SourceCategory::Search,
            "SOURCE_CATEGORY_SOCIAL" => SourceCategory::Social,
            "SOURCE_CATEGORY_SHOPPING" => SourceCategory::Shopping,
            "SOURCE_CATEGORY_VIDEO" => SourceCategory::Video,
            "SOURCE_CATEGORY_EMAIL" => SourceCategory::Email,
            "SOURCE_CATEGORY_AI_ASSISTANTS" => SourceCategory::AiAssistants,
            _ => return None,
        })
    }
}

/// Plausible's custom source categories (`Plausible.Ingestion.Acquisition`), keyed by the
/// lower-cased source. The GA4 list is applied after these and wins on duplicates.
const CUSTOM_CATEGORIES: &[(&str, SourceCategory)] = &[
    ("hacker news", SourceCategory::Social),
    ("yahoo!", SourceCategory::Search),
    ("gmail", SourceCategory::Email),
    ("telegram", SourceCategory::Social),
    ("slack", SourceCategory::Social),
    ("producthunt", SourceCategory::Social),
    ("github", SourceCategory::Social),
    ("steamcommunity.com", SourceCategory::Social),
    ("statics.teams.cdn.office.net", SourceCategory::Social),
    ("vkontakte", SourceCategory::Social),
    ("threads", SourceCategory::Social),
    ("ecosia", SourceCategory::Search),
    ("brave", SourceCategory::Search),
    ("kagi", SourceCategory::Search),
    ("temu.com", SourceCategory::Shopping),
    ("discord", SourceCategory::Social),
    ("sogou", SourceCategory::Search),
    ("microsoft teams", SourceCategory::Social),
    ("bluesky", SourceCategory::Social),
    ("mastodon", SourceCategory::Social),
    ("x (twitter)", SourceCategory::Social),
    ("chatgpt", SourceCategory::AiAssistants),
    ("chatgpt.com", SourceCategory::AiAssistants),
    ("claude", SourceCategory::AiAssistants),
    ("phind", SourceCategory::AiAssistants),
    ("deepseek", SourceCategory::AiAssistants),
    ("copilot", SourceCategory::AiAssistants),
    // Tally: the canonical source name for copilot.microsoft.com / copilot.com.
    ("microsoft copilot", SourceCategory::AiAssistants),
    ("grok", SourceCategory::AiAssistants),
    ("google gemini", SourceCategory::AiAssistants),
    ("perplexity", SourceCategory::AiAssistants),
];

static CATEGORIES: Lazy<HashMap<&'static str, SourceCategory>> = Lazy::new(|| {
    let mut m: HashMap<&'static str, SourceCategory> = CUSTOM_CATEGORIES.iter().copied().collect();
    for line in GA4_CSV.lines().skip(1) {
        let line = line.trim_end_matches('\r');
        if let Some((source, cat)) = line.rsplit_once(',') {
            if let Some(cat) = SourceCategory::parse(cat) {
                m.insert(source, cat);
            }
        }
    }
    m
});

static PAID_MEDIUM: Lazy<Regex> = Lazy::new(|| Regex::new(r"^(.*cp.*|ppc|retargeting|paid.*)$").expect("valid regex"));
static SHOPPING_CAMPAIGN: Lazy<Regex> =
    Lazy::new(|| Regex::new(r"^(.*(([^a-df-z]|^)shop|shopping).*)$").expect("valid regex"));

/// Source category of a lower-cased source (exact key match, as the ClickHouse dictionary).
pub fn source_category(source_lower: &str) -> Option<SourceCategory> {
    CATEGORIES.get(source_lower).copied()
}

fn is_cat(source: &str, cat: SourceCategory) -> bool {
    source_category(source) == Some(cat)
}

/// Channel for a session, from its attribution (all inputs are lower-cased here).
pub fn acquisition_channel(
    referrer_source: &str,
    utm_source: &str,
    utm_medium: &str,
    utm_campaign: &str,
    click_id_param: &str,
) -> &'static str {
    let source = referrer_source.to_lowercase();
    let utm_source = utm_source.to_lowercase();
    let medium = utm_medium.to_lowercase();
    let campaign = utm_campaign.to_lowercase();
    let click_id = click_id_param.to_lowercase();
    let source = source.as_str();
    let medium = medium.as_str();

    let paid_medium = PAID_MEDIUM.is_match(medium);
    let paid_source = is_paid_source(&utm_source);
    let paid = paid_medium || paid_source;
    let shopping_source = is_cat(source, SourceCategory::Shopping);
    let shopping_campaign = SHOPPING_CAMPAIGN.is_match(&campaign);
    let search = is_cat(source, SourceCategory::Search);
    let social = is_cat(source, SourceCategory::Social);
    let video = is_cat(source, SourceCategory::Video);

    if campaign.contains("cross-network") {
        "Cross-network"
    } else if matches!(medium, "display" | "banner" | "expandable" | "interstitial" | "cpm") {
        "Display"
    } else if paid_medium && (shopping_source || shopping_campaign) {
        "Paid Shopping"
    } else if (search && paid)
        || (source == "google" && click_id == "gclid")
        || (source == "bing" && click_id == "msclkid")
    {
        "Paid Search"
    } else if social && paid {
        "Paid Social"
    } else if video && paid {
        "Paid Video"
    } else if paid_medium {
        "Paid Other"
    } else if shopping_source || shopping_campaign {
        "Organic Shopping"
    } else if social
        || matches!(medium, "social" | "social-network" | "social-media" | "sm" | "social network" | "social media")
    {
        "Organic Social"
    } else if video || medium.contains("video") {
        "Organic Video"
    } else if is_cat(source, SourceCategory::AiAssistants) {
        "AI Assistants"
    } else if search {
        "Organic Search"
    } else if is_cat(source, SourceCategory::Email) || is_email_tag(&utm_source) || is_email_tag(medium) {
        "Email"
    } else if medium == "affiliate" {
        "Affiliates"
    } else if medium == "audio" {
        "Audio"
    } else if utm_source == "sms" || medium == "sms" {
        "SMS"
    } else if medium.ends_with("push")
        || medium.contains("mobile")
        || medium.contains("notification")
        || source == "firebase"
    {
        "Mobile Push Notifications"
    } else if matches!(medium, "referral" | "app" | "link") || !source.is_empty() {
        "Referral"
    } else {
        "Direct"
    }
}

fn is_email_tag(s: &str) -> bool {
    ["email", "e-mail", "e_mail", "e mail", "newsletter"].iter().any(|t| s.contains(t))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::referrer::attribution;

    fn q(s: &str) -> Vec<(String, String)> {
        url::form_urlencoded::parse(s.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
    }

    /// Full pipeline: URL query + referrer -> attribution -> channel.
    fn channel_of(query: &str, referrer: Option<&str>) -> (&'static str, String) {
        let a = attribution("example.com", &q(query), referrer);
        (
            acquisition_channel(&a.referrer_source, &a.utm_source, &a.utm_medium, &a.utm_campaign, &a.click_id_param),
            a.referrer_source,
        )
    }

    #[test]
    fn acquisition_channels_conformance() {
        for (query, referrer, channel) in [
            ("utm_campaign=cross-network", None, "Cross-network"),
            ("utm_medium=paid", Some("https://shopify.com"), "Paid Shopping"),
            ("utm_source=shopify&utm_medium=paid", None, "Paid Shopping"),
            ("utm_medium=paid", Some("https://duckduckgo.com"), "Paid Search"),
            ("gclid=123identifier", Some("https://google.com"), "Paid Search"),
            ("gclid=123identifier", Some("https://duckduckgo.com"), "Organic Search"),
            ("gclid=123identifier&utm_medium=paidads", Some("https://google.com"), "Paid Search"),
            ("msclkid=123identifier", Some("https://bing.com"), "Paid Search"),
            ("utm_source=google&utm_medium=paid", None, "Paid Search"),
            ("utm_medium=paid", Some("https://tiktok.com"), "Paid Social"),
            ("utm_source=tiktok&utm_medium=paid", None, "Paid Social"),
            ("utm_medium=paid", Some("https://youtube.com"), "Paid Video"),
            ("utm_medium=banner", None, "Display"),
            ("utm_medium=display&utm_source=google&gclid=123identifier", None, "Display"),
            ("utm_medium=cpc", None, "Paid Other"),
            ("utm_source=twitter", None, "Organic Social"),
            ("utm_medium=social", None, "Organic Social"),
            ("", Some("https://vimeo.com"), "Organic Video"),
            ("utm_source=duckduckgo", None, "Organic Search"),
            ("utm_medium=referral", None, "Referral"),
            ("utm_source=email", None, "Email"),
            ("utm_medium=email", None, "Email"),
            ("utm_source=sms", None, "SMS"),
            ("utm_medium=sms", None, "SMS"),
            ("utm_medium=app-push", None, "Mobile Push Notifications"),
            ("utm_medium=example-mobile", None, "Mobile Push Notifications"),
            ("", Some("https://othersite.com"), "Referral"),
            ("", None, "Direct"),
        ] {
            assert_eq!(channel_of(query, referrer).0, channel, "query {query:?} referrer {referrer:?}");
        }
    }

    #[test]
    fn source_rules_conformance() {
        for (query, referrer, source, channel) in [
            ("utm_source=threads", None, "Threads", "Organic Social"),
            ("utm_source=ig", None, "Instagram", "Organic Social"),
            ("utm_source=yt", None, "Youtube", "Organic Video"),
            ("utm_source=fb", None, "Facebook", "Organic Social"),
            ("utm_source=fbad", None, "Facebook", "Paid Social"),
            ("utm_source=facebook-ads", None, "Facebook", "Paid Social"),
            ("utm_source=Reddit-ads", None, "Reddit", "Paid Social"),
            ("utm_source=google_ads", None, "Google", "Paid Search"),
            ("source=Google-ads", None, "Google", "Paid Search"),
            ("utm_source=Adwords", None, "Google", "Paid Search"),
            ("utm_source=twitter-ads", None, "X (Twitter)", "Paid Social"),
            ("", Some("android-app://com.reddit.frontpage"), "Reddit", "Organic Social"),
            ("", Some("https://perplexity.ai"), "Perplexity", "AI Assistants"),
            ("", Some("https://pplx.ai"), "Perplexity", "AI Assistants"),
            ("utm_source=perplexity", None, "Perplexity", "AI Assistants"),
            ("", Some("https://statics.teams.cdn.office.net"), "Microsoft Teams", "Organic Social"),
            ("", Some("https://ntp.msn.com"), "Bing", "Organic Search"),
            ("", Some("https://search.brave.com"), "Brave", "Organic Search"),
            ("", Some("https://yandex.com.tr"), "Yandex", "Organic Search"),
            ("", Some("https://ya.ru"), "Yandex", "Organic Search"),
            ("", Some("https://yandex.uz"), "Yandex", "Organic Search"),
            ("", Some("https://yandex.eu"), "Yandex", "Organic Search"),
            ("", Some("https://yandex.tm"), "Yandex", "Organic Search"),
            ("", Some("https://discord.com"), "Discord", "Organic Social"),
            ("", Some("https://discordapp.com"), "Discord", "Organic Social"),
            ("", Some("https://t.me"), "Telegram", "Organic Social"),
            ("", Some("https://m.sogou.com"), "Sogou", "Organic Search"),
            ("utm_source=linktree", None, "Linktree", "Referral"),
            ("", Some("https://news.ycombinator.com"), "Hacker News", "Organic Social"),
            ("", Some("https://search.yahoo.com"), "Yahoo!", "Organic Search"),
            ("utm_source=Newsletter-UK", None, "Newsletter-UK", "Email"),
            ("", Some("https://temu.com"), "temu.com", "Organic Shopping"),
            ("", Some("https://app.slack.com"), "Slack", "Organic Social"),
            ("ref=producthunt", None, "producthunt", "Organic Social"),
            ("", Some("https://github.com"), "GitHub", "Organic Social"),
            ("", Some("https://steamcommunity.com"), "steamcommunity.com", "Organic Social"),
            ("", Some("https://threads.net"), "Threads", "Organic Social"),
            ("", Some("https://go.bsky.app"), "Bluesky", "Organic Social"),
            ("", Some("https://fosstodon.org"), "Mastodon", "Organic Social"),
            ("", Some("https://gemini.google.com"), "Google Gemini", "AI Assistants"),
            ("", Some("https://chat.openai.com"), "ChatGPT", "AI Assistants"),
            ("", Some("https://claude.ai"), "Claude", "AI Assistants"),
            ("", Some("https://phind.com"), "Phind", "AI Assistants"),
            ("", Some("https://copilot.microsoft.com"), "Microsoft Copilot", "AI Assistants"),
            ("", Some("https://copilot.com"), "Microsoft Copilot", "AI Assistants"),
            ("", Some("https://x.com"), "X (Twitter)", "Organic Social"),
        ] {
            let (ch, src) = channel_of(query, referrer);
            assert_eq!(src, source, "query {query:?} referrer {referrer:?}");
            assert_eq!(ch, channel, "query {query:?} referrer {referrer:?}");
        }
    }

    #[test]
    fn direct_rules() {
        assert_eq!(acquisition_channel("", "", "", "", ""), "Direct");
        assert_eq!(acquisition_channel("", "", "affiliate", "", ""), "Affiliates");
        assert_eq!(acquisition_channel("", "", "audio", "", ""), "Audio");
        assert_eq!(acquisition_channel("", "", "push-notification", "", ""), "Mobile Push Notifications");
        assert_eq!(acquisition_channel("Firebase", "", "", "", ""), "Mobile Push Notifications");
        assert_eq!(acquisition_channel("", "", "app", "", ""), "Referral");
        assert_eq!(acquisition_channel("", "", "link", "", ""), "Referral");
        assert_eq!(acquisition_channel("Gmail", "", "", "", ""), "Email");
        assert_eq!(acquisition_channel("", "", "", "summer-shop", ""), "Organic Shopping");
        assert_eq!(acquisition_channel("", "", "ppc", "shopping", ""), "Paid Shopping");
        assert_eq!(acquisition_channel("", "", "retargeting", "", ""), "Paid Other");
        assert_eq!(acquisition_channel("", "", "", "workshop", ""), "Direct");
        assert_eq!(acquisition_channel("", "", "some video", "", ""), "Organic Video");
        assert_eq!(acquisition_channel("Google", "", "", "", "gclid"), "Paid Search");
        assert_eq!(acquisition_channel("Bing", "", "", "", "msclkid"), "Paid Search");
        assert_eq!(acquisition_channel("Bing", "", "", "", "gclid"), "Organic Search");
    }

    #[test]
    fn category_lookup() {
        assert_eq!(source_category("google"), Some(SourceCategory::Search));
        assert_eq!(source_category("facebook"), Some(SourceCategory::Social));
        assert_eq!(source_category("youtube"), Some(SourceCategory::Video));
        assert_eq!(source_category("shopify.com"), Some(SourceCategory::Shopping));
        assert_eq!(source_category("gmail"), Some(SourceCategory::Email));
        assert_eq!(source_category("perplexity"), Some(SourceCategory::AiAssistants));
        assert_eq!(source_category("nope"), None);
    }
}
