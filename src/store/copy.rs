//! Whole-store copy for `coffer operator migrate`: every row of every data table as typed cells,
//! read from one snapshot and written back in one transaction, on SQLite and PostgreSQL alike.
//!
//! Cells carry values exactly as stored (ciphertexts included), so a copy never decrypts or
//! re-encrypts anything. The only translation is for flags: SQLite stores them as `0`/`1`
//! integers, PostgreSQL as booleans, and [`Cell::Bool`] and `Cell::Int(0 | 1)` convert into each
//! other on the way in.

use sqlx::postgres::PgConnection;
use sqlx::{Column, Postgres, QueryBuilder, Row, TypeInfo};

use super::{StoreError, StoreResult};

/// The table sqlx records applied migrations in: never copied, never counted.
pub const MIGRATIONS_TABLE: &str = "_sqlx_migrations";

/// Coffer's tables, each after the tables its foreign keys point to. Tables not listed here (added
/// by later migrations) come after these, by name; a new table with a foreign key must be listed.
pub const TABLE_ORDER: &[&str] =
    &["system_entry", "mount", "token", "kv_config", "kv_metadata", "kv_version", "entry", "leader", "node"];

/// The table that keeps the store as it was before a forced restore, until the first unseal.
pub const RESTORE_PENDING_TABLE: &str = "restore_pending";

/// Tables of runtime state, not data: the singleton lease, the nodes, a pending restore. A
/// snapshot leaves them out and a restore leaves them as they are.
pub const RUNTIME_TABLES: &[&str] = &["leader", "node", RESTORE_PENDING_TABLE];

/// What a restore does with the saved pre-restore store ([`RESTORE_PENDING_TABLE`]).
#[derive(Clone)]
pub enum Pending {
    /// Keep these bytes (a forced restore, until the first unseal decides).
    Set(Vec<u8>),
    /// Delete what is kept (a restore that needs no proof, or a rollback).
    Clear,
}

/// `tables` without the runtime tables and without entry rows of the `keep_kinds` kinds (state
/// that belongs to this node, such as audit chain heads): what a restore writes.
pub fn restorable(tables: Vec<TableRows>, keep_kinds: &[&str]) -> Vec<TableRows> {
    tables
        .into_iter()
        .filter(|t| !RUNTIME_TABLES.contains(&t.table.as_str()))
        .map(|mut t| {
            if let (true, Some(kind)) = (t.table == "entry", t.column("kind")) {
                t.rows.retain(|r| !matches!(r.get(kind), Some(Cell::Text(k)) if keep_kinds.contains(&k.as_str())));
            }
            t
        })
        .collect()
}

/// The statement that empties `table` for a restore: everything, but for `entry` the rows of the
/// kinds kept (listed in the statement as quoted literals; the kinds are Coffer's constants).
pub(super) fn restore_delete(table: &str, keep_kinds: &[&str]) -> String {
    if table == "entry" && !keep_kinds.is_empty() {
        let kinds = keep_kinds.iter().map(|k| format!("'{}'", k.replace('\'', "''"))).collect::<Vec<_>>().join(", ");
        format!("delete from entry where kind not in ({kinds})")
    } else {
        format!("delete from {}", quote(table))
    }
}

/// Bound parameters per `insert` statement (below SQLite's 32,766 and PostgreSQL's 65,535).
const PARAMS_PER_STATEMENT: usize = 8192;

/// One column value as stored. `Debug` shows the kind and size only, never the value.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Cell {
    /// SQL `NULL`.
    Null,
    /// An integer (SQLite `INTEGER`, PostgreSQL `BIGINT`/`INTEGER`/`SMALLINT`).
    Int(i64),
    /// A PostgreSQL `BOOLEAN` (SQLite stores flags as `Int(0 | 1)`).
    Bool(bool),
    /// Text.
    Text(String),
    /// Bytes (SQLite `BLOB`, PostgreSQL `BYTEA`).
    Blob(Vec<u8>),
}

impl std::fmt::Debug for Cell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Cell::Null => f.write_str("Null"),
            Cell::Int(_) => f.write_str("Int"),
            Cell::Bool(_) => f.write_str("Bool"),
            Cell::Text(t) => write!(f, "Text({} bytes)", t.len()),
            Cell::Blob(b) => write!(f, "Blob({} bytes)", b.len()),
        }
    }
}

impl Cell {
    /// The same value with flags as integers, so that SQLite and PostgreSQL rows compare equal.
    pub fn canonical(&self) -> Cell {
        match self {
            Cell::Bool(b) => Cell::Int(i64::from(*b)),
            other => other.clone(),
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Cell::Null => "null",
            Cell::Int(_) => "integer",
            Cell::Bool(_) => "boolean",
            Cell::Text(_) => "text",
            Cell::Blob(_) => "bytes",
        }
    }
}

/// Every row of one table, with its column names in the order of each row's cells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableRows {
    /// Table name.
    pub table: String,
    /// Column names.
    pub columns: Vec<String>,
    /// Rows, each with one cell per column.
    pub rows: Vec<Vec<Cell>>,
}

impl TableRows {
    /// The position of `column`, if the table has it.
    pub fn column(&self, column: &str) -> Option<usize> {
        self.columns.iter().position(|c| c == column)
    }
}

/// `names` in copy order: [`TABLE_ORDER`] first, then the others by name.
pub fn order_tables(mut names: Vec<String>) -> Vec<String> {
    names.sort_by_key(|n| (TABLE_ORDER.iter().position(|t| t == n).unwrap_or(TABLE_ORDER.len()), n.clone()));
    names
}

/// A quoted SQL identifier (both databases use double quotes).
pub(super) fn quote(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

pub(super) fn backend(msg: String) -> StoreError {
    StoreError::Backend(msg)
}

/// Checks that a load may go ahead: every source table exists in the target, and the target holds
/// no row yet (`counts` are the target's).
pub(super) fn check_target(tables: &[TableRows], target: &[String], counts: &[(String, u64)]) -> StoreResult<()> {
    if let Some(t) = tables.iter().find(|t| !target.contains(&t.table)) {
        return Err(backend(format!("the target store has no table {:?}", t.table)));
    }
    let full: Vec<String> = counts.iter().filter(|(_, n)| *n > 0).map(|(t, n)| format!("{t} ({n} rows)")).collect();
    if !full.is_empty() {
        return Err(backend(format!("the target store is not empty: {}", full.join(", "))));
    }
    Ok(())
}

/// Rows per `insert` statement for a table of `columns` columns.
pub(super) fn rows_per_statement(columns: usize) -> usize {
    (PARAMS_PER_STATEMENT / columns.max(1)).max(1)
}

/// The cells of fetched rows, read by `cell` column by column; an error names table and column.
fn cells_of<R>(
    fetched: &[R],
    table: &str,
    columns: &[String],
    cell: fn(&R, usize) -> Result<Cell, String>,
) -> StoreResult<Vec<Vec<Cell>>> {
    fetched
        .iter()
        .map(|row| {
            columns
                .iter()
                .enumerate()
                .map(|(i, name)| cell(row, i).map_err(|e| backend(format!("{table}.{name}: {e}"))))
                .collect()
        })
        .collect()
}

/// `tables` in copy order (parents before children), whatever order they came in.
pub(super) fn order_loaded(mut tables: Vec<TableRows>) -> Vec<TableRows> {
    let order = order_tables(tables.iter().map(|t| t.table.clone()).collect());
    tables.sort_by_key(|t| order.iter().position(|n| *n == t.table));
    tables
}

// ------------------------------------------------------------------------------------------------
// PostgreSQL
// ------------------------------------------------------------------------------------------------

/// The data tables of a PostgreSQL store (its current schema), in copy order.
pub(crate) async fn pg_tables(c: &mut PgConnection) -> StoreResult<Vec<String>> {
    let names: Vec<String> = sqlx::query_scalar(
        "select table_name::text from information_schema.tables where table_schema = current_schema() \
         and table_type = 'BASE TABLE' and table_name <> $1",
    )
    .bind(MIGRATIONS_TABLE)
    .fetch_all(&mut *c)
    .await?;
    Ok(order_tables(names))
}

/// Row counts of every data table.
pub(crate) async fn pg_counts(c: &mut PgConnection) -> StoreResult<Vec<(String, u64)>> {
    let mut out = Vec::new();
    for t in pg_tables(c).await? {
        let n: i64 = sqlx::query_scalar(&format!("select count(*) from {}", quote(&t))).fetch_one(&mut *c).await?;
        out.push((t, u64::try_from(n).unwrap_or(0)));
    }
    Ok(out)
}

/// `(column, data_type)` of `table`, in column order.
async fn pg_columns(c: &mut PgConnection, table: &str) -> StoreResult<Vec<(String, String)>> {
    Ok(sqlx::query_as(
        "select column_name::text, data_type::text from information_schema.columns \
         where table_schema = current_schema() and table_name = $1 order by ordinal_position",
    )
    .bind(table)
    .fetch_all(&mut *c)
    .await?)
}

/// Every row of every data table. Run it inside a repeatable-read transaction for one snapshot.
pub(crate) async fn pg_dump(c: &mut PgConnection) -> StoreResult<Vec<TableRows>> {
    let mut out = Vec::new();
    for table in pg_tables(c).await? {
        let columns: Vec<String> = pg_columns(c, &table).await?.into_iter().map(|(name, _)| name).collect();
        let list = columns.iter().map(|c| quote(c)).collect::<Vec<_>>().join(", ");
        let fetched = sqlx::query(&format!("select {list} from {}", quote(&table))).fetch_all(&mut *c).await?;
        let rows = cells_of(&fetched, &table, &columns, pg_cell)?;
        out.push(TableRows { table, columns, rows });
    }
    Ok(out)
}

fn pg_cell(row: &sqlx::postgres::PgRow, i: usize) -> Result<Cell, String> {
    fn get<'r, T>(row: &'r sqlx::postgres::PgRow, i: usize, cell: fn(T) -> Cell) -> Result<Cell, String>
    where
        T: sqlx::Decode<'r, Postgres> + sqlx::Type<Postgres>,
    {
        Ok(row.try_get::<Option<T>, _>(i).map_err(|e| e.to_string())?.map_or(Cell::Null, cell))
    }
    let ty = row.columns().get(i).map(|c| c.type_info().name().to_string()).unwrap_or_default();
    match ty.as_str() {
        "BOOL" => get::<bool>(row, i, Cell::Bool),
        "INT8" => get::<i64>(row, i, Cell::Int),
        "INT4" => get::<i32>(row, i, |v| Cell::Int(i64::from(v))),
        "INT2" => get::<i16>(row, i, |v| Cell::Int(i64::from(v))),
        "TEXT" | "VARCHAR" | "BPCHAR" | "NAME" => get::<String>(row, i, Cell::Text),
        "BYTEA" => get::<Vec<u8>>(row, i, Cell::Blob),
        other => Err(format!("column type {other}, which the copy does not handle")),
    }
}

/// How a PostgreSQL column takes a cell.
#[derive(Clone, Copy)]
enum PgKind {
    Bool,
    Int,
    Text,
    Bytes,
}

fn pg_kind(data_type: &str) -> Option<PgKind> {
    match data_type {
        "boolean" => Some(PgKind::Bool),
        "bigint" | "integer" | "smallint" => Some(PgKind::Int),
        "text" | "character varying" | "character" => Some(PgKind::Text),
        "bytea" => Some(PgKind::Bytes),
        _ => None,
    }
}

/// Inserts `tables` into an empty PostgreSQL store, in one transaction that first locks every
/// data table against writers, then checks that they are all empty.
pub(crate) async fn pg_load(c: &mut PgConnection, tables: Vec<TableRows>) -> StoreResult<()> {
    let target = pg_tables(c).await?;
    if !target.is_empty() {
        let all = target.iter().map(|t| quote(t)).collect::<Vec<_>>().join(", ");
        sqlx::query(&format!("lock table {all} in exclusive mode")).execute(&mut *c).await?;
    }
    let counts = pg_counts(c).await?;
    check_target(&tables, &target, &counts)?;
    pg_insert(c, tables).await
}

/// Replaces the data of a PostgreSQL store with `tables` ([`restorable`]), in one transaction
/// that first locks every table against writers: every data table emptied (children first), the
/// new rows inserted, and the pending restore set or cleared. Runtime tables and the entry rows of
/// `keep_kinds` stay as they are.
pub(crate) async fn pg_replace(
    c: &mut PgConnection,
    tables: Vec<TableRows>,
    keep_kinds: &[&str],
    pending: Pending,
) -> StoreResult<()> {
    let target = pg_tables(c).await?;
    let all = target.iter().map(|t| quote(t)).collect::<Vec<_>>().join(", ");
    sqlx::query(&format!("lock table {all} in exclusive mode")).execute(&mut *c).await?;
    let tables = restorable(tables, keep_kinds);
    if let Some(t) = tables.iter().find(|t| !target.contains(&t.table)) {
        return Err(backend(format!("the store has no table {:?}", t.table)));
    }
    for t in target.iter().rev().filter(|t| !RUNTIME_TABLES.contains(&t.as_str())) {
        sqlx::query(&restore_delete(t, keep_kinds)).execute(&mut *c).await?;
    }
    pg_insert(c, tables).await?;
    match pending {
        Pending::Set(bytes) => {
            sqlx::query(
                "insert into restore_pending (id, snapshot) values (1, $1) \
             on conflict (id) do update set snapshot = excluded.snapshot",
            )
            .bind(bytes)
            .execute(&mut *c)
            .await?
        }
        Pending::Clear => sqlx::query("delete from restore_pending").execute(&mut *c).await?,
    };
    Ok(())
}

/// Inserts `tables` (parents first), checking each cell against its column's type.
async fn pg_insert(c: &mut PgConnection, tables: Vec<TableRows>) -> StoreResult<()> {
    for t in order_loaded(tables) {
        let types = pg_columns(c, &t.table).await?;
        let mut kinds = Vec::with_capacity(t.columns.len());
        for col in &t.columns {
            let ty = types
                .iter()
                .find(|(name, _)| name == col)
                .map(|(_, ty)| ty.as_str())
                .ok_or_else(|| backend(format!("the target table {} has no column {col}", t.table)))?;
            kinds.push(pg_kind(ty).ok_or_else(|| backend(format!("{}.{col}: unsupported column type {ty}", t.table)))?);
        }
        for row in &t.rows {
            for ((cell, kind), col) in row.iter().zip(&kinds).zip(&t.columns) {
                if !fits(cell, *kind) {
                    return Err(backend(format!("{}.{col}: a {} value does not fit the column", t.table, cell.kind())));
                }
            }
        }
        let list = t.columns.iter().map(|c| quote(c)).collect::<Vec<_>>().join(", ");
        let per = rows_per_statement(t.columns.len());
        let mut rows = t.rows.into_iter().peekable();
        while rows.peek().is_some() {
            let chunk: Vec<Vec<Cell>> = rows.by_ref().take(per).collect();
            let mut qb = QueryBuilder::<Postgres>::new(format!("insert into {} ({list}) ", quote(&t.table)));
            qb.push_values(chunk, |mut b, row| {
                for (cell, kind) in row.into_iter().zip(&kinds) {
                    match (cell, kind) {
                        (Cell::Null, PgKind::Bool) => b.push_bind(None::<bool>),
                        (Cell::Null, PgKind::Int) => b.push_bind(None::<i64>),
                        (Cell::Null, PgKind::Text) => b.push_bind(None::<String>),
                        (Cell::Null, PgKind::Bytes) => b.push_bind(None::<Vec<u8>>),
                        (Cell::Bool(v), PgKind::Bool) => b.push_bind(v),
                        (Cell::Int(v), PgKind::Bool) => b.push_bind(v != 0),
                        (Cell::Bool(v), _) => b.push_bind(i64::from(v)),
                        (Cell::Int(v), _) => b.push_bind(v),
                        (Cell::Text(v), _) => b.push_bind(v),
                        (Cell::Blob(v), _) => b.push_bind(v),
                    };
                }
            });
            qb.build().execute(&mut *c).await?;
        }
    }
    Ok(())
}

/// Whether `cell` can be stored in a column of `kind` without changing its value.
fn fits(cell: &Cell, kind: PgKind) -> bool {
    matches!(
        (cell, kind),
        (Cell::Null, _)
            | (Cell::Bool(_), PgKind::Bool | PgKind::Int)
            | (Cell::Int(0 | 1), PgKind::Bool)
            | (Cell::Int(_), PgKind::Int)
            | (Cell::Text(_), PgKind::Text)
            | (Cell::Blob(_), PgKind::Bytes)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_tables_come_first_in_dependency_order_then_the_rest_by_name() {
        let names = ["zeta", "kv_version", "entry", "alpha", "mount", "kv_metadata", "system_entry"];
        let ordered = order_tables(names.iter().map(|s| s.to_string()).collect());
        assert_eq!(ordered, ["system_entry", "mount", "kv_metadata", "kv_version", "entry", "alpha", "zeta"]);
    }

    #[test]
    fn debug_never_shows_a_value() {
        let shown = format!("{:?}", vec![Cell::Text("s3cr3t".into()), Cell::Blob(b"k3y".to_vec()), Cell::Int(42)]);
        assert!(!shown.contains("s3cr3t") && !shown.contains("k3y") && !shown.contains("42"), "{shown}");
    }

    #[test]
    fn flags_fit_both_ways_and_other_values_do_not_change_kind() {
        assert!(fits(&Cell::Int(1), PgKind::Bool) && fits(&Cell::Bool(true), PgKind::Int));
        assert!(!fits(&Cell::Int(2), PgKind::Bool));
        assert!(!fits(&Cell::Text("1".into()), PgKind::Int) && !fits(&Cell::Blob(vec![]), PgKind::Text));
        assert_eq!(Cell::Bool(true).canonical(), Cell::Int(1));
    }

    #[test]
    fn a_non_empty_target_or_a_missing_table_is_refused() {
        let t = vec![TableRows { table: "entry".into(), columns: vec![], rows: vec![] }];
        let target = vec!["entry".to_string()];
        assert!(check_target(&t, &target, &[("entry".into(), 0)]).is_ok());
        let e = check_target(&t, &target, &[("entry".into(), 3)]).unwrap_err().to_string();
        assert!(e.contains("not empty") && e.contains("entry (3 rows)"), "{e}");
        assert!(check_target(&t, &[], &[]).unwrap_err().to_string().contains("no table"));
    }
}
