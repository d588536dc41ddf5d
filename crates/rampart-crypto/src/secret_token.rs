//! Formats of the secrets Rampart hands out. Each kind has its own prefix, so a secret of one
//! kind is refused wherever another is expected, and secret scanners recognise them:
//!
//! * API tokens: `rpt_` + 43 base62 characters (256 bits) + 6 base62 characters of CRC-32.
//!   The checksum lets us reject typos and random strings before touching the database.
//! * Setup tokens (first owner of a tenant): `rps_` + the same shape.
//! * Session ids: `rss_` + the same shape; they travel only in the session cookie.
//! * Login challenges (a password accepted, a second factor awaited): `rpc_` + the same shape.
//! * Password-reset tokens, sent by mail: `rpr_` + the same shape.
//! * Other mailed tokens (invitations, sign-up and email-change confirmations): `rpe_`.
//!
//! Only the SHA-256 of a secret is stored.

use secrecy::{ExposeSecret, SecretString};

const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const RANDOM_CHARS: usize = 43;
const CHECKSUM_CHARS: usize = 6;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretKind {
    ApiToken,
    SetupToken,
    Session,
    LoginChallenge,
    PasswordReset,
    EmailToken,
}

impl SecretKind {
    pub fn prefix(self) -> &'static str {
        match self {
            Self::ApiToken => "rpt_",
            Self::SetupToken => "rps_",
            Self::Session => "rss_",
            Self::LoginChallenge => "rpc_",
            Self::PasswordReset => "rpr_",
            Self::EmailToken => "rpe_",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenFormatError {
    #[error("wrong prefix")]
    Prefix,
    #[error("wrong length or characters")]
    Shape,
    #[error("checksum mismatch")]
    Checksum,
}

fn base62_fixed(mut n: u64, width: usize) -> String {
    let mut out = vec![b'0'; width];
    for slot in out.iter_mut().rev() {
        *slot = ALPHABET[(n % 62) as usize];
        n /= 62;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn random_base62(len: usize) -> String {
    let mut out = String::with_capacity(len);
    while out.len() < len {
        for b in crate::random_bytes::<64>() {
            // 248 = 4 * 62: rejecting larger bytes keeps every character equally likely.
            if b < 248 && out.len() < len {
                out.push(ALPHABET[(b % 62) as usize] as char);
            }
        }
    }
    out
}

fn checksum(random: &str) -> String {
    base62_fixed(
        u64::from(crc32fast::hash(random.as_bytes())),
        CHECKSUM_CHARS,
    )
}

/// Creates a new secret of a kind: the plaintext (to show once) and the hash to store.
pub fn generate(kind: SecretKind) -> (SecretString, [u8; 32]) {
    let random = random_base62(RANDOM_CHARS);
    let text = format!("{}{}{}", kind.prefix(), random, checksum(&random));
    let hash = crate::sha256(text.as_bytes());
    (SecretString::from(text), hash)
}

/// Checks a presented secret's shape and checksum and returns the hash to look up.
pub fn parse(kind: SecretKind, presented: &str) -> Result<[u8; 32], TokenFormatError> {
    let body = presented
        .strip_prefix(kind.prefix())
        .ok_or(TokenFormatError::Prefix)?;
    if body.len() != RANDOM_CHARS + CHECKSUM_CHARS
        || !body.bytes().all(|b| b.is_ascii_alphanumeric())
    {
        return Err(TokenFormatError::Shape);
    }
    let (random, sum) = body.split_at(RANDOM_CHARS);
    if !crate::constant_time_eq(checksum(random).as_bytes(), sum.as_bytes()) {
        return Err(TokenFormatError::Checksum);
    }
    Ok(crate::sha256(presented.as_bytes()))
}

/// The hash of a secret given as a `SecretString`.
pub fn hash_of(secret: &SecretString) -> [u8; 32] {
    crate::sha256(secret.expose_secret().as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_parse_to_their_hash() {
        let (text, hash) = generate(SecretKind::ApiToken);
        let t = text.expose_secret();
        assert!(t.starts_with("rpt_"));
        assert_eq!(t.len(), 4 + 43 + 6);
        assert_eq!(parse(SecretKind::ApiToken, t), Ok(hash));
    }

    #[test]
    fn kinds_do_not_mix_and_typos_are_caught() {
        let (text, _) = generate(SecretKind::Session);
        let t = text.expose_secret();
        assert_eq!(
            parse(SecretKind::ApiToken, t),
            Err(TokenFormatError::Prefix)
        );
        let mut typo = t.to_string().into_bytes();
        typo[10] = if typo[10] == b'a' { b'b' } else { b'a' };
        let typo = String::from_utf8(typo).unwrap();
        assert_eq!(
            parse(SecretKind::Session, &typo),
            Err(TokenFormatError::Checksum)
        );
        assert_eq!(
            parse(SecretKind::Session, "rss_short"),
            Err(TokenFormatError::Shape)
        );
    }
}
