//! The real `rampart` binary: first start, the ready line, setup, the operator's tenant
//! commands while the server runs, configuration precedence and `config check`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::json;

fn rampart(data_dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rampart"));
    for (k, _) in std::env::vars() {
        if k.starts_with("RAMPART_") {
            cmd.env_remove(k);
        }
    }
    cmd.current_dir(data_dir)
        .arg("--data-dir")
        .arg(data_dir.join("data"))
        .env("RAMPART_LOG__LEVEL", "warn");
    cmd
}

struct Running {
    child: Child,
    public: String,
    internal: String,
    setup_token: Option<String>,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `rampart serve` on free ports and reads its ready line (never a fixed sleep).
fn serve(dir: &Path) -> Running {
    serve_with(dir, |_| {})
}

/// Like [`serve`], with the command adjusted first (environment, where stderr goes).
fn serve_with(dir: &Path, adjust: impl FnOnce(&mut Command)) -> Running {
    let mut cmd = rampart(dir);
    cmd.stderr(Stdio::null());
    adjust(&mut cmd);
    let child = cmd
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--internal-listen",
            "127.0.0.1:0",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // Owned by `Running` at once, so the process is reaped on every path.
    let mut running = Running {
        child,
        public: String::new(),
        internal: String::new(),
        setup_token: None,
    };
    let stdout = running.child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    loop {
        let line = lines
            .next()
            .expect("rampart exited before it was ready")
            .unwrap();
        if let Some(pos) = line.find("rps_") {
            let t: String = line[pos + 4..]
                .chars()
                .take_while(char::is_ascii_alphanumeric)
                .collect();
            running.setup_token = Some(format!("rps_{t}"));
        }
        if let Some(rest) = line.strip_prefix("rampart ready: ") {
            let field = |name: &str| {
                rest.split_whitespace()
                    .find_map(|w| w.strip_prefix(name))
                    .unwrap()
                    .to_owned()
            };
            running.public = field("listen=");
            running.internal = field("internal=");
            std::thread::spawn(move || for _ in lines {});
            return running;
        }
    }
}

fn http() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

#[test]
fn first_start_prints_a_setup_token_and_serves_both_listeners() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path());
    let token = server
        .setup_token
        .clone()
        .expect("first start prints a setup token");
    let c = http();
    assert_eq!(
        c.get(format!("{}/healthz", server.internal))
            .send()
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        c.get(format!("{}/readyz", server.internal))
            .send()
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        c.get(format!("{}/metrics", server.internal))
            .send()
            .unwrap()
            .status(),
        200
    );
    // The internal listener never serves the API, and the API port never serves metrics.
    assert_eq!(
        c.get(format!("{}/api/v1/openapi.json", server.internal))
            .send()
            .unwrap()
            .status(),
        404
    );
    assert_eq!(
        c.get(format!("{}/metrics", server.public))
            .send()
            .unwrap()
            .status(),
        404
    );

    let r = c
        .post(format!("{}/api/v1/setup", server.public))
        .json(&json!({"token": token, "email": "me@example.com", "password": "quartz meadow fiddle syntax"}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 201);
    let r = c
        .post(format!("{}/api/v1/auth/login", server.public))
        .json(&json!({"email": "me@example.com", "password": "quartz meadow fiddle syntax"}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    drop(server);

    // A second start of a set-up instance prints no token.
    let again = serve(dir.path());
    assert!(again.setup_token.is_none());
}

#[test]
fn operators_manage_tenants_from_the_command_line_while_serving() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path());
    let port = server.public.rsplit(':').next().unwrap().to_owned();
    let out = rampart(dir.path())
        .args(["tenant", "create", "acme", "--name", "Acme Inc"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("rps_"), "{stdout}");
    let dup = rampart(dir.path())
        .args(["tenant", "create", "acme"])
        .output()
        .unwrap();
    assert!(!dup.status.success());
    let bad = rampart(dir.path())
        .args(["tenant", "create", "Not A Slug"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("slug"));

    let list = rampart(dir.path())
        .args(["tenant", "list"])
        .output()
        .unwrap();
    let listed = String::from_utf8_lossy(&list.stdout);
    assert!(
        listed.contains("acme") && listed.contains("default"),
        "{listed}"
    );

    let c = reqwest::blocking::Client::builder()
        .resolve(
            "acme.localhost",
            format!("127.0.0.1:{port}").parse().unwrap(),
        )
        .build()
        .unwrap();
    let url = format!("http://acme.localhost:{port}/api/v1/openapi.json");
    assert_eq!(c.get(&url).send().unwrap().status(), 200);

    let out = rampart(dir.path())
        .args(["tenant", "suspend", "acme"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(c.get(&url).send().unwrap().status(), 403);
    let out = rampart(dir.path())
        .args(["tenant", "resume", "acme"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(c.get(&url).send().unwrap().status(), 200);

    let refused = rampart(dir.path())
        .args(["tenant", "delete", "acme"])
        .output()
        .unwrap();
    assert!(!refused.status.success(), "delete needs --yes");
    let out = rampart(dir.path())
        .args(["tenant", "delete", "acme", "--yes"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(c.get(&url).send().unwrap().status(), 404);
    let databases = std::fs::read_dir(dir.path().join("data/tenants"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "db")
        })
        .count();
    assert_eq!(
        databases, 1,
        "acme's database file is gone; only the default tenant's remains"
    );
    drop(server);
}

#[test]
fn configuration_layers_file_then_environment_then_flags() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rampart.toml");
    std::fs::write(
        &file,
        "listen = \"127.0.0.1:7001\"\ninternal_listen = \"127.0.0.1:7002\"\nbase_domains = [\"file.test\"]\n[limits]\nmax_batch = 10\n",
    )
    .unwrap();
    let out = rampart(dir.path())
        .args([
            "--config",
            file.to_str().unwrap(),
            "config",
            "check",
            "--listen",
            "127.0.0.1:7003",
        ])
        .env("RAMPART_INTERNAL_LISTEN", "127.0.0.1:7004")
        .env("RAMPART_LISTEN", "127.0.0.1:7005")
        .env("RAMPART_LIMITS__MAX_BATCH", "20")
        .env("RAMPART_TEST_SOMETHING_ELSE", "ignored")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}{}",
        text,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("127.0.0.1:7003"), "flag wins: {text}");
    assert!(
        text.contains("127.0.0.1:7004"),
        "environment beats file: {text}"
    );
    assert!(text.contains("file.test"), "file beats defaults: {text}");
    assert!(text.contains("max_batch: 20"), "{text}");
}

#[test]
fn config_check_reports_every_mistake_with_its_key() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.toml");
    std::fs::write(&file, "listen = \"0.0.0.0:8080\"\ndefault_tenant = \"Bad Slug\"\n[database]\nurl = \"mysql://x\"\n").unwrap();
    let out = rampart(dir.path())
        .args(["--config", file.to_str().unwrap(), "config", "check"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    for key in ["listen:", "default_tenant:", "database.url:"] {
        assert!(err.contains(key), "{key} missing from: {err}");
    }
    std::fs::write(&file, "lisen = \"127.0.0.1:1\"\n").unwrap();
    let out = rampart(dir.path())
        .args(["--config", file.to_str().unwrap(), "config", "check"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("lisen"), "{err}");
    // serve refuses a bad configuration the same way.
    std::fs::write(&file, "listen = \"0.0.0.0:8080\"\n").unwrap();
    let out = rampart(dir.path())
        .args(["--config", file.to_str().unwrap(), "serve"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// Signs up the first owner of the default tenant and returns an API token.
fn owner_token(server: &Running) -> String {
    let c = http();
    let token = server.setup_token.clone().unwrap();
    let body = json!({"token": token, "email": "me@example.com", "password": "quartz meadow fiddle syntax"});
    assert_eq!(
        c.post(format!("{}/api/v1/setup", server.public))
            .json(&body)
            .send()
            .unwrap()
            .status(),
        201
    );
    let login = c
        .post(format!("{}/api/v1/auth/login", server.public))
        .json(&json!({"email": "me@example.com", "password": "quartz meadow fiddle syntax"}))
        .send()
        .unwrap();
    let cookie = login.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let r: serde_json::Value = c
        .post(format!("{}/api/v1/tokens", server.public))
        .header("cookie", cookie)
        .header("sec-fetch-site", "same-origin")
        .json(&json!({"name": "test", "expires_in_days": 1}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    r["secret"].as_str().unwrap().to_owned()
}

#[test]
fn acknowledged_writes_survive_a_kill() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = serve(dir.path());
    let token = owner_token(&server);
    let c = http();
    let p: serde_json::Value = c
        .post(format!("{}/api/v1/projects", server.public))
        .bearer_auth(&token)
        .json(&json!({"name": "P"}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let t: serde_json::Value = c
        .post(format!(
            "{}/api/v1/projects/{}/tables",
            server.public,
            p["id"].as_str().unwrap()
        ))
        .bearer_auth(&token)
        .json(&json!({"name": "T", "fields": [{"name": "n", "type": "integer"}]}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let records_path = format!("/api/v1/tables/{}/records", t["id"].as_str().unwrap());
    let url = format!("{}{records_path}", server.public);

    // Eight writers create records as fast as they can; the server is killed mid-stream.
    let acknowledged = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let writers: Vec<_> = (0..8)
        .map(|w| {
            let (url, token, acked) = (url.clone(), token.clone(), acknowledged.clone());
            std::thread::spawn(move || {
                let c = http();
                for i in 0.. {
                    let r = c
                        .post(&url)
                        .bearer_auth(&token)
                        .json(&json!({"fields": {"n": w * 100_000 + i}}))
                        .send();
                    match r {
                        // A well-behaved client waits out the rate budget and carries on.
                        Ok(r) if r.status() == 429 => {
                            let wait = r
                                .headers()
                                .get("retry-after")
                                .and_then(|v| v.to_str().ok()?.parse().ok())
                                .unwrap_or(1);
                            std::thread::sleep(Duration::from_secs(wait));
                        }
                        Ok(r) if r.status() == 201 => {
                            let v: serde_json::Value = r.json().unwrap();
                            acked
                                .lock()
                                .unwrap()
                                .push(v["id"].as_str().unwrap().to_owned());
                        }
                        _ => break,
                    }
                }
            })
        })
        .collect();
    while acknowledged.lock().unwrap().len() < 300 {
        assert!(
            writers.iter().any(|w| !w.is_finished()),
            "every writer stopped before 300 writes were acknowledged"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    for w in writers {
        w.join().unwrap();
    }
    let acked = acknowledged.lock().unwrap().clone();

    let server = serve(dir.path());
    let mut stored = std::collections::HashSet::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut page_url = format!("{}{records_path}?limit=1000", server.public);
        if let Some(cur) = &cursor {
            page_url.push_str(&format!("&cursor={cur}"));
        }
        let r: serde_json::Value = c
            .get(page_url)
            .bearer_auth(&token)
            .send()
            .unwrap()
            .json()
            .unwrap();
        for rec in r["records"].as_array().unwrap() {
            stored.insert(rec["id"].as_str().unwrap().to_owned());
        }
        match r["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    let lost: Vec<_> = acked.iter().filter(|id| !stored.contains(*id)).collect();
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged records were lost",
        lost.len(),
        acked.len()
    );
}

/// Signs in to the default tenant; returns the answer's body and session cookie, if any.
fn sign_in(server: &Running, password: &str) -> (u16, serde_json::Value, Option<String>) {
    let r = http()
        .post(format!("{}/api/v1/auth/login", server.public))
        .json(&json!({"email": "me@example.com", "password": password}))
        .send()
        .unwrap();
    let status = r.status().as_u16();
    let cookie = r
        .headers()
        .get("set-cookie")
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned());
    (status, r.json().unwrap_or_default(), cookie)
}

fn post_with(
    server: &Running,
    cookie: &str,
    path: &str,
    body: serde_json::Value,
) -> serde_json::Value {
    http()
        .post(format!("{}{path}", server.public))
        .header("cookie", cookie)
        .header("sec-fetch-site", "same-origin")
        .json(&body)
        .send()
        .unwrap()
        .json()
        .unwrap()
}

#[test]
fn break_glass_resets_a_locked_out_owner() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path());
    owner_token(&server);
    let password = "quartz meadow fiddle syntax";
    let (_, _, cookie) = sign_in(&server, password);
    let cookie = cookie.unwrap();
    let enrolment = post_with(
        &server,
        &cookie,
        "/api/v1/me/second-factors/totp",
        json!({}),
    );
    let app = totp_rs::TOTP::from_url(enrolment["uri"].as_str().unwrap()).unwrap();
    let confirmed = post_with(
        &server,
        &cookie,
        "/api/v1/me/second-factors/totp/confirm",
        json!({"code": app.generate_current().unwrap()}),
    );
    assert_eq!(confirmed["recovery_codes"].as_array().unwrap().len(), 10);
    let (_, body, _) = sign_in(&server, password);
    assert_eq!(body["status"], "second_factor_required");

    // The owner lost the authenticator and the recovery codes.
    let out = rampart(dir.path())
        .args(["user", "reset-2fa", "default", "me@example.com"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("break_glass_second_factors_reset"),
        "logged: {stderr}"
    );
    let me = |cookie: &str| {
        http()
            .get(format!("{}/api/v1/me", server.public))
            .header("cookie", cookie)
            .send()
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(me(&cookie), 401, "their sessions ended");
    let (_, body, _) = sign_in(&server, password);
    assert_eq!(body["status"], "signed_in");

    // ...or forgot the password.
    let out = rampart(dir.path())
        .args(["user", "reset-password", "default", "me@example.com"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("break_glass_password_reset"));
    let new_password = stdout
        .lines()
        .find_map(|l| l.split_once("change it at once): "))
        .map(|(_, p)| p.trim().to_owned())
        .unwrap();
    assert!(new_password.len() >= 24, "{new_password}");
    assert_eq!(sign_in(&server, password).0, 401);
    assert_eq!(sign_in(&server, &new_password).0, 200);

    for (args, message) in [
        (
            ["user", "reset-password", "default", "nobody@example.com"],
            "no user",
        ),
        (
            ["user", "reset-2fa", "nowhere", "me@example.com"],
            "no such tenant",
        ),
    ] {
        let out = rampart(dir.path()).args(args).output().unwrap();
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains(message));
    }
}

#[test]
fn access_and_security_logs_name_who_and_what_but_never_a_secret() {
    let dir = tempfile::tempdir().unwrap();
    let stderr_path = dir.path().join("stderr.log");
    let security_path = dir.path().join("security.log");
    let stderr = std::fs::File::create(&stderr_path).unwrap();
    let mut server = serve_with(dir.path(), |cmd| {
        cmd.env("RAMPART_LOG__LEVEL", "info")
            .env("RAMPART_LOG__SECURITY_FILE", &security_path)
            .stderr(stderr);
    });
    let token = owner_token(&server);
    let c = http();
    let probe = "needle-in-a-filter-value";
    let r = c
        .get(format!(
            "{}/api/v1/tables/0190f0f0-0000-7000-8000-000000000000/records",
            server.public
        ))
        .query(&[("filter", format!("title = \"{probe}\""))])
        .bearer_auth(&token)
        .send()
        .unwrap();
    assert_eq!(r.status(), 404);
    let wrong_password = "not-the-password-at-all";
    let r = c
        .post(format!("{}/api/v1/auth/login", server.public))
        .json(&json!({"email": "me@example.com", "password": wrong_password}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 401);
    server.child.kill().unwrap();
    server.child.wait().unwrap();

    let log = std::fs::read_to_string(&stderr_path).unwrap();
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let access = lines
        .iter()
        .find(|l| {
            l["target"] == "rampart::access" && l["route"] == "/api/v1/tables/{table_id}/records"
        })
        .unwrap_or_else(|| panic!("no access line for the list: {log}"));
    assert_eq!(access["method"], "GET");
    assert_eq!(access["status"], 404);
    assert_eq!(access["tenant"], "default");
    assert!(access["actor"].as_str().unwrap().len() == 36, "{access}");
    assert!(access["client_ip"].as_str().unwrap().contains("127.0.0.1"));
    assert!(access["request_id"].as_str().unwrap().len() >= 32);
    assert!(access["micros"].is_u64());
    for secret in [
        token.as_str(),
        wrong_password,
        probe,
        "quartz meadow fiddle syntax",
        "rss_",
    ] {
        assert!(!log.contains(secret), "{secret:?} reached the log");
    }

    let security = std::fs::read_to_string(&security_path).unwrap();
    let failed = security
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|l| l["event"] == "login_failed")
        .unwrap_or_else(|| panic!("no login_failed in the security log: {security}"));
    assert!(failed.to_string().contains("127.0.0.1"), "{failed}");
    assert!(
        security
            .lines()
            .all(|l| l.contains("\"target\":\"rampart::security\"")),
        "only security events go to the security log: {security}"
    );
    assert!(!security.contains(wrong_password));
}

fn run(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (bool, String, String) {
    let mut cmd = rampart(dir);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.args(args).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_first_start_makes_a_kek_and_later_starts_refuse_without_it() {
    let dir = tempfile::tempdir().unwrap();
    let kek_file = dir.path().join("data.kek");
    let server = serve(dir.path());
    drop(server);
    let text = std::fs::read_to_string(&kek_file).unwrap();
    assert!(text.contains("Losing this file loses"), "{text}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&kek_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // The key is never written anywhere else: not into the data directory.
    let key_line = text
        .lines()
        .find(|l| !l.starts_with('#'))
        .unwrap()
        .to_owned();
    for entry in walk(&dir.path().join("data")) {
        let bytes = std::fs::read(&entry).unwrap();
        assert!(
            !bytes
                .windows(key_line.len())
                .any(|w| w == key_line.as_bytes()),
            "the KEK leaked into {}",
            entry.display()
        );
    }

    // Without the file, the instance refuses to start (and does not make a new key).
    let moved = dir.path().join("kek.backup");
    std::fs::rename(&kek_file, &moved).unwrap();
    let (ok, _, err) = run(dir.path(), &["tenant", "list"], &[]);
    assert!(!ok);
    assert!(err.contains("restore it from your copy"), "{err}");
    assert!(!kek_file.exists());

    // A malformed configured source is refused, naming it.
    let bad = dir.path().join("bad.kek");
    std::fs::write(&bad, "not a key\n").unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&bad, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let (ok, _, err) = run(
        dir.path(),
        &["tenant", "list"],
        &[("RAMPART_KEYS__KEK_FILE", bad.to_str().unwrap())],
    );
    assert!(!ok);
    assert!(err.contains("line 1"), "{err}");

    // The same key from an environment variable or a command works.
    let (ok, out, err) = run(
        dir.path(),
        &["tenant", "list"],
        &[("RAMPART_KEYS__KEK_ENV", "MY_KEK"), ("MY_KEK", &key_line)],
    );
    assert!(ok, "{err}");
    assert!(out.contains("default"), "{out}");
    let cfg = dir.path().join("rampart.toml");
    std::fs::write(
        &cfg,
        format!("[keys]\nkek_command = [\"cat\", \"{}\"]\n", moved.display()),
    )
    .unwrap();
    let (ok, _, err) = run(dir.path(), &["tenant", "list"], &[]);
    assert!(ok, "{err}");
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[test]
fn keys_rotate_under_a_new_kek_while_the_server_runs() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path());
    let token = owner_token(&server);
    let old = std::fs::read_to_string(dir.path().join("data.kek")).unwrap();
    let old_line = old
        .lines()
        .find(|l| !l.starts_with('#'))
        .unwrap()
        .to_owned();

    let (ok, new_line, _) = run(dir.path(), &["keys", "generate-kek"], &[]);
    assert!(ok);
    let new_line = new_line.trim().to_owned();
    assert_ne!(new_line, old_line);
    let source = dir.path().join("source.kek");
    std::fs::write(&source, format!("{new_line}\n{old_line}\n")).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&source, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let env = [("RAMPART_KEYS__KEK_FILE", source.to_str().unwrap())];
    let (ok, out, err) = run(dir.path(), &["keys", "status"], &env);
    assert!(ok, "{err}");
    assert!(
        out.contains("rotate-kek"),
        "the old wrapping is pointed out: {out}"
    );
    let (ok, out, err) = run(dir.path(), &["keys", "rotate-kek"], &env);
    assert!(ok, "{err}");
    assert!(out.contains("re-wrapped 2 tenant keys"), "{out}");
    let (ok, out, _) = run(dir.path(), &["keys", "rotate-kek"], &env);
    assert!(ok);
    assert!(out.contains("re-wrapped 0 tenant keys"), "resumable: {out}");

    // The new KEK alone now opens everything; the old one alone no longer does.
    std::fs::write(&source, format!("{new_line}\n")).unwrap();
    let (ok, out, err) = run(dir.path(), &["keys", "status"], &env);
    assert!(ok, "{err}");
    assert!(
        out.contains("(current)") && !out.contains("rotate-kek"),
        "{out}"
    );
    let (ok, out, err) = run(
        dir.path(),
        &["keys", "rotate-dek", "default", "--no-wait"],
        &env,
    );
    assert!(ok, "{err}");
    assert!(out.contains("version 2"), "{out}");
    assert!(out.contains("re-sealed"), "{out}");
    // Finishing an interrupted rotation: nothing is left to do.
    let (ok, out, err) = run(
        dir.path(),
        &["keys", "reseal", "default", "--no-wait"],
        &env,
    );
    assert!(ok, "{err}");
    assert!(out.contains("re-sealed 0 values"), "{out}");
    let (ok, out, err) = run(dir.path(), &["keys", "status"], &env);
    assert!(ok, "{err}");
    assert!(
        out.contains("retired") && out.contains(" a2 ") && out.contains("audit"),
        "{out}"
    );
    // Retired now, kept for the default eight days (either side of a midnight).
    let kept_until = |days| (chrono::Utc::now() + chrono::Duration::days(days)).format("%Y-%m-%d");
    assert!(
        [kept_until(8), kept_until(9)]
            .iter()
            .any(|d| out.contains(&format!("(kept at least until {d})"))),
        "the retention is shown: {out}"
    );
    // Version 1 was retired a moment ago: well within its retention.
    let (ok, out, err) = run(dir.path(), &["keys", "purge", "--dry-run"], &env);
    assert!(ok, "{err}");
    assert!(out.contains("nothing to destroy"), "{out}");

    // The server, still on its first reading of the source, keeps serving.
    let r = http()
        .get(format!("{}/api/v1/me", server.public))
        .bearer_auth(&token)
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
}

/// Writes a KEK source file the way an operator would (owner-only).
fn write_source(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
}

/// Waits until the log at `path` holds a line containing every one of `needles`.
fn wait_for_log(path: &Path, needles: &[&str]) -> String {
    for _ in 0..200 {
        let log = std::fs::read_to_string(path).unwrap_or_default();
        if let Some(line) = log.lines().find(|l| needles.iter().all(|n| l.contains(n))) {
            return line.to_owned();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!(
        "no log line with {needles:?}: {}",
        std::fs::read_to_string(path).unwrap_or_default()
    );
}

#[test]
fn sighup_reads_the_kek_source_again_and_keeps_the_keys_when_it_is_broken() {
    let dir = tempfile::tempdir().unwrap();
    let new_kek = |dir: &Path| {
        let (ok, line, err) = run(dir, &["keys", "generate-kek"], &[]);
        assert!(ok, "{err}");
        let id = err.split_whitespace().nth(2).unwrap().to_owned();
        (line.trim().to_owned(), id)
    };
    let (a, a_id) = new_kek(dir.path());
    let (b, b_id) = new_kek(dir.path());
    let source = dir.path().join("source.kek");
    write_source(&source, &format!("{a}\n"));
    let log = dir.path().join("stderr.log");
    let stderr = std::fs::File::create(&log).unwrap();
    let server = serve_with(dir.path(), |cmd| {
        cmd.env("RAMPART_LOG__LEVEL", "info")
            .env("RAMPART_KEYS__KEK_FILE", &source)
            .stderr(stderr);
    });
    let hangup = || {
        let pid = server.child.id().to_string();
        assert!(
            Command::new("kill")
                .args(["-HUP", &pid])
                .status()
                .unwrap()
                .success()
        );
    };

    // The operator puts a new KEK first: one signal and the server holds both.
    write_source(&source, &format!("{b}\n{a}\n"));
    hangup();
    let line = wait_for_log(&log, &["key-encryption keys reloaded", &b_id, &a_id]);
    assert!(
        line.find(&b_id) < line.find(&a_id),
        "the new KEK is current: {line}"
    );

    // A broken source is refused and the keys in use stay; the server keeps serving.
    write_source(&source, "not a key\n");
    hangup();
    wait_for_log(
        &log,
        &["cannot read the KEK source", "keeping the current keys"],
    );
    let token = owner_token(&server);
    let r = http()
        .get(format!("{}/api/v1/me", server.public))
        .bearer_auth(&token)
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(
        !log.contains(&a) && !log.contains(&b),
        "a KEK never reaches the log"
    );
}

#[test]
fn audit_verify_reports_tampering_and_an_anchor_catches_a_cut() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path());
    let token = owner_token(&server);
    let c = http();
    let p: serde_json::Value = c
        .post(format!("{}/api/v1/projects", server.public))
        .bearer_auth(&token)
        .json(&json!({"name": "P"}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert!(p["id"].is_string(), "{p}");
    let (ok, out, err) = run(dir.path(), &["audit", "verify", "default"], &[]);
    assert!(ok, "{err}");
    assert!(out.contains("OK"), "{out}");
    let (ok, anchor, err) = run(dir.path(), &["audit", "anchor", "default"], &[]);
    assert!(ok, "{err}");
    let anchor_file = dir.path().join("anchor.json");
    std::fs::write(&anchor_file, &anchor).unwrap();
    drop(server);

    // Someone with access to the database file edits entry 2.
    let db = std::fs::read_dir(dir.path().join("data/tenants"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "db"))
        .unwrap();
    let sql = |statement: &'static str| {
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.execute_batch(statement).unwrap();
    };
    sql("UPDATE audit_log SET actor = 'operator' WHERE seq = 2");
    let (ok, out, _) = run(dir.path(), &["audit", "verify", "default"], &[]);
    assert!(!ok, "a tampered chain fails the command");
    assert!(out.contains("TAMPERED: entry 2 was edited"), "{out}");

    // Someone cuts the last entries and tidies up after themselves; only the anchor tells.
    sql("UPDATE audit_log SET actor = (SELECT actor FROM audit_log WHERE seq = 1) WHERE seq = 2");
    let (ok, out, _) = run(dir.path(), &["audit", "verify", "default"], &[]);
    assert!(ok, "restored: {out}");
    sql("DELETE FROM audit_log WHERE seq > 3");
    sql("DELETE FROM audit_checkpoints");
    sql("UPDATE audit_head SET seq = 3, hash = (SELECT hash FROM audit_log WHERE seq = 3)");
    let (ok, out, _) = run(dir.path(), &["audit", "verify", "default"], &[]);
    assert!(ok, "a clean cut is invisible from inside: {out}");
    let (ok, out, _) = run(
        dir.path(),
        &[
            "audit",
            "verify",
            "default",
            "--anchor",
            anchor_file.to_str().unwrap(),
        ],
        &[],
    );
    assert!(!ok);
    assert!(out.contains("entries after 3 were cut off"), "{out}");
}

#[test]
fn records_list_as_a_user_prints_what_the_api_gives_them() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path());
    let token = owner_token(&server);
    let c = http();
    let api = |method: reqwest::Method, path: &str, body: serde_json::Value| -> serde_json::Value {
        let r = c
            .request(method, format!("{}{path}", server.public))
            .bearer_auth(&token)
            .json(&body)
            .send()
            .unwrap();
        assert!(r.status().is_success(), "{path}: {}", r.status());
        r.json().unwrap_or(serde_json::Value::Null)
    };
    let p = api(
        reqwest::Method::POST,
        "/api/v1/projects",
        json!({"name": "P"}),
    );
    let p = p["id"].as_str().unwrap();
    let t = api(
        reqwest::Method::POST,
        &format!("/api/v1/projects/{p}/tables"),
        json!({"name": "notes", "fields": [{"name": "title", "type": "text"},
               {"name": "secret", "type": "text"}, {"name": "n", "type": "integer"}]}),
    );
    let t = t["id"].as_str().unwrap().to_owned();
    let member_password = "orbit velvet lantern cactus";
    let member = api(
        reqwest::Method::POST,
        "/api/v1/users",
        json!({"email": "m@example.com", "display_name": "M", "password": member_password, "role": "member"}),
    );
    let set = api(
        reqwest::Method::POST,
        &format!("/api/v1/projects/{p}/permission-sets"),
        json!({"name": "Readers", "tables": {&t: {"read": true, "fields": {"secret": "none"},
               "rules": {"read": "n >= 2"}}}}),
    );
    api(
        reqwest::Method::PUT,
        &format!(
            "/api/v1/permission-sets/{}/users/{}",
            set["id"].as_str().unwrap(),
            member["id"].as_str().unwrap()
        ),
        json!({}),
    );
    for n in 0..5 {
        api(
            reqwest::Method::POST,
            &format!("/api/v1/tables/{t}/records"),
            json!({"fields": {"title": format!("note {n}"), "secret": "s", "n": n}}),
        );
    }
    // What the member gets over the API, signed in with their password.
    let login = c
        .post(format!("{}/api/v1/auth/login", server.public))
        .json(&json!({"email": "m@example.com", "password": member_password}))
        .send()
        .unwrap();
    let cookie = login.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    for filter in [None, Some("title ~ \"NOTE\" && n != 3")] {
        let mut url =
            reqwest::Url::parse(&format!("{}/api/v1/tables/{t}/records", server.public)).unwrap();
        if let Some(f) = filter {
            url.query_pairs_mut().append_pair("filter", f);
        }
        let over_api: serde_json::Value = c
            .get(url)
            .header("cookie", &cookie)
            .send()
            .unwrap()
            .json()
            .unwrap();
        let over_api = over_api["records"].as_array().unwrap().clone();
        assert!(!over_api.is_empty());
        assert!(over_api.iter().all(|r| r["fields"].get("secret").is_none()));
        let mut args = vec!["records", "list", "default", &t, "--as", "m@example.com"];
        if let Some(f) = filter {
            args.extend(["--filter", f]);
        }
        let (ok, out, err) = run(dir.path(), &args, &[]);
        assert!(ok, "{err}");
        let from_cli: Vec<serde_json::Value> = out
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(from_cli, over_api, "filter {filter:?}");
    }
    // A field the member may not read is unknown to the CLI's filter too.
    let (ok, _, err) = run(
        dir.path(),
        &[
            "records",
            "list",
            "default",
            &t,
            "--as",
            "m@example.com",
            "--filter",
            "secret = \"s\"",
        ],
        &[],
    );
    assert!(!ok);
    assert!(err.contains("unknown_field"), "{err}");
    let (ok, _, err) = run(
        dir.path(),
        &[
            "records",
            "list",
            "default",
            &t,
            "--as",
            "nobody@example.com",
        ],
        &[],
    );
    assert!(!ok);
    assert!(err.contains("no such user"), "{err}");

    // `rampart export` writes exactly the file the member's export over the API holds, and
    // leaves the same audit entry, naming whose view it was.
    let over_api = c
        .get(format!("{}/api/v1/tables/{t}/export?sort=n", server.public))
        .header("cookie", &cookie)
        .send()
        .unwrap()
        .text()
        .unwrap();
    let file = dir.path().join("notes.csv");
    let (ok, _, err) = run(
        dir.path(),
        &[
            "export",
            "default",
            &t,
            "--as",
            "m@example.com",
            "--sort",
            "n",
            "--output",
            file.to_str().unwrap(),
        ],
        &[],
    );
    assert!(ok, "{err}");
    assert!(err.contains("exported 3 records"), "{err}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), over_api);
    assert!(
        over_api.starts_with("title,n\r\nnote 2,2\r\n"),
        "{over_api}"
    );
    let audit = c
        .get(format!(
            "{}/api/v1/audit?action=record.export",
            server.public
        ))
        .bearer_auth(&token)
        .send()
        .unwrap()
        .json::<serde_json::Value>()
        .unwrap();
    let entries = audit["items"].as_array().unwrap();
    assert_eq!(entries.len(), 2, "{audit}");
    assert!(entries.iter().any(|e| e["actor"] == "operator"
        && e["detail"]["as"] == member["id"]
        && e["detail"]["records"] == 3));
    // A failed export leaves no file behind.
    let (ok, _, err) = run(
        dir.path(),
        &[
            "export",
            "default",
            &t,
            "--as",
            "m@example.com",
            "--filter",
            "secret = 1",
            "--output",
            dir.path().join("no.csv").to_str().unwrap(),
        ],
        &[],
    );
    assert!(!ok);
    assert!(err.contains("unknown_field"), "{err}");
    assert!(!dir.path().join("no.csv").exists());
    assert!(!dir.path().join("no.csv.partial").exists());

    // `rampart import` goes through the same checks: the member may not create records here,
    // the owner may; a refused row in all-or-nothing mode writes nothing.
    let input = dir.path().join("in.csv");
    std::fs::write(&input, "title,n\r\nfrom the cli,7\r\nbad,seven\r\n").unwrap();
    let args = |who: &'static str, extra: &'static [&'static str]| {
        let mut a = vec![
            "import",
            "default",
            t.as_str(),
            input.to_str().unwrap(),
            "--as",
            who,
        ];
        a.extend_from_slice(extra);
        a
    };
    let (ok, _, err) = run(dir.path(), &args("m@example.com", &[]), &[]);
    assert!(!ok);
    assert!(err.contains("creating records"), "{err}");
    let (ok, _, err) = run(dir.path(), &args("me@example.com", &[]), &[]);
    assert!(!ok, "{err}");
    assert!(
        err.contains("failed: 2 rows read, 0 written, 1 refused"),
        "{err}"
    );
    let (ok, _, err) = run(dir.path(), &args("me@example.com", &["--valid-rows"]), &[]);
    assert!(ok, "{err}");
    assert!(
        err.contains("done: 2 rows read, 1 written, 1 refused"),
        "{err}"
    );
    let all = api(
        reqwest::Method::GET,
        &format!("/api/v1/tables/{t}/records?filter=n%20%3D%207"),
        json!(null),
    );
    assert_eq!(all["records"].as_array().map(Vec::len), Some(1), "{all}");
}
