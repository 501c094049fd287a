//! Goals: Plausible's goal changeset rules (`Plausible.Goal.changeset`) and find-or-create semantics
//! (`Plausible.Goals`), shared by the operator API and the Sites API.
//!
//! Validation follows Ecto's order: errors are collected as the changeset would collect them (each new
//! error goes first), so [`GoalError::first`] is the error Plausible would report first.

use crate::state::SharedState;
use serde_json::{json, Map, Value};
use tally_store::{Goal, NewGoal, Site};

pub const MAX_GOALS_PER_SITE: usize = 1000;
pub const MAX_EVENT_NAME_LENGTH: usize = 120;
pub const MAX_CUSTOM_PROPS_PER_GOAL: usize = 3;
pub const MAX_PROP_KEY_LENGTH: usize = 300;
pub const MAX_PROP_VALUE_LENGTH: usize = 2000;

/// One changeset error as Ecto's `inspect` prints it: `{message, options}`, where a length error keeps its
/// message template and the validation's options.
fn inspect_error(message: &str) -> String {
    let count = message
        .strip_prefix("should be at most ")
        .and_then(|rest| rest.strip_suffix(" character(s)"))
        .and_then(|n| n.parse::<u64>().ok());
    match count {
        Some(n) => format!(
            "{{{}, [count: {n}, validation: :length, kind: :max, type: :string]}}",
            Value::String("should be at most %{count} character(s)".into())
        ),
        None => format!("{{{}, []}}", Value::String(message.into())),
    }
}

/// Why a goal was not created.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GoalError {
    /// Changeset errors `(field, message)`, most recent first (Ecto's order).
    Changeset(Vec<(String, String)>),
    /// The plan lacks the feature named (its display name: "Revenue Goals", "Custom Properties").
    UpgradeRequired(&'static str),
    /// Revenue goals on a consolidated view.
    RevenueGoalsUnavailable,
}

impl GoalError {
    fn one(field: &str, message: impl Into<String>) -> Self {
        GoalError::Changeset(vec![(field.to_string(), message.into())])
    }

    /// `field: message` of the error Plausible reports first (the newest one, Ecto's order).
    pub fn first(&self) -> String {
        match self {
            GoalError::Changeset(errors) => {
                errors.first().map(|(f, m)| format!("{f}: {m}")).unwrap_or_else(|| "is invalid".into())
            }
            other => other.root(),
        }
    }

    /// `field: message` of the oldest error: the root cause (the operator API's message).
    pub fn root(&self) -> String {
        match self {
            GoalError::Changeset(errors) => {
                errors.last().map(|(f, m)| format!("{f}: {m}")).unwrap_or_else(|| "is invalid".into())
            }
            GoalError::UpgradeRequired(_) => "upgrade_required".into(),
            GoalError::RevenueGoalsUnavailable => "revenue_goals_unavailable".into(),
        }
    }

    /// The text after `Something went wrong: ` in the Sites API's 400 (an approximation of Elixir's
    /// `inspect` of the error tuple).
    pub fn inspect(&self) -> String {
        match self {
            GoalError::Changeset(errors) => {
                let errs: Vec<String> = errors.iter().map(|(f, m)| format!("{f}: {}", inspect_error(m))).collect();
                format!(
                    "{{:error, #Ecto.Changeset<action: :insert, changes: %{{}}, errors: [{}], data: #Plausible.Goal<>, valid?: false, ...>}}",
                    errs.join(", ")
                )
            }
            GoalError::UpgradeRequired(_) => "{:error, :upgrade_required}".into(),
            GoalError::RevenueGoalsUnavailable => "{:error, :revenue_goals_unavailable}".into(),
        }
    }
}

impl std::fmt::Display for GoalError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.root())
    }
}

/// A goal after casting, before validation.
#[derive(Clone, Debug, Default)]
struct Cast {
    event_name: Option<String>,
    page_path: Option<String>,
    scroll_threshold: i64,
    display_name: Option<String>,
    currency: Option<String>,
    /// `None`: not given (the default `{}`).
    custom_props: Option<Map<String, Value>>,
}

/// Ecto's `empty_trimmed_string?`: blank strings cast to nil.
fn cast_string(v: Option<&Value>) -> Result<Option<String>, ()> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(()),
    }
}

/// Casts the goal fields of a JSON object; cast errors in field order.
fn cast(v: &Value) -> Result<Cast, GoalError> {
    let mut errors = Vec::new();
    let mut c = Cast { scroll_threshold: -1, ..Default::default() };
    let get = |k: &str| v.get(k);
    match cast_string(get("event_name")) {
        Ok(s) => c.event_name = s,
        Err(()) => errors.push(("event_name".to_string(), "is invalid".to_string())),
    }
    match cast_string(get("page_path")) {
        Ok(s) => c.page_path = s,
        Err(()) => errors.push(("page_path".into(), "is invalid".into())),
    }
    match get("scroll_threshold") {
        None | Some(Value::Null) => {}
        Some(x) => match x.as_i64().or_else(|| x.as_str().and_then(|s| s.trim().parse().ok())) {
            Some(n) => c.scroll_threshold = n,
            None => errors.push(("scroll_threshold".into(), "is invalid".into())),
        },
    }
    match cast_string(get("display_name")) {
        Ok(s) => c.display_name = s,
        Err(()) => errors.push(("display_name".into(), "is invalid".into())),
    }
    match get("custom_props") {
        None | Some(Value::Null) => {}
        Some(Value::Object(m)) => c.custom_props = Some(m.clone()),
        Some(_) => errors.push(("custom_props".into(), "is invalid".into())),
    }
    match cast_string(get("currency")) {
        Ok(None) => {}
        Ok(Some(cur)) if cur.len() == 3 && cur.chars().all(|ch| ch.is_ascii_uppercase()) => c.currency = Some(cur),
        _ => errors.push(("currency".into(), "is invalid".into())),
    }
    if errors.is_empty() {
        Ok(c)
    } else {
        Err(GoalError::Changeset(errors))
    }
}

fn validate_custom_props(m: &Map<String, Value>) -> Option<String> {
    if m.len() > MAX_CUSTOM_PROPS_PER_GOAL {
        return Some(format!("use at most {MAX_CUSTOM_PROPS_PER_GOAL} properties per goal"));
    }
    if !m.values().all(Value::is_string) {
        return Some("must be a map with string keys and string values".into());
    }
    if m.keys().any(|k| !(1..=MAX_PROP_KEY_LENGTH).contains(&k.chars().count())) {
        return Some(format!("key length is 1..{MAX_PROP_KEY_LENGTH} characters"));
    }
    if m.values().filter_map(Value::as_str).any(|v| !(1..=MAX_PROP_VALUE_LENGTH).contains(&v.chars().count())) {
        return Some(format!("value length is 1..{MAX_PROP_VALUE_LENGTH} characters"));
    }
    None
}

/// The changeset validations (without database constraints). Returns the goal to insert.
fn changeset(c: Cast) -> Result<NewGoal, GoalError> {
    // Ecto prepends each error; we push and reverse at the end.
    let mut errors: Vec<(String, String)> = Vec::new();
    let mut c = c;
    // update_leading_slash
    if let Some(p) = &c.page_path {
        if !p.starts_with('/') {
            c.page_path = Some(format!("/{p}"));
        }
    }
    // validate_event_name_and_page_path
    let page_ok = c.page_path.as_deref().is_some_and(|p| p.starts_with('/'));
    let event_check: Result<(), &str> = match c.event_name.as_deref() {
        Some("engagement") => Err("The event name 'engagement' is reserved and cannot be used as a goal"),
        Some(e) if !e.is_empty() => Ok(()),
        _ => Err("this field is required and cannot be blank"),
    };
    if page_ok {
        c.page_path = c.page_path.map(|p| p.trim().to_string());
    } else if event_check.is_ok() {
        c.event_name = c.event_name.map(|e| e.trim().to_string());
    } else {
        errors.push(("event_name".into(), event_check.unwrap_err().into()));
        errors.push(("page_path".into(), "this field is required and must start with a /".into()));
    }
    // validate_page_path_for_scroll_goal
    if c.scroll_threshold > -1 && c.page_path.is_none() {
        errors.push(("scroll_threshold".into(), "page_path field missing for page scroll goal".into()));
    }
    // maybe_put_display_name
    let display = match (&c.display_name, &c.page_path, &c.event_name) {
        (Some(d), _, _) => Some(d.trim().to_string()),
        (None, Some(p), _) => Some(format!("Visit {p}")),
        (None, None, Some(e)) => Some(e.clone()),
        _ => None,
    };
    if display.as_deref().is_none_or(str::is_empty) {
        errors.push(("display_name".into(), "can't be blank".into()));
    }
    // custom_props
    if let Some(m) = &c.custom_props {
        if let Some(msg) = validate_custom_props(m) {
            errors.push(("custom_props".into(), msg));
        }
    }
    if c.event_name.as_ref().is_some_and(|e| e.chars().count() > MAX_EVENT_NAME_LENGTH) {
        errors.push(("event_name".into(), format!("should be at most {MAX_EVENT_NAME_LENGTH} character(s)")));
    }
    if !(-1..=100).contains(&c.scroll_threshold) {
        errors.push(("scroll_threshold".into(), "Should be -1 (missing) or in range [0, 100]".into()));
    }
    // maybe_drop_currency
    if c.page_path.is_some() {
        c.currency = None;
    }
    if !errors.is_empty() {
        errors.reverse();
        return Err(GoalError::Changeset(errors));
    }
    // check_event_name_or_page_path (a database check constraint)
    if c.event_name.is_some() && c.page_path.is_some() {
        return Err(GoalError::one("event_name", "cannot co-exist with page_path"));
    }
    let custom_props = c
        .custom_props
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, v.as_str().unwrap_or_default().to_string()))
        .collect();
    Ok(NewGoal {
        event_name: c.event_name,
        page_path: c.page_path,
        scroll_threshold: c.scroll_threshold as i16,
        display_name: display,
        currency: c.currency,
        custom_props,
    })
}

/// Validates a goal and returns it normalised; errors are Plausible's messages (`field: message`).
pub fn validate(g: NewGoal) -> Result<NewGoal, String> {
    changeset(Cast {
        event_name: g.event_name.filter(|e| !e.trim().is_empty()),
        page_path: g.page_path.filter(|p| !p.trim().is_empty()),
        scroll_threshold: g.scroll_threshold as i64,
        display_name: g.display_name.filter(|d| !d.trim().is_empty()),
        currency: g.currency,
        custom_props: (!g.custom_props.is_empty())
            .then(|| g.custom_props.into_iter().map(|(k, v)| (k, Value::String(v))).collect()),
    })
    .map_err(|e| e.root())
}

fn same_props(a: &[(String, String)], b: &[(String, String)]) -> bool {
    let mut a: Vec<_> = a.iter().collect();
    let mut b: Vec<_> = b.iter().collect();
    a.sort();
    b.sort();
    a == b
}

/// The existing goal with the same configuration (Plausible's unique indexes: event name + custom props,
/// or page path + scroll threshold + custom props).
fn same_config<'a>(existing: &'a [Goal], g: &NewGoal) -> Option<&'a Goal> {
    existing.iter().find(|x| {
        let config = match (&g.event_name, &g.page_path) {
            (Some(e), None) => x.event_name.as_ref() == Some(e),
            (None, Some(p)) => x.page_path.as_ref() == Some(p) && x.scroll_threshold == g.scroll_threshold,
            _ => false,
        };
        config && same_props(&x.custom_props, &g.custom_props)
    })
}

/// Options of [`create_goal`].
#[derive(Clone, Copy, Debug)]
pub struct CreateOpts {
    /// Return the existing goal of the same configuration instead of failing (`ON CONFLICT DO NOTHING`).
    pub upsert: bool,
    /// Apply plan gates (revenue goals, custom properties) of the site's team.
    pub check_features: bool,
}

/// Creates a goal from a JSON object (`event_name`, `page_path`, `scroll_threshold`, `currency`,
/// `display_name`, `custom_props`) with Plausible's `Goals.create` semantics.
pub fn create_goal(state: &SharedState, site: &Site, v: &Value, opts: CreateOpts) -> Result<Goal, GoalError> {
    let cast_result = cast(v);
    // The feature checks run on the changeset before its validity is looked at.
    if opts.check_features {
        let wants_revenue = cast_result.as_ref().is_ok_and(|c| c.currency.is_some() && c.page_path.is_none());
        let wants_props = cast_result.as_ref().is_ok_and(|c| c.custom_props.as_ref().is_some_and(|m| !m.is_empty()));
        if wants_revenue || wants_props {
            let team = state.config.team(site.team_id).ok().flatten();
            let plan_has = |f: &str| team.as_ref().is_some_and(|t| t.plan.has(f));
            if wants_revenue && !plan_has("revenue_goals") {
                return Err(GoalError::UpgradeRequired("Revenue Goals"));
            }
            if wants_props && !plan_has("props") {
                return Err(GoalError::UpgradeRequired("Custom Properties"));
            }
        }
        if wants_revenue && site.consolidated {
            return Err(GoalError::RevenueGoalsUnavailable);
        }
    }
    let g = changeset(cast_result?)?;
    let db = |e: tally_store::ConfigError| GoalError::one("base", e.to_string());
    let existing = state.config.goals(site.id).map_err(db)?;
    if let Some(same) = same_config(&existing, &g) {
        if opts.upsert {
            return Ok(same.clone());
        }
        return Err(if g.event_name.is_some() {
            GoalError::one("event_name", "has already been taken")
        } else {
            GoalError::one("page_path", "has already been taken")
        });
    }
    if existing.len() >= MAX_GOALS_PER_SITE {
        return Err(GoalError::Changeset(vec![
            ("event_name".into(), "Maximum number of goals reached".into()),
            ("page_path".into(), "Maximum number of goals reached".into()),
        ]));
    }
    let display = g.display_name.clone().unwrap_or_default();
    if existing.iter().any(|x| x.display_name == display) {
        return Err(GoalError::one("display_name", "has already been taken"));
    }
    match state.config.create_goal(site.id, &g) {
        Ok(goal) => Ok(goal),
        Err(tally_store::ConfigError::Conflict(_)) => {
            // A concurrent request inserted the same goal (or display name) first.
            let existing = state.config.goals(site.id).map_err(db)?;
            match same_config(&existing, &g) {
                Some(same) if opts.upsert => Ok(same.clone()),
                _ => Err(GoalError::one("display_name", "has already been taken")),
            }
        }
        Err(e) => Err(db(e)),
    }
}

/// Plausible's `Goals.find_or_create`: an upsert; an event goal asked for with a currency must come back
/// with that currency.
pub fn find_or_create(state: &SharedState, site: &Site, v: &Value, check_features: bool) -> Result<Goal, GoalError> {
    let goal = create_goal(state, site, v, CreateOpts { upsert: true, check_features })?;
    if let Some(Value::String(requested)) = v.get("currency") {
        if goal.event_name.is_some() && goal.currency.as_deref().unwrap_or("") != requested {
            return Err(GoalError::one(
                "event_name",
                format!(
                    "'{}' (with currency: {}) has already been taken",
                    goal.event_name.clone().unwrap_or_default(),
                    goal.currency.clone().unwrap_or_default()
                ),
            ));
        }
    }
    Ok(goal)
}

/// Reads a goal from a JSON object; errors are `field: message`.
pub fn from_json(v: &Value) -> Result<NewGoal, String> {
    cast(v).and_then(changeset).map_err(|e| e.root())
}

/// Creates a goal; `or_existing`: return the existing goal of the same configuration instead.
pub fn create(state: &SharedState, site: &Site, g: NewGoal, or_existing: bool) -> Result<Goal, String> {
    let mut v = json!({
        "event_name": g.event_name,
        "page_path": g.page_path,
        "scroll_threshold": g.scroll_threshold,
        "display_name": g.display_name,
        "currency": g.currency,
    });
    if !g.custom_props.is_empty() {
        v["custom_props"] = Value::Object(g.custom_props.into_iter().map(|(k, v)| (k, Value::String(v))).collect());
    }
    create_from_json(state, site, &v, or_existing)
}

/// The operator API's goal creation (no plan gates): `or_existing` makes it an upsert; asking for a
/// currency that the existing goal does not have is an error.
pub fn create_from_json(state: &SharedState, site: &Site, v: &Value, or_existing: bool) -> Result<Goal, String> {
    if or_existing {
        find_or_create(state, site, v, false).map_err(|e| e.root())
    } else {
        create_goal(state, site, v, CreateOpts { upsert: false, check_features: false }).map_err(|e| e.root())
    }
}

/// `event`, `page` or `scroll`.
pub fn goal_type(g: &Goal) -> &'static str {
    g.goal_type()
}

/// `custom_props` as a JSON object.
pub fn custom_props_json(g: &Goal) -> Value {
    Value::Object(g.custom_props.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect())
}

/// The goal object of `PUT /api/v1/sites/goals`.
pub fn goal_json(g: &Goal, domain: &str) -> Value {
    json!({
        "id": g.id,
        "goal_type": goal_type(g),
        "event_name": g.event_name,
        "page_path": g.page_path,
        "custom_props": custom_props_json(g),
        "domain": domain,
        "display_name": g.display_name,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(v: Value) -> Result<NewGoal, String> {
        from_json(&v)
    }

    #[test]
    fn page_goals_get_a_leading_slash_and_a_display_name() {
        let g = check(json!({"page_path": "signup"})).unwrap();
        assert_eq!(g.page_path.as_deref(), Some("/signup"));
        assert_eq!(g.display_name.as_deref(), Some("Visit /signup"));
        let g = check(json!({"page_path": "/a", "currency": "USD"})).unwrap();
        assert_eq!(g.currency, None);
    }

    #[test]
    fn inspected_length_errors_keep_the_template_and_options() {
        assert_eq!(
            inspect_error("should be at most 120 character(s)"),
            r#"{"should be at most %{count} character(s)", [count: 120, validation: :length, kind: :max, type: :string]}"#
        );
        assert_eq!(inspect_error("is invalid"), r#"{"is invalid", []}"#);
    }

    #[test]
    fn messages_follow_the_changeset() {
        assert_eq!(check(json!({})).unwrap_err(), "event_name: this field is required and cannot be blank");
        assert_eq!(
            check(json!({"event_name": "engagement"})).unwrap_err(),
            "event_name: The event name 'engagement' is reserved and cannot be used as a goal"
        );
        assert_eq!(
            check(json!({"event_name": "a", "page_path": "/a"})).unwrap_err(),
            "event_name: cannot co-exist with page_path"
        );
        let e = cast(&json!({})).and_then(changeset).unwrap_err();
        assert_eq!(e.first(), "display_name: can't be blank");
        assert_eq!(
            check(json!({"event_name": "x".repeat(121)})).unwrap_err(),
            "event_name: should be at most 120 character(s)"
        );
        assert_eq!(
            check(json!({"page_path": "/a", "scroll_threshold": 101})).unwrap_err(),
            "scroll_threshold: Should be -1 (missing) or in range [0, 100]"
        );
        assert_eq!(
            check(json!({"event_name": "a", "scroll_threshold": 10})).unwrap_err(),
            "scroll_threshold: page_path field missing for page scroll goal"
        );
        assert_eq!(
            check(json!({"event_name": "a", "custom_props": {"a": "1", "b": "2", "c": "3", "d": "4"}})).unwrap_err(),
            "custom_props: use at most 3 properties per goal"
        );
        assert_eq!(
            check(json!({"event_name": "a", "custom_props": {"a": null}})).unwrap_err(),
            "custom_props: must be a map with string keys and string values"
        );
        assert_eq!(
            check(json!({"event_name": "a", "custom_props": {"a": ""}})).unwrap_err(),
            "custom_props: value length is 1..2000 characters"
        );
        assert_eq!(check(json!({"event_name": 5})).unwrap_err(), "event_name: is invalid");
    }

    #[test]
    fn inspect_contains_the_message() {
        let e = cast(&json!({"event_name": "a", "custom_props": {"n": 42}})).and_then(changeset).unwrap_err();
        assert!(e.inspect().contains("must be a map with string keys and string values"), "{}", e.inspect());
    }
}
