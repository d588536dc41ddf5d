//! `rampart audit ...`: verify a tenant's chain, and print anchors to keep elsewhere.

use std::io::Read;

use rampart_server::Config;
use rampart_store::Store;
use rampart_store::audit::{self, Checkpoint};

use crate::cli::AuditCommand;
use crate::serve::{init_logging, open_store, open_tenant};

pub async fn run(config: Config, command: AuditCommand) -> Result<(), String> {
    init_logging(&config)?;
    let store = open_store(&config).await?;
    let operator = audit::AuditContext::new(None, None, audit::Actor::Operator);
    let result = audit::scope(operator, run_with(&store, command)).await;
    store.close().await;
    result
}

fn read_anchor(path: &std::path::Path) -> Result<Checkpoint, String> {
    let text = if path.as_os_str() == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .map_err(|e| e.to_string())?;
        s
    } else {
        std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?
    };
    let line = text
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .ok_or("the anchor file is empty")?;
    let value: serde_json::Value =
        serde_json::from_str(line).map_err(|e| format!("the anchor is not JSON: {e}"))?;
    serde_json::from_value(value.get("checkpoint").cloned().unwrap_or(value))
        .map_err(|e| format!("the anchor is not a checkpoint: {e}"))
}

async fn run_with(store: &Store, command: AuditCommand) -> Result<(), String> {
    match command {
        AuditCommand::Anchor { tenant: slug } => {
            let ts = open_tenant(store, &slug).await?;
            match audit::anchor(&ts).await.map_err(|e| e.to_string())? {
                None => Err("the chain is empty: nothing to anchor yet".into()),
                Some(cp) => {
                    let line = serde_json::json!({ "tenant": slug, "checkpoint": cp });
                    println!("{line}");
                    Ok(())
                }
            }
        }
        AuditCommand::Verify {
            tenant: slug,
            anchor,
        } => {
            let anchor = anchor.as_deref().map(read_anchor).transpose()?;
            let ts = open_tenant(store, &slug).await?;
            let report = audit::verify_tenant(&ts, anchor.clone())
                .await
                .map_err(|e| e.to_string())?;
            let against = anchor
                .map(|a| format!(", against the anchor at entry {}", a.seq))
                .unwrap_or_default();
            match report.problem {
                None => {
                    let unsigned = if report.signed_through < report.entries {
                        format!(
                            "; entries {}..{} are not signed yet (a running server signs them every {} entries, hourly and when it stops)",
                            report.signed_through + 1,
                            report.entries,
                            audit::CHECKPOINT_EVERY
                        )
                    } else {
                        String::new()
                    };
                    println!(
                        "audit chain of {slug}: OK, {} entries, {} signed checkpoints{against}; head {}{unsigned}",
                        report.entries,
                        report.checkpoints,
                        hex::encode(report.last_hash)
                    );
                    Ok(())
                }
                Some(problem) => {
                    println!("audit chain of {slug}: TAMPERED: {problem}");
                    Err(format!(
                        "the audit chain of {slug} does not verify: {problem}"
                    ))
                }
            }
        }
    }
}
