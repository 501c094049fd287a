//! `tally admin …`: the operator API from a shell. Each command is one HTTP call to a running server.

use clap::{Args, Subcommand};
use serde_json::{json, Value};

#[derive(Args, Debug, Clone)]
pub struct Conn {
    /// Base URL of the running server.
    #[arg(long, env = "TALLY_URL", default_value = "http://127.0.0.1:8000", global = true)]
    url: String,
    /// The server's TALLY_ADMIN_TOKEN.
    #[arg(long, env = "TALLY_ADMIN_TOKEN", hide_env_values = true, global = true)]
    token: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum AdminCommand {
    /// Create a team (and its owner user if missing).
    CreateTeam {
        #[arg(long)]
        owner_email: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        plan: Option<String>,
        /// The owner's personal team (no name).
        #[arg(long)]
        personal: bool,
        #[command(flatten)]
        conn: Conn,
    },
    /// Change a team's plan and/or hourly API limit.
    UpdateTeam {
        id: i64,
        #[arg(long)]
        plan: Option<String>,
        #[arg(long)]
        hourly_api_request_limit: Option<i64>,
        #[command(flatten)]
        conn: Conn,
    },
    /// Add a member to a team (user created if missing).
    AddMember {
        team_id: i64,
        #[arg(long)]
        email: String,
        #[arg(long)]
        role: String,
        #[command(flatten)]
        conn: Conn,
    },
    /// Create a site in a team.
    CreateSite {
        #[arg(long)]
        team_id: i64,
        #[arg(long)]
        domain: String,
        #[arg(long)]
        timezone: Option<String>,
        #[command(flatten)]
        conn: Conn,
    },
    /// Create an API key; prints it once.
    CreateKey {
        #[arg(long)]
        user_email: String,
        /// Team of a team-scoped key; omit for a legacy (user-scoped) key.
        #[arg(long)]
        team_id: Option<i64>,
        #[arg(long)]
        name: Option<String>,
        /// Scopes, e.g. stats:read:* sites:provision:*
        #[arg(long, num_args = 1..)]
        scopes: Vec<String>,
        #[command(flatten)]
        conn: Conn,
    },
    /// List a user's API keys (prefixes only).
    ListKeys {
        #[arg(long)]
        user_email: String,
        #[command(flatten)]
        conn: Conn,
    },
    /// Revoke an API key.
    RevokeKey {
        id: i64,
        #[command(flatten)]
        conn: Conn,
    },
    /// Bulk-import an NDJSON file of events (and imported-data rows) into a site.
    Import {
        #[arg(long)]
        site: String,
        file: std::path::PathBuf,
        #[command(flatten)]
        conn: Conn,
    },
    /// Wait until every accepted event is stored.
    Flush {
        #[command(flatten)]
        conn: Conn,
    },
}

fn call(conn: &Conn, method: &str, path: &str, body: Option<Vec<u8>>, content_type: &str) -> anyhow::Result<Value> {
    let url = format!("{}{}", conn.url.trim_end_matches('/'), path);
    let token = conn.token.clone().ok_or_else(|| anyhow::anyhow!("set --token or TALLY_ADMIN_TOKEN"))?;
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let auth = format!("Bearer {token}");
    let mut resp = match (method, body) {
        ("GET", _) => agent.get(&url).header("Authorization", &auth).call()?,
        ("DELETE", _) => agent.delete(&url).header("Authorization", &auth).call()?,
        (m, b) => {
            let req = if m == "PATCH" { agent.patch(&url) } else { agent.post(&url) };
            req.header("Authorization", &auth).header("Content-Type", content_type).send(b.unwrap_or_default())?
        }
    };
    let status = resp.status().as_u16();
    let text = resp.body_mut().read_to_string()?;
    let v: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    if status >= 300 {
        anyhow::bail!("{status}: {v}");
    }
    Ok(v)
}

fn plan_value(p: &str) -> Value {
    serde_json::from_str(p).unwrap_or_else(|_| json!(p))
}

pub fn run(cmd: AdminCommand) -> anyhow::Result<()> {
    let j = |v: Value| Some(serde_json::to_vec(&v).unwrap());
    let out = match cmd {
        AdminCommand::CreateTeam { owner_email, name, plan, personal, conn } => {
            let mut b = json!({"owner_email": owner_email, "personal": personal});
            if let Some(n) = name {
                b["name"] = json!(n);
            }
            if let Some(p) = plan {
                b["plan"] = plan_value(&p);
            }
            call(&conn, "POST", "/api/admin/teams", j(b), "application/json")?
        }
        AdminCommand::UpdateTeam { id, plan, hourly_api_request_limit, conn } => {
            let mut b = json!({});
            if let Some(p) = plan {
                b["plan"] = plan_value(&p);
            }
            if let Some(l) = hourly_api_request_limit {
                b["hourly_api_request_limit"] = json!(l);
            }
            call(&conn, "PATCH", &format!("/api/admin/teams/{id}"), j(b), "application/json")?
        }
        AdminCommand::AddMember { team_id, email, role, conn } => call(
            &conn,
            "POST",
            &format!("/api/admin/teams/{team_id}/members"),
            j(json!({"email": email, "role": role})),
            "application/json",
        )?,
        AdminCommand::CreateSite { team_id, domain, timezone, conn } => {
            let mut b = json!({"team_id": team_id, "domain": domain});
            if let Some(t) = timezone {
                b["timezone"] = json!(t);
            }
            call(&conn, "POST", "/api/admin/sites", j(b), "application/json")?
        }
        AdminCommand::CreateKey { user_email, team_id, name, scopes, conn } => {
            let mut b = json!({"user_email": user_email, "team_id": team_id});
            if let Some(n) = name {
                b["name"] = json!(n);
            }
            if !scopes.is_empty() {
                b["scopes"] = json!(scopes);
            }
            call(&conn, "POST", "/api/admin/api-keys", j(b), "application/json")?
        }
        AdminCommand::ListKeys { user_email, conn } => {
            let q: String =
                url::form_urlencoded::Serializer::new(String::new()).append_pair("user_email", &user_email).finish();
            call(&conn, "GET", &format!("/api/admin/api-keys?{q}"), None, "")?
        }
        AdminCommand::RevokeKey { id, conn } => call(&conn, "DELETE", &format!("/api/admin/api-keys/{id}"), None, "")?,
        AdminCommand::Import { site, file, conn } => {
            let data = std::fs::read(&file)?;
            let path = format!(
                "/api/admin/sites/{}/events",
                percent_encoding::utf8_percent_encode(&site, percent_encoding::NON_ALPHANUMERIC)
            );
            call(&conn, "POST", &path, Some(data), "application/x-ndjson")?
        }
        AdminCommand::Flush { conn } => call(&conn, "POST", "/api/admin/flush", Some(vec![]), "application/json")?,
    };
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}
