//! Rough timings (run with `cargo test --release -p tally-enrich --test perf -- --ignored --nocapture`).

use std::time::Instant;

use tally_enrich::UaParser;

const UAS: &[&str] = &[
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_13_4) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/70.0.3538.110 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.2210.91",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1.2 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 13; SM-S908B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
];

#[test]
#[ignore]
fn ua_timings() {
    let t = Instant::now();
    let p = UaParser::new();
    println!("UaParser::new: {:?}", t.elapsed());
    let n = 2000;
    let t = Instant::now();
    for i in 0..n {
        let ua = format!("{} {i}", UAS[i % UAS.len()]);
        std::hint::black_box(p.parse_uncached(&ua));
    }
    println!("uncached parse: {:?}/UA", t.elapsed() / n as u32);
    let t = Instant::now();
    for i in 0..n * 50 {
        std::hint::black_box(p.parse(UAS[i % UAS.len()]));
    }
    println!("cached parse: {:?}/UA", t.elapsed() / (n * 50) as u32);
    let t = Instant::now();
    for i in 0..n {
        let ua = format!("{} {i}", UAS[i % UAS.len()]);
        std::hint::black_box(p.is_bot(&ua));
    }
    println!("is_bot: {:?}/UA", t.elapsed() / n as u32);
    let t = Instant::now();
    std::hint::black_box(tally_enrich::city_name(588409));
    println!("city table first use: {:?}", t.elapsed());
    let t = Instant::now();
    std::hint::black_box(tally_enrich::attribution("example.com", &[], Some("https://google.com")));
    println!("referrer rules first use: {:?}", t.elapsed());
}

#[test]
#[ignore]
fn dump_fixture_uas() {
    let p = UaParser::new();
    let path = std::env::var("UA_FILE").unwrap_or_default();
    let Ok(text) = std::fs::read_to_string(&path) else {
        return;
    };
    let mut counts = std::collections::BTreeMap::new();
    for line in text.lines() {
        let ua = line.trim().trim_matches('"');
        if ua.is_empty() {
            continue;
        }
        let i = p.parse(ua);
        let key = format!("{} | {} | {} | bot={}", i.browser, i.os, i.device, p.is_bot(ua));
        let e = counts.entry(key).or_insert((0, ua.to_string()));
        e.0 += 1;
    }
    for (k, (n, ex)) in counts {
        println!("{n:5} {k}   e.g. {ex}");
    }
}
