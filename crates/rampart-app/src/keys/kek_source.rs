//! Where the instance key-encryption keys come from: a file, an environment variable, or a
//! command whose output is the keys (so any secret manager's CLI can supply them). The text
//! holds one base64 key per line, the current key first, keys still needed for unwrapping
//! after it (see `rampart keys rotate-kek`).
//!
//! Rampart never writes a key it was given anywhere. The one key it ever writes is the one
//! it generates on the very first start of an instance with no source configured, into
//! [`default_kek_file`] (outside the data directory, owner-only), so that the README's one
//! command works; the start-up message says where it is and what losing it means.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rampart_crypto::keyring::{Kek, KekRing, Key};
use serde::Deserialize;
use zeroize::Zeroizing;

/// `[keys]` in the configuration. At most one source may be set.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KeysConfig {
    /// How long a retired data key is kept after a rotation (days), so that every backup
    /// taken before it still opens: at least as long as the oldest backup you keep. After
    /// that it is destroyed once no stored value needs it (`rampart keys purge`, hourly).
    pub retain_retired_days: u32,
    /// A file holding the keys (owner-only permissions are required).
    pub kek_file: Option<PathBuf>,
    /// An environment variable holding the keys.
    pub kek_env: Option<String>,
    /// A program and its arguments (no shell) that prints the keys, e.g.
    /// `["vault", "kv", "get", "-field=kek", "secret/rampart"]`.
    pub kek_command: Option<Vec<String>>,
}

#[derive(Debug, thiserror::Error)]
pub enum KekSourceError {
    #[error("[keys]: set only one of kek_file, kek_env and kek_command")]
    SeveralSources,
    #[error("KEK file {path}: {message}")]
    File { path: PathBuf, message: String },
    #[error("KEK environment variable {0} is not set")]
    EnvMissing(String),
    #[error("KEK command {program}: {message}")]
    Command { program: String, message: String },
    #[error("KEK source: {0}")]
    Parse(#[from] rampart_crypto::keyring::KeyError),
}

/// Which source is configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KekSource {
    File(PathBuf),
    Env(String),
    Command(Vec<String>),
    /// Nothing configured: the instance's own generated file.
    Default(PathBuf),
}

/// The file the keys are generated into when no source is configured: next to the data
/// directory (`./rampart-data` → `./rampart-data.kek`), so copying the data directory does
/// not copy the key.
pub fn default_kek_file(data_dir: &Path) -> PathBuf {
    let mut name = data_dir
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_else(|| "rampart-data".into());
    name.push(".kek");
    data_dir.with_file_name(name)
}

/// Seven daily backups, plus a day.
pub const DEFAULT_RETAIN_RETIRED_DAYS: u32 = 8;

impl Default for KeysConfig {
    fn default() -> Self {
        Self {
            retain_retired_days: DEFAULT_RETAIN_RETIRED_DAYS,
            kek_file: None,
            kek_env: None,
            kek_command: None,
        }
    }
}

impl KeysConfig {
    pub fn source(&self, data_dir: &Path) -> Result<KekSource, KekSourceError> {
        match (&self.kek_file, &self.kek_env, &self.kek_command) {
            (None, None, None) => Ok(KekSource::Default(default_kek_file(data_dir))),
            (Some(f), None, None) => Ok(KekSource::File(f.clone())),
            (None, Some(v), None) => Ok(KekSource::Env(v.clone())),
            (None, None, Some(c)) => Ok(KekSource::Command(c.clone())),
            _ => Err(KekSourceError::SeveralSources),
        }
    }
}

fn read_file(path: &Path) -> Result<Zeroizing<String>, KekSourceError> {
    let err = |message: String| KekSourceError::File {
        path: path.to_owned(),
        message,
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)
            .map_err(|e| err(e.to_string()))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            return Err(err(format!(
                "readable by others (mode {:o}); run chmod 600 on it",
                mode & 0o777
            )));
        }
    }
    std::fs::read_to_string(path)
        .map(Zeroizing::new)
        .map_err(|e| err(e.to_string()))
}

fn run_command(argv: &[String]) -> Result<Zeroizing<String>, KekSourceError> {
    let (program, args) = argv.split_first().ok_or(KekSourceError::Command {
        program: String::new(),
        message: "kek_command is empty".into(),
    })?;
    let err = |message: String| KekSourceError::Command {
        program: program.clone(),
        message,
    };
    let mut child = std::process::Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| err(e.to_string()))?;
    // A secret manager that hangs must not hang the start: give it a bounded time.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        match child.try_wait().map_err(|e| err(e.to_string()))? {
            Some(_) => break,
            None if std::time::Instant::now() > deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(err("did not finish within 30 seconds".into()));
            }
            None => std::thread::sleep(Duration::from_millis(20)),
        }
    }
    let output = child.wait_with_output().map_err(|e| err(e.to_string()))?;
    let stdout = Zeroizing::new(output.stdout);
    if !output.status.success() {
        // Only the error stream is quoted: the output may hold key material.
        let first = String::from_utf8_lossy(&output.stderr)
            .lines()
            .next()
            .unwrap_or_default()
            .chars()
            .take(200)
            .collect::<String>();
        return Err(err(format!("exited with {}: {first}", output.status)));
    }
    String::from_utf8(stdout.to_vec())
        .map(Zeroizing::new)
        .map_err(|_| err("printed something that is not text".into()))
}

/// Reads the keys from the source. `may_generate` allows creating the default file when it
/// does not exist (only for an instance that holds no data key yet).
pub fn load(source: &KekSource, may_generate: bool) -> Result<KekRing, KekSourceError> {
    let text = match source {
        KekSource::File(path) => read_file(path)?,
        KekSource::Env(var) => {
            Zeroizing::new(std::env::var(var).map_err(|_| KekSourceError::EnvMissing(var.clone()))?)
        }
        KekSource::Command(argv) => run_command(argv)?,
        KekSource::Default(path) => {
            if !path.exists() && may_generate {
                generate_file(path)?;
            }
            read_file(path)?
        }
    };
    Ok(KekRing::parse(&text)?)
}

/// Writes a new key to `path`, owner-only, refusing to overwrite anything.
pub fn generate_file(path: &Path) -> Result<Kek, KekSourceError> {
    use std::io::Write;
    let err = |message: String| KekSourceError::File {
        path: path.to_owned(),
        message,
    };
    let kek = Kek::new(Key::generate());
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(|e| err(e.to_string()))?;
    let text = Zeroizing::new(format!(
        "# Rampart key-encryption key (KEK) {}. Losing this file loses every tenant's sealed data:\n\
         # keep a copy somewhere safe and apart from the data's backups.\n{}\n",
        kek.id,
        kek.encode().as_str()
    ));
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| err(e.to_string()))?;
    Ok(kek)
}

/// What [`install`] found.
#[derive(Debug)]
pub struct Installed {
    pub source: KekSource,
    /// The default file, when it was generated just now.
    pub generated: Option<PathBuf>,
    pub kek_ids: Vec<rampart_crypto::keyring::KekId>,
}

/// Reads the configured source and hands the keys to the store. Refuses when the source is
/// missing or malformed; generates the default file only for an instance without keys.
pub async fn install(
    keys: &KeysConfig,
    data_dir: &Path,
    store: &rampart_store::Store,
) -> Result<Installed, String> {
    let source = keys.source(data_dir).map_err(|e| e.to_string())?;
    let fresh = store
        .keys()
        .status()
        .await
        .map_err(|e| format!("cannot read the keyring: {e}"))?
        .is_empty();
    let generated = match &source {
        KekSource::Default(path) if fresh && !path.exists() => Some(path.clone()),
        _ => None,
    };
    let ring = {
        let blocking = source.clone();
        tokio::task::spawn_blocking(move || load(&blocking, fresh))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| match &source {
                KekSource::Default(path) => format!(
                    "{e}\n  no [keys] source is configured and {} is missing: restore it from your copy \
                     (without it the sealed data cannot be read), or configure keys.kek_file, \
                     keys.kek_env or keys.kek_command",
                    path.display()
                ),
                _ => e.to_string(),
            })?
    };
    let kek_ids = ring.ids();
    store.keys().set_ring(ring);
    Ok(Installed {
        source,
        generated,
        kek_ids,
    })
}

/// Reads the source again (SIGHUP): a failure keeps the keys already installed.
pub async fn reload(
    keys: &KeysConfig,
    data_dir: &Path,
    store: &rampart_store::Store,
) -> Result<Vec<rampart_crypto::keyring::KekId>, String> {
    let source = keys.source(data_dir).map_err(|e| e.to_string())?;
    let ring = tokio::task::spawn_blocking(move || load(&source, false))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    let ids = ring.ids();
    store.keys().set_ring(ring);
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exactly_one_source_and_a_default_outside_the_data_directory() {
        let c = KeysConfig::default();
        assert_eq!(
            c.source(Path::new("./rampart-data")).ok(),
            Some(KekSource::Default(PathBuf::from("./rampart-data.kek")))
        );
        let both = KeysConfig {
            kek_file: Some("k".into()),
            kek_env: Some("K".into()),
            ..KeysConfig::default()
        };
        assert!(matches!(
            both.source(Path::new("d")),
            Err(KekSourceError::SeveralSources)
        ));
    }

    #[test]
    fn a_generated_file_is_owner_only_loads_and_is_never_overwritten() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("k.kek");
        let source = KekSource::Default(path.clone());
        assert!(
            load(&source, false).is_err(),
            "not generated unless allowed"
        );
        let ring = load(&source, true).unwrap_or_else(|e| panic!("{e}"));
        let again = load(&source, true).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(ring.current().id, again.current().id);
        assert!(generate_file(&path).is_err());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path)
                .map(|m| m.permissions().mode())
                .unwrap_or(0);
            assert_eq!(mode & 0o777, 0o600);
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644))
                .unwrap_or_else(|e| panic!("{e}"));
            assert!(matches!(
                load(&KekSource::File(path), false),
                Err(KekSourceError::File { .. })
            ));
        }
    }

    #[test]
    fn a_command_supplies_the_keys_and_its_failure_is_reported_without_output() {
        let kek = Kek::new(Key::generate());
        let ring = load(
            &KekSource::Command(vec!["echo".into(), kek.encode().to_string()]),
            false,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(ring.current().id, kek.id);
        let failed = load(
            &KekSource::Command(vec!["sh".into(), "-c".into(), "echo secret; exit 3".into()]),
            false,
        );
        let message = failed.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(message.contains("exited"), "{message}");
        assert!(!message.contains("secret"), "{message}");
        assert!(matches!(
            load(&KekSource::Env("RAMPART_TEST_UNSET_KEK".into()), false),
            Err(KekSourceError::EnvMissing(_))
        ));
    }
}
