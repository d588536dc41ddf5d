//! `rampart dev-cert`: writes a local CA and a server certificate for trying TLS out.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use rampart_server::dev_cert::{DEFAULT_NAMES, generate};

fn write(path: &Path, text: &str, private: bool) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = private;
    options.open(path)?.write_all(text.as_bytes())
}

pub fn run(dir: &Path, names: &[String]) -> ExitCode {
    let names: Vec<String> = if names.is_empty() {
        DEFAULT_NAMES.iter().map(|n| (*n).to_owned()).collect()
    } else {
        names.to_vec()
    };
    let cert = match generate(&names) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("rampart: cannot make the certificate: {e}");
            return ExitCode::FAILURE;
        }
    };
    let written = std::fs::create_dir_all(dir)
        .and_then(|()| write(&dir.join("ca.pem"), &cert.ca_pem, false))
        .and_then(|()| write(&dir.join("cert.pem"), &cert.cert_pem, false))
        .and_then(|()| write(&dir.join("key.pem"), &cert.key_pem, true));
    if let Err(e) = written {
        eprintln!("rampart: cannot write to {}: {e}", dir.display());
        return ExitCode::FAILURE;
    }
    let d = dir.display();
    println!(
        "wrote {d}/ca.pem (trust it in your browser or with curl --cacert), {d}/cert.pem and {d}/key.pem\n\
         for: {}\n\
         add to rampart.toml:\n  [tls]\n  cert_file = \"{d}/cert.pem\"\n  key_file = \"{d}/key.pem\"",
        names.join(", ")
    );
    ExitCode::SUCCESS
}
