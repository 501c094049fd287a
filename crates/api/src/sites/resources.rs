//! Per-site resources of the Sites API: goals, custom properties, guests and shared links
//! (platform.md §2.10–2.13).

use super::*;
use crate::auth::Scope;
use crate::goals;
use axum::extract::{Path, State};
use tally_store::Guest;

// --------------------------------------------------------------------------------------------- goals

fn list_goals_impl(state: &SharedState, req: &Req) -> ApiResult<Value> {
    let caller = req.authorize(state, Scope::SitesRead, true)?;
    let site_id = expect(&req.params, "site_id").ok_or_else(|| missing("site_id", "list goals"))?;
    let site = find_site(state, &caller, site_id, READ_ROLES)?;
    let pp = page_params(&req.params)?;
    let mut list = state.config.goals(site.id)?;
    list.sort_by_key(|x| std::cmp::Reverse(x.id));
    list.truncate(goals::MAX_GOALS_PER_SITE);
    let (page, meta) = paginate(list, |g| vec![g.id], &pp);
    let items: Vec<Value> = page
        .iter()
        .map(|g| {
            json!({
                "id": g.id,
                "display_name": g.display_name,
                "goal_type": goals::goal_type(g),
                "event_name": g.event_name,
                "page_path": g.page_path,
                "custom_props": goals::custom_props_json(g),
            })
        })
        .collect();
    Ok(json!({"goals": items, "meta": meta}))
}

pub async fn list_goals(
    State(state): State<SharedState>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    run(state, Req::new(headers, &uri, &body, vec![]), list_goals_impl).await
}

fn something_went_wrong(inspect: &str) -> ApiError {
    ApiError::bad_request(format!("Something went wrong: {inspect}"))
}

fn put_goal_impl(state: &SharedState, req: &Req) -> ApiResult<Value> {
    const ACTION: &str = "create a goal";
    let caller = req.authorize(state, Scope::SitesProvision, true)?;
    let site_id = expect(&req.params, "site_id").ok_or_else(|| missing("site_id", ACTION))?;
    let goal_type = expect(&req.params, "goal_type").ok_or_else(|| missing("goal_type", ACTION))?;
    let site = find_site(state, &caller, site_id, WRITE_ROLES)?;
    match goal_type.as_str() {
        Some("event") => {
            if !req.get("event_name").is_some_and(Value::is_string) {
                return Err(missing("event_name", ACTION));
            }
        }
        Some("page") => {
            if req.get("page_path").is_none() {
                return Err(missing("page_path", ACTION));
            }
        }
        _ => return Err(something_went_wrong(&format!("{{:error, {{:invalid_goal_type, {goal_type}}}}}"))),
    }
    let mut params = req.params.clone();
    params.remove("site_id");
    let goal = goals::find_or_create(state, &site, &Value::Object(params), true).map_err(|e| match e {
        goals::GoalError::UpgradeRequired(feature) => {
            ApiError::payment_required(format!("Your current subscription plan does not include {feature}"))
        }
        e => something_went_wrong(&e.inspect()),
    })?;
    Ok(goals::goal_json(&goal, &site.domain))
}

pub async fn put_goal(
    State(state): State<SharedState>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    run(state, Req::new(headers, &uri, &body, vec![]), put_goal_impl).await
}

fn delete_goal_impl(state: &SharedState, req: &Req) -> ApiResult<Value> {
    const ACTION: &str = "delete a goal";
    let caller = req.authorize(state, Scope::SitesProvision, true)?;
    let site_id = expect(&req.params, "site_id").ok_or_else(|| missing("site_id", ACTION))?;
    let goal_id = expect(&req.params, "goal_id").ok_or_else(|| missing("goal_id", ACTION))?;
    let site = find_site(state, &caller, site_id, WRITE_ROLES)?;
    let not_found = || ApiError::not_found("Goal could not be found");
    let id: i64 = text(goal_id).and_then(|s| s.trim().parse().ok()).ok_or_else(not_found)?;
    super::extensions::before_goal_deleted(state, &site, id)?;
    if !state.config.delete_goal(site.id, id)? {
        return Err(not_found());
    }
    Ok(json!({"deleted": true}))
}

pub async fn delete_goal(
    State(state): State<SharedState>,
    Path(goal_id): Path<String>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    run(state, Req::new(headers, &uri, &body, vec![("goal_id", Value::String(goal_id))]), delete_goal_impl).await
}

// --------------------------------------------------------------------------------- custom properties

pub const MAX_PROPS: usize = 300;
pub const MAX_PROP_KEY_LENGTH: usize = 300;

fn list_props_impl(state: &SharedState, req: &Req) -> ApiResult<Value> {
    let caller = req.authorize(state, Scope::SitesRead, true)?;
    let site_id = expect(&req.params, "site_id").ok_or_else(|| missing("site_id", "list custom properties"))?;
    let site = find_site(state, &caller, site_id, READ_ROLES)?;
    let mut props = site.allowed_event_props.clone();
    props.sort();
    let items: Vec<Value> = props.into_iter().map(|p| json!({"property": p})).collect();
    Ok(json!({"custom_properties": items}))
}

pub async fn list_props(
    State(state): State<SharedState>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    run(state, Req::new(headers, &uri, &body, vec![]), list_props_impl).await
}

fn put_prop_impl(state: &SharedState, req: &Req) -> ApiResult<Value> {
    const ACTION: &str = "create a custom property";
    let caller = req.authorize(state, Scope::SitesProvision, true)?;
    let site_id = expect(&req.params, "site_id").ok_or_else(|| missing("site_id", ACTION))?;
    let property = expect(&req.params, "property").ok_or_else(|| missing("property", ACTION))?;
    let site = find_site(state, &caller, site_id, WRITE_ROLES)?;
    let property = text(property).map(|p| p.trim().to_string()).filter(|p| !p.is_empty());
    let property = property.ok_or_else(|| missing("property", ACTION))?;
    if property.chars().count() > MAX_PROP_KEY_LENGTH {
        return Err(ApiError::bad_request("Parameter `property` is too long"));
    }
    let team = state.config.team(site.team_id)?;
    if !team.is_some_and(|t| t.plan.has("props")) {
        return Err(ApiError::payment_required("Your current subscription plan does not include Custom Properties"));
    }
    state
        .config
        .modify_allowed_event_props(site.id, &mut |props| {
            // Plausible prepends the new prop and keeps the first of duplicates.
            props.retain(|p| p != &property);
            props.insert(0, property.clone());
            if props.len() > MAX_PROPS {
                return Err(tally_store::ConfigError::Invalid("Can't add any more custom properties".into()));
            }
            Ok(())
        })
        .map_err(|e| match e {
            tally_store::ConfigError::Invalid(m) => ApiError::bad_request(m),
            e => e.into(),
        })?;
    Ok(json!({"created": true}))
}

pub async fn put_prop(
    State(state): State<SharedState>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    run(state, Req::new(headers, &uri, &body, vec![]), put_prop_impl).await
}

fn delete_prop_impl(state: &SharedState, req: &Req) -> ApiResult<Value> {
    const ACTION: &str = "delete a custom property";
    let caller = req.authorize(state, Scope::SitesProvision, true)?;
    let site_id = expect(&req.params, "site_id").ok_or_else(|| missing("site_id", ACTION))?;
    let property = expect(&req.params, "property").ok_or_else(|| missing("property", ACTION))?;
    let site = find_site(state, &caller, site_id, WRITE_ROLES)?;
    if let Some(property) = text(property) {
        state.config.modify_allowed_event_props(site.id, &mut |props| {
            props.retain(|p| p != &property);
            Ok(())
        })?;
    }
    Ok(json!({"deleted": true}))
}

pub async fn delete_prop(
    State(state): State<SharedState>,
    Path(property): Path<String>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    run(state, Req::new(headers, &uri, &body, vec![("property", Value::String(property))]), delete_prop_impl).await
}

// -------------------------------------------------------------------------------------------- guests

/// Accepted guests first, then pending invitations, each newest first.
fn guest_key(g: &Guest) -> Vec<i64> {
    vec![(g.status == "accepted") as i64, g.inserted_at.and_utc().timestamp_micros(), g.id]
}

fn guest_json(g: &Guest) -> Value {
    json!({"email": g.email, "role": g.role, "status": g.status})
}

fn list_guests_impl(state: &SharedState, req: &Req) -> ApiResult<Value> {
    let caller = req.authorize(state, Scope::SitesRead, true)?;
    // (sic: Plausible answers with the goals text here)
    let site_id = expect(&req.params, "site_id").ok_or_else(|| missing("site_id", "list goals"))?;
    let site = find_site(state, &caller, site_id, READ_ROLES)?;
    let pp = page_params(&req.params)?;
    let mut guests = state.config.guests(site.id)?;
    guests.sort_by_key(|g| std::cmp::Reverse(guest_key(g)));
    let (page, meta) = paginate(guests, guest_key, &pp);
    Ok(json!({"guests": page.iter().map(guest_json).collect::<Vec<_>>(), "meta": meta}))
}

pub async fn list_guests(
    State(state): State<SharedState>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    run(state, Req::new(headers, &uri, &body, vec![]), list_guests_impl).await
}

fn put_guest_impl(state: &SharedState, req: &Req) -> ApiResult<Value> {
    const ACTION: &str = "create guest";
    let caller = req.authorize(state, Scope::SitesProvision, true)?;
    let site_id = expect(&req.params, "site_id").ok_or_else(|| missing("site_id", ACTION))?;
    let email = expect(&req.params, "email").ok_or_else(|| missing("email", ACTION))?;
    let role = match req.get("role").and_then(Value::as_str) {
        Some(r @ ("viewer" | "editor")) => r.to_string(),
        _ => {
            return Err(ApiError::bad_request(
                "Parameter `role` is required to create guest. Possible values: `viewer` or `editor`",
            ))
        }
    };
    let site = find_site(state, &caller, site_id, ADMIN_ROLES)?;
    let email = text(email).map(|e| e.trim().to_string()).unwrap_or_default();
    if let Some(existing) = state.config.guests(site.id)?.into_iter().find(|g| g.email == email) {
        return Ok(json!({"role": existing.role, "email": existing.email, "status": existing.status}));
    }
    if email.is_empty() || !email.contains('@') {
        return Err(something_went_wrong("{:error, :invalid_email}"));
    }
    if let Some(user) = state.config.user_by_email(&email)? {
        if state.config.team_role(site.team_id, user.id)?.is_some() {
            return Err(something_went_wrong("{:error, :already_a_member}"));
        }
    }
    match state.config.invite_guest(site.id, &email, &role, caller.user.id) {
        Ok(_) => Ok(json!({"role": role, "email": email, "status": "invited"})),
        Err(tally_store::ConfigError::Conflict(_)) => {
            // invited concurrently: answer with what is there
            let g = state.config.guests(site.id)?.into_iter().find(|g| g.email == email);
            Ok(g.map(|g| json!({"role": g.role, "email": g.email, "status": g.status}))
                .unwrap_or_else(|| json!({"role": role, "email": email, "status": "invited"})))
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn put_guest(
    State(state): State<SharedState>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    run(state, Req::new(headers, &uri, &body, vec![]), put_guest_impl).await
}

fn delete_guest_impl(state: &SharedState, req: &Req) -> ApiResult<Value> {
    const ACTION: &str = "delete a guest";
    let caller = req.authorize(state, Scope::SitesProvision, true)?;
    let site_id = expect(&req.params, "site_id").ok_or_else(|| missing("site_id", ACTION))?;
    let email = expect(&req.params, "email").ok_or_else(|| missing("email", ACTION))?;
    let site = find_site(state, &caller, site_id, ADMIN_ROLES)?;
    if let Some(email) = text(email) {
        state.config.remove_guest(site.id, &email)?;
    }
    Ok(json!({"deleted": true}))
}

pub async fn delete_guest(
    State(state): State<SharedState>,
    Path(email): Path<String>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    run(state, Req::new(headers, &uri, &body, vec![("email", Value::String(email))]), delete_guest_impl).await
}

// -------------------------------------------------------------------------------------- shared links

/// Names reserved for the Plugins API (`Plausible.Sites.shared_link_special_names/0`).
pub const SHARED_LINK_SPECIAL_NAMES: &[&str] = &["WordPress - Shared Dashboard"];

/// Elixir's `URI.encode_www_form`: unreserved characters stay, space becomes `+`, the rest `%XX`.
pub fn encode_www_form(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => out.push(b as char),
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

pub fn shared_link_url(state: &SharedState, domain: &str, slug: &str) -> String {
    format!("{}/share/{}?auth={}", state.settings.base_url, encode_www_form(domain), slug)
}

fn put_shared_link_impl(state: &SharedState, req: &Req) -> ApiResult<Value> {
    const ACTION: &str = "create a shared link";
    let caller = req.authorize(state, Scope::SitesProvision, true)?;
    let site_id = expect(&req.params, "site_id").ok_or_else(|| missing("site_id", ACTION))?;
    let name = expect(&req.params, "name").ok_or_else(|| missing("name", ACTION))?;
    let site = find_site(state, &caller, site_id, WRITE_ROLES)?;
    let name = text(name).ok_or_else(|| something_went_wrong(&format!("{{:error, {{:invalid_name, {name}}}}}")))?;
    if let Some(link) = state.config.shared_link(site.id, &name)? {
        return Ok(json!({"name": link.name, "url": shared_link_url(state, &site.domain, &link.slug)}));
    }
    if SHARED_LINK_SPECIAL_NAMES.contains(&name.as_str()) {
        return Err(ApiError::bad_request("This name is reserved. Please choose another one"));
    }
    if name.trim().is_empty() {
        return Err(ApiError::bad_request("can't be blank"));
    }
    let team = state.config.team(site.team_id)?;
    if !team.is_some_and(|t| t.plan.has("shared_links")) {
        return Err(ApiError::payment_required("Your current subscription plan does not include Shared Links"));
    }
    let link = match state.config.create_shared_link(site.id, &name, &nanoid()) {
        Ok(l) => l,
        Err(tally_store::ConfigError::Conflict(_)) => {
            state.config.shared_link(site.id, &name)?.ok_or_else(|| ApiError::internal("shared link conflict"))?
        }
        Err(e) => return Err(e.into()),
    };
    Ok(json!({"name": link.name, "url": shared_link_url(state, &site.domain, &link.slug)}))
}

pub async fn put_shared_link(
    State(state): State<SharedState>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    run(state, Req::new(headers, &uri, &body, vec![]), put_shared_link_impl).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn www_form_encoding_matches_elixir() {
        assert_eq!(encode_www_form("example.com/blog post~*"), "example.com%2Fblog+post~%2A");
        assert_eq!(encode_www_form("音"), "%E9%9F%B3");
    }
}
