//! A software authenticator app for tests: it reads the `otpauth://` URI the server hands
//! out (with totp-rs, independently of the server's own TOTP code) and produces codes, each
//! for a newer 30-second step than the last, as a person typing codes over time would.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use totp_rs::TOTP;

pub struct Authenticator {
    totp: TOTP,
    last_step: Option<u64>,
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

impl Authenticator {
    pub fn from_uri(uri: &str) -> Self {
        Self {
            totp: TOTP::from_url(uri).unwrap_or_else(|e| panic!("bad otpauth URI {uri}: {e:?}")),
            last_step: None,
        }
    }

    /// A code for a step after the last one used. The server accepts one step of drift each
    /// way, so three codes fit in one step; after that this waits for the clock.
    pub async fn next_code(&mut self) -> String {
        loop {
            let now = now_secs();
            if now % 30 >= 27 {
                // Too close to a step boundary: the server might already be in the next one.
                tokio::time::sleep(Duration::from_secs(4)).await;
                continue;
            }
            let step = now / 30;
            let candidate = self.last_step.map_or(step - 1, |l| (l + 1).max(step - 1));
            if candidate <= step + 1 {
                self.last_step = Some(candidate);
                return self.totp.generate(candidate * 30);
            }
            tokio::time::sleep(Duration::from_secs(30 - now % 30)).await;
        }
    }

    /// The code most recently given out (for replay attempts).
    pub fn last_code(&self) -> String {
        self.totp.generate(self.last_step.unwrap() * 30)
    }

    /// A wrong code.
    pub fn wrong_code(&self) -> String {
        let right = self.totp.generate(now_secs());
        let n: u32 = right.parse().unwrap();
        format!("{:06}", (n + 500_000) % 1_000_000)
    }
}
