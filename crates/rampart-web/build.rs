//! Builds the UI in `web/` with Vite into OUT_DIR and points the embed at it.
//!
//! `npm ci` runs when `web/node_modules` is missing or older than `package-lock.json`;
//! `RAMPART_WEB_DIST=<dir>` embeds an already built `dist` instead (no Node.js needed).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let web = manifest.join("../../web");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").unwrap_or_default()).join("web");
    for input in [
        "src",
        "index.html",
        "package.json",
        "package-lock.json",
        "vite.config.ts",
        "tsconfig.json",
        "tsconfig.node.json",
    ] {
        println!("cargo:rerun-if-changed={}", web.join(input).display());
    }
    println!("cargo:rerun-if-env-changed=RAMPART_WEB_DIST");

    let dist = match std::env::var_os("RAMPART_WEB_DIST") {
        Some(dir) => PathBuf::from(dir),
        None => {
            build(&web, &out);
            out
        }
    };
    if !dist.join("index.html").is_file() {
        fail(&format!("{} has no index.html", dist.display()));
    }
    let embed = format!(
        "#[derive(rust_embed::Embed)]\n#[folder = {:?}]\nstruct Dist;\n",
        dist.display().to_string()
    );
    let target = PathBuf::from(std::env::var_os("OUT_DIR").unwrap_or_default()).join("embed.rs");
    if let Err(e) = fs::write(&target, embed) {
        fail(&format!("cannot write {}: {e}", target.display()));
    }
}

fn build(web: &Path, out: &Path) {
    let lock = web.join("package-lock.json");
    let installed = web.join("node_modules/.package-lock.json");
    let stale = match (modified(&installed), modified(&lock)) {
        (Some(i), Some(l)) => i < l,
        _ => true,
    };
    if stale {
        run(web, &["ci", "--no-audit", "--no-fund"]);
    }
    let out_dir = out.display().to_string();
    run(
        web,
        &["run", "build", "--", "--outDir", &out_dir, "--emptyOutDir"],
    );
}

fn modified(path: &Path) -> Option<std::time::SystemTime> {
    fs::metadata(path).and_then(|m| m.modified()).ok()
}

fn run(dir: &Path, args: &[&str]) {
    let status = Command::new("npm")
        .args(args)
        .current_dir(dir)
        .env("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
        .status();
    match status {
        Ok(s) if s.success() => {}
        Ok(s) => fail(&format!("`npm {}` failed ({s})", args.join(" "))),
        Err(e) => fail(&format!(
            "cannot run npm ({e}): the web UI needs Node.js 20+ and npm \
             (Debian: apt-get install nodejs npm), or RAMPART_WEB_DIST set to a built web/dist"
        )),
    }
}

fn fail(message: &str) -> ! {
    eprintln!("rampart-web: {message}");
    std::process::exit(1);
}
