//! `rampart import`: a file into a table exactly as one of the tenant's users imports it over
//! the API, through the same use cases (`rampart_app::records::import`): the same mapping,
//! checks, modes and audit entries; the job is recorded like one started over the API. A
//! progress bar on a terminal; plain lines otherwise.

use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use rampart_app::records::import::job::{self, Spec};
use rampart_app::records::import::source::{self, Limits, ReadOptions, SourceFormat};
use rampart_app::records::import::write::{Mode, Progress};
use rampart_auth::authz::cache::AccessCache;
use rampart_core::TableId;
use rampart_server::Config;
use rampart_store::{TenantStore, Tx};

use crate::cli::ImportArgs;
use crate::records_cmd::say;
use crate::serve::{init_logging, open_store, open_tenant};

pub async fn run(config: Config, args: ImportArgs) -> Result<(), String> {
    init_logging(&config)?;
    let store = open_store(&config).await?;
    let operator =
        rampart_store::audit::AuditContext::new(None, None, rampart_store::audit::Actor::Operator);
    let limits = config.limits.import_limits();
    let result = async {
        let ts = open_tenant(&store, &args.tenant).await?;
        rampart_store::audit::scope(operator, run_with(ts, args, limits)).await
    }
    .await;
    store.close().await;
    result
}

async fn run_with(ts: TenantStore, args: ImportArgs, limits: Limits) -> Result<(), String> {
    let table: TableId = args
        .table
        .parse()
        .map_err(|_| format!("{:?} is not a table id", args.table))?;
    let options = ReadOptions {
        format: args
            .format
            .as_deref()
            .map(SourceFormat::parse)
            .transpose()
            .map_err(say)?,
        sheet: args.sheet.clone(),
        ..ReadOptions::default()
    };
    let asked = args
        .map
        .as_deref()
        .map(job::parse_mapping)
        .transpose()
        .map_err(say)?;
    let file = std::fs::File::open(&args.file)
        .map_err(|e| format!("cannot open {}: {e}", args.file.display()))?;
    let (detected, rows) =
        tokio::task::spawn_blocking(move || source::open(file, &options, &limits))
            .await
            .map_err(|e| e.to_string())?
            .map_err(say)?;
    let header = rows.header().to_vec();
    let mode = if args.valid_rows {
        Mode::ValidRows
    } else {
        Mode::AllOrNothing
    };
    let (dry_run, format, email) = (args.dry_run, detected.format, args.as_user.clone());
    let upsert = args.upsert.clone();
    let cache = Arc::new(AccessCache::default());
    let (started, mapping, principal) = {
        let cache = cache.clone();
        ts.write_with(move |tx: &mut Tx| {
            Box::pin(async move {
                let principal = rampart_app::people::acting_as(tx, &email).await?;
                let start = job::Start {
                    table,
                    header,
                    asked: asked.as_ref(),
                    format,
                    mode,
                    dry_run,
                    upsert: upsert.as_deref(),
                    runner: uuid::Uuid::now_v7(),
                };
                let (job, mapping) = job::start(tx, &cache, &principal, start).await?;
                Ok::<_, rampart_app::AppError>((job, mapping, principal))
            })
        })
        .await
        .map_err(say)?
    };
    let id = started.id;
    eprintln!(
        "importing {} into table {table} as job {id}",
        args.file.display()
    );
    let progress = Arc::new(Progress::default());
    progress.size.store(detected.bytes, Ordering::Relaxed);
    let spec = Spec {
        mode,
        dry_run,
        mapping,
    };
    let running = tokio::spawn(job::run(
        ts.clone(),
        cache,
        principal,
        started,
        spec,
        rows,
        progress.clone(),
    ));
    let bar = std::io::stderr().is_terminal().then(|| {
        let b = indicatif::ProgressBar::new(detected.bytes.max(1));
        b.set_style(
            indicatif::ProgressStyle::with_template("{bar:40} {msg}, {eta} left")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        b
    });
    while !running.is_finished() {
        if let Some(b) = &bar {
            let c = progress.counts();
            b.set_position(progress.position.load(Ordering::Relaxed));
            b.set_message(format!("{} rows read, {} refused", c.read, c.rejected));
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    running
        .await
        .map_err(|e| format!("the import stopped: {e}"))?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let job = ts
        .read_with(move |tx: &mut Tx| Box::pin(rampart_store::imports::get(tx, id)))
        .await
        .map_err(|e| e.to_string())?
        .ok_or("the job is gone")?;
    eprintln!(
        "{}: {} rows read, {} written{}, {} refused{}",
        job.state,
        job.rows_read,
        job.rows_written,
        if job.rows_updated > 0 {
            format!(" ({} of them updates)", job.rows_updated)
        } else {
            String::new()
        },
        job.rows_rejected,
        job.message.map(|m| format!(" ({m})")).unwrap_or_default()
    );
    if job.rows_rejected > 0 {
        eprintln!("the refused rows: GET /api/v1/imports/{id}/rejects");
    }
    if job.state == "done" {
        Ok(())
    } else {
        Err(format!("the import {}", job.state))
    }
}
