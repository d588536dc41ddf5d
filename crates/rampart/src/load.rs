//! Loads the configuration: defaults < TOML file < `RAMPART_*` environment < flags.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;

use config::{Environment, File, FileFormat};
use rampart_server::Config;
use rampart_server::config::ConfigProblem;

use crate::cli::GlobalArgs;

/// Top-level keys that environment variables may set (`RAMPART_DATABASE__URL` sets
/// `database.url`). Other `RAMPART_*` variables, such as the test suite's, are ignored.
const ENV_KEYS: &[&str] = &[
    "listen",
    "internal_listen",
    "data_dir",
    "base_domains",
    "default_tenant",
    "public_url",
    "trusted_proxies",
    "ip_allow",
    "ip_deny",
    "database",
    "auth",
    "limits",
    "log",
    "smtp",
    "rate_limits",
    "tls",
    "keys",
    "audit",
];

fn environment() -> HashMap<String, String> {
    std::env::vars()
        .filter(|(k, _)| {
            k.strip_prefix("RAMPART_").is_some_and(|rest| {
                let top = rest
                    .split("__")
                    .next()
                    .unwrap_or_default()
                    .to_ascii_lowercase();
                ENV_KEYS.contains(&top.as_str())
            })
        })
        .collect()
}

pub fn load(args: &GlobalArgs) -> Result<Config, config::ConfigError> {
    let mut builder = config::Config::builder();
    let default_file = PathBuf::from("rampart.toml");
    match &args.config {
        Some(path) => {
            builder = builder.add_source(
                File::from(path.as_path())
                    .format(FileFormat::Toml)
                    .required(true),
            );
        }
        None if default_file.exists() => {
            builder = builder.add_source(File::from(default_file).format(FileFormat::Toml));
        }
        None => {}
    }
    builder = builder.add_source(
        Environment::with_prefix("RAMPART")
            .prefix_separator("_")
            .separator("__")
            .list_separator(",")
            .with_list_parse_key("base_domains")
            .with_list_parse_key("trusted_proxies")
            .with_list_parse_key("keys.kek_command")
            .try_parsing(true)
            .source(Some(environment())),
    );
    if let Some(v) = args.listen {
        builder = builder.set_override("listen", v.to_string())?;
    }
    if let Some(v) = args.internal_listen {
        builder = builder.set_override("internal_listen", v.to_string())?;
    }
    if let Some(v) = &args.data_dir {
        builder = builder.set_override("data_dir", v.display().to_string())?;
    }
    if let Some(v) = &args.database_url {
        builder = builder.set_override("database.url", v.clone())?;
    }
    builder.build()?.try_deserialize::<Config>()
}

/// `rampart config check`: every problem, or the effective configuration.
pub fn report_check(config: &Config, problems: &[ConfigProblem]) -> ExitCode {
    if problems.is_empty() {
        println!("configuration ok\n{config:#?}");
        ExitCode::SUCCESS
    } else {
        for p in problems {
            eprintln!("error: {p}");
        }
        eprintln!("{} problem(s) found", problems.len());
        ExitCode::from(2)
    }
}
