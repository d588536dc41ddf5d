//! Rampart's cryptographic helpers, in one place: randomness, password hashing, the formats of
//! secrets handed to clients (API tokens, session ids, setup tokens) and keyed hashes.
//! No primitive is written here; everything delegates to RustCrypto crates.
//! This crate does no I/O and never logs.

pub mod keyring;
pub mod password;
pub mod secret_token;

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

pub use password::{PasswordHashError, hash_password, verify_password};
pub use secret_token::{SecretKind, TokenFormatError};

/// Fills an array from the operating system's CSPRNG.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    // The OS RNG failing is not recoverable and is not reachable by a request's input.
    #[allow(clippy::expect_used)]
    getrandom::fill(&mut buf).expect("the operating system's random number generator failed");
    buf
}

/// SHA-256 of a secret; what we store instead of session ids and tokens, whose 256 bits of
/// entropy make a slow hash unnecessary.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// HMAC-SHA256 of `data` under `key`.
pub fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    #[allow(clippy::expect_used)]
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// Checks an HMAC-SHA256 tag in constant time.
pub fn hmac_sha256_verify(key: &[u8], data: &[u8], tag: &[u8]) -> bool {
    #[allow(clippy::expect_used)]
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(data);
    mac.verify_slice(tag).is_ok()
}

/// Compares two byte strings in constant time (for equal lengths).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_verifies_only_its_own_tag() {
        let tag = hmac_sha256(b"k", b"data");
        assert!(hmac_sha256_verify(b"k", b"data", &tag));
        assert!(!hmac_sha256_verify(b"k2", b"data", &tag));
        assert!(!hmac_sha256_verify(b"k", b"datA", &tag));
        assert!(!hmac_sha256_verify(b"k", b"data", &tag[..31]));
    }

    #[test]
    fn random_bytes_differ() {
        assert_ne!(random_bytes::<32>(), random_bytes::<32>());
    }
}
