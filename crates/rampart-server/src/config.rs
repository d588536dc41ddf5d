//! The server's typed configuration. Loading (defaults < file < environment < flags) lives in
//! the binary; this module defines the shape, the defaults and the checks.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use ipnet::IpNet;
use rampart_store::StoreConfig;
use secrecy::{ExposeSecret, SecretString};

use crate::rate_limit::{RateBudget, RateBudgets};
use serde::Deserialize;

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// The public listener (API and UI).
    pub listen: SocketAddr,
    /// Health, readiness and metrics; never the API.
    pub internal_listen: SocketAddr,
    /// Where the SQLite databases live.
    pub data_dir: PathBuf,
    /// A Host `<slug>.<base>` selects tenant `<slug>`.
    pub base_domains: Vec<String>,
    /// The tenant served on a bare base domain or an IP literal.
    pub default_tenant: Option<String>,
    /// The address people use to reach this instance, for links in messages.
    pub public_url: Option<String>,
    /// Reverse proxies whose forwarding headers are believed; required to listen on a
    /// non-loopback address without TLS.
    pub trusted_proxies: Vec<IpNet>,
    /// Client addresses allowed at all (empty: any), checked before anything else.
    pub ip_allow: Vec<IpNet>,
    /// Client addresses refused, even when allowed above.
    pub ip_deny: Vec<IpNet>,
    pub database: DatabaseConfig,
    pub auth: AuthConfig,
    pub limits: LimitsConfig,
    pub log: LogConfig,
    pub smtp: SmtpConfig,
    /// Rate budgets every tenant starts with (tenants may only lower them).
    pub rate_limits: RateLimitsConfig,
    /// HTTPS on the public listener (off: plain HTTP, loopback or behind a trusted proxy).
    pub tls: Option<crate::tls::TlsConfig>,
    /// Where the key-encryption keys come from.
    pub keys: rampart_app::keys::KeysConfig,
    pub audit: AuditConfig,
}

/// `[audit]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditConfig {
    /// The longest a chain head stays unsigned (checkpoints are also written every 256
    /// entries).
    pub checkpoint_interval_secs: u64,
    /// Benchmarks only: write changes without their audit entries, to measure what the chain
    /// costs. Never set this on an instance that holds real data.
    pub benchmark_only_disable: bool,
}

impl Default for AuditConfig {
    fn default() -> Self {
        Self {
            checkpoint_interval_secs: 60,
            benchmark_only_disable: false,
        }
    }
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// `sqlite` (the default: files under `data_dir`) or a `postgres://` URL.
    pub url: SecretString,
    /// Prefix of the schemas and roles created on PostgreSQL.
    pub postgres_prefix: String,
    pub max_connections: u32,
    pub sqlite_readers: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    pub session_idle_minutes: u32,
    pub session_absolute_hours: u32,
    /// Password hashes computed at once at most (each takes 19 MiB).
    pub hash_concurrency: usize,
    /// Longest lifetime of an API token.
    pub token_max_days: u32,
    /// Lifetime of an API token when none is asked for.
    pub token_default_days: u32,
    /// How long a rotated API token keeps working next to its successor.
    pub token_rotation_grace_hours: u32,
    pub setup_token_hours: u32,
    /// Shortest new password (NIST SP 800-63B: at least 8; we default to 12).
    pub password_min_length: usize,
    /// Lowest zxcvbn strength score (0 to 4) a new password must reach.
    pub password_min_score: u8,
    /// How recently a session must have given its password for sensitive actions (changing
    /// second factors, tokens, roles).
    pub reauth_minutes: u32,
    /// How often background housekeeping (disabling inactive accounts) runs.
    pub housekeeping_interval_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    pub body_bytes: usize,
    pub request_timeout_secs: u64,
    pub default_page_size: u32,
    pub max_page_size: u32,
    pub max_batch: usize,
    /// Largest table on which an exact count is computed.
    pub max_exact_count: u64,
    /// Request line plus headers, at most.
    pub header_bytes: usize,
    /// Time a client has to send its request headers (slowloris), from their first byte;
    /// also the time a new connection has to send its first byte.
    pub header_read_timeout_secs: u64,
    /// How long a connection may stay open between requests without sending one.
    pub idle_timeout_secs: u64,
    /// Longest pause within a request body before it is answered 408.
    pub body_idle_timeout_secs: u64,
    /// Time a client has to finish the TLS handshake.
    pub tls_handshake_timeout_secs: u64,
    /// Open connections per listener, in all, from one address, and from one address range
    /// (an IPv4 /24, an IPv6 /48). At a cap, the longest-idle connection makes room.
    pub max_connections: usize,
    pub max_connections_per_ip: usize,
    pub max_connections_per_range: usize,
    /// How long shutdown waits for requests in flight.
    pub drain_timeout_secs: u64,
    /// Exports running at once on this node; each holds one read snapshot while it streams.
    pub max_concurrent_exports: usize,
    /// Imports running at once on this node.
    pub max_concurrent_imports: usize,
    /// An import's (or preview's) file: bytes, data rows, columns, characters in one cell,
    /// bytes an XLSX workbook inflates to, nesting of a JSON value.
    pub import_bytes: u64,
    pub import_rows: u64,
    pub import_columns: usize,
    pub import_cell_chars: usize,
    pub import_inflated_bytes: u64,
    pub import_json_depth: usize,
}

impl LimitsConfig {
    /// What an import reads, at most.
    pub fn import_limits(&self) -> rampart_app::records::import::Limits {
        rampart_app::records::import::Limits {
            max_rows: self.import_rows,
            max_columns: self.import_columns,
            max_cell_chars: self.import_cell_chars,
            max_inflated_bytes: self.import_inflated_bytes,
            max_json_depth: self.import_json_depth,
        }
    }
}

/// `[rate_limits]`: the instance's budgets (see [`crate::rate_limit`]).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitsConfig {
    /// Off only for benchmarks and trusted single-user set-ups.
    pub enabled: bool,
    pub login_per_ip: RateBudget,
    pub data_per_ip: RateBudget,
    pub data_per_account: RateBudget,
    pub data_per_token: RateBudget,
}

impl Default for RateLimitsConfig {
    fn default() -> Self {
        let b = RateBudgets::default();
        Self {
            enabled: true,
            login_per_ip: b.login_per_ip,
            data_per_ip: b.data_per_ip,
            data_per_account: b.data_per_account,
            data_per_token: b.data_per_token,
        }
    }
}

impl RateLimitsConfig {
    pub fn budgets(&self) -> RateBudgets {
        RateBudgets {
            login_per_ip: self.login_per_ip,
            data_per_ip: self.data_per_ip,
            data_per_account: self.data_per_account,
            data_per_token: self.data_per_token,
        }
    }
}

/// How the SMTP connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// TLS from the first byte (port 465).
    Tls,
    /// Plain connection upgraded with STARTTLS, which is required (port 587).
    Starttls,
    /// No encryption: only to a relay on this machine (loopback).
    None,
}

/// Outgoing mail (password resets). Without a host, features that send mail answer
/// `mail_unavailable`.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmtpConfig {
    pub host: Option<String>,
    pub port: u16,
    pub tls: SmtpTls,
    pub username: Option<String>,
    pub password: Option<SecretString>,
    /// The sender, as `Name <address>` or a bare address.
    pub from: String,
    /// How long a password-reset link works.
    pub reset_minutes: u32,
}

impl Default for SmtpConfig {
    fn default() -> Self {
        Self {
            host: None,
            port: 587,
            tls: SmtpTls::Starttls,
            username: None,
            password: None,
            from: "Rampart <rampart@localhost>".into(),
            reset_minutes: 30,
        }
    }
}

impl fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "[redacted]"))
            .field("from", &self.from)
            .field("reset_minutes", &self.reset_minutes)
            .finish()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Json,
    Pretty,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    pub format: LogFormat,
    /// A `tracing` filter such as `info` or `rampart=debug,info`.
    pub level: String,
    /// Security events (target `rampart::security`: failed sign-ins, lock-outs, refused
    /// addresses, CSRF refusals, rate-limit hits) are also appended here as JSON lines.
    pub security_file: Option<PathBuf>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            internal_listen: SocketAddr::from(([127, 0, 0, 1], 9090)),
            data_dir: PathBuf::from("./rampart-data"),
            base_domains: vec!["localhost".into()],
            default_tenant: Some("default".into()),
            public_url: None,
            trusted_proxies: Vec::new(),
            ip_allow: Vec::new(),
            ip_deny: Vec::new(),
            database: DatabaseConfig::default(),
            auth: AuthConfig::default(),
            limits: LimitsConfig::default(),
            log: LogConfig::default(),
            smtp: SmtpConfig::default(),
            rate_limits: RateLimitsConfig::default(),
            tls: None,
            keys: rampart_app::keys::KeysConfig::default(),
            audit: AuditConfig::default(),
        }
    }
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: SecretString::from("sqlite"),
            postgres_prefix: "rampart_".into(),
            max_connections: 32,
            sqlite_readers: 8,
        }
    }
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            session_idle_minutes: 60,
            session_absolute_hours: 12,
            hash_concurrency: std::thread::available_parallelism().map_or(2, |n| n.get()),
            token_max_days: 366,
            token_default_days: 90,
            token_rotation_grace_hours: 24,
            setup_token_hours: 24,
            password_min_length: 12,
            password_min_score: 3,
            reauth_minutes: 10,
            housekeeping_interval_secs: 3600,
        }
    }
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            body_bytes: 8 * 1024 * 1024,
            request_timeout_secs: 30,
            default_page_size: 50,
            max_page_size: 1000,
            max_batch: 1000,
            max_exact_count: 100_000,
            header_bytes: 16 * 1024,
            header_read_timeout_secs: 10,
            idle_timeout_secs: 60,
            body_idle_timeout_secs: 10,
            tls_handshake_timeout_secs: 10,
            max_connections: 4096,
            max_connections_per_ip: 256,
            max_connections_per_range: 1024,
            drain_timeout_secs: 30,
            max_concurrent_exports: 4,
            max_concurrent_imports: 2,
            import_bytes: 256 * 1024 * 1024,
            import_rows: 1_000_000,
            import_columns: 500,
            import_cell_chars: 100_000,
            import_inflated_bytes: 1024 * 1024 * 1024,
            import_json_depth: 32,
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::Json,
            level: "info".into(),
            security_file: None,
        }
    }
}

impl fmt::Debug for DatabaseConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatabaseConfig")
            .field("url", &redact_url(self.url.expose_secret()))
            .field("postgres_prefix", &self.postgres_prefix)
            .field("max_connections", &self.max_connections)
            .field("sqlite_readers", &self.sqlite_readers)
            .finish()
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("listen", &self.listen)
            .field("internal_listen", &self.internal_listen)
            .field("data_dir", &self.data_dir)
            .field("base_domains", &self.base_domains)
            .field("default_tenant", &self.default_tenant)
            .field("public_url", &self.public_url)
            .field("trusted_proxies", &self.trusted_proxies)
            .field("ip_allow", &self.ip_allow)
            .field("ip_deny", &self.ip_deny)
            .field("database", &self.database)
            .field("auth", &self.auth)
            .field("limits", &self.limits)
            .field("log", &self.log)
            .field("smtp", &self.smtp)
            .field("rate_limits", &self.rate_limits)
            .field("tls", &self.tls)
            .field("keys", &self.keys)
            .field("audit", &self.audit)
            .finish()
    }
}

/// A URL with any password replaced, for logs and `config check`.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("redacted"));
            u.to_string()
        }
        Ok(u) => u.to_string(),
        Err(_) => url.to_owned(),
    }
}

/// One mistake in a configuration, naming its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    pub key: &'static str,
    pub message: String,
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

fn is_hostname(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

impl Config {
    /// Every problem found, or nothing.
    pub fn check(&self) -> Vec<ConfigProblem> {
        let mut problems = Vec::new();
        let mut problem =
            |key: &'static str, message: String| problems.push(ConfigProblem { key, message });
        if self.base_domains.is_empty() {
            problem("base_domains", "must name at least one domain".into());
        }
        for d in &self.base_domains {
            if !is_hostname(d) {
                problem(
                    "base_domains",
                    format!("{d:?} is not a lowercase host name"),
                );
            }
        }
        if let Some(t) = &self.default_tenant
            && let Err(e) = rampart_core::names::validate_slug("default_tenant", t)
        {
            problem("default_tenant", format!("{t:?} {}", e.message));
        }
        if let Some(u) = &self.public_url {
            match url::Url::parse(u) {
                Ok(parsed) if matches!(parsed.scheme(), "http" | "https") => {}
                _ => problem("public_url", format!("{u:?} is not an http(s) URL")),
            }
        }
        let non_loopback = |a: &SocketAddr| !a.ip().is_loopback();
        if non_loopback(&self.listen) && self.tls.is_none() && self.trusted_proxies.is_empty() {
            problem(
                "listen",
                format!(
                    "{} is not a loopback address: without [tls], plain HTTP is only allowed on \
                     loopback, or behind a reverse proxy named in trusted_proxies",
                    self.listen
                ),
            );
        }
        if let Some(tls) = &self.tls {
            if tls.reload_check_secs == 0 {
                problem("tls.reload_check_secs", "must be positive".into());
            }
            if let Some(redirect) = tls.redirect_listen
                && (redirect == self.listen || redirect == self.internal_listen)
                && redirect.port() != 0
            {
                problem(
                    "tls.redirect_listen",
                    "must differ from listen and internal_listen".into(),
                );
            }
        }
        if non_loopback(&self.internal_listen) {
            problem(
                "internal_listen",
                format!(
                    "{} is not a loopback address; metrics must not be exposed by accident",
                    self.internal_listen
                ),
            );
        }
        if self.listen.port() != 0 && self.listen == self.internal_listen {
            problem("internal_listen", "must differ from listen".into());
        }
        let url = self.database.url.expose_secret();
        if url != "sqlite" && !url.starts_with("postgres://") && !url.starts_with("postgresql://") {
            problem(
                "database.url",
                "must be \"sqlite\" or a postgres:// URL".into(),
            );
        }
        if !is_postgres_prefix(&self.database.postgres_prefix) {
            problem(
                "database.postgres_prefix",
                "must be up to 24 characters of a-z, 0-9 and _, starting with a letter or _".into(),
            );
        }
        if self.database.max_connections == 0 || self.database.sqlite_readers == 0 {
            problem("database", "connection counts must be positive".into());
        }
        if self.auth.session_idle_minutes == 0 || self.auth.session_absolute_hours == 0 {
            problem("auth", "session lifetimes must be positive".into());
        }
        if u64::from(self.auth.session_idle_minutes)
            > u64::from(self.auth.session_absolute_hours) * 60
        {
            problem(
                "auth.session_idle_minutes",
                "must not exceed the absolute lifetime".into(),
            );
        }
        if self.auth.hash_concurrency == 0 || self.auth.hash_concurrency > 256 {
            problem("auth.hash_concurrency", "must be between 1 and 256".into());
        }
        if self.auth.token_max_days == 0 || self.auth.token_max_days > 3660 {
            problem("auth.token_max_days", "must be between 1 and 3660".into());
        }
        if !(8..=128).contains(&self.auth.password_min_length) {
            problem(
                "auth.password_min_length",
                "must be between 8 and 128".into(),
            );
        }
        if self.auth.password_min_score > 4 {
            problem("auth.password_min_score", "must be between 0 and 4".into());
        }
        if self.auth.reauth_minutes == 0 || self.auth.reauth_minutes > 24 * 60 {
            problem("auth.reauth_minutes", "must be between 1 and 1440".into());
        }
        if self.auth.token_default_days == 0
            || self.auth.token_default_days > self.auth.token_max_days
        {
            problem(
                "auth.token_default_days",
                "must be between 1 and auth.token_max_days".into(),
            );
        }
        if self.auth.housekeeping_interval_secs == 0
            || self.auth.housekeeping_interval_secs > 24 * 3600
        {
            problem(
                "auth.housekeeping_interval_secs",
                "must be between 1 and 86400".into(),
            );
        }
        if self.auth.token_rotation_grace_hours > 24 * 30 {
            problem(
                "auth.token_rotation_grace_hours",
                "must be at most 720 (30 days)".into(),
            );
        }
        if let Some(host) = &self.smtp.host {
            let loopback = host == "localhost"
                || host
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .parse::<IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback());
            if self.smtp.tls == SmtpTls::None && !loopback {
                problem(
                    "smtp.tls",
                    "\"none\" sends reset links in clear text: only allowed to a relay on loopback"
                        .into(),
                );
            }
            if self.smtp.from.parse::<lettre::message::Mailbox>().is_err() {
                problem("smtp.from", "not a mail address".into());
            }
        }
        if self.smtp.reset_minutes == 0 || self.smtp.reset_minutes > 24 * 60 {
            problem("smtp.reset_minutes", "must be between 1 and 1440".into());
        }
        if self.limits.body_bytes < 1024 {
            problem("limits.body_bytes", "must be at least 1024".into());
        }
        if self.limits.default_page_size == 0
            || self.limits.default_page_size > self.limits.max_page_size
        {
            problem(
                "limits.default_page_size",
                "must be between 1 and limits.max_page_size".into(),
            );
        }
        if self.limits.import_bytes == 0
            || self.limits.import_rows == 0
            || self.limits.import_columns == 0
            || self.limits.import_cell_chars == 0
            || self.limits.import_inflated_bytes == 0
            || self.limits.import_json_depth == 0
        {
            problem(
                "limits.import_bytes",
                "import limits must be positive".into(),
            );
        }
        if self.limits.max_concurrent_imports == 0 {
            problem("limits.max_concurrent_imports", "must be at least 1".into());
        }
        if self.limits.max_concurrent_exports == 0 {
            problem("limits.max_concurrent_exports", "must be at least 1".into());
        }
        if self.limits.max_batch == 0 || self.limits.max_batch > 10_000 {
            problem("limits.max_batch", "must be between 1 and 10000".into());
        }
        if !(8192..=1024 * 1024).contains(&self.limits.header_bytes) {
            problem(
                "limits.header_bytes",
                "must be between 8192 and 1048576".into(),
            );
        }
        if self.limits.header_read_timeout_secs == 0
            || self.limits.tls_handshake_timeout_secs == 0
            || self.limits.request_timeout_secs == 0
            || self.limits.idle_timeout_secs == 0
            || self.limits.body_idle_timeout_secs == 0
        {
            problem("limits", "time-outs must be positive".into());
        }
        if self.limits.max_connections == 0
            || self.limits.max_connections_per_ip == 0
            || self.limits.max_connections_per_ip > self.limits.max_connections
        {
            problem(
                "limits.max_connections_per_ip",
                "connection limits must be positive, per address at most max_connections".into(),
            );
        }
        if self.limits.max_connections_per_range < self.limits.max_connections_per_ip
            || self.limits.max_connections_per_range > self.limits.max_connections
        {
            problem(
                "limits.max_connections_per_range",
                "must be between max_connections_per_ip and max_connections".into(),
            );
        }
        for name in self.rate_limits.budgets().invalid() {
            problem(
                "rate_limits",
                format!(
                    "{name}: per_minute must be 1..={} and burst 1..={}",
                    RateBudget::MAX_PER_MINUTE,
                    RateBudget::MAX_BURST
                ),
            );
        }
        if self.log.level.trim().is_empty() {
            problem("log.level", "must not be empty".into());
        }
        problems
    }

    /// Where the store keeps data.
    pub fn store_config(&self) -> StoreConfig {
        let url = self.database.url.expose_secret();
        if url == "sqlite" {
            StoreConfig::Sqlite {
                data_dir: self.data_dir.clone(),
                readers: self.database.sqlite_readers,
            }
        } else {
            StoreConfig::Postgres {
                url: url.to_owned(),
                prefix: self.database.postgres_prefix.clone(),
                max_connections: self.database.max_connections,
            }
        }
    }

    /// The URL people use, for printed links: `public_url`, else derived from the listener.
    pub fn public_base_url(&self, bound: SocketAddr) -> String {
        if let Some(u) = &self.public_url {
            return u.trim_end_matches('/').to_owned();
        }
        let host = match bound.ip() {
            IpAddr::V4(ip) if ip.is_loopback() => self
                .base_domains
                .first()
                .cloned()
                .unwrap_or_else(|| ip.to_string()),
            IpAddr::V4(ip) => ip.to_string(),
            IpAddr::V6(ip) => format!("[{ip}]"),
        };
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{host}:{}", bound.port())
    }
}

/// A prefix for PostgreSQL schema and role names: an identifier PostgreSQL takes unquoted,
/// short enough for the names built from it, and outside the reserved `pg_` space.
fn is_postgres_prefix(prefix: &str) -> bool {
    let mut chars = prefix.chars();
    let first = chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_');
    let rest = chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    first && rest && prefix.len() <= 24 && !prefix.starts_with("pg_")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        assert_eq!(Config::default().check(), vec![]);
    }

    #[test]
    fn mistakes_name_their_key() {
        let mut c = Config {
            listen: "0.0.0.0:8080".parse().unwrap(),
            base_domains: vec!["Bad Domain".into()],
            ..Config::default()
        };
        c.database.url = SecretString::from("mysql://x");
        let keys: Vec<_> = c.check().into_iter().map(|p| p.key).collect();
        assert_eq!(keys, vec!["base_domains", "listen", "database.url"]);
    }

    #[test]
    fn debug_hides_the_database_password() {
        let mut c = Config::default();
        c.database.url = SecretString::from("postgres://u:hunter2@db/x");
        let shown = format!("{c:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
    }
}
