//! The validated, fully resolved v2 query that the planner consumes.
//!
//! Everything here has already passed Plausible's schema, parser and builder validations
//! (see [`crate::parse_query`]). In particular:
//! * the generic `time` dimension is resolved to `time:hour|day|week|month`, also in `order_by`;
//! * `order_by` is never empty (defaults applied);
//! * saved segments are resolved into plain filter trees;
//! * when segments were used, top-level `and` nodes are flattened into the implicit top-level
//!   AND (Plausible's segment resolution);
//! * the optimizer's extra `visit:entry_page_hostname` / `visit:exit_page_hostname` filters
//!   (derived from a top-level `event:hostname` filter) are already appended;
//! * the date range is resolved into concrete instants (site tz and UTC);
//! * comparisons are resolved into a concrete comparison range.

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;

use crate::context::{Goal, ImportInfo};

// ---------------------------------------------------------------------------------------------
// Metrics
// ---------------------------------------------------------------------------------------------

/// A queryable metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Metric {
    /// Distinct visitors (`user_id`).
    Visitors,
    /// Distinct sessions.
    Visits,
    /// `pageview` events.
    Pageviews,
    /// Pageviews per session (2 decimals).
    ViewsPerVisit,
    /// Bounce rate, integer percent.
    BounceRate,
    /// Average session duration in seconds.
    VisitDuration,
    /// Non-engagement events (null for scroll goals).
    Events,
    /// Average max scroll depth per session (0..100).
    ScrollDepth,
    /// Share of total visitors, 1 decimal.
    Percentage,
    /// Converting visitors / all visitors (goal and prop filters removed), 2 decimals.
    ConversionRate,
    /// Like `ConversionRate` with a per-dimension-group denominator.
    GroupConversionRate,
    /// Average time on page in seconds.
    TimeOnPage,
    /// Exits / pageviews per exit page, 1 decimal (internal metric).
    ExitRate,
    /// Sum of revenue (revenue object).
    TotalRevenue,
    /// Average revenue per revenue conversion (revenue object).
    AverageRevenue,
}

/// Which table a metric (or dimension) can be computed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableClass {
    /// Needs the events table.
    EventOnly,
    /// Needs the sessions table.
    SessionOnly,
    /// Computable from either table.
    Either,
    /// Computed separately (`time_on_page` has its own subquery).
    Special,
}

impl Metric {
    /// All metrics, in schema order.
    pub const ALL: [Metric; 15] = [
        Metric::Visitors,
        Metric::Visits,
        Metric::Pageviews,
        Metric::ViewsPerVisit,
        Metric::BounceRate,
        Metric::VisitDuration,
        Metric::Events,
        Metric::Percentage,
        Metric::ConversionRate,
        Metric::GroupConversionRate,
        Metric::TimeOnPage,
        Metric::ExitRate,
        Metric::TotalRevenue,
        Metric::AverageRevenue,
        Metric::ScrollDepth,
    ];

    /// The API name, e.g. `"bounce_rate"`.
    pub fn name(self) -> &'static str {
        match self {
            Metric::Visitors => "visitors",
            Metric::Visits => "visits",
            Metric::Pageviews => "pageviews",
            Metric::ViewsPerVisit => "views_per_visit",
            Metric::BounceRate => "bounce_rate",
            Metric::VisitDuration => "visit_duration",
            Metric::Events => "events",
            Metric::ScrollDepth => "scroll_depth",
            Metric::Percentage => "percentage",
            Metric::ConversionRate => "conversion_rate",
            Metric::GroupConversionRate => "group_conversion_rate",
            Metric::TimeOnPage => "time_on_page",
            Metric::ExitRate => "exit_rate",
            Metric::TotalRevenue => "total_revenue",
            Metric::AverageRevenue => "average_revenue",
        }
    }

    /// Parses an API name.
    pub fn from_name(name: &str) -> Option<Metric> {
        Metric::ALL.iter().copied().find(|m| m.name() == name)
    }

    /// Table classification (Plausible's `TableDecider`).
    pub fn table_class(self) -> TableClass {
        match self {
            Metric::Visitors
            | Metric::Visits
            | Metric::Percentage
            | Metric::ConversionRate
            | Metric::GroupConversionRate => TableClass::Either,
            Metric::Pageviews
            | Metric::Events
            | Metric::ScrollDepth
            | Metric::TotalRevenue
            | Metric::AverageRevenue => TableClass::EventOnly,
            Metric::BounceRate | Metric::VisitDuration | Metric::ViewsPerVisit | Metric::ExitRate => {
                TableClass::SessionOnly
            }
            Metric::TimeOnPage => TableClass::Special,
        }
    }

    /// True for `total_revenue` / `average_revenue`.
    pub fn is_revenue(self) -> bool {
        matches!(self, Metric::TotalRevenue | Metric::AverageRevenue)
    }
}

// ---------------------------------------------------------------------------------------------
// Dimensions
// ---------------------------------------------------------------------------------------------

/// A dimension (grouping key or filter dimension). The generic `time` never appears here: it
/// is resolved to one of the `Time*` variants.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Dimension {
    /// `event:name`
    Name,
    /// `event:page` (pathname)
    Page,
    /// `event:hostname`
    Hostname,
    /// `event:goal` (goal display name; see [`Filter::matching_goals`])
    Goal,
    /// `event:props:<name>` (name non-empty)
    Prop(String),
    /// `visit:source`
    Source,
    /// `visit:channel`
    Channel,
    /// `visit:referrer`
    Referrer,
    /// `visit:utm_medium`
    UtmMedium,
    /// `visit:utm_source`
    UtmSource,
    /// `visit:utm_campaign`
    UtmCampaign,
    /// `visit:utm_content`
    UtmContent,
    /// `visit:utm_term`
    UtmTerm,
    /// `visit:screen` — accepted by Plausible's schema; the old name of the device (screen
    /// size) attribute. Plausible has no SQL for it; treat as an alias of [`Dimension::Device`].
    Screen,
    /// `visit:device`
    Device,
    /// `visit:browser`
    Browser,
    /// `visit:browser_version`
    BrowserVersion,
    /// `visit:os`
    Os,
    /// `visit:os_version`
    OsVersion,
    /// `visit:country` (ISO 3166-1 alpha-2)
    Country,
    /// `visit:region` (ISO 3166-2)
    Region,
    /// `visit:city` (GeoName id)
    City,
    /// `visit:country_name`
    CountryName,
    /// `visit:region_name`
    RegionName,
    /// `visit:city_name`
    CityName,
    /// `visit:entry_page` (sessions only)
    EntryPage,
    /// `visit:exit_page` (sessions only)
    ExitPage,
    /// `visit:entry_page_hostname` (sessions only)
    EntryPageHostname,
    /// `visit:exit_page_hostname` (sessions only)
    ExitPageHostname,
    /// `time:hour`
    TimeHour,
    /// `time:day`
    TimeDay,
    /// `time:week`
    TimeWeek,
    /// `time:month`
    TimeMonth,
}

/// `visit:*` keys accepted in filters and dimensions (Plausible's `Filters.visit_props`).
pub const VISIT_PROPS: [&str; 24] = [
    "source",
    "channel",
    "referrer",
    "utm_medium",
    "utm_source",
    "utm_campaign",
    "utm_content",
    "utm_term",
    "screen",
    "device",
    "browser",
    "browser_version",
    "os",
    "os_version",
    "country",
    "region",
    "city",
    "country_name",
    "region_name",
    "city_name",
    "entry_page",
    "exit_page",
    "entry_page_hostname",
    "exit_page_hostname",
];

/// `event:*` keys accepted (besides `event:props:*`).
pub const EVENT_PROPS: [&str; 4] = ["name", "page", "goal", "hostname"];

impl Dimension {
    /// The API name, e.g. `"visit:source"`, `"event:props:author"`, `"time:day"`.
    pub fn name(&self) -> String {
        match self {
            Dimension::Name => "event:name".into(),
            Dimension::Page => "event:page".into(),
            Dimension::Hostname => "event:hostname".into(),
            Dimension::Goal => "event:goal".into(),
            Dimension::Prop(p) => format!("event:props:{p}"),
            Dimension::TimeHour => "time:hour".into(),
            Dimension::TimeDay => "time:day".into(),
            Dimension::TimeWeek => "time:week".into(),
            Dimension::TimeMonth => "time:month".into(),
            other => format!("visit:{}", other.visit_key().unwrap_or_default()),
        }
    }

    fn visit_key(&self) -> Option<&'static str> {
        Some(match self {
            Dimension::Source => "source",
            Dimension::Channel => "channel",
            Dimension::Referrer => "referrer",
            Dimension::UtmMedium => "utm_medium",
            Dimension::UtmSource => "utm_source",
            Dimension::UtmCampaign => "utm_campaign",
            Dimension::UtmContent => "utm_content",
            Dimension::UtmTerm => "utm_term",
            Dimension::Screen => "screen",
            Dimension::Device => "device",
            Dimension::Browser => "browser",
            Dimension::BrowserVersion => "browser_version",
            Dimension::Os => "os",
            Dimension::OsVersion => "os_version",
            Dimension::Country => "country",
            Dimension::Region => "region",
            Dimension::City => "city",
            Dimension::CountryName => "country_name",
            Dimension::RegionName => "region_name",
            Dimension::CityName => "city_name",
            Dimension::EntryPage => "entry_page",
            Dimension::ExitPage => "exit_page",
            Dimension::EntryPageHostname => "entry_page_hostname",
            Dimension::ExitPageHostname => "exit_page_hostname",
            _ => return None,
        })
    }

    /// Parses an `event:*` / `visit:*` name (not `time*`). `event:props:` needs a non-empty
    /// property name.
    pub fn from_name(name: &str) -> Option<Dimension> {
        if let Some(prop) = name.strip_prefix("event:props:") {
            return (!prop.is_empty()).then(|| Dimension::Prop(prop.to_string()));
        }
        if let Some(key) = name.strip_prefix("event:") {
            return match key {
                "name" => Some(Dimension::Name),
                "page" => Some(Dimension::Page),
                "goal" => Some(Dimension::Goal),
                "hostname" => Some(Dimension::Hostname),
                _ => None,
            };
        }
        if let Some(key) = name.strip_prefix("visit:") {
            return Some(match key {
                "source" => Dimension::Source,
                "channel" => Dimension::Channel,
                "referrer" => Dimension::Referrer,
                "utm_medium" => Dimension::UtmMedium,
                "utm_source" => Dimension::UtmSource,
                "utm_campaign" => Dimension::UtmCampaign,
                "utm_content" => Dimension::UtmContent,
                "utm_term" => Dimension::UtmTerm,
                "screen" => Dimension::Screen,
                "device" => Dimension::Device,
                "browser" => Dimension::Browser,
                "browser_version" => Dimension::BrowserVersion,
                "os" => Dimension::Os,
                "os_version" => Dimension::OsVersion,
                "country" => Dimension::Country,
                "region" => Dimension::Region,
                "city" => Dimension::City,
                "country_name" => Dimension::CountryName,
                "region_name" => Dimension::RegionName,
                "city_name" => Dimension::CityName,
                "entry_page" => Dimension::EntryPage,
                "exit_page" => Dimension::ExitPage,
                "entry_page_hostname" => Dimension::EntryPageHostname,
                "exit_page_hostname" => Dimension::ExitPageHostname,
                _ => return None,
            });
        }
        match name {
            "time:hour" => Some(Dimension::TimeHour),
            "time:day" => Some(Dimension::TimeDay),
            "time:week" => Some(Dimension::TimeWeek),
            "time:month" => Some(Dimension::TimeMonth),
            _ => None,
        }
    }

    /// True for the `time:*` dimensions.
    pub fn is_time(&self) -> bool {
        matches!(self, Dimension::TimeHour | Dimension::TimeDay | Dimension::TimeWeek | Dimension::TimeMonth)
    }

    /// True for `event:*` dimensions (including goals and props).
    pub fn is_event(&self) -> bool {
        matches!(self, Dimension::Name | Dimension::Page | Dimension::Hostname | Dimension::Goal | Dimension::Prop(_))
    }

    /// Table classification: `event:*` are event-only; entry/exit page (hostname) are
    /// session-only; other `visit:*` and time dimensions can use either table.
    pub fn table_class(&self) -> TableClass {
        if self.is_event() {
            TableClass::EventOnly
        } else if matches!(
            self,
            Dimension::EntryPage | Dimension::ExitPage | Dimension::EntryPageHostname | Dimension::ExitPageHostname
        ) {
            TableClass::SessionOnly
        } else {
            TableClass::Either
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Filters
// ---------------------------------------------------------------------------------------------

/// Simple filter operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    /// value ∈ clauses
    Is,
    /// value ∉ clauses
    IsNot,
    /// value contains any clause
    Contains,
    /// value contains no clause
    ContainsNot,
    /// value matches any clause as an unanchored RE2 regex (validated with the `regex` crate)
    Matches,
    /// value matches no clause (regex)
    MatchesNot,
    /// value matches any wildcard pattern (see [`wildcard_to_regex`])
    MatchesWildcard,
    /// value matches no wildcard pattern
    MatchesWildcardNot,
}

impl Op {
    /// The API name, e.g. `"contains_not"`.
    pub fn name(self) -> &'static str {
        match self {
            Op::Is => "is",
            Op::IsNot => "is_not",
            Op::Contains => "contains",
            Op::ContainsNot => "contains_not",
            Op::Matches => "matches",
            Op::MatchesNot => "matches_not",
            Op::MatchesWildcard => "matches_wildcard",
            Op::MatchesWildcardNot => "matches_wildcard_not",
        }
    }

    /// Parses an API name.
    pub fn from_name(name: &str) -> Option<Op> {
        Some(match name {
            "is" => Op::Is,
            "is_not" => Op::IsNot,
            "contains" => Op::Contains,
            "contains_not" => Op::ContainsNot,
            "matches" => Op::Matches,
            "matches_not" => Op::MatchesNot,
            "matches_wildcard" => Op::MatchesWildcard,
            "matches_wildcard_not" => Op::MatchesWildcardNot,
            _ => return None,
        })
    }

    /// True for the negated operators (`is_not`, `contains_not`, `matches_not`,
    /// `matches_wildcard_not`): the filter matches if **no** clause matches.
    pub fn is_negated(self) -> bool {
        matches!(self, Op::IsNot | Op::ContainsNot | Op::MatchesNot | Op::MatchesWildcardNot)
    }

    /// True for the pattern operators (`matches*`).
    pub fn is_pattern(self) -> bool {
        matches!(self, Op::Matches | Op::MatchesNot | Op::MatchesWildcard | Op::MatchesWildcardNot)
    }
}

/// A filter clause value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Clause {
    Str(String),
    /// Only for `visit:city` (GeoName ids), when every clause is an integer.
    Int(i64),
}

impl Clause {
    /// The clause as text (integers rendered in decimal).
    pub fn as_text(&self) -> String {
        match self {
            Clause::Str(s) => s.clone(),
            Clause::Int(i) => i.to_string(),
        }
    }
}

/// The modifiers object of a simple filter, as given (kept for the echo).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Modifiers {
    /// `case_sensitive` if present.
    pub case_sensitive: Option<bool>,
}

/// A filter tree node. The query's top-level list is an implicit AND.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// `[op, dimension, clauses]` / `[op, dimension, clauses, modifiers]`.
    Simple {
        op: Op,
        dim: Dimension,
        /// Non-negated ops: matches if any clause matches; negated ops: if none matches.
        clauses: Vec<Clause>,
        /// Effective case sensitivity (`modifiers.case_sensitive`, default `true`).
        case_sensitive: bool,
        /// The modifiers object as given (`None` when absent); only needed for the echo.
        modifiers: Option<Modifiers>,
    },
    /// All children must match (empty = true).
    And(Vec<Filter>),
    /// Any child must match (empty = false).
    Or(Vec<Filter>),
    /// Negation.
    Not(Box<Filter>),
    /// Session has at least one event in the query range matching the child (only `event:*`
    /// leaves inside; never nested).
    HasDone(Box<Filter>),
    /// Session has no event in the query range matching the child.
    HasNotDone(Box<Filter>),
}

impl Filter {
    /// The dimension of a simple filter.
    pub fn dimension(&self) -> Option<&Dimension> {
        match self {
            Filter::Simple { dim, .. } => Some(dim),
            _ => None,
        }
    }

    /// All simple filters of the tree (including inside behavioural filters), depth first.
    pub fn leaves(&self) -> Vec<&Filter> {
        let mut out = Vec::new();
        self.visit(0, false, &mut |f, _, _| out.push(f));
        out
    }

    /// Calls `f(leaf, depth, inside_behavioural)` for each simple filter. `depth` counts the
    /// compound nodes above the leaf (a top-level simple filter has depth 0).
    pub fn visit<'a>(&'a self, depth: usize, behavioural: bool, f: &mut dyn FnMut(&'a Filter, usize, bool)) {
        match self {
            Filter::Simple { .. } => f(self, depth, behavioural),
            Filter::And(children) | Filter::Or(children) => {
                for c in children {
                    c.visit(depth + 1, behavioural, f);
                }
            }
            Filter::Not(c) => c.visit(depth + 1, behavioural, f),
            Filter::HasDone(c) | Filter::HasNotDone(c) => c.visit(depth + 1, true, f),
        }
    }

    /// For a simple `event:goal` filter with `is` / `contains`: the goals it selects among
    /// `goals` (a goal is selected when any clause matches its display name; `is` = equality,
    /// `contains` = substring; both lowercased when `case_sensitive` is false). Empty for any
    /// other filter.
    pub fn matching_goals<'g>(&self, goals: &'g [Goal]) -> Vec<&'g Goal> {
        goals.iter().filter(|g| self.selects_goal(g)).collect()
    }

    /// Whether a simple `event:goal` filter selects `goal` (see [`Filter::matching_goals`]).
    pub fn selects_goal(&self, goal: &Goal) -> bool {
        match self {
            Filter::Simple { op, dim: Dimension::Goal, clauses, case_sensitive, .. } => {
                clauses.iter().any(|c| goal_clause_matches(*op, *case_sensitive, &c.as_text(), &goal.display_name))
            }
            _ => false,
        }
    }

    /// For a simple `event:goal` filter: the goals selected by one clause (Plausible builds the
    /// SQL condition per clause and ORs them).
    pub fn goals_for_clause<'g>(&self, clause: &Clause, goals: &'g [Goal]) -> Vec<&'g Goal> {
        match self {
            Filter::Simple { op, dim: Dimension::Goal, case_sensitive, .. } => goals
                .iter()
                .filter(|g| goal_clause_matches(*op, *case_sensitive, &clause.as_text(), &g.display_name))
                .collect(),
            _ => Vec::new(),
        }
    }
}

/// Goal display-name matching of one clause (Plausible's `Goals.matches?`).
pub fn goal_clause_matches(op: Op, case_sensitive: bool, clause: &str, display_name: &str) -> bool {
    let (name, clause) = if case_sensitive {
        (display_name.to_string(), clause.to_string())
    } else {
        (display_name.to_lowercase(), clause.to_lowercase())
    };
    match op {
        Op::Is => name == clause,
        Op::Contains => name.contains(&clause),
        _ => false,
    }
}

/// Converts a `matches_wildcard` pattern (also goal `page_path`s with `*`) into an anchored
/// regex: regex metacharacters escaped, `|` kept as alternation, `**` and `*` -> `.*`.
pub fn wildcard_to_regex(pattern: &str) -> String {
    let escaped = regex::escape(pattern);
    let restored = escaped.replace("\\|", "|").replace("\\*\\*", ".*").replace("\\*", ".*");
    format!("^{restored}$")
}

// ---------------------------------------------------------------------------------------------
// Date range
// ---------------------------------------------------------------------------------------------

/// The `date_range` as requested.
#[derive(Debug, Clone, PartialEq)]
pub enum DateRangeInput {
    /// `"day"`: today.
    Day,
    /// `"24h"`: now − 24 h .. now.
    Last24Hours,
    /// `"<N>d"`: today − N .. today − 1.
    LastNDays(u32),
    /// `"month"`: this calendar month.
    Month,
    /// `"<N>mo"`: the N calendar months before this one.
    LastNMonths(u32),
    /// `"year"`: this calendar year.
    Year,
    /// `"all"`: stats start date (or today) .. today.
    All,
    /// `["YYYY-MM-DD", "YYYY-MM-DD"]`.
    Dates(NaiveDate, NaiveDate),
    /// `[datetime, datetime]` with offsets, as given.
    DateTimes(DateTime<chrono::FixedOffset>, DateTime<chrono::FixedOffset>),
}

/// A resolved inclusive time range, in whole seconds.
#[derive(Debug, Clone, PartialEq)]
pub struct DateRange {
    /// First instant, in the query timezone.
    pub first: DateTime<Tz>,
    /// Last instant (inclusive), in the query timezone.
    pub last: DateTime<Tz>,
}

impl DateRange {
    /// First instant as a UTC naive datetime (what the store compares timestamps with).
    pub fn first_utc(&self) -> NaiveDateTime {
        self.first.naive_utc()
    }

    /// Last instant (inclusive) as a UTC naive datetime.
    pub fn last_utc(&self) -> NaiveDateTime {
        self.last.naive_utc()
    }

    /// The local date (query tz) of the first instant.
    pub fn first_date(&self) -> NaiveDate {
        self.first.date_naive()
    }

    /// The local date (query tz) of the last instant.
    pub fn last_date(&self) -> NaiveDate {
        self.last.date_naive()
    }
}

// ---------------------------------------------------------------------------------------------
// Order, pagination, include
// ---------------------------------------------------------------------------------------------

/// What an `order_by` entry sorts on: always a queried metric or dimension.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrderKey {
    Metric(Metric),
    Dimension(Dimension),
}

impl OrderKey {
    /// The API name.
    pub fn name(&self) -> String {
        match self {
            OrderKey::Metric(m) => m.name().to_string(),
            OrderKey::Dimension(d) => d.name(),
        }
    }
}

/// Sort direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Asc,
    Desc,
}

impl Direction {
    /// `"asc"` / `"desc"`.
    pub fn name(self) -> &'static str {
        match self {
            Direction::Asc => "asc",
            Direction::Desc => "desc",
        }
    }
}

/// Pagination (`limit` 1..=10000, default 10000; `offset` ≥ 0, default 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pagination {
    pub limit: u64,
    pub offset: u64,
}

impl Default for Pagination {
    fn default() -> Self {
        Pagination { limit: 10_000, offset: 0 }
    }
}

/// Comparison mode (`include.comparisons.mode`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ComparisonMode {
    PreviousPeriod,
    YearOverYear,
    /// `{"mode": "custom", "date_range": [d1, d2]}`.
    Custom(NaiveDate, NaiveDate),
}

/// A resolved comparison (internal feature served on the public route).
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    pub mode: ComparisonMode,
    /// `match_day_of_week` (default false; not applied to custom ranges).
    pub match_day_of_week: bool,
    /// The comparison range: same query, run again over this range (whole local days, or instants for a
    /// source range that is not whole days).
    pub date_range: DateRange,
    /// The original `include.comparisons` object, for the echo.
    pub raw: serde_json::Value,
}

/// `include` options.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Include {
    /// Merge imported data (see spec §1.10).
    pub imports: bool,
    /// Return `meta.time_labels` (a time dimension is guaranteed).
    pub time_labels: bool,
    /// Return `meta.total_rows`.
    pub total_rows: bool,
    /// Comparison query, if requested.
    pub comparisons: Option<Comparison>,
    /// Internal `include.legacy_time_on_page_cutoff`: when present, time on page combines the
    /// legacy method (data before this instant) with the new one (from it on); when absent, the
    /// public API uses only the new method.
    pub legacy_time_on_page_cutoff: Option<DateTime<Utc>>,
    /// The raw `legacy_time_on_page_cutoff` string, for the echo.
    pub legacy_time_on_page_cutoff_raw: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// Goals and revenue
// ---------------------------------------------------------------------------------------------

/// Goals preloaded for the query (Plausible's `preloaded_goals`). Both lists are empty unless
/// the query groups by `event:goal` or filters on it (anywhere in the tree).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PreloadedGoals {
    /// All goals of the site (what goal filters are evaluated against).
    pub all: Vec<Goal>,
    /// Goals matching every top-level goal filter (all goals if there is none). With an
    /// `event:goal` dimension, rows are produced for these goals only.
    pub matching_toplevel_filters: Vec<Goal>,
}

/// Which currency revenue metrics are reported in.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum RevenueCurrencies {
    /// Revenue values are null (see the warning).
    #[default]
    None,
    /// One currency for every row.
    Single(String),
    /// With an `event:goal` dimension: (goal display name, currency) of each revenue goal;
    /// rows of other goals get null.
    PerGoal(Vec<(String, String)>),
}

/// `meta.metric_warnings` code for revenue metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevenueWarning {
    RevenueGoalsUnavailable,
    NoSingleRevenueCurrency,
    NoRevenueGoalsMatching,
}

impl RevenueWarning {
    /// The warning code.
    pub fn code(self) -> &'static str {
        match self {
            RevenueWarning::RevenueGoalsUnavailable => "revenue_goals_unavailable",
            RevenueWarning::NoSingleRevenueCurrency => "no_single_revenue_currency",
            RevenueWarning::NoRevenueGoalsMatching => "no_revenue_goals_matching",
        }
    }

    /// The warning text.
    pub fn message(self) -> &'static str {
        match self {
            RevenueWarning::RevenueGoalsUnavailable => {
                "The owner of this site does not have access to the revenue metrics feature."
            }
            RevenueWarning::NoSingleRevenueCurrency => {
                "Revenue metrics are null as there are multiple currencies for the selected event:goals."
            }
            RevenueWarning::NoRevenueGoalsMatching => {
                "Revenue metrics are null as there are no matching revenue goals."
            }
        }
    }
}

/// Revenue currency resolution (only meaningful when a revenue metric is requested).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RevenueInfo {
    pub currencies: RevenueCurrencies,
    /// Warning for every requested revenue metric, if any.
    pub warning: Option<RevenueWarning>,
}

// ---------------------------------------------------------------------------------------------
// The query
// ---------------------------------------------------------------------------------------------

/// A validated, fully resolved v2 query.
#[derive(Debug, Clone)]
pub struct Query {
    /// The site's current domain (echoed as `site_id`).
    pub site_domain: String,
    /// Metrics in request order (unique, non-empty).
    pub metrics: Vec<Metric>,
    /// Dimensions in request order, `time` resolved.
    pub dimensions: Vec<Dimension>,
    /// Top-level filters (implicit AND): segments resolved (top-level `and`s flattened when a
    /// segment was used), hostname-derived visit filters appended.
    pub filters: Vec<Filter>,
    /// The filters as echoed in `query.filters` (segments resolved but not flattened, plus the
    /// appended hostname filters). Not for planning.
    pub echo_filters: Vec<Filter>,
    /// Explicit or default order (never empty); `time` resolved.
    pub order_by: Vec<(OrderKey, Direction)>,
    pub pagination: Pagination,
    pub include: Include,
    /// The query timezone: the site's, or the Tally `timezone` request extension.
    pub timezone: Tz,
    /// How the range was requested.
    pub date_range_input: DateRangeInput,
    /// The resolved range.
    pub date_range: DateRange,
    /// The request time.
    pub now: DateTime<Utc>,
    /// Goals needed by goal filters / the goal dimension.
    pub goals: PreloadedGoals,
    /// Revenue currency resolution.
    pub revenue: RevenueInfo,
    /// Native rows before this UTC instant are ignored.
    pub native_stats_start_at: NaiveDateTime,
    /// The site's legacy time-on-page cutoff date (site tz), if any.
    pub site_legacy_time_on_page_cutoff: Option<NaiveDate>,
    /// The site's completed imports.
    pub imports: Vec<ImportInfo>,
}

impl Query {
    /// The (first) time dimension, if any.
    pub fn time_dimension(&self) -> Option<&Dimension> {
        self.dimensions.iter().find(|d| d.is_time())
    }

    /// Top-level simple filters on `dim`.
    pub fn toplevel_filters_on(&self, dim: &Dimension) -> Vec<&Filter> {
        self.filters.iter().filter(|f| f.dimension() == Some(dim)).collect()
    }

    /// True if any filter (at any depth; behavioural subtrees excluded when
    /// `include_behavioural` is false) uses `dim`.
    pub fn filters_on(&self, dim: &Dimension, include_behavioural: bool) -> bool {
        let mut found = false;
        for f in &self.filters {
            f.visit(0, false, &mut |leaf, _, behavioural| {
                if (include_behavioural || !behavioural) && leaf.dimension() == Some(dim) {
                    found = true;
                }
            });
        }
        found
    }

    /// `meta.time_labels` for this query (see [`time_labels`]).
    pub fn time_labels(&self) -> Vec<String> {
        time_labels(self)
    }
}

/// All time bucket labels of the query's range for its time dimension (spec §1.8); empty
/// without a time dimension.
///
/// * month: first day of each month from the month of the first date to that of the last;
/// * week: from the first date in 7-day steps, each labelled with the Monday of its week if that
///   Monday is inside the range, else with the date itself;
/// * day: every date;
/// * hour: from the first instant truncated to the hour, every hour (wall clock) up to the last.
pub fn time_labels(query: &Query) -> Vec<String> {
    match query.time_dimension() {
        Some(dim) => time_labels_for(dim, &query.date_range),
        None => Vec::new(),
    }
}

/// Time labels for a given time dimension and range (see [`time_labels`]).
pub fn time_labels_for(dim: &Dimension, range: &DateRange) -> Vec<String> {
    let first = range.first_date();
    let last = range.last_date();
    let fmt = |d: NaiveDate| d.format("%Y-%m-%d").to_string();
    match dim {
        Dimension::TimeMonth => {
            let start = first.with_day(1).unwrap_or(first);
            let end = last.with_day(1).unwrap_or(last);
            let mut out = Vec::new();
            let mut d = start;
            while d <= end {
                out.push(fmt(d));
                d = match d.checked_add_months(chrono::Months::new(1)) {
                    Some(n) => n,
                    None => break,
                };
            }
            out
        }
        Dimension::TimeWeek => {
            let week_start = first - Duration::days(first.weekday().num_days_from_monday() as i64);
            let days = (last - week_start).num_days();
            if days < 0 {
                return Vec::new();
            }
            let n = days / 7;
            (0..=n)
                .map(|i| {
                    let d = first + Duration::days(7 * i);
                    let monday = d - Duration::days(d.weekday().num_days_from_monday() as i64);
                    if monday >= first && monday <= last {
                        fmt(monday)
                    } else {
                        fmt(d)
                    }
                })
                .collect()
        }
        Dimension::TimeDay => {
            let mut out = Vec::new();
            let mut d = first;
            while d <= last {
                out.push(fmt(d));
                d += Duration::days(1);
            }
            out
        }
        Dimension::TimeHour => {
            // Step through real hours from the first instant truncated to its (local) hour and
            // label each with its local wall-clock hour, as the SQL buckets do. On DST days this
            // yields 23 / 24 distinct labels (Plausible steps the naive wall clock instead,
            // which labels a non-existent hour on spring-forward days).
            let tz = range.first.timezone();
            let first_local = range.first.naive_local();
            let truncated_by = Duration::minutes(chrono::Timelike::minute(&first_local) as i64)
                + Duration::seconds(chrono::Timelike::second(&first_local) as i64);
            let last = range.last.naive_utc();
            let mut instant = range.first.naive_utc() - truncated_by;
            let mut out: Vec<String> = Vec::new();
            while instant <= last {
                let local = tz.from_utc_datetime(&instant).naive_local();
                let label = local.format("%Y-%m-%d %H:00:00").to_string();
                if out.last() != Some(&label) {
                    out.push(label);
                }
                instant += Duration::hours(1);
            }
            out
        }
        _ => Vec::new(),
    }
}
