//! A `tally serve` child process on a fresh data directory, for the benchmark binaries.

use anyhow::Context;
use serde_json::Value;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct BenchServer {
    child: Child,
    pub pid: u32,
    pub base: String,
    pub token: String,
    pub agent: ureq::Agent,
    pub dir: tempfile::TempDir,
}

impl BenchServer {
    /// Starts the server (`bin`, default: `tally` next to the running executable) and waits until healthy.
    pub fn start(bin: Option<std::path::PathBuf>, env: &[(&str, &str)]) -> anyhow::Result<BenchServer> {
        let bin = bin.unwrap_or_else(|| std::env::current_exe().unwrap().with_file_name("tally"));
        let dir = tempfile::Builder::new().prefix("tally-bench").tempdir()?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let token = "bench-token".to_string();
        let mut cmd = Command::new(&bin);
        cmd.arg("serve")
            .env("TALLY_DATA_DIR", dir.path())
            .env("TALLY_LISTEN", format!("127.0.0.1:{port}"))
            .env("TALLY_ADMIN_TOKEN", &token)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().with_context(|| format!("starting {}", bin.display()))?;
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(3600)))
            .build()
            .into();
        let s = BenchServer { pid: child.id(), child, base: format!("http://127.0.0.1:{port}"), token, agent, dir };
        for _ in 0..300 {
            if s.agent.get(format!("{}/api/health", s.base)).call().is_ok_and(|r| r.status() == 200) {
                return Ok(s);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        anyhow::bail!("the server did not become healthy")
    }

    /// POSTs JSON to the operator API.
    pub fn admin(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        let mut r = self
            .agent
            .post(format!("{}{path}", self.base))
            .header("Authorization", format!("Bearer {}", self.token))
            .send_json(body)?;
        Ok(serde_json::from_str(&r.body_mut().read_to_string()?)?)
    }

    /// POSTs an NDJSON body to the bulk import of `site`; returns the imported row count.
    pub fn import(&self, site: &str, body: &[u8]) -> anyhow::Result<u64> {
        let mut r = self
            .agent
            .post(format!("{}/api/admin/sites/{site}/events", self.base))
            .header("Authorization", format!("Bearer {}", self.token))
            .header("Content-Type", "application/x-ndjson")
            .send(body)?;
        let text = r.body_mut().read_to_string()?;
        let v: Value = serde_json::from_str(&text).with_context(|| format!("import failed: {text}"))?;
        v["imported"].as_u64().with_context(|| format!("import failed: {text}"))
    }

    /// A field of /proc/<pid>/status in kB (e.g. `VmRSS:`, `VmHWM:`).
    pub fn status_kb(&self, field: &str) -> u64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.pid))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with(field))
                    .and_then(|l| l.split_whitespace().nth(1))
                    .and_then(|v| v.parse().ok())
            })
            .unwrap_or(0)
    }

    /// Stops the server with SIGTERM and waits for it.
    pub fn stop(mut self) -> tempfile::TempDir {
        let _ = Command::new("kill").arg("-TERM").arg(self.pid.to_string()).status();
        let _ = self.child.wait();
        self.dir
    }
}
