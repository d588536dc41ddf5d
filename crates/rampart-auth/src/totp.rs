//! TOTP (RFC 6238, SHA-1, 6 digits, 30-second steps) with replay protection: a code is
//! accepted for the step before, at or after the current one, and only if that step is newer
//! than the last step accepted for the user (the store checks and records it in one statement).

use rampart_crypto::keyring::{KeyError, TenantKeys};
use totp_rs::{Algorithm, Secret, TOTP};
use zeroize::Zeroizing;

pub const STEP_SECS: u64 = 30;
pub const DIGITS: usize = 6;

/// Where a user's seed belongs: a sealed seed moved to another user's row does not open.
fn context(user: rampart_core::UserId) -> Vec<u8> {
    format!("totp-seed/{user}").into_bytes()
}

/// Seals a seed for storage with the tenant's current data key.
pub fn seal(
    keys: &TenantKeys,
    user: rampart_core::UserId,
    seed: &[u8],
) -> Result<Vec<u8>, KeyError> {
    keys.seal(&context(user), seed)
}

/// Opens a sealed seed (see [`seal`]).
pub fn open(
    keys: &TenantKeys,
    user: rampart_core::UserId,
    sealed: &[u8],
) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    keys.open(&context(user), sealed)
}

/// Whether a stored seed predates sealing (a bare 160-bit seed), to be sealed at start-up.
pub fn is_unsealed(stored: &[u8]) -> bool {
    stored.len() == 20 && rampart_crypto::keyring::sealed_version(stored).is_none()
}

/// A new random 160-bit seed.
pub fn new_seed() -> Vec<u8> {
    rampart_crypto::random_bytes::<20>().to_vec()
}

/// The seed as authenticator apps take it (base32).
pub fn base32(seed: &[u8]) -> String {
    Secret::Raw(seed.to_vec()).to_encoded().to_string()
}

/// The `otpauth://` URI for a QR code. Colons would break the label, so none get through.
pub fn otpauth_uri(seed: &[u8], issuer: &str, account: &str) -> String {
    TOTP::new_unchecked(
        Algorithm::SHA1,
        DIGITS,
        0,
        STEP_SECS,
        seed.to_vec(),
        Some(issuer.replace(':', " ")),
        account.replace(':', " "),
    )
    .get_url()
}

fn totp(seed: &[u8]) -> Option<TOTP> {
    TOTP::new(
        Algorithm::SHA1,
        DIGITS,
        0,
        STEP_SECS,
        seed.to_vec(),
        None,
        String::new(),
    )
    .ok()
}

/// The code for a step (for tests and the software authenticators of tests).
pub fn code_at(seed: &[u8], unix_secs: u64) -> String {
    totp(seed)
        .map(|t| t.generate(unix_secs))
        .unwrap_or_default()
}

/// The step a code is valid for around `now` (one step of clock drift either way).
pub fn matching_step(seed: &[u8], code: &str, now_secs: u64) -> Option<i64> {
    let code = code.trim();
    if code.len() != DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let t = totp(seed)?;
    let now_step = now_secs / STEP_SECS;
    [now_step.saturating_sub(1), now_step, now_step + 1]
        .into_iter()
        .find(|step| {
            rampart_crypto::constant_time_eq(
                t.generate(step * STEP_SECS).as_bytes(),
                code.as_bytes(),
            )
        })
        .and_then(|s| i64::try_from(s).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6238_vector() {
        // RFC 6238 appendix B, SHA-1, T = 59: 94287082 (8 digits); 6 digits: 287082.
        let seed = b"12345678901234567890";
        assert_eq!(code_at(seed, 59), "287082");
    }

    #[test]
    fn codes_match_their_step_with_one_step_of_drift() {
        let seed = new_seed();
        let now = 1_700_000_000;
        let code = code_at(&seed, now);
        assert_eq!(matching_step(&seed, &code, now), Some((now / 30) as i64));
        assert_eq!(
            matching_step(&seed, &code, now + 30),
            Some((now / 30) as i64)
        );
        assert_eq!(matching_step(&seed, &code, now + 90), None);
        assert_eq!(matching_step(&seed, "12345", now), None);
        let uri = otpauth_uri(&seed, "Rampart (acme)", "a@b.c");
        assert!(
            uri.starts_with("otpauth://totp/Rampart%20%28acme%29:a%40b.c?secret="),
            "{uri}"
        );
        assert!(uri.contains(&format!("secret={}", base32(&seed))), "{uri}");
    }
}
