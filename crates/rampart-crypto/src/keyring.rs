//! Envelope encryption: an instance key-encryption key (KEK) wraps each tenant's data keys
//! (DEKs); DEKs seal values. AES-256-GCM with random 96-bit nonces throughout; associated
//! data binds every ciphertext to where it belongs, so a wrapped key cannot be moved to
//! another tenant and a sealed value cannot be moved to another row or purpose.
//!
//! Formats (all integers big-endian):
//! - wrapped DEK: `nonce(12) || AES-GCM(KEK, dek, aad = "rampart/dek/v1" || tenant(16) || version(4))`
//! - wrapped instance secret: `nonce(12) || AES-GCM(KEK, secret, aad = "rampart/instance-secret/v1" || name)`
//! - sealed value: `0x01 || version(4) || nonce(12) || AES-GCM(DEK_version, plaintext, aad = "rampart/seal/v1" || context)`
//!
//! Keys live in [`Zeroizing`] buffers and have no `Debug` that prints them.

use std::collections::BTreeMap;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use hkdf::Hkdf;
use sha2::Sha256;
use zeroize::Zeroizing;

const DEK_AAD: &[u8] = b"rampart/dek/v1";
const INSTANCE_SECRET_AAD: &[u8] = b"rampart/instance-secret/v1";
const SEAL_AAD: &[u8] = b"rampart/seal/v1";
const SEAL_FORMAT: u8 = 1;
const NONCE: usize = 12;
const HEADER: usize = 1 + 4 + NONCE;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    #[error("the KEK source holds no key")]
    NoKey,
    #[error("line {line} of the KEK source is not a base64-encoded 32-byte key")]
    SourceLine { line: usize },
    #[error("the KEK source names the same key twice (line {line})")]
    Duplicate { line: usize },
    #[error("a wrapped data key does not open with the KEK that should have wrapped it")]
    Unwrap,
    #[error("a sealed value is malformed")]
    Malformed,
    #[error("a sealed value names data key version {0}, which this tenant does not hold")]
    UnknownVersion(u32),
    #[error("a sealed value does not open: wrong key, wrong place, or altered")]
    Open,
}

/// A 256-bit key held in memory that is wiped when dropped.
#[derive(Clone)]
pub struct Key(Zeroizing<[u8; 32]>);

impl Key {
    pub fn generate() -> Self {
        Self(Zeroizing::new(crate::random_bytes::<32>()))
    }

    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(Zeroizing::new(bytes))
    }

    fn bytes(&self) -> &[u8; 32] {
        &self.0
    }

    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(self.0.as_ref().into())
    }

    /// A key for one purpose derived from this one (HKDF-SHA256), so one stored secret can
    /// serve several uses without one use's output revealing another's key.
    pub fn derive(&self, label: &[u8]) -> Key {
        let hk = Hkdf::<Sha256>::new(Some(b"rampart/derive/v1"), self.bytes());
        let mut out = Zeroizing::new([0u8; 32]);
        // 32 bytes is far below HKDF-SHA256's limit of 8160.
        #[allow(clippy::expect_used)]
        hk.expand(label, out.as_mut())
            .expect("32 bytes is a valid HKDF output length");
        Key(out)
    }

    /// The raw bytes, for keyed functions that take a key (HMAC, Ed25519 seeds).
    pub fn expose(&self) -> &[u8; 32] {
        self.bytes()
    }
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Key(…)")
    }
}

/// Names a KEK without revealing it: the first 8 bytes of HMAC-SHA256(kek, label), hex.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KekId(pub String);

impl std::fmt::Display for KekId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// An instance key-encryption key.
#[derive(Clone, Debug)]
pub struct Kek {
    pub id: KekId,
    key: Key,
}

impl Kek {
    pub fn new(key: Key) -> Self {
        let tag = crate::hmac_sha256(key.bytes(), b"rampart/kek-id/v1");
        Self {
            id: KekId(hex::encode(&tag[..8])),
            key,
        }
    }

    fn aad(tenant: &[u8; 16], version: u32) -> Vec<u8> {
        let mut aad = Vec::with_capacity(DEK_AAD.len() + 20);
        aad.extend_from_slice(DEK_AAD);
        aad.extend_from_slice(tenant);
        aad.extend_from_slice(&version.to_be_bytes());
        aad
    }

    /// Wraps a tenant's data key of `version`.
    pub fn wrap(&self, dek: &Key, tenant: &[u8; 16], version: u32) -> Vec<u8> {
        self.wrap_with(dek, &Self::aad(tenant, version))
    }

    /// Unwraps a data key; fails for another tenant, another version or another KEK.
    pub fn unwrap(&self, wrapped: &[u8], tenant: &[u8; 16], version: u32) -> Result<Key, KeyError> {
        self.unwrap_with(wrapped, &Self::aad(tenant, version))
    }

    fn secret_aad(name: &str) -> Vec<u8> {
        let mut aad = INSTANCE_SECRET_AAD.to_vec();
        aad.extend_from_slice(name.as_bytes());
        aad
    }

    /// Wraps one of the instance's own secrets (the list cursor key, the passkey decoy key),
    /// bound to its name.
    pub fn wrap_secret(&self, secret: &Key, name: &str) -> Vec<u8> {
        self.wrap_with(secret, &Self::secret_aad(name))
    }

    /// Unwraps an instance secret; fails for another name, another KEK, or a data key.
    pub fn unwrap_secret(&self, wrapped: &[u8], name: &str) -> Result<Key, KeyError> {
        self.unwrap_with(wrapped, &Self::secret_aad(name))
    }

    fn wrap_with(&self, key: &Key, aad: &[u8]) -> Vec<u8> {
        let nonce = crate::random_bytes::<NONCE>();
        // AES-GCM encryption only fails for inputs beyond 64 GiB.
        #[allow(clippy::expect_used)]
        let ct = self
            .key
            .cipher()
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: key.bytes(),
                    aad,
                },
            )
            .expect("a 32-byte key encrypts");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ct);
        out
    }

    fn unwrap_with(&self, wrapped: &[u8], aad: &[u8]) -> Result<Key, KeyError> {
        if wrapped.len() != NONCE + 32 + 16 {
            return Err(KeyError::Unwrap);
        }
        let (nonce, ct) = wrapped.split_at(NONCE);
        let plain = Zeroizing::new(
            self.key
                .cipher()
                .decrypt(Nonce::from_slice(nonce), Payload { msg: ct, aad })
                .map_err(|_| KeyError::Unwrap)?,
        );
        let bytes: [u8; 32] = plain.as_slice().try_into().map_err(|_| KeyError::Unwrap)?;
        Ok(Key::from_bytes(bytes))
    }

    /// The key encoded as the KEK source holds it (for `rampart keys generate-kek`).
    pub fn encode(&self) -> Zeroizing<String> {
        Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(self.key.bytes()))
    }
}

/// The KEKs the operator's source supplies: the first wraps new keys, the others still
/// unwrap keys wrapped before a rotation.
#[derive(Clone, Debug)]
pub struct KekRing {
    kek: Vec<Kek>,
}

impl KekRing {
    /// Parses a KEK source: one base64 key (32 bytes) per line, the current one first;
    /// blank lines and `#` comments are ignored.
    pub fn parse(text: &str) -> Result<Self, KeyError> {
        let mut kek: Vec<Kek> = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let bytes = Zeroizing::new(
                base64::engine::general_purpose::STANDARD
                    .decode(line)
                    .map_err(|_| KeyError::SourceLine { line: i + 1 })?,
            );
            let bytes: [u8; 32] = bytes
                .as_slice()
                .try_into()
                .map_err(|_| KeyError::SourceLine { line: i + 1 })?;
            let k = Kek::new(Key::from_bytes(bytes));
            if kek.iter().any(|e| e.id == k.id) {
                return Err(KeyError::Duplicate { line: i + 1 });
            }
            kek.push(k);
        }
        if kek.is_empty() {
            return Err(KeyError::NoKey);
        }
        Ok(Self { kek })
    }

    pub fn from_keks(kek: Vec<Kek>) -> Result<Self, KeyError> {
        if kek.is_empty() {
            return Err(KeyError::NoKey);
        }
        Ok(Self { kek })
    }

    /// The KEK that wraps new data keys.
    pub fn current(&self) -> &Kek {
        &self.kek[0]
    }

    pub fn get(&self, id: &KekId) -> Option<&Kek> {
        self.kek.iter().find(|k| &k.id == id)
    }

    pub fn ids(&self) -> Vec<KekId> {
        self.kek.iter().map(|k| k.id.clone()).collect()
    }
}

/// Versions from here on name a tenant's audit keys (audit key `n` is `AUDIT_VERSIONS + n`),
/// below it its data keys. Audit keys seal what the hash chain holds and sign its
/// checkpoints: the chain can never be re-sealed, so they are kept for the tenant's life,
/// while data keys can be retired, their values re-sealed, and finally destroyed.
pub const AUDIT_VERSIONS: u32 = 1 << 31;

/// Versions from here up to [`AUDIT_VERSIONS`] name blind index keys kept apart from the
/// data key they were derived from (so that data key can be retired and destroyed).
pub const BLIND_INDEX_VERSIONS: u32 = 1 << 30;

/// Whether `version` names a data key (retired or not), rather than an audit or blind
/// index key.
pub fn is_data_version(version: u32) -> bool {
    version > 0 && version < BLIND_INDEX_VERSIONS
}

/// A tenant's keys by version: data keys (the highest active one seals new values) and
/// audit keys (the highest seals new audit details and signs checkpoints).
#[derive(Clone, Debug, Default)]
pub struct TenantKeys {
    current: Option<u32>,
    audit_current: Option<u32>,
    keys: BTreeMap<u32, Key>,
}

impl TenantKeys {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a key; `current` marks the one that seals new values.
    pub fn insert(&mut self, version: u32, key: Key, current: bool) {
        self.keys.insert(version, key);
        if current {
            self.current = Some(version);
        }
    }

    /// Adds an audit key (`version` ≥ [`AUDIT_VERSIONS`]); the highest one is current.
    pub fn insert_audit(&mut self, version: u32, key: Key) {
        debug_assert!(version > AUDIT_VERSIONS);
        self.keys.insert(version, key);
        if self.audit_current.is_none_or(|c| c < version) {
            self.audit_current = Some(version);
        }
    }

    pub fn current_version(&self) -> Option<u32> {
        self.current
    }

    /// The audit key that seals new audit details and signs new checkpoints.
    pub fn current_audit_version(&self) -> Option<u32> {
        self.audit_current
    }

    pub fn versions(&self) -> Vec<u32> {
        self.keys.keys().copied().collect()
    }

    pub fn key(&self, version: u32) -> Option<&Key> {
        self.keys.get(&version)
    }

    fn seal_aad(context: &[u8]) -> Vec<u8> {
        let mut aad = Vec::with_capacity(SEAL_AAD.len() + context.len());
        aad.extend_from_slice(SEAL_AAD);
        aad.extend_from_slice(context);
        aad
    }

    /// Seals `plaintext` for the place `context` names (e.g. `totp/<user id>`).
    pub fn seal(&self, context: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, KeyError> {
        let version = self.current.ok_or(KeyError::UnknownVersion(0))?;
        let key = self
            .keys
            .get(&version)
            .ok_or(KeyError::UnknownVersion(version))?;
        Ok(seal_with(key, version, context, plaintext))
    }

    /// Seals `plaintext` with the current audit key (for what the audit chain holds).
    pub fn seal_audit(&self, context: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, KeyError> {
        let version = self
            .audit_current
            .ok_or(KeyError::UnknownVersion(AUDIT_VERSIONS))?;
        let key = self
            .keys
            .get(&version)
            .ok_or(KeyError::UnknownVersion(version))?;
        Ok(seal_with(key, version, context, plaintext))
    }

    /// Opens a sealed value; fails when altered, moved to another context, or sealed by a
    /// key this tenant no longer holds.
    pub fn open(&self, context: &[u8], sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        let version = sealed_version(sealed).ok_or(KeyError::Malformed)?;
        let key = self
            .keys
            .get(&version)
            .ok_or(KeyError::UnknownVersion(version))?;
        let (nonce, ct) = sealed[5..].split_at(NONCE);
        let aad = Self::seal_aad(context);
        key.cipher()
            .decrypt(Nonce::from_slice(nonce), Payload { msg: ct, aad: &aad })
            .map(Zeroizing::new)
            .map_err(|_| KeyError::Open)
    }
}

/// Ed25519 signatures with a key derived from a tenant key (audit checkpoints: its audit
/// key): whoever holds that key can check them, and nobody with only the database can forge
/// them.
pub mod signing {
    use ed25519_dalek::{Signature, Signer, SigningKey, Verifier};

    use super::Key;

    fn signing_key(key: &Key, purpose: &[u8]) -> SigningKey {
        SigningKey::from_bytes(key.derive(purpose).expose())
    }

    pub fn sign(key: &Key, purpose: &[u8], message: &[u8]) -> [u8; 64] {
        signing_key(key, purpose).sign(message).to_bytes()
    }

    pub fn verify(key: &Key, purpose: &[u8], message: &[u8], signature: &[u8]) -> bool {
        let Ok(sig) = Signature::from_slice(signature) else {
            return false;
        };
        signing_key(key, purpose)
            .verifying_key()
            .verify(message, &sig)
            .is_ok()
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn a_signature_verifies_only_for_its_key_purpose_and_message() {
            let k = Key::generate();
            let sig = sign(&k, b"p", b"m");
            assert!(verify(&k, b"p", b"m", &sig));
            assert!(!verify(&k, b"q", b"m", &sig));
            assert!(!verify(&k, b"p", b"n", &sig));
            assert!(!verify(&Key::generate(), b"p", b"m", &sig));
            assert!(!verify(&k, b"p", b"m", &sig[..63]));
        }
    }
}

/// Seals with one given key version (used by re-sealing after a rotation, and tests).
pub fn seal_with(key: &Key, version: u32, context: &[u8], plaintext: &[u8]) -> Vec<u8> {
    let nonce = crate::random_bytes::<NONCE>();
    let aad = TenantKeys::seal_aad(context);
    // AES-GCM encryption only fails for inputs beyond 64 GiB.
    #[allow(clippy::expect_used)]
    let ct = key
        .cipher()
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: plaintext,
                aad: &aad,
            },
        )
        .expect("AES-GCM encrypts inputs below 64 GiB");
    let mut out = Vec::with_capacity(HEADER + ct.len());
    out.push(SEAL_FORMAT);
    out.extend_from_slice(&version.to_be_bytes());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ct);
    out
}

/// How many leading bytes of a sealed value name its key version (see [`header_version`]).
pub const SEALED_HEADER: usize = 5;

/// The key version named by the first [`SEALED_HEADER`] bytes of a sealed value, so the
/// versions a column needs can be read without fetching whole values.
pub fn header_version(prefix: &[u8]) -> Option<u32> {
    match prefix {
        [SEAL_FORMAT, a, b, c, d] => Some(u32::from_be_bytes([*a, *b, *c, *d])),
        _ => None,
    }
}

/// The data key version a sealed value names, if it is a sealed value at all.
pub fn sealed_version(sealed: &[u8]) -> Option<u32> {
    if sealed.len() < HEADER + 16 || sealed[0] != SEAL_FORMAT {
        return None;
    }
    let v: [u8; 4] = sealed[1..5].try_into().ok()?;
    Some(u32::from_be_bytes(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    const T1: [u8; 16] = [1; 16];
    const T2: [u8; 16] = [2; 16];

    fn keys(version: u32) -> (TenantKeys, Key) {
        let k = Key::generate();
        let mut t = TenantKeys::new();
        t.insert(version, k.clone(), true);
        (t, k)
    }

    #[test]
    fn an_instance_secret_opens_only_under_its_name_and_kek() {
        let kek = Kek::new(Key::generate());
        let secret = Key::generate();
        let wrapped = kek.wrap_secret(&secret, "cursor_hmac");
        let opened = kek.unwrap_secret(&wrapped, "cursor_hmac").unwrap();
        assert_eq!(opened.expose(), secret.expose());
        assert_eq!(
            kek.unwrap_secret(&wrapped, "passkey_decoy").err(),
            Some(KeyError::Unwrap)
        );
        let other = Kek::new(Key::generate());
        assert_eq!(
            other.unwrap_secret(&wrapped, "cursor_hmac").err(),
            Some(KeyError::Unwrap)
        );
        // A wrapped data key is not a secret, and the other way round.
        let dek = kek.wrap(&secret, &T1, 1);
        assert_eq!(
            kek.unwrap_secret(&dek, "cursor_hmac").err(),
            Some(KeyError::Unwrap)
        );
        assert_eq!(kek.unwrap(&wrapped, &T1, 1).err(), Some(KeyError::Unwrap));
    }

    #[test]
    fn a_wrapped_key_opens_only_for_its_tenant_version_and_kek() {
        let kek = Kek::new(Key::generate());
        let dek = Key::generate();
        let wrapped = kek.wrap(&dek, &T1, 1);
        assert_eq!(kek.unwrap(&wrapped, &T1, 1).unwrap().expose(), dek.expose());
        assert_eq!(kek.unwrap(&wrapped, &T2, 1).err(), Some(KeyError::Unwrap));
        assert_eq!(kek.unwrap(&wrapped, &T1, 2).err(), Some(KeyError::Unwrap));
        let other = Kek::new(Key::generate());
        assert_eq!(other.unwrap(&wrapped, &T1, 1).err(), Some(KeyError::Unwrap));
        let mut flipped = wrapped.clone();
        flipped[20] ^= 1;
        assert_eq!(kek.unwrap(&flipped, &T1, 1).err(), Some(KeyError::Unwrap));
        // Random nonces: wrapping twice gives two different blobs.
        assert_ne!(kek.wrap(&dek, &T1, 1), wrapped);
    }

    #[test]
    fn a_sealed_value_opens_only_in_its_context_and_unaltered() {
        let (t, _) = keys(3);
        let sealed = t.seal(b"totp/alice", b"seed bytes").unwrap();
        assert_eq!(sealed_version(&sealed), Some(3));
        assert_eq!(
            t.open(b"totp/alice", &sealed).unwrap().as_slice(),
            b"seed bytes"
        );
        assert_eq!(t.open(b"totp/bob", &sealed).err(), Some(KeyError::Open));
        for i in 5..sealed.len() {
            let mut altered = sealed.clone();
            altered[i] ^= 0x80;
            assert!(t.open(b"totp/alice", &altered).is_err(), "byte {i}");
        }
        let (other, _) = keys(3);
        assert_eq!(
            other.open(b"totp/alice", &sealed).err(),
            Some(KeyError::Open)
        );
        assert_eq!(
            t.open(b"totp/alice", &sealed[..10]).err(),
            Some(KeyError::Malformed)
        );
    }

    #[test]
    fn older_versions_still_open_after_a_new_key_becomes_current() {
        let (mut t, _) = keys(1);
        let old = t.seal(b"c", b"old").unwrap();
        t.insert(2, Key::generate(), true);
        let new = t.seal(b"c", b"new").unwrap();
        assert_eq!(sealed_version(&new), Some(2));
        assert_eq!(t.open(b"c", &old).unwrap().as_slice(), b"old");
        let mut only_new = TenantKeys::new();
        only_new.insert(2, t.key(2).unwrap().clone(), true);
        assert_eq!(
            only_new.open(b"c", &old).err(),
            Some(KeyError::UnknownVersion(1))
        );
    }

    #[test]
    fn audit_keys_seal_apart_from_data_keys_and_the_latest_is_current() {
        let (mut t, _) = keys(1);
        assert_eq!(
            t.seal_audit(b"c", b"x").err(),
            Some(KeyError::UnknownVersion(AUDIT_VERSIONS))
        );
        t.insert_audit(AUDIT_VERSIONS + 2, Key::generate());
        t.insert_audit(AUDIT_VERSIONS + 1, Key::generate());
        assert_eq!(t.current_audit_version(), Some(AUDIT_VERSIONS + 2));
        assert_eq!(t.current_version(), Some(1), "data sealing is unaffected");
        let sealed = t.seal_audit(b"c", b"detail").unwrap();
        assert_eq!(sealed_version(&sealed), Some(AUDIT_VERSIONS + 2));
        assert_eq!(
            header_version(&sealed[..SEALED_HEADER]),
            Some(AUDIT_VERSIONS + 2)
        );
        assert!(!is_data_version(AUDIT_VERSIONS + 2));
        assert!(is_data_version(1) && !is_data_version(0));
        assert_eq!(header_version(b"\x02\0\0\0\x01"), None);
        assert_eq!(header_version(&sealed[..4]), None);
        assert_eq!(t.open(b"c", &sealed).unwrap().as_slice(), b"detail");
        // Without the audit key (only data keys) it does not open.
        let mut data_only = TenantKeys::new();
        data_only.insert(1, t.key(1).unwrap().clone(), true);
        assert_eq!(
            data_only.open(b"c", &sealed).err(),
            Some(KeyError::UnknownVersion(AUDIT_VERSIONS + 2))
        );
    }

    #[test]
    fn the_kek_source_is_parsed_strictly() {
        let a = Kek::new(Key::generate());
        let b = Kek::new(Key::generate());
        let text = format!(
            "# current\n{}\n\n{}\n",
            a.encode().as_str(),
            b.encode().as_str()
        );
        let ring = KekRing::parse(&text).unwrap();
        assert_eq!(ring.current().id, a.id);
        assert_eq!(ring.ids(), vec![a.id.clone(), b.id.clone()]);
        assert_eq!(KekRing::parse("").err(), Some(KeyError::NoKey));
        assert_eq!(
            KekRing::parse("not base64!").err(),
            Some(KeyError::SourceLine { line: 1 })
        );
        assert_eq!(
            KekRing::parse("c2hvcnQ=").err(),
            Some(KeyError::SourceLine { line: 1 })
        );
        let dup = format!("{}\n{}", a.encode().as_str(), a.encode().as_str());
        assert_eq!(
            KekRing::parse(&dup).err(),
            Some(KeyError::Duplicate { line: 2 })
        );
        // The id names the key without revealing it, and differs between keys.
        assert_eq!(a.id.0.len(), 16);
        assert_ne!(a.id, b.id);
        assert!(!format!("{a:?}").contains(a.encode().as_str()));
    }

    #[test]
    fn derived_keys_differ_by_label_and_are_stable() {
        let k = Key::generate();
        assert_eq!(k.derive(b"a").expose(), k.derive(b"a").expose());
        assert_ne!(k.derive(b"a").expose(), k.derive(b"b").expose());
        assert_ne!(k.derive(b"a").expose(), k.expose());
    }
}
