//! `rampart export`: a table written to a file exactly as one of the tenant's users exports it
//! over the API, through the same use case (`rampart_app::records::export`), with the same
//! `record.export` audit entry (its actor the operator, its detail naming the user). A progress
//! bar on a terminal; plain lines otherwise (the count at the start, the total at the end).

use std::io::{IsTerminal, Write};
use std::sync::atomic::Ordering;

use rampart_app::records::encode::Format;
use rampart_app::records::export::{self, ExportRequest, LinkForm, Sink, Summary};
use rampart_auth::authz::cache::AccessCache;
use rampart_core::TableId;
use rampart_server::Config;
use rampart_store::{TenantStore, Tx};
use tokio::sync::mpsc;

use crate::cli::ExportArgs;
use crate::serve::{init_logging, open_store, open_tenant};

pub async fn run(config: Config, args: ExportArgs) -> Result<(), String> {
    init_logging(&config)?;
    let store = open_store(&config).await?;
    let operator =
        rampart_store::audit::AuditContext::new(None, None, rampart_store::audit::Actor::Operator);
    let result = async {
        let ts = open_tenant(&store, &args.tenant).await?;
        rampart_store::audit::scope(operator, run_with(ts, args)).await
    }
    .await;
    store.close().await;
    result
}

fn format_of(args: &ExportArgs) -> Result<Format, String> {
    let named = args.format.clone().or_else(|| {
        args.output
            .as_ref()
            .and_then(|p| p.extension())
            .and_then(|e| e.to_str())
            .map(str::to_owned)
    });
    match named {
        None => Ok(Format::Csv),
        Some(f) => Format::parse(&f)
            .map_err(|_| format!("{f:?} is not a format: use csv, tsv, json, ndjson or xlsx")),
    }
}

async fn run_with(ts: TenantStore, args: ExportArgs) -> Result<(), String> {
    let table: TableId = args
        .table
        .parse()
        .map_err(|_| format!("{:?} is not a table id", args.table))?;
    let format = format_of(&args)?;
    let req = ExportRequest {
        format,
        filter: args.filter.clone(),
        sort: args.sort.clone(),
        fields: args.fields.as_ref().map(|f| {
            f.split(',')
                .map(|n| n.trim().to_owned())
                .filter(|n| !n.is_empty())
                .collect()
        }),
        links: if args.link_ids {
            LinkForm::Ids
        } else {
            LinkForm::Names
        },
    };
    let (chunks, mut received) = mpsc::channel::<Vec<u8>>(4);
    let sink = Sink::new(chunks);
    let written = sink.written();
    let (told, summary) = tokio::sync::oneshot::channel::<Summary>();
    let (proceed, go) = tokio::sync::oneshot::channel::<()>();
    let email = args.as_user.clone();
    let reader = ts.clone();
    let job = tokio::spawn(async move {
        reader
            .read_with(move |tx: &mut Tx| {
                Box::pin(async move {
                    let principal = rampart_app::people::acting_as(tx, &email).await?;
                    let cache = AccessCache::default();
                    let gate = move |s: Summary| async move {
                        told.send(s).map_err(|_| rampart_app::AppError::Cancelled)?;
                        go.await.map_err(|_| rampart_app::AppError::Cancelled)
                    };
                    export::export(tx, &cache, &principal, table, req, gate, &sink).await
                })
            })
            .await
    });
    let Ok(summary) = summary.await else {
        // The export ended before its gate: refused, or failed.
        return Err(match job.await {
            Ok(Err(e)) => crate::records_cmd::say(e),
            Ok(Ok(_)) => "the export ended before it began".to_owned(),
            Err(e) => format!("the export stopped: {e}"),
        });
    };
    // Recorded here, in the operator's audit scope, before the first byte is written.
    let entry = summary.clone();
    ts.write_with(move |tx: &mut Tx| Box::pin(async move { export::record(tx, &entry).await }))
        .await
        .map_err(crate::records_cmd::say)?;
    if proceed.send(()).is_err() {
        return Err("the export stopped before it began".to_owned());
    }
    eprintln!(
        "exporting {} records of {} as {}",
        summary.records,
        summary.table_name,
        format.as_str()
    );

    // A file is written under a temporary name and renamed once whole, so a failed export
    // never leaves a file that looks complete.
    let partial = args.output.as_ref().map(|p| {
        let mut name = p.clone().into_os_string();
        name.push(".partial");
        std::path::PathBuf::from(name)
    });
    let mut out: Box<dyn Write + Send> = match &partial {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path)
                .map_err(|e| format!("cannot create {}: {e}", path.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout())),
    };
    let result = copy(&mut out, &mut received, summary.records, &written).await;
    drop(out);
    let outcome = match result {
        Ok(()) => job
            .await
            .map_err(|e| format!("the export stopped: {e}"))
            .and_then(|r| r.map_err(crate::records_cmd::say)),
        Err(e) => Err(e),
    };
    let done = match (outcome, &partial, &args.output) {
        (Ok(n), Some(from), Some(to)) => {
            std::fs::rename(from, to).map_err(|e| format!("cannot write {}: {e}", to.display()))?;
            n
        }
        (Ok(n), _, _) => n,
        (Err(e), from, _) => {
            if let Some(from) = from {
                let _ = std::fs::remove_file(from);
            }
            return Err(e);
        }
    };
    let place = args
        .output
        .as_ref()
        .map_or_else(|| "standard output".to_owned(), |p| p.display().to_string());
    eprintln!("exported {done} records to {place}");
    Ok(())
}

/// Writes the chunks as they come, with a progress bar on a terminal.
async fn copy(
    out: &mut Box<dyn Write + Send>,
    received: &mut mpsc::Receiver<Vec<u8>>,
    total: u64,
    written: &std::sync::atomic::AtomicU64,
) -> Result<(), String> {
    let bar = std::io::stderr().is_terminal().then(|| {
        let b = indicatif::ProgressBar::new(total);
        b.set_style(
            indicatif::ProgressStyle::with_template(
                "{bar:40} {pos}/{len} records, {per_sec}, {eta} left",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        b
    });
    while let Some(chunk) = received.recv().await {
        out.write_all(&chunk)
            .map_err(|e| format!("cannot write the export: {e}"))?;
        if let Some(b) = &bar {
            b.set_position(written.load(Ordering::Relaxed));
        }
    }
    out.flush()
        .map_err(|e| format!("cannot write the export: {e}"))?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    Ok(())
}
