//! `rampart`: serve the API, and the operator's commands (tenants, users, configuration).

mod audit_cmd;
mod cli;
mod dev_cert;
mod export_cmd;
mod import_cmd;
mod keys_cmd;
mod load;
mod records_cmd;
mod serve;
mod tenant_cmd;
mod user_cmd;

use std::process::ExitCode;

use clap::Parser;

use cli::{Cli, Command, ConfigCommand};

/// glibc's allocator spent about a third of a list request's CPU time in `malloc`/`free` and
/// their arena locks, and kept freed memory mapped after load; mimalloc does neither.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Blocking threads beyond the SQLite readers: opening databases, loading the KEK, checking
/// a new password's strength.
const SPARE_BLOCKING_THREADS: usize = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::DevCert { dir, names } = &cli.command {
        return dev_cert::run(dir, names);
    }
    if let Command::Keys {
        command: cli::KeysCommand::GenerateKek,
    } = &cli.command
    {
        return keys_cmd::generate_kek();
    }
    let config = match load::load(&cli.global) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("rampart: configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    let problems = config.check();
    if let Command::Config {
        command: ConfigCommand::Check,
    } = cli.command
    {
        return load::report_check(&config, &problems);
    }
    if !problems.is_empty() {
        for p in &problems {
            eprintln!("rampart: configuration error: {p}");
        }
        return ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        // SQLite reads run on blocking threads, one reader connection each. Left at tokio's
        // default (512) the pool grew to ~35 threads under 64 list clients, each holding its
        // allocator pages; bounded, the same load ran 1.2x faster in 10% less memory.
        .max_blocking_threads(
            config.database.sqlite_readers.max(1) as usize + SPARE_BLOCKING_THREADS,
        )
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("rampart: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Serve => serve::serve(config).await,
            Command::Tenant { command } => tenant_cmd::run(config, command).await,
            Command::User { command } => user_cmd::run(config, command).await,
            Command::Keys { command } => keys_cmd::run(config, command).await,
            Command::Audit { command } => audit_cmd::run(config, command).await,
            Command::Records { command } => records_cmd::run(config, command).await,
            Command::Export(args) => export_cmd::run(config, args).await,
            Command::Import(args) => import_cmd::run(config, args).await,
            Command::Config { .. } | Command::DevCert { .. } => Ok(()),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rampart: {e}");
            ExitCode::FAILURE
        }
    }
}
