//! Copying a whole database from one store to another, whatever their backends: table by table
//! in reference order, a batch per transaction on the target, then a count of every table on
//! both sides. The source must not change meanwhile (stop the servers that use it).

use std::fmt;

use crate::store::StoreError;
use crate::store::transfer::{Cursor, Table, Transfer};

/// Rows per batch when the caller has no reason to choose: small enough that a batch is a short
/// transaction, large enough that round trips do not dominate.
pub const DEFAULT_BATCH_SIZE: u32 = 1_000;

/// Which end of a copy an error comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The database copied from.
    Source,
    /// The database copied into.
    Target,
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Side::Source => "source",
            Side::Target => "target",
        })
    }
}

/// Why a copy stopped. Batches written before the failure stay in the target.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CopyError {
    /// The target already holds rows; a copy only fills an empty database.
    #[error(
        "the target database is not empty ({table} holds {rows} rows); db copy only fills an empty database"
    )]
    TargetNotEmpty {
        /// The first non-empty table found.
        table: Table,
        /// How many rows it holds.
        rows: u64,
    },
    /// Reading or counting a table failed.
    #[error("{side} database, table {table}: {error}")]
    Store {
        /// Which database failed.
        side: Side,
        /// The table being worked on.
        table: Table,
        /// The store's error.
        error: StoreError,
    },
    /// After the copy, a table holds a different number of rows on the two sides (the source
    /// changed during the copy, or rows were lost).
    #[error(
        "verification failed: table {table} holds {source_rows} rows in the source but {target_rows} in the target"
    )]
    CountMismatch {
        /// The table.
        table: Table,
        /// Its rows in the source.
        source_rows: u64,
        /// Its rows in the target.
        target_rows: u64,
    },
}

/// Told how a copy advances. Every method has an empty default.
pub trait CopyProgress {
    /// `table` is about to be copied; the source holds `total` rows of it.
    fn table_started(&mut self, table: Table, total: u64) {
        let _ = (table, total);
    }

    /// A batch was committed on the target: `copied` of `total` rows of `table` are done.
    fn rows_copied(&mut self, table: Table, copied: u64, total: u64) {
        let _ = (table, copied, total);
    }

    /// Every row of `table` was copied.
    fn table_finished(&mut self, table: Table, copied: u64) {
        let _ = (table, copied);
    }
}

/// Reports nothing.
impl CopyProgress for () {}

/// One table's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableCopied {
    /// The table.
    pub table: Table,
    /// Rows written to the target.
    pub copied: u64,
    /// Rows in the source at the end (verification).
    pub source_rows: u64,
    /// Rows in the target at the end (verification); equal to `source_rows`.
    pub target_rows: u64,
}

/// What a successful copy did, table by table in [`Table::ALL`] order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopySummary {
    /// One entry per table.
    pub tables: Vec<TableCopied>,
}

/// Copies every table of `source` into `target`, `batch_size` rows per target transaction
/// (at least 1), then verifies that both hold the same number of rows in every table.
///
/// # Errors
/// [`CopyError::TargetNotEmpty`] before anything is written if the target holds any row;
/// [`CopyError::Store`] if either side fails; [`CopyError::CountMismatch`] if the counts differ
/// at the end.
pub async fn copy_database(
    source: &dyn Transfer,
    target: &dyn Transfer,
    batch_size: u32,
    progress: &mut dyn CopyProgress,
) -> Result<CopySummary, CopyError> {
    let batch_size = batch_size.max(1);
    for table in Table::ALL {
        let rows = count(target, Side::Target, table).await?;
        if rows > 0 {
            return Err(CopyError::TargetNotEmpty { table, rows });
        }
    }
    let mut copied = Vec::with_capacity(Table::ALL.len());
    for table in Table::ALL {
        copied.push(copy_table(source, target, table, batch_size, progress).await?);
    }
    let mut tables = Vec::with_capacity(Table::ALL.len());
    for (table, copied) in Table::ALL.into_iter().zip(copied) {
        let source_rows = count(source, Side::Source, table).await?;
        let target_rows = count(target, Side::Target, table).await?;
        if source_rows != target_rows || copied != target_rows {
            return Err(CopyError::CountMismatch {
                table,
                source_rows,
                target_rows,
            });
        }
        tables.push(TableCopied {
            table,
            copied,
            source_rows,
            target_rows,
        });
    }
    Ok(CopySummary { tables })
}

/// Copies one table by keyset pagination; returns the rows written.
async fn copy_table(
    source: &dyn Transfer,
    target: &dyn Transfer,
    table: Table,
    batch_size: u32,
    progress: &mut dyn CopyProgress,
) -> Result<u64, CopyError> {
    let total = count(source, Side::Source, table).await?;
    progress.table_started(table, total);
    let mut cursor = Cursor::start(table);
    let mut copied: u64 = 0;
    loop {
        let batch = source
            .export_batch(&cursor, batch_size)
            .await
            .map_err(|error| CopyError::Store {
                side: Side::Source,
                table,
                error,
            })?;
        let Some(next) = batch.next_cursor() else {
            break;
        };
        target
            .import_batch(&batch)
            .await
            .map_err(|error| CopyError::Store {
                side: Side::Target,
                table,
                error,
            })?;
        copied += batch.len() as u64;
        progress.rows_copied(table, copied, total.max(copied));
        if batch.len() < batch_size as usize {
            break;
        }
        cursor = next;
    }
    progress.table_finished(table, copied);
    Ok(copied)
}

async fn count(store: &dyn Transfer, side: Side, table: Table) -> Result<u64, CopyError> {
    store
        .count_rows(table)
        .await
        .map_err(|error| CopyError::Store { side, table, error })
}
