//! Goal validation shared by the operator API and the Sites API (Plausible's goal changeset rules).

use crate::state::SharedState;
use serde_json::Value;
use tally_store::{Goal, NewGoal, Site};

pub const MAX_GOALS_PER_SITE: usize = 1000;

/// Validates a goal and returns it normalised; errors are Plausible's messages (`field: message`).
pub fn validate(mut g: NewGoal) -> Result<NewGoal, String> {
    g.event_name = g.event_name.map(|e| e.trim().to_string());
    g.page_path = g.page_path.map(|p| {
        let p = p.trim().to_string();
        if p.is_empty() || p.starts_with('/') {
            p
        } else {
            format!("/{p}")
        }
    });
    match (&g.event_name, &g.page_path) {
        (Some(_), Some(_)) => return Err("event_name: cannot co-exist with page_path".into()),
        (None, None) => return Err("event_name: this field is required and cannot be blank".into()),
        (Some(e), None) if e.is_empty() => {
            return Err("event_name: this field is required and cannot be blank".into())
        }
        (None, Some(p)) if p.is_empty() => {
            return Err("page_path: this field is required and must start with a /".into())
        }
        _ => {}
    }
    if let Some(e) = &g.event_name {
        if e == "engagement" {
            return Err(
                "event_name: The event name 'engagement' is reserved and cannot be used as a goal"
                    .into(),
            );
        }
        if e.chars().count() > 120 {
            return Err("event_name: should be at most 120 character(s)".into());
        }
    }
    if g.scroll_threshold < -1 || g.scroll_threshold > 100 {
        return Err("scroll_threshold: Should be -1 (missing) or in range [0, 100]".into());
    }
    if g.scroll_threshold > -1 && g.page_path.is_none() {
        return Err("scroll_threshold: page_path field missing for page scroll goal".into());
    }
    if g.page_path.is_some() {
        g.currency = None;
    }
    if let Some(c) = &g.currency {
        if c.len() != 3 || !c.chars().all(|ch| ch.is_ascii_alphabetic()) {
            return Err("currency: is invalid".into());
        }
        g.currency = Some(c.to_ascii_uppercase());
    }
    if g.custom_props.len() > 3 {
        return Err("custom_props: use at most 3 properties per goal".into());
    }
    for (k, v) in &g.custom_props {
        if k.is_empty() || k.chars().count() > 300 {
            return Err("custom_props: key length is 1..300 characters".into());
        }
        if v.is_empty() || v.chars().count() > 2000 {
            return Err("custom_props: value length is 1..2000 characters".into());
        }
    }
    if let Some(d) = &g.display_name {
        if d.trim().is_empty() {
            g.display_name = None;
        }
    }
    Ok(g)
}

/// Reads a goal from a JSON object (`event_name`, `page_path`, `scroll_threshold`, `currency`,
/// `display_name`, `custom_props`).
pub fn from_json(v: &Value) -> Result<NewGoal, String> {
    let s = |k: &str| -> Result<Option<String>, String> {
        match v.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(format!("{k}: is invalid")),
        }
    };
    let scroll = match v.get("scroll_threshold") {
        None | Some(Value::Null) => -1,
        Some(x) => x
            .as_i64()
            .or_else(|| x.as_str().and_then(|s| s.parse().ok()))
            .ok_or("scroll_threshold: is invalid")?
            .clamp(-1000, 1000) as i16,
    };
    let custom_props = match v.get("custom_props") {
        None | Some(Value::Null) => vec![],
        Some(Value::Object(m)) => {
            let mut out = Vec::new();
            for (k, val) in m {
                let Value::String(val) = val else {
                    return Err(
                        "custom_props: must be a map with string keys and string values".into(),
                    );
                };
                out.push((k.clone(), val.clone()));
            }
            out
        }
        Some(_) => {
            return Err("custom_props: must be a map with string keys and string values".into())
        }
    };
    Ok(NewGoal {
        event_name: s("event_name")?,
        page_path: s("page_path")?,
        scroll_threshold: scroll,
        display_name: s("display_name")?,
        currency: s("currency")?,
        custom_props,
    })
}

/// Creates a goal; `or_existing`: return the existing goal with the same event name / page path instead.
pub fn create(
    state: &SharedState,
    site: &Site,
    g: NewGoal,
    or_existing: bool,
) -> Result<Goal, String> {
    let g = validate(g)?;
    let existing = state.config.goals(site.id).map_err(|e| e.to_string())?;
    if let Some(same) = existing.iter().find(|x| {
        (g.event_name.is_some() && x.event_name == g.event_name)
            || (g.page_path.is_some()
                && x.page_path == g.page_path
                && x.scroll_threshold == g.scroll_threshold)
    }) {
        if or_existing && same.currency == g.currency {
            return Ok(same.clone());
        }
        if let (Some(name), Some(cur)) = (&g.event_name, &g.currency) {
            return Err(format!(
                "event_name: '{name}' (with currency: {cur}) has already been taken"
            ));
        }
        return Err(if g.event_name.is_some() {
            "event_name: has already been taken".into()
        } else {
            "page_path: has already been taken".into()
        });
    }
    if existing.len() >= MAX_GOALS_PER_SITE {
        return Err("event_name: Maximum number of goals reached".into());
    }
    let display = g
        .display_name
        .clone()
        .unwrap_or_else(|| match (&g.event_name, &g.page_path) {
            (Some(e), _) => e.clone(),
            (None, Some(p)) if g.scroll_threshold > -1 => {
                format!("Scroll {}% on {p}", g.scroll_threshold)
            }
            (None, Some(p)) => format!("Visit {p}"),
            _ => String::new(),
        });
    if existing.iter().any(|x| x.display_name == display) {
        return Err("display_name: has already been taken".into());
    }
    let g = NewGoal {
        display_name: Some(display),
        ..g
    };
    state
        .config
        .create_goal(site.id, &g)
        .map_err(|e| e.to_string())
}

pub fn create_from_json(
    state: &SharedState,
    site: &Site,
    v: &Value,
    or_existing: bool,
) -> Result<Goal, String> {
    create(state, site, from_json(v)?, or_existing)
}
