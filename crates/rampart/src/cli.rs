//! Command-line interface. Flags override environment variables, which override the file.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "rampart",
    version,
    about = "Rampart: a secure-by-default, multi-tenant no-code database"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// TOML configuration file (default: ./rampart.toml when it exists).
    #[arg(long, global = true, env = "RAMPART_CONFIG")]
    pub config: Option<PathBuf>,
    /// Public listener address (port 0 picks a free port).
    #[arg(long, global = true)]
    pub listen: Option<SocketAddr>,
    /// Internal listener address for health, readiness and metrics.
    #[arg(long, global = true)]
    pub internal_listen: Option<SocketAddr>,
    /// Directory of the SQLite databases.
    #[arg(long, global = true)]
    pub data_dir: Option<PathBuf>,
    /// `sqlite` or a postgres:// URL.
    #[arg(long, global = true)]
    pub database_url: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the API.
    Serve,
    /// Manage tenants (the instance operator's job).
    Tenant {
        #[command(subcommand)]
        command: TenantCommand,
    },
    /// Break-glass actions on a tenant's users (the instance operator's job).
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Make a local CA and a certificate it signed, for trying TLS out (not for production).
    DevCert {
        /// Where to write ca.pem, cert.pem and key.pem.
        #[arg(long, default_value = "./rampart-tls")]
        dir: PathBuf,
        /// Host names and IP addresses the certificate names (default: localhost,
        /// *.localhost, 127.0.0.1, ::1).
        #[arg(long = "name")]
        names: Vec<String>,
    },
    /// The instance's key-encryption keys and the tenants' data keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// A tenant's tamper-evident audit chain.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// A tenant's records, as one of its users may see them.
    Records {
        #[command(subcommand)]
        command: RecordsCommand,
    },
    /// Write a table to a file exactly as one of the tenant's users would export it over the
    /// API (`GET /api/v1/tables/{t}/export`): the same records, fields and audit entry.
    Export(ExportArgs),
    /// Import a file into a table exactly as one of the tenant's users would over the API
    /// (`POST /api/v1/tables/{t}/imports`): the same checks, the same audit entries.
    Import(ImportArgs),
    /// Inspect the configuration.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// Create a tenant and print a one-time setup token for its first owner.
    Create {
        slug: String,
        /// Display name (default: the slug).
        #[arg(long)]
        name: Option<String>,
    },
    /// List tenants.
    List,
    /// Suspend a tenant: its users are refused until it is resumed.
    Suspend { slug: String },
    /// Resume a suspended tenant.
    Resume { slug: String },
    /// Delete a tenant and all its data, irreversibly.
    Delete {
        slug: String,
        /// Confirm the deletion.
        #[arg(long)]
        yes: bool,
    },
    /// Issue a new one-time setup token for a tenant that has no user yet.
    SetupToken { slug: String },
}

#[derive(Debug, Subcommand)]
pub enum RecordsCommand {
    /// Print a table's records exactly as the user would get them over the API (the same
    /// records, the same fields), one JSON object a line, every page.
    List {
        /// The tenant's slug.
        tenant: String,
        /// The table's id.
        table: String,
        /// The email of the user whose view it is.
        #[arg(long = "as")]
        as_user: String,
        /// An expression, as the API's `filter`.
        #[arg(long)]
        filter: Option<String>,
        /// As the API's `sort`, e.g. `-created_at,title`.
        #[arg(long)]
        sort: Option<String>,
        /// Stop after this many records.
        #[arg(long)]
        limit: Option<usize>,
    },
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The tenant's slug.
    pub tenant: String,
    /// The table's id.
    pub table: String,
    /// The email of the user whose view it is.
    #[arg(long = "as")]
    pub as_user: String,
    /// csv, tsv, json, ndjson or xlsx (default: from the output file's extension, else csv).
    #[arg(long)]
    pub format: Option<String>,
    /// An expression, as the API's `filter`.
    #[arg(long)]
    pub filter: Option<String>,
    /// As the API's `sort`, e.g. `-created_at,title`.
    #[arg(long)]
    pub sort: Option<String>,
    /// The columns by field name, comma-separated (default: every field the user may read).
    #[arg(long)]
    pub fields: Option<String>,
    /// Links as record ids instead of the linked records' primary values.
    #[arg(long)]
    pub link_ids: bool,
    /// The file to write (default: standard output).
    #[arg(long, short)]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The tenant's slug.
    pub tenant: String,
    /// The table's id.
    pub table: String,
    /// The file to read.
    pub file: PathBuf,
    /// The email of the user who imports.
    #[arg(long = "as")]
    pub as_user: String,
    /// csv, tsv, xlsx, json or ndjson (default: detected).
    #[arg(long)]
    pub format: Option<String>,
    /// The sheet of a workbook (default: the first).
    #[arg(long)]
    pub sheet: Option<String>,
    /// Write the valid rows and report the refused ones (default: all or nothing).
    #[arg(long)]
    pub valid_rows: bool,
    /// Check every row and write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Columns to fields, as JSON: `{"Column": "field", "Skipped": null}`.
    #[arg(long)]
    pub map: Option<String>,
    /// Upsert by this unique field: rows matching a record by it update that record, the
    /// others are created.
    #[arg(long)]
    pub upsert: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Walk the chain and report the first entry that was edited, deleted, inserted or
    /// reordered; with --anchor, also prove nothing was cut off since that anchor.
    Verify {
        /// The tenant's slug.
        tenant: String,
        /// A file holding an anchor printed earlier by `rampart audit anchor` (`-`: stdin).
        #[arg(long)]
        anchor: Option<PathBuf>,
    },
    /// Sign the chain's head now and print the checkpoint as one JSON line, to keep outside
    /// the database (a log shipper, another machine).
    Anchor {
        /// The tenant's slug.
        tenant: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Print a new key-encryption key for a KEK source (one base64 line; nothing is stored).
    GenerateKek,
    /// Show the KEKs the source holds and every tenant's data keys.
    Status,
    /// Re-wrap every data key under the current KEK (the first in the source). Run it after
    /// putting a new KEK first in the source and keeping the old one after it; then send the
    /// servers SIGHUP, and remove the old KEK once this reports nothing left to re-wrap.
    /// Resumable: run it again after an interruption.
    RotateKek,
    /// Give a tenant a new data key, then re-seal its sealed values with it (in the
    /// background of a running server; resumable).
    RotateDek {
        /// The tenant's slug.
        tenant: String,
        /// Do not wait for running servers to pick up the new key before re-sealing (only
        /// when no server is running).
        #[arg(long)]
        no_wait: bool,
    },
    /// Finish re-sealing a tenant's values with its current data key (after a rotate-dek
    /// that was interrupted); a no-op when nothing is left.
    Reseal {
        /// The tenant's slug.
        tenant: String,
        /// As for rotate-dek.
        #[arg(long)]
        no_wait: bool,
    },
    /// Destroy retired data keys that no stored value needs and that were retired longer ago
    /// than `keys.retain_retired_days` (the server also does this on its own, hourly).
    Purge {
        /// Only report what would be destroyed, and what keeps the rest.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Give a user a new random password (printed once) and end their sessions.
    ResetPassword {
        /// The tenant's slug.
        tenant: String,
        email: String,
    },
    /// Remove a user's second factors (TOTP, recovery codes) and end their sessions.
    #[command(name = "reset-2fa")]
    Reset2fa {
        /// The tenant's slug.
        tenant: String,
        email: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Load the configuration, report every mistake, and print the result (secrets hidden).
    Check,
}
