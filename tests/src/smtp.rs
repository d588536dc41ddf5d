//! A real SMTP server on loopback for tests: Python's aiosmtpd (installed by
//! `scripts/ensure-smtp-sink`), storing what it receives in a maildir that the test reads.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};

pub struct SmtpSink {
    child: Child,
    dir: tempfile::TempDir,
    pub port: u16,
}

fn python() -> PathBuf {
    std::env::var_os("RAMPART_TEST_PYTHON").map_or_else(
        || {
            let home = std::env::var_os("HOME").unwrap_or_default();
            PathBuf::from(home).join(".cache/rampart-tools/smtp-venv/bin/python")
        },
        PathBuf::from,
    )
}

impl SmtpSink {
    /// Starts the server; `None` (the test is skipped) when aiosmtpd is not installed, except
    /// under `CI=true`, where that fails the test.
    pub async fn start() -> Option<Self> {
        let python = python();
        let available = std::process::Command::new(&python)
            .args(["-c", "import aiosmtpd"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !available {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "aiosmtpd is missing at {}: run scripts/ensure-smtp-sink",
                python.display()
            );
            eprintln!("skipped: no aiosmtpd (run scripts/ensure-smtp-sink)");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(&python)
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(dir.path().join("mail"))
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            assert!(Instant::now() < deadline, "aiosmtpd did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Some(Self { child, dir, port })
    }

    /// Every message received so far, quoted-printable decoded.
    pub fn messages(&self) -> Vec<String> {
        let new = self.dir.path().join("mail").join("new");
        let Ok(entries) = std::fs::read_dir(new) else {
            return Vec::new();
        };
        entries
            .filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
            .map(|m| decode_quoted_printable(&m))
            .collect()
    }

    /// Waits for the message to `to` whose body holds `marker`.
    pub async fn wait_for(&self, to: &str, marker: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let found = self
                .messages()
                .into_iter()
                .find(|m| m.contains(&format!("To: {to}")) && m.contains(marker));
            if let Some(m) = found {
                return m;
            }
            assert!(Instant::now() < deadline, "no mail to {to} with {marker}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

/// The first `<kind>_…` secret (prefix, 43 + 6 base62 characters) in a text.
pub fn secret_in(text: &str, prefix: &str) -> Option<String> {
    let start = text.find(prefix)?;
    let secret: String = text[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    (secret.len() == prefix.len() + 49).then_some(secret)
}

/// Undoes quoted-printable encoding (soft line breaks and `=XX` escapes); good enough for
/// the ASCII text our messages hold.
fn decode_quoted_printable(text: &str) -> String {
    let joined = text.replace("=\r\n", "").replace("=\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'='
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&joined[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
