//! Walking a chain: every entry's hash is recomputed and linked to the one before, numbers
//! run without gaps, every checkpoint's signature holds and matches the entry it names, the
//! stored head names exactly the last entry (no entry past it, none missing before it), and
//! an anchor kept outside (the operator's copy of a checkpoint) proves nothing was cut off
//! the end. The walk runs in one snapshot, so concurrent writers cannot make it disagree with
//! itself. The report says how far signed checkpoints reach: entries after the last one
//! could have been appended by anyone able to write the database.

use rampart_crypto::keyring::TenantKeys;
use rampart_sql::Param;

use super::chain::{
    CHECKPOINT_COLUMNS, Checkpoint, ENTRY_COLUMNS, checkpoint_from_row, entry_from_row, entry_hash,
};
use crate::db::Tx;
use crate::error::StoreError;

/// The first thing found wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// The entry's content no longer matches its hash.
    Edited { seq: u64 },
    /// Entries are missing before this one.
    Deleted {
        missing_from: u64,
        next_present: u64,
    },
    /// The entry does not link to the one before it: something was inserted or reordered.
    NotLinked { seq: u64 },
    /// A checkpoint names an entry whose hash differs: the chain was rewritten up to it.
    CheckpointMismatch { checkpoint: u64 },
    /// A checkpoint's signature does not hold (forged, or its key is gone).
    CheckpointSignature { checkpoint: u64 },
    /// A checkpoint, or the head, names an entry past the end of the chain: entries were cut off.
    CutOff { last_present: u64, expected: u64 },
    /// Entries follow the one the head names: they were appended without moving the head,
    /// that is, not by Rampart.
    PastHead { head: u64, last_present: u64 },
    /// The head names the last entry's number with another hash.
    HeadMismatch { seq: u64 },
    /// The anchor names a different entry than the chain holds at its number.
    AnchorMismatch { seq: u64 },
    /// The anchor's signature does not hold.
    AnchorSignature,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Edited { seq } => write!(
                f,
                "entry {seq} was edited: its content does not match its hash"
            ),
            Self::Deleted {
                missing_from,
                next_present,
            } => write!(
                f,
                "entries {missing_from}..{} were deleted: the chain jumps to {next_present}",
                next_present - 1
            ),
            Self::NotLinked { seq } => write!(
                f,
                "entry {seq} does not follow entry {}: an entry was inserted or the order changed",
                seq.saturating_sub(1)
            ),
            Self::CheckpointMismatch { checkpoint } => write!(
                f,
                "the signed checkpoint at entry {checkpoint} does not match it: the chain was rewritten up to there"
            ),
            Self::CheckpointSignature { checkpoint } => {
                write!(
                    f,
                    "the checkpoint at entry {checkpoint} has no valid signature"
                )
            }
            Self::CutOff {
                last_present,
                expected,
            } => write!(
                f,
                "entries after {last_present} were cut off: entry {expected} was signed or recorded"
            ),
            Self::AnchorMismatch { seq } => {
                write!(
                    f,
                    "entry {seq} differs from the anchor kept outside the database"
                )
            }
            Self::PastHead { head, last_present } => write!(
                f,
                "entries {}..{last_present} follow the chain's head (entry {head}): they were appended outside Rampart",
                head + 1
            ),
            Self::HeadMismatch { seq } => write!(
                f,
                "the chain's head names entry {seq} with another hash than the entry has"
            ),
            Self::AnchorSignature => f.write_str("the anchor's signature does not hold"),
        }
    }
}

/// What a walk found.
#[derive(Debug, Clone)]
pub struct Report {
    pub entries: u64,
    pub checkpoints: usize,
    /// The entry the latest valid checkpoint signs (0: none); entries after it are unsigned.
    pub signed_through: u64,
    pub last_hash: [u8; 32],
    pub problem: Option<Problem>,
}

const PAGE: i64 = 5000;

/// Walks the whole chain in pages (memory stays bounded on long chains).
pub async fn verify(
    tx: &mut Tx,
    keys: &TenantKeys,
    anchor: Option<&Checkpoint>,
) -> Result<Report, StoreError> {
    let mut report = Report {
        entries: 0,
        checkpoints: 0,
        signed_through: 0,
        last_hash: [0; 32],
        problem: None,
    };
    let mut expected_seq = 1u64;
    let mut prev_hash = [0u8; 32];
    let mut after = 0i64;
    'walk: loop {
        let mut q = tx.sql();
        q.push(ENTRY_COLUMNS)
            .push(" WHERE seq > ")
            .param(Param::I64(after))
            .push(" ORDER BY seq LIMIT ")
            .param(Param::I64(PAGE));
        let rows = tx.fetch_all(q).await?;
        if rows.is_empty() {
            break;
        }
        for row in &rows {
            let e = entry_from_row(row)?;
            after = i64::try_from(e.seq).unwrap_or(i64::MAX);
            if e.seq != expected_seq {
                report.problem = Some(Problem::Deleted {
                    missing_from: expected_seq,
                    next_present: e.seq,
                });
                break 'walk;
            }
            // The link first: an entry moved or slipped in keeps its own content but no
            // longer follows its predecessor; an edited one still links but lost its hash.
            if e.prev_hash != prev_hash {
                report.problem = Some(Problem::NotLinked { seq: e.seq });
                break 'walk;
            }
            if entry_hash(&e) != e.hash {
                report.problem = Some(Problem::Edited { seq: e.seq });
                break 'walk;
            }
            prev_hash = e.hash;
            report.entries = e.seq;
            expected_seq += 1;
        }
    }
    report.last_hash = prev_hash;
    if report.problem.is_some() {
        return Ok(report);
    }

    let mut q = tx.sql();
    q.push(CHECKPOINT_COLUMNS).push(" ORDER BY seq");
    let checkpoints = tx
        .fetch_all(q)
        .await?
        .iter()
        .map(checkpoint_from_row)
        .collect::<Result<Vec<_>, _>>()?;
    report.checkpoints = checkpoints.len();
    for cp in &checkpoints {
        if let Some(p) = check_point(tx, keys, cp, report.entries).await? {
            report.problem = Some(match p {
                Problem::AnchorMismatch { seq } => Problem::CheckpointMismatch { checkpoint: seq },
                Problem::AnchorSignature => Problem::CheckpointSignature { checkpoint: cp.seq },
                other => other,
            });
            return Ok(report);
        }
        report.signed_through = report.signed_through.max(cp.seq);
    }

    let mut q = tx.sql();
    q.push("SELECT seq, hash FROM audit_head WHERE id = 1");
    let head = tx.fetch_one(q).await?;
    let head_seq = u64::try_from(head.i64(0)?).unwrap_or(0);
    if head_seq > report.entries {
        report.problem = Some(Problem::CutOff {
            last_present: report.entries,
            expected: head_seq,
        });
        return Ok(report);
    }
    if head_seq < report.entries {
        report.problem = Some(Problem::PastHead {
            head: head_seq,
            last_present: report.entries,
        });
        return Ok(report);
    }
    if head_seq > 0 && head.bytes(1)?.as_slice() != report.last_hash.as_slice() {
        report.problem = Some(Problem::HeadMismatch { seq: head_seq });
        return Ok(report);
    }

    if let Some(anchor) = anchor {
        report.problem = check_point(tx, keys, anchor, report.entries).await?;
    }
    Ok(report)
}

/// Checks one signed (seq, hash) statement against the chain.
async fn check_point(
    tx: &mut Tx,
    keys: &TenantKeys,
    cp: &Checkpoint,
    last_present: u64,
) -> Result<Option<Problem>, StoreError> {
    if !cp.signature_valid(keys) {
        return Ok(Some(Problem::AnchorSignature));
    }
    if cp.seq > last_present {
        return Ok(Some(Problem::CutOff {
            last_present,
            expected: cp.seq,
        }));
    }
    let mut q = tx.sql();
    q.push("SELECT hash FROM audit_log WHERE seq = ")
        .param(Param::I64(i64::try_from(cp.seq).unwrap_or(i64::MAX)));
    let stored = tx
        .fetch_optional(q)
        .await?
        .map(|r| r.bytes(0))
        .transpose()?;
    Ok((stored.as_deref() != Some(cp.hash.as_slice()))
        .then_some(Problem::AnchorMismatch { seq: cp.seq }))
}
