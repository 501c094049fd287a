//! SQL fragments for dimensions, filters and goals. Values are always bound parameters; column names come
//! only from the fixed mapping in this file.

use super::dialect::Dialect;
use crate::ast::{wildcard_to_regex, Clause, Dimension, Filter, Op, Query};
use crate::context::{Goal, GoalKind};
use chrono::{NaiveDate, NaiveDateTime};

/// A bound parameter.
#[derive(Clone, Debug, PartialEq)]
pub enum Param {
    Text(String),
    Int(i64),
    Float(f64),
    Timestamp(NaiveDateTime),
    Date(NaiveDate),
}

/// A piece of SQL with the parameters of its `?` placeholders, in textual order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Frag {
    pub sql: String,
    pub params: Vec<Param>,
}

impl Frag {
    pub fn raw(sql: impl Into<String>) -> Frag {
        Frag { sql: sql.into(), params: vec![] }
    }
    pub fn with(sql: impl Into<String>, params: Vec<Param>) -> Frag {
        Frag { sql: sql.into(), params }
    }
    pub fn push(&mut self, other: Frag) {
        self.sql.push_str(&other.sql);
        self.params.extend(other.params);
    }
    pub fn push_str(&mut self, s: &str) {
        self.sql.push_str(s);
    }
    /// Joins fragments with a separator.
    pub fn join(frags: Vec<Frag>, sep: &str) -> Frag {
        let mut out = Frag::default();
        for (i, f) in frags.into_iter().enumerate() {
            if i > 0 {
                out.push_str(sep);
            }
            out.push(f);
        }
        out
    }
    pub fn wrap(self, before: &str, after: &str) -> Frag {
        Frag { sql: format!("{before}{}{after}", self.sql), params: self.params }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Table {
    Events,
    Sessions,
}

/// Everything SQL generation needs besides the query.
pub struct Ctx<'a> {
    pub d: &'a dyn Dialect,
    pub q: &'a Query,
    pub site_id: i64,
    /// UTC range actually read (native start applied).
    pub first: NaiveDateTime,
    pub last: NaiveDateTime,
    /// Timezone offset changes in the range: (utc instant from which, offset seconds), sorted; the first
    /// entry applies before the second.
    pub offsets: Vec<(NaiveDateTime, i64)>,
    /// When time on page combines both methods: imported engagement-based time counts from this date on.
    pub new_time_on_page_from: Option<NaiveDate>,
    /// `visit:city_name` groups by name: (city id, the smallest id of the same name) for the ids present
    /// whose name another present id shares.
    pub city_aliases: Vec<(i64, i64)>,
    /// Read only the sessions whose last event is in the range, not every session overlapping it (the kept
    /// part of a range, whose sessions then belong to no other part: see the engine's `sets`).
    pub sessions_ending_in_range: bool,
}

/// The string column behind a visit dimension (same name on both tables).
fn visit_column(dim: &Dimension) -> Option<&'static str> {
    Some(match dim {
        Dimension::Source => "referrer_source",
        Dimension::Channel => "channel",
        Dimension::Referrer => "referrer",
        Dimension::UtmMedium => "utm_medium",
        Dimension::UtmSource => "utm_source",
        Dimension::UtmCampaign => "utm_campaign",
        Dimension::UtmContent => "utm_content",
        Dimension::UtmTerm => "utm_term",
        Dimension::Screen | Dimension::Device => "screen_size",
        Dimension::Browser => "browser",
        Dimension::BrowserVersion => "browser_version",
        Dimension::Os => "operating_system",
        Dimension::OsVersion => "operating_system_version",
        Dimension::Country | Dimension::CountryName => "country_code",
        Dimension::Region | Dimension::RegionName => "subdivision1_code",
        Dimension::EntryPage => "entry_page",
        Dimension::ExitPage => "exit_page",
        Dimension::EntryPageHostname => "hostname",
        Dimension::ExitPageHostname => "exit_page_hostname",
        _ => return None,
    })
}

/// What an empty value of a visit dimension is shown as.
pub(super) fn empty_label(dim: &Dimension) -> Option<&'static str> {
    match dim {
        Dimension::Source | Dimension::Referrer => Some("Direct / None"),
        Dimension::Channel => Some("Direct"),
        Dimension::UtmMedium
        | Dimension::UtmSource
        | Dimension::UtmCampaign
        | Dimension::UtmContent
        | Dimension::UtmTerm
        | Dimension::Screen
        | Dimension::Device
        | Dimension::Browser
        | Dimension::BrowserVersion
        | Dimension::Os
        | Dimension::OsVersion => Some("(not set)"),
        _ => None,
    }
}

impl Ctx<'_> {
    /// The grouping key of `visit:city_name` on a city-id column: the id, with ids that share a name
    /// mapped to one of them, so that a name is one group (as Plausible groups by the name).
    pub fn city_name_key(&self, col: &str) -> Frag {
        if self.city_aliases.is_empty() {
            return Frag::raw(col);
        }
        let mut sql = format!("CASE {col}");
        let mut params = Vec::new();
        for (id, to) in &self.city_aliases {
            sql.push_str(" WHEN ? THEN ?");
            params.push(Param::Int(*id));
            params.push(Param::Int(*to));
        }
        sql.push_str(&format!(" ELSE {col} END"));
        Frag::with(sql, params)
    }

    /// Local time of a UTC timestamp column, using the offsets of the query timezone.
    pub fn local_ts(&self, col: &str) -> Frag {
        if self.offsets.len() <= 1 {
            let off = self.offsets.first().map(|o| o.1).unwrap_or(0);
            return Frag::with(self.d.add_seconds(col, "?"), vec![Param::Int(off)]);
        }
        let mut case = Frag::raw("CASE");
        for w in self.offsets.windows(2) {
            case.push(Frag::with(
                format!(" WHEN {col} < ? THEN ?"),
                vec![Param::Timestamp(w[1].0), Param::Int(w[0].1)],
            ));
        }
        case.push(Frag::with(" ELSE ? END", vec![Param::Int(self.offsets.last().unwrap().1)]));
        let mut f = Frag::raw("");
        let inner = self.d.add_seconds(col, "__X__");
        let (a, b) = inner.split_once("__X__").unwrap();
        f.push_str(a);
        f.push(case);
        f.push_str(b);
        f
    }

    /// The SELECT expression of a (non-goal) dimension on a table.
    pub fn dimension(&self, dim: &Dimension, table: Table) -> Frag {
        self.dimension_at(dim, table, "timestamp")
    }

    /// [`dimension`](Self::dimension), with time buckets taken from the timestamp column `ts`.
    pub fn dimension_at(&self, dim: &Dimension, table: Table, ts: &str) -> Frag {
        match dim {
            Dimension::Name => Frag::raw("name"),
            Dimension::Page => Frag::raw(if table == Table::Events { "pathname" } else { "entry_page" }),
            // The sessions table's `hostname` is the entry page hostname.
            Dimension::Hostname => Frag::raw("hostname"),
            Dimension::Prop(p) => {
                let (k, v) = if table == Table::Events {
                    ("meta_key", "meta_value")
                } else {
                    ("entry_meta_key", "entry_meta_value")
                };
                Frag::with(format!("coalesce({}, '(none)')", self.d.prop_value(k, v)), vec![Param::Text(p.clone())])
            }
            Dimension::City => Frag::raw("city_geoname_id"),
            Dimension::CityName => self.city_name_key("city_geoname_id"),
            Dimension::TimeHour => {
                let l = self.local_ts(ts);
                Frag { sql: self.d.format_hour(&l.sql), params: l.params }
            }
            Dimension::TimeDay => {
                let l = self.local_ts(ts);
                Frag { sql: self.d.format_day(&l.sql), params: l.params }
            }
            Dimension::TimeMonth => {
                let l = self.local_ts(ts);
                Frag { sql: self.d.format_month(&l.sql), params: l.params }
            }
            Dimension::TimeWeek => {
                let l = self.local_ts(ts);
                let mut f = Frag::raw("");
                let inner =
                    self.d.format_date(&format!("greatest({}, {})", self.d.week_start("__X__"), self.d.date_param()));
                let (a, b) = inner.split_once("__X__").unwrap();
                f.push_str(a);
                f.push(l);
                f.push(Frag::with(b, vec![Param::Date(self.q.date_range.first_date())]));
                f
            }
            Dimension::Goal => Frag::raw("goal_idx"),
            other => {
                let col = visit_column(other).unwrap_or("''");
                // The empty value is shown as the label, and a stored value equal to the label is the same
                // group. The SQL folds the label onto '' and `Planner::key` shows '' as the label: grouping on
                // the label itself costs DuckDB a copy of a long string per row ("Direct / None" is past its
                // 12-byte inline limit; visitors by source took 74 ms instead of 46 at 10M events).
                match empty_label(other) {
                    Some(label) => Frag::raw(format!("CASE WHEN {col} = '{label}' THEN '' ELSE {col} END")),
                    None => Frag::raw(col),
                }
            }
        }
    }

    pub fn events_range(&self) -> Frag {
        Frag::with(
            "site_id = ? AND timestamp >= ? AND timestamp <= ?",
            vec![Param::Int(self.site_id), Param::Timestamp(self.first), Param::Timestamp(self.last)],
        )
    }

    pub fn sessions_range(&self) -> Frag {
        let sql = if self.sessions_ending_in_range {
            "site_id = ? AND timestamp >= ? AND timestamp <= ?"
        } else {
            "site_id = ? AND timestamp >= ? AND start <= ?"
        };
        Frag::with(sql, vec![Param::Int(self.site_id), Param::Timestamp(self.first), Param::Timestamp(self.last)])
    }

    /// A filter tree compiled for a table.
    pub fn filter(&self, f: &Filter, table: Table) -> Frag {
        match f {
            Filter::And(c) if c.is_empty() => Frag::raw("TRUE"),
            Filter::Or(c) if c.is_empty() => Frag::raw("FALSE"),
            Filter::And(c) => Frag::join(c.iter().map(|x| self.filter(x, table)).collect(), " AND ").wrap("(", ")"),
            Filter::Or(c) => Frag::join(c.iter().map(|x| self.filter(x, table)).collect(), " OR ").wrap("(", ")"),
            Filter::Not(c) => self.filter(c, table).wrap("(NOT ", ")"),
            Filter::HasDone(c) => self.events_membership(c).wrap("(session_id IN (", "))"),
            Filter::HasNotDone(c) => self.events_membership(c).wrap("(session_id NOT IN (", "))"),
            Filter::Simple { dim, .. } => {
                let event_dim = dim.is_event();
                let session_only = matches!(
                    dim,
                    Dimension::EntryPage
                        | Dimension::ExitPage
                        | Dimension::EntryPageHostname
                        | Dimension::ExitPageHostname
                );
                match (table, event_dim, session_only) {
                    (Table::Sessions, true, _) => self.events_membership(f).wrap("(session_id IN (", "))"),
                    (Table::Events, _, true) => {
                        let mut s = Frag::raw("(session_id IN (SELECT session_id FROM sessions_all WHERE ");
                        s.push(self.sessions_range());
                        s.push_str(" AND ");
                        s.push(self.leaf(f, Table::Sessions));
                        s.push_str("))");
                        s
                    }
                    _ => self.leaf(f, table),
                }
            }
        }
    }

    /// `SELECT session_id FROM events WHERE <range> AND <filter>`.
    pub fn events_membership(&self, f: &Filter) -> Frag {
        let mut s = Frag::raw("SELECT session_id FROM events WHERE ");
        s.push(self.events_range());
        s.push_str(" AND ");
        s.push(self.filter(f, Table::Events));
        s
    }

    /// Several top-level event filters on a sessions query: satisfied by one and the same event.
    pub fn events_membership_all(&self, fs: &[&Filter]) -> Frag {
        let mut s = Frag::raw("session_id IN (SELECT session_id FROM events WHERE ");
        s.push(self.events_range());
        for f in fs {
            s.push_str(" AND ");
            s.push(self.filter(f, Table::Events));
        }
        s.push_str(")");
        s
    }

    fn leaf(&self, f: &Filter, table: Table) -> Frag {
        let Filter::Simple { op, dim, clauses, case_sensitive, .. } = f else {
            return Frag::raw("TRUE");
        };
        let negated = op.is_negated();
        let positive = match dim {
            Dimension::Goal => {
                let goals = &self.q.goals.all;
                let conds: Vec<Frag> =
                    clauses.iter().flat_map(|c| f.goals_for_clause(c, goals)).map(|g| self.goal_condition(g)).collect();
                if conds.is_empty() {
                    Frag::raw("FALSE")
                } else {
                    Frag::join(conds, " OR ").wrap("(", ")")
                }
            }
            Dimension::Prop(name) => {
                // `is` also matches events without the property when "(none)" is a clause; `is_not` is its
                // complement; the other operators need the property to be present.
                let (k, v) = if table == Table::Events {
                    ("meta_key", "meta_value")
                } else {
                    ("entry_meta_key", "entry_meta_value")
                };
                let value = Frag::with(self.d.prop_value(k, v), vec![Param::Text(name.clone())]);
                let has = Frag::with(self.d.has_prop(k), vec![Param::Text(name.clone())]);
                let strs: Vec<String> = clauses.iter().map(Clause::as_text).collect();
                let none = strs.iter().any(|s| s == "(none)");
                let real: Vec<String> = strs.into_iter().filter(|s| s != "(none)").collect();
                let mut m = has.clone();
                m.push_str(" AND ");
                let cmp = self.compare_values(value, *op, &real, *case_sensitive);
                if matches!(op, Op::Is | Op::IsNot) {
                    m.push(cmp);
                    let mut p = m.wrap("(", ")");
                    if none {
                        let mut o = p.wrap("(", " OR NOT ");
                        o.push(has);
                        o.push_str(")");
                        p = o;
                    }
                    p
                } else {
                    m.push(if negated { cmp.wrap("(NOT ", ")") } else { cmp });
                    return m.wrap("(", ")");
                }
            }
            Dimension::City => {
                let ints: Vec<i64> = clauses.iter().filter_map(|c| c.as_text().parse().ok()).collect();
                if ints.is_empty() {
                    Frag::raw("FALSE")
                } else {
                    let ph = vec!["?"; ints.len()].join(", ");
                    Frag::with(format!("city_geoname_id IN ({ph})"), ints.into_iter().map(Param::Int).collect())
                }
            }
            other => {
                let expr = Frag::raw(match other {
                    Dimension::Name => "name",
                    Dimension::Page => "pathname",
                    Dimension::Hostname => "hostname",
                    d => visit_column(d).unwrap_or("''"),
                });
                let is_visit = !other.is_event();
                let utm_like = matches!(
                    other,
                    Dimension::Source
                        | Dimension::Referrer
                        | Dimension::UtmMedium
                        | Dimension::UtmSource
                        | Dimension::UtmCampaign
                        | Dimension::UtmContent
                        | Dimension::UtmTerm
                );
                let vals: Vec<String> = clauses
                    .iter()
                    .map(|c| {
                        let s = c.as_text();
                        if matches!(op, Op::Is | Op::IsNot)
                            && ((is_visit && s == "(not set)") || (utm_like && s == "Direct / None"))
                        {
                            String::new()
                        } else {
                            s
                        }
                    })
                    .collect();
                self.compare_values(expr, *op, &vals, *case_sensitive)
            }
        };
        if negated && !matches!(dim, Dimension::Goal) {
            positive.wrap("(NOT ", ")")
        } else {
            positive
        }
    }

    /// `expr` compared with any of `vals` under the positive form of `op`.
    pub(super) fn compare_values(&self, expr: Frag, op: Op, vals: &[String], case_sensitive: bool) -> Frag {
        if vals.is_empty() {
            return Frag::raw("FALSE");
        }
        let (e, vals): (Frag, Vec<String>) = if case_sensitive || op.is_pattern() {
            (expr, vals.to_vec())
        } else {
            (
                Frag { sql: self.d.lower(&expr.sql), params: expr.params },
                vals.iter().map(|v| v.to_lowercase()).collect(),
            )
        };
        match op {
            Op::Is | Op::IsNot => {
                let mut f = e;
                f.push_str(&format!(" IN ({})", vec!["?"; vals.len()].join(", ")));
                f.params.extend(vals.into_iter().map(Param::Text));
                f.wrap("(", ")")
            }
            Op::Contains | Op::ContainsNot => self.any_of(&e, &vals, |d, x| d.contains(x)),
            Op::Matches | Op::MatchesNot => self.any_of(&e, &vals, |d, x| d.regex_match(x)),
            Op::MatchesWildcard | Op::MatchesWildcardNot => {
                let patterns: Vec<String> = vals.iter().map(|v| wildcard_to_regex(v)).collect();
                self.any_of(&e, &patterns, |d, x| d.regex_match(x))
            }
        }
    }

    fn any_of(&self, e: &Frag, vals: &[String], f: impl Fn(&dyn Dialect, &str) -> String) -> Frag {
        let parts: Vec<Frag> = vals
            .iter()
            .map(|v| {
                let mut p = Frag { sql: f(self.d, &e.sql), params: e.params.clone() };
                p.params.push(Param::Text(v.clone()));
                p
            })
            .collect();
        Frag::join(parts, " OR ").wrap("(", ")")
    }

    /// Events that complete a goal.
    pub fn goal_condition(&self, g: &Goal) -> Frag {
        goal_condition(self.d, g)
    }
}

/// Events that complete a goal (the query engine's and the funnels' one definition).
pub fn goal_condition(d: &dyn Dialect, g: &Goal) -> Frag {
    let path_match = |p: &str| -> Frag {
        if p.contains('*') {
            Frag::with(d.regex_match("pathname"), vec![Param::Text(wildcard_to_regex(p))])
        } else {
            Frag::with("pathname = ?", vec![Param::Text(p.to_string())])
        }
    };
    let mut f = match g.kind() {
        GoalKind::Event => Frag::with("name = ?", vec![Param::Text(g.event_name.clone().unwrap_or_default())]),
        GoalKind::Page => {
            let mut f = Frag::raw("name = 'pageview' AND ");
            f.push(path_match(g.page_path.as_deref().unwrap_or_default()));
            f
        }
        GoalKind::Scroll => {
            let mut f = Frag::raw("name = 'engagement' AND ");
            f.push(path_match(g.page_path.as_deref().unwrap_or_default()));
            f.push(Frag::with(
                " AND scroll_depth >= ? AND scroll_depth <= 100",
                vec![Param::Int(g.scroll_threshold as i64)],
            ));
            f
        }
    };
    for (k, v) in &g.custom_props {
        f.push_str(" AND ");
        f.push(Frag::with(
            format!("{} = ?", d.prop_value("meta_key", "meta_value")),
            vec![Param::Text(k.clone()), Param::Text(v.clone())],
        ));
    }
    f.wrap("(", ")")
}
