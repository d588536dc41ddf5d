//! A flood against one tenant from many client addresses on loopback, while one well-behaved
//! client keeps reading records with its API token. Prints the honest client's success rate
//! and latency before and during the flood, and what the attackers got.
//!
//!     scripts/flood [seconds]        (builds the release binary, then runs this)
//!
//! The attackers (each its own address 127.0.1.x) mix three kinds of abuse: password guesses
//! against a real account (argon2id work), anonymous list calls, and calls with forged
//! tokens. The server runs with its default limits.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::{IpAddr, SocketAddr};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::sync::Mutex;

const PASSWORD: &str = "velvet cactus orbit lantern";
const ATTACK_ADDRESSES: u8 = 200;
const CONNECTIONS_PER_ADDRESS: usize = 2;

struct Server {
    child: Child,
    addr: SocketAddr,
    setup_token: String,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(binary: &str) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let child = Command::new(binary)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--internal-listen",
            "127.0.0.1:0",
        ])
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .env("RAMPART_LOG__LEVEL", "error")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Owned by `Server` at once, so the process is reaped on every path.
    let mut server = Server {
        child,
        addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        setup_token: String::new(),
        _dir: dir,
    };
    let mut lines = BufReader::new(server.child.stdout.take().unwrap()).lines();
    loop {
        let line = lines.next().expect("rampart exited").unwrap();
        if let Some(pos) = line.find("rps_") {
            server.setup_token = line[pos..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
        }
        if let Some(rest) = line.strip_prefix("rampart ready: listen=http://") {
            server.addr = rest.split_whitespace().next().unwrap().parse().unwrap();
            std::thread::spawn(move || for _ in lines {});
            return server;
        }
    }
}

fn client(addr: SocketAddr, source: IpAddr) -> reqwest::Client {
    reqwest::Client::builder()
        .resolve("localhost", addr)
        .local_address(source)
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

#[derive(Default)]
struct Samples {
    latencies: Vec<Duration>,
    ok: usize,
    failed: usize,
}

impl Samples {
    fn percentile(&self, p: f64) -> Duration {
        let mut v = self.latencies.clone();
        v.sort();
        if v.is_empty() {
            return Duration::ZERO;
        }
        let idx = ((v.len() as f64 - 1.0) * p).round() as usize;
        v[idx]
    }

    fn success_rate(&self) -> f64 {
        100.0 * self.ok as f64 / (self.ok + self.failed).max(1) as f64
    }
}

async fn honest(
    http: reqwest::Client,
    url: String,
    token: String,
    stop: Arc<AtomicBool>,
) -> Samples {
    let mut samples = Samples::default();
    while !stop.load(Ordering::Relaxed) {
        let started = Instant::now();
        let r = http.get(&url).bearer_auth(&token).send().await;
        let ok = match r {
            Ok(r) => r.status() == 200 && r.bytes().await.is_ok(),
            Err(_) => false,
        };
        samples.latencies.push(started.elapsed());
        if ok {
            samples.ok += 1;
        } else {
            samples.failed += 1;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    samples
}

async fn attacker(
    http: reqwest::Client,
    base: String,
    kind: usize,
    stop: Arc<AtomicBool>,
    tally: Arc<Mutex<BTreeMap<(&'static str, u16), usize>>>,
) {
    let mut local: BTreeMap<(&'static str, u16), usize> = BTreeMap::new();
    let mut i = 0u64;
    while !stop.load(Ordering::Relaxed) {
        i += 1;
        let (label, req) = match kind % 3 {
            0 => (
                "password guess",
                http.post(format!("{base}/api/v1/auth/login"))
                    .json(&json!({"email": "owner@example.com", "password": format!("guess {i}")})),
            ),
            1 => (
                "anonymous list",
                http.get(format!("{base}/api/v1/projects")),
            ),
            _ => (
                "forged token",
                http.get(format!("{base}/api/v1/me"))
                    .bearer_auth(format!("rpt_forged{i:032}")),
            ),
        };
        let status = match req.send().await {
            Ok(r) => {
                let s = r.status().as_u16();
                let _ = r.bytes().await;
                s
            }
            Err(_) => 0,
        };
        *local.entry((label, status)).or_default() += 1;
    }
    let mut tally = tally.lock().await;
    for (k, n) in local {
        *tally.entry(k).or_default() += n;
    }
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let binary = args
        .next()
        .expect("usage: flood <rampart binary> [seconds]");
    let seconds: u64 = args.next().map_or(20, |s| s.parse().unwrap());
    let server = start(&binary);
    let base = format!("http://localhost:{}", server.addr.port());
    let admin = client(server.addr, IpAddr::from([127, 0, 0, 2]));

    let r = admin
        .post(format!("{base}/api/v1/setup"))
        .json(&json!({"token": server.setup_token, "email": "owner@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let login = admin
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"email": "owner@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    let cookie = login.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let post = |path: &str, body: serde_json::Value| {
        admin
            .post(format!("{base}{path}"))
            .header("cookie", &cookie)
            .header("sec-fetch-site", "same-origin")
            .json(&body)
    };
    let token: serde_json::Value = post("/api/v1/tokens", json!({"name": "honest"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = token["secret"].as_str().unwrap().to_owned();
    let p: serde_json::Value = post("/api/v1/projects", json!({"name": "P"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let t: serde_json::Value = post(
        &format!("/api/v1/projects/{}/tables", p["id"].as_str().unwrap()),
        json!({"name": "Notes", "fields": [{"name": "title", "type": "text"}]}),
    )
    .send()
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let table = t["id"].as_str().unwrap().to_owned();
    let creates: Vec<_> = (0..200)
        .map(|i| json!({"fields": {"title": format!("note {i}")}}))
        .collect();
    let r = post(
        &format!("/api/v1/tables/{table}/records/batch"),
        json!({"create": creates}),
    )
    .send()
    .await
    .unwrap();
    assert!(
        r.status().is_success(),
        "batch: {}",
        r.text().await.unwrap()
    );
    let list = format!("{base}/api/v1/tables/{table}/records?limit=20");
    let honest_client = client(server.addr, IpAddr::from([127, 0, 0, 3]));

    // Baseline: the honest client alone.
    let stop = Arc::new(AtomicBool::new(false));
    let run = tokio::spawn(honest(
        honest_client.clone(),
        list.clone(),
        token.clone(),
        stop.clone(),
    ));
    tokio::time::sleep(Duration::from_secs(seconds / 2)).await;
    stop.store(true, Ordering::Relaxed);
    let baseline = run.await.unwrap();

    // The flood, with the honest client still working.
    let stop = Arc::new(AtomicBool::new(false));
    let tally = Arc::new(Mutex::new(BTreeMap::new()));
    let mut attackers = Vec::new();
    for a in 0..ATTACK_ADDRESSES {
        let http = client(server.addr, IpAddr::from([127, 0, 1, a + 1]));
        for c in 0..CONNECTIONS_PER_ADDRESS {
            attackers.push(tokio::spawn(attacker(
                http.clone(),
                base.clone(),
                usize::from(a) + c,
                stop.clone(),
                tally.clone(),
            )));
        }
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let run = tokio::spawn(honest(honest_client, list, token, stop.clone()));
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let during = run.await.unwrap();
    for a in attackers {
        let _ = a.await;
    }

    println!(
        "| honest client (GET 20 records, token) | requests | success | p50 | p99 |\n|---|---|---|---|---|"
    );
    for (label, s) in [("alone", &baseline), ("during the flood", &during)] {
        println!(
            "| {label} | {} | {:.1} % | {:.1} ms | {:.1} ms |",
            s.ok + s.failed,
            s.success_rate(),
            s.percentile(0.5).as_secs_f64() * 1000.0,
            s.percentile(0.99).as_secs_f64() * 1000.0,
        );
    }
    println!(
        "\np99 during the flood / p99 alone: {:.2}\n",
        during.percentile(0.99).as_secs_f64() / baseline.percentile(0.99).as_secs_f64().max(1e-9)
    );
    println!(
        "| flood ({ATTACK_ADDRESSES} addresses x {CONNECTIONS_PER_ADDRESS} connections, {seconds} s) | status | answers |\n|---|---|---|"
    );
    for ((label, status), n) in tally.lock().await.iter() {
        let status = if *status == 0 {
            "no answer".to_owned()
        } else {
            status.to_string()
        };
        println!("| {label} | {status} | {n} |");
    }
}
