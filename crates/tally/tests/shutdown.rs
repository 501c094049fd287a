//! Accepted events survive a clean shutdown (SIGTERM) under load, and sessions continue after a restart.

mod common;
use common::Server;
use serde_json::json;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

#[test]
fn sigterm_under_load_loses_no_accepted_event() {
    let dir = tempfile::Builder::new().prefix("tally-shutdown").tempdir().unwrap();
    let mut s = Server::start_in(dir.path().to_path_buf(), &[("TALLY_FLUSH_INTERVAL_MS", "60000")]);
    let (domain, key) = s.setup_site("enterprise", json!({}));
    let accepted = Arc::new(AtomicUsize::new(0));
    let base = s.base.clone();
    let mut senders = Vec::new();
    for t in 0..4 {
        let (accepted, base, domain) = (accepted.clone(), base.clone(), domain.clone());
        senders.push(std::thread::spawn(move || {
            let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
            for i in 0..2000 {
                let body =
                    json!({"n": "pageview", "u": format!("http://example.com/p{t}/{i}"), "d": domain}).to_string();
                match agent
                    .post(format!("{base}/api/event"))
                    .header("User-Agent", format!("Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0 t{t}"))
                    .header("X-Forwarded-For", format!("10.0.{t}.{}", i % 250))
                    .send(body.as_bytes())
                {
                    Ok(r) if r.status().as_u16() == 202 => {
                        accepted.fetch_add(1, Ordering::SeqCst);
                    }
                    _ => return, // the server stopped accepting
                }
            }
        }));
    }
    while accepted.load(Ordering::SeqCst) < 1500 {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let status = s.stop();
    for h in senders {
        h.join().unwrap();
    }
    assert!(status.success(), "clean exit: {status:?}");
    let n = accepted.load(Ordering::SeqCst);
    let s2 = Server::start_in(dir.path().to_path_buf(), &[]);
    let (code, body) = s2.query(&key, json!({"site_id": domain, "metrics": ["pageviews"], "date_range": "all"}));
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["results"][0]["metrics"][0], json!(n), "accepted {n}");
}

#[test]
fn a_session_continues_across_a_restart() {
    let dir = tempfile::Builder::new().prefix("tally-restart").tempdir().unwrap();
    let mut s = Server::start_in(dir.path().to_path_buf(), &[]);
    let (domain, key) = s.setup_site("enterprise", json!({}));
    let ua = [("User-Agent", "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0")];
    s.event(json!({"n": "pageview", "u": "http://example.com/a", "d": domain}), &ua);
    assert!(s.stop().success());
    let s2 = Server::start_in(dir.path().to_path_buf(), &[]);
    s2.event(json!({"n": "pageview", "u": "http://example.com/b", "d": domain}), &ua);
    s2.flush();
    let (_, body) = s2.query(
        &key,
        json!({"site_id": domain, "metrics": ["visitors", "visits", "pageviews", "bounce_rate"], "date_range": "all"}),
    );
    assert_eq!(body["results"][0]["metrics"], json!([1, 1, 2, 0]), "{body}");
    let (_, body) = s2.query(&key, json!({"site_id": domain, "metrics": ["visits"], "date_range": "all", "dimensions": ["visit:entry_page", "visit:exit_page"]}));
    assert_eq!(body["results"], json!([{"dimensions": ["/a", "/b"], "metrics": [1]}]), "{body}");
}
