//! Test harness: runs the real `tally` binary on a free loopback port with a fresh data directory and
//! talks to it over HTTP, exactly as a client would.
#![allow(dead_code)]

use serde_json::{json, Value};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Server {
    pub child: Option<Child>,
    pub base: String,
    pub token: String,
    pub data_dir: PathBuf,
    pub port: u16,
    _tmp: Option<tempfile::TempDir>,
}

/// A name no other call in this test process returns (ports repeat: the OS hands freed ports out again).
pub fn unique_name(prefix: &str) -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    format!("{prefix}-{}", NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
}

/// A port free now and not handed out before in this test process: tests run in parallel, and the OS hands a
/// freed port out again, so two servers started at once could otherwise be given the same one (the second then
/// fails to bind, and its health check reaches the first).
pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}

pub fn geoip_db() -> Option<PathBuf> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance/data/GeoLite2-City-Test.mmdb");
    p.exists().then_some(p)
}

impl Server {
    pub fn start() -> Server {
        let tmp = tempfile::Builder::new().prefix("tally-test").tempdir().unwrap();
        let dir = tmp.path().to_path_buf();
        let mut s = Server::start_in(dir, &[]);
        s._tmp = Some(tmp);
        s
    }

    /// Starts the server on an existing data directory (for restart tests).
    pub fn start_in(data_dir: PathBuf, extra_env: &[(&str, &str)]) -> Server {
        let port = free_port();
        let token = "test-admin-token".to_string();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_tally"));
        cmd.arg("serve")
            .env("TALLY_DATA_DIR", &data_dir)
            .env("TALLY_LISTEN", format!("127.0.0.1:{port}"))
            .env("TALLY_ADMIN_TOKEN", &token)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        if let Some(g) = geoip_db() {
            cmd.env("TALLY_GEOIP_DB", g);
        }
        for (k, v) in extra_env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("start tally");
        let s =
            Server { child: Some(child), base: format!("http://127.0.0.1:{port}"), token, data_dir, port, _tmp: None };
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok((200, _)) = s.try_get("/api/health") {
                return s;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("server did not become healthy");
    }

    fn agent() -> ureq::Agent {
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into()
    }

    fn try_get(&self, path: &str) -> Result<(u16, String), ureq::Error> {
        let mut r = Self::agent().get(format!("{}{}", self.base, path)).call()?;
        let status = r.status().as_u16();
        Ok((status, r.body_mut().read_to_string().unwrap_or_default()))
    }

    /// Sends a request; returns (status, body text, headers as lowercase (name, value)).
    pub fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> (u16, String, Vec<(String, String)>) {
        let url = format!("{}{}", self.base, path);
        let agent = Self::agent();
        let result = match method {
            "GET" => {
                let mut r = agent.get(&url);
                for (k, v) in headers {
                    r = r.header(*k, *v);
                }
                r.call()
            }
            "DELETE" => {
                let mut r = agent.delete(&url);
                for (k, v) in headers {
                    r = r.header(*k, *v);
                }
                r.call()
            }
            m => {
                let mut r = match m {
                    "PUT" => agent.put(&url),
                    "PATCH" => agent.patch(&url),
                    _ => agent.post(&url),
                };
                for (k, v) in headers {
                    r = r.header(*k, *v);
                }
                r.send(body.unwrap_or_default())
            }
        };
        let mut resp = result.expect("request failed");
        let status = resp.status().as_u16();
        let hs = resp
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_lowercase(), v.to_str().unwrap_or("").to_string()))
            .collect();
        (status, resp.body_mut().read_to_string().unwrap_or_default(), hs)
    }

    pub fn admin(&self, method: &str, path: &str, body: Value) -> Value {
        let auth = format!("Bearer {}", self.token);
        let b = serde_json::to_vec(&body).unwrap();
        let (status, text, _) =
            self.send(method, path, &[("Authorization", &auth), ("Content-Type", "application/json")], Some(&b));
        assert!(status < 300, "{method} {path} -> {status}: {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    pub fn import(&self, domain: &str, lines: &[Value]) -> Value {
        let auth = format!("Bearer {}", self.token);
        let body: String = lines.iter().map(|l| format!("{l}\n")).collect();
        let (status, text, _) = self.send(
            "POST",
            &format!("/api/admin/sites/{domain}/events"),
            &[("Authorization", &auth), ("Content-Type", "application/x-ndjson")],
            Some(body.as_bytes()),
        );
        assert_eq!(status, 200, "import: {text}");
        serde_json::from_str(&text).unwrap()
    }

    pub fn flush(&self) {
        self.admin("POST", "/api/admin/flush", json!({}));
    }

    /// A personal team on `plan` with one site and a stats key; returns (domain, key).
    pub fn setup_site(&self, plan: &str, site: Value) -> (String, String) {
        let email = format!("{}@example.test", unique_name("owner"));
        let team =
            self.admin("POST", "/api/admin/teams", json!({"owner_email": email, "personal": true, "plan": plan}));
        let domain = format!("{}.example.test", unique_name("site"));
        let mut body = json!({"team_id": team["id"], "domain": domain});
        if let Value::Object(m) = site {
            for (k, v) in m {
                body[k] = v;
            }
        }
        self.admin("POST", "/api/admin/sites", body);
        let key = self.admin(
            "POST",
            "/api/admin/api-keys",
            json!({"user_email": email, "team_id": team["id"], "scopes": ["stats:read:*", "sites:provision:*"]}),
        );
        (domain, key["key"].as_str().unwrap().to_string())
    }

    pub fn query(&self, key: &str, body: Value) -> (u16, Value) {
        let auth = format!("Bearer {key}");
        let b = serde_json::to_vec(&body).unwrap();
        let (s, t, _) = self.send(
            "POST",
            "/api/v2/query",
            &[("Authorization", &auth), ("Content-Type", "application/json")],
            Some(&b),
        );
        (s, serde_json::from_str(&t).unwrap_or(Value::String(t)))
    }

    /// The `results` of a v2 query answered 200, once everything accepted so far is stored.
    pub fn results(&self, key: &str, body: Value) -> Value {
        self.flush();
        let (status, body) = self.query(key, body);
        assert_eq!(status, 200, "{body}");
        body["results"].clone()
    }

    pub fn event(&self, body: Value, headers: &[(&str, &str)]) -> (u16, String, Vec<(String, String)>) {
        let b = serde_json::to_vec(&body).unwrap();
        let mut hs = vec![("Content-Type", "text/plain")];
        hs.extend_from_slice(headers);
        self.send("POST", "/api/event", &hs, Some(&b))
    }

    /// Sends SIGTERM and waits for a clean exit.
    pub fn stop(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("running");
        unsafe_kill_term(child.id());
        child.wait().expect("wait")
    }
}

fn unsafe_kill_term(pid: u32) {
    let _ = Command::new("kill").arg("-TERM").arg(pid.to_string()).status();
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

// ---------------------------------------------------------------- Sites API / auth helpers

/// A team made through the operator API.
#[derive(Clone, Debug)]
pub struct TestTeam {
    pub id: i64,
    pub identifier: String,
    pub owner: String,
}

impl Server {
    /// Calls a public API route with an optional Bearer key and JSON body; returns (status, JSON body).
    pub fn api(&self, method: &str, path: &str, key: Option<&str>, body: Option<Value>) -> (u16, Value) {
        let auth = key.map(|k| format!("Bearer {k}"));
        let mut headers: Vec<(&str, &str)> = Vec::new();
        if let Some(a) = &auth {
            headers.push(("Authorization", a));
        }
        let bytes = body.map(|b| serde_json::to_vec(&b).unwrap());
        if bytes.is_some() {
            headers.push(("Content-Type", "application/json"));
        }
        let (status, text, _) = self.send(method, path, &headers, bytes.as_deref());
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    /// A set-up team named `name` (or the owner's personal team when `name` is None) on `plan`
    /// (a plan name or a `{"name", "features"}` object); its owner is created when missing.
    pub fn new_team(&self, owner: &str, name: Option<&str>, plan: Value) -> TestTeam {
        let mut body = json!({"owner_email": owner, "plan": plan});
        match name {
            Some(n) => body["name"] = json!(n),
            None => body["personal"] = json!(true),
        }
        let t = self.admin("POST", "/api/admin/teams", body);
        TestTeam {
            id: t["id"].as_i64().unwrap(),
            identifier: t["identifier"].as_str().unwrap().to_string(),
            owner: owner.to_string(),
        }
    }

    pub fn add_member(&self, team: &TestTeam, email: &str, role: &str) {
        self.admin("POST", &format!("/api/admin/teams/{}/members", team.id), json!({"email": email, "role": role}));
    }

    pub fn new_site(&self, team: &TestTeam, domain: &str) {
        self.admin("POST", "/api/admin/sites", json!({"team_id": team.id, "domain": domain}));
    }

    pub fn add_guest(&self, domain: &str, email: &str, role: &str) {
        self.admin("POST", &format!("/api/admin/sites/{domain}/guests"), json!({"email": email, "role": role}));
    }

    /// An API key of `email`: team-scoped when `team` is given, else a legacy key. Returns (key, id).
    pub fn new_key(&self, email: &str, team: Option<&TestTeam>, scopes: &[&str]) -> (String, i64) {
        let k = self.admin(
            "POST",
            "/api/admin/api-keys",
            json!({"user_email": email, "team_id": team.map(|t| t.id), "scopes": scopes}),
        );
        (k["key"].as_str().unwrap().to_string(), k["id"].as_i64().unwrap())
    }

    pub fn set_plan(&self, team: &TestTeam, plan: Value) {
        self.admin("PATCH", &format!("/api/admin/teams/{}", team.id), json!({"plan": plan}));
    }
}

/// A unique e-mail address for a test.
pub fn email(label: &str) -> String {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    format!("{label}-{}-{n}@example.test", std::process::id())
}

impl Server {
    /// `GET path?query` with a Bearer key; the query pairs are form-encoded. Returns (status, JSON body).
    pub fn get_v1(&self, key: &str, path: &str, query: &[(&str, &str)]) -> (u16, Value) {
        let qs: String = query
            .iter()
            .map(|(k, v)| format!("{}={}", encode_component(k), encode_component(v)))
            .collect::<Vec<_>>()
            .join("&");
        let auth = format!("Bearer {key}");
        let (s, t, _) = self.send("GET", &format!("{path}?{qs}"), &[("Authorization", &auth)], None);
        (s, serde_json::from_str(&t).unwrap_or(Value::String(t)))
    }
}

/// Percent-encodes everything but unreserved characters.
pub fn encode_component(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
