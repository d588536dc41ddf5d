//! The password policy, following NIST SP 800-63B: a minimum length, a strength estimate
//! (zxcvbn, which also knows the user's own email and name) with a minimum score, and a block
//! list of common passwords. No composition rules, no forced rotation.

use rampart_core::FieldError;

/// The policy's settings.
#[derive(Debug, Clone, Copy)]
pub struct PasswordPolicy {
    pub min_length: usize,
    /// zxcvbn score from 0 (guessable) to 4 (very unguessable).
    pub min_score: u8,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        Self {
            min_length: 12,
            min_score: 3,
        }
    }
}

/// Longest password accepted (hashing cost and the strength estimate stay bounded).
pub const MAX_CHARS: usize = 1024;

const COMMON: &str = include_str!("common_passwords.txt");

/// Whether a password is, or is a common password dressed with digits and symbols.
pub fn is_common(password: &str) -> bool {
    let lower = password.to_lowercase();
    let core = lower.trim_matches(|c: char| !c.is_alphabetic());
    COMMON
        .lines()
        .map(str::trim)
        .filter(|w| !w.is_empty())
        .any(|w| {
            w == lower
                || (w.len() >= 4 && w == core)
                || (lower.len() >= 8
                    && w.len() >= 8
                    && lower.starts_with(w)
                    && !lower[w.len()..].chars().any(char::is_alphabetic))
        })
}

/// What a password must not lean on: each context string whole, its words, and its words run
/// together (`Jordan Example` gives `jordan example`, `jordan`, `example`, `jordanexample`).
fn context_words(context: &[&str]) -> Vec<String> {
    let mut words = Vec::new();
    for text in context {
        let lower = text.trim().to_lowercase();
        let parts: Vec<&str> = lower
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| w.chars().count() >= 3)
            .collect();
        words.push(parts.concat());
        words.extend(parts.iter().map(|p| (*p).to_owned()));
        words.push(lower);
    }
    words.retain(|w| !w.is_empty());
    words.sort();
    words.dedup();
    words
}

impl PasswordPolicy {
    /// Checks a new password; `context` holds words the password must not lean on (the
    /// user's email, name). CPU-bound (zxcvbn): call from a blocking thread.
    pub fn check(&self, field: &str, password: &str, context: &[&str]) -> Result<(), FieldError> {
        let chars = password.chars().count();
        if chars < self.min_length {
            return Err(FieldError::new(
                field,
                "password_too_short",
                format!("must be at least {} characters", self.min_length),
            ));
        }
        if chars > MAX_CHARS {
            return Err(FieldError::new(
                field,
                "password_too_long",
                format!("must be at most {MAX_CHARS} characters"),
            ));
        }
        if is_common(password) {
            return Err(FieldError::new(
                field,
                "password_common",
                "this password is too common; choose another",
            ));
        }
        let words = context_words(context);
        let words: Vec<&str> = words.iter().map(String::as_str).collect();
        let estimate = zxcvbn::zxcvbn(password, &words);
        let score = u8::from(estimate.score());
        if score < self.min_score {
            let hint = estimate
                .feedback()
                .and_then(|f| f.warning().map(|w| w.to_string()))
                .unwrap_or_else(|| {
                    "add more words or characters that are hard to guess".to_owned()
                });
            return Err(FieldError::new(
                field,
                "password_weak",
                format!(
                    "too easy to guess (strength {score} of 4, need {}): {hint}",
                    self.min_score
                ),
            ));
        }
        Ok(())
    }

    /// [`Self::check`] on a blocking thread.
    pub async fn check_async(
        &self,
        field: String,
        password: String,
        context: Vec<String>,
    ) -> Result<(), FieldError> {
        let policy = *self;
        tokio::task::spawn_blocking(move || {
            let ctx: Vec<&str> = context.iter().map(String::as_str).collect();
            policy.check(&field, &password, &ctx)
        })
        .await
        .unwrap_or_else(|_| {
            Err(FieldError::new(
                "password",
                "unavailable",
                "the password could not be checked",
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_random_passphrases_pass() {
        let p = PasswordPolicy::default();
        assert!(
            p.check("password", "velvet cactus orbit lantern", &[])
                .is_ok()
        );
    }

    #[test]
    fn short_common_and_weak_passwords_fail() {
        let p = PasswordPolicy::default();
        assert_eq!(
            p.check("password", "short", &[]).unwrap_err().code,
            "password_too_short"
        );
        assert_eq!(
            p.check("password", "Password1234!", &[]).unwrap_err().code,
            "password_common"
        );
        assert_eq!(
            p.check("password", "qwertyqwerty", &[]).unwrap_err().code,
            "password_common"
        );
        assert_eq!(
            p.check("password", "aaaaaaaaaaaaaaaa", &[])
                .unwrap_err()
                .code,
            "password_weak"
        );
        let e = p
            .check(
                "password",
                "alice.smith@example.com1",
                &["alice.smith@example.com"],
            )
            .unwrap_err();
        assert_eq!(e.code, "password_weak", "{e:?}");
        let e = p
            .check("password", "jordanexample1", &["Jordan Example"])
            .unwrap_err();
        assert_eq!(e.code, "password_weak", "{e:?}");
    }

    #[test]
    fn no_composition_rules() {
        // All lowercase letters and spaces is fine when long and unguessable.
        let p = PasswordPolicy::default();
        assert!(
            p.check("password", "quartz meadow fiddle syntax", &[])
                .is_ok()
        );
    }
}
