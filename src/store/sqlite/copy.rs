//! Whole-store copy on SQLite (see [`crate::store::copy`]): listing, counting, dumping and loading
//! every data table, on the writer's connection inside one transaction.

use rusqlite::types::ValueRef;
use rusqlite::Connection;

use super::lite::LiteArgs;
use crate::store::copy::{
    backend, check_target, order_loaded, order_tables, quote, restorable, restore_delete, rows_per_statement, Cell,
    Pending, TableRows, MIGRATIONS_TABLE, RUNTIME_TABLES,
};
use crate::store::StoreResult;

/// The data tables, in copy order.
fn tables(c: &Connection) -> StoreResult<Vec<String>> {
    let names = LiteArgs::new().bind(MIGRATIONS_TABLE).query(
        c,
        "select name from sqlite_master where type = 'table' and name not like 'sqlite_%' and name <> ?",
        |r| r.get(0),
    )?;
    Ok(order_tables(names))
}

/// Row counts of every data table.
pub(super) fn counts(c: &mut Connection) -> StoreResult<Vec<(String, u64)>> {
    let mut out = Vec::new();
    for t in tables(c)? {
        let n: i64 = c.query_row(&format!("select count(*) from {}", quote(&t)), [], |r| r.get(0))?;
        out.push((t, u64::try_from(n).unwrap_or(0)));
    }
    Ok(out)
}

/// One value by its storage class (not the declared type), so nothing is converted.
fn cell(v: ValueRef<'_>) -> Result<Cell, String> {
    Ok(match v {
        ValueRef::Null => Cell::Null,
        ValueRef::Integer(i) => Cell::Int(i),
        ValueRef::Text(t) => Cell::Text(String::from_utf8(t.to_vec()).map_err(|e| e.to_string())?),
        ValueRef::Blob(b) => Cell::Blob(b.to_vec()),
        ValueRef::Real(_) => return Err("a value of storage class REAL, which Coffer never writes".into()),
    })
}

/// Every row of every data table.
pub(super) fn dump(c: &mut Connection) -> StoreResult<Vec<TableRows>> {
    let mut out = Vec::new();
    for table in tables(c)? {
        let columns: Vec<String> =
            LiteArgs::new()
                .bind(&table)
                .query(c, "select name from pragma_table_info(?) order by cid", |r| r.get(0))?;
        let list = columns.iter().map(|c| quote(c)).collect::<Vec<_>>().join(", ");
        let mut stmt = c.prepare(&format!("select {list} from {}", quote(&table)))?;
        let mut fetched = stmt.query([])?;
        let mut rows = Vec::new();
        while let Some(row) = fetched.next()? {
            let cells = columns
                .iter()
                .enumerate()
                .map(|(i, name)| {
                    let v = row.get_ref(i).map_err(|e| e.to_string()).and_then(cell);
                    v.map_err(|e| backend(format!("{table}.{name}: {e}")))
                })
                .collect::<StoreResult<Vec<Cell>>>()?;
            rows.push(cells);
        }
        out.push(TableRows { table, columns, rows });
    }
    Ok(out)
}

/// Inserts `tables` into an empty store; the writer's transaction makes it all or nothing.
pub(super) fn load(c: &mut Connection, tables_in: Vec<TableRows>) -> StoreResult<()> {
    let target = tables(c)?;
    let counts = counts(c)?;
    check_target(&tables_in, &target, &counts)?;
    insert(c, tables_in)
}

/// Replaces the data with `tables` ([`restorable`]) in the writer's transaction: every data table
/// emptied (children first), the new rows inserted, the pending restore set or cleared. Runtime
/// tables and the entry rows of `keep_kinds` stay as they are.
pub(super) fn replace(
    c: &mut Connection,
    tables_in: Vec<TableRows>,
    keep_kinds: &[&str],
    pending: Pending,
) -> StoreResult<()> {
    let target = tables(c)?;
    let tables_in = restorable(tables_in, keep_kinds);
    if let Some(t) = tables_in.iter().find(|t| !target.contains(&t.table)) {
        return Err(backend(format!("the store has no table {:?}", t.table)));
    }
    for t in target.iter().rev().filter(|t| !RUNTIME_TABLES.contains(&t.as_str())) {
        c.execute(&restore_delete(t, keep_kinds), [])?;
    }
    insert(c, tables_in)?;
    match pending {
        Pending::Set(bytes) => LiteArgs::new()
            .bind(bytes)
            .execute(c, "insert or replace into restore_pending (id, snapshot) values (1, ?)")?,
        Pending::Clear => c.execute("delete from restore_pending", [])?,
    };
    Ok(())
}

/// The kept pre-restore store, if a forced restore waits for its first unseal.
pub(super) fn pending(c: &mut Connection) -> StoreResult<Option<Vec<u8>>> {
    let rows: Vec<Vec<u8>> =
        LiteArgs::new().query(c, "select snapshot from restore_pending where id = 1", |r| r.get(0))?;
    Ok(rows.into_iter().next())
}

/// Inserts `tables` (parents first).
fn insert(c: &mut Connection, tables_in: Vec<TableRows>) -> StoreResult<()> {
    for t in order_loaded(tables_in) {
        let list = t.columns.iter().map(|c| quote(c)).collect::<Vec<_>>().join(", ");
        let row_marks = format!("({})", vec!["?"; t.columns.len()].join(", "));
        let per = rows_per_statement(t.columns.len());
        let mut rows = t.rows.into_iter().peekable();
        while rows.peek().is_some() {
            let chunk: Vec<Vec<Cell>> = rows.by_ref().take(per).collect();
            let marks = vec![row_marks.as_str(); chunk.len()].join(", ");
            let args = chunk.into_iter().flatten().fold(LiteArgs::new(), |a, cell| match cell {
                Cell::Null => a.bind(None::<i64>),
                Cell::Int(v) => a.bind(v),
                Cell::Bool(v) => a.bind(i64::from(v)),
                Cell::Text(v) => a.bind(v),
                Cell::Blob(v) => a.bind(v),
            });
            args.execute(c, &format!("insert into {} ({list}) values {marks}", quote(&t.table)))?;
        }
    }
    Ok(())
}
