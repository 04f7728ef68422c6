/**
 * `deno task db load`'s work: BIRD SQLite databases converted into ONE target database holding every table (the
 * official dumps' layout: `bird` on PostgreSQL, `BIRD` on MySQL), each table verified against its source, keys
 * added, a manifest row per table, and the read-only role.
 *
 * Reruns: a table whose manifest row is `done` for the same source sha256 and loader version is kept; a `loading`
 * row (a load that died) is reloaded; a table the target holds otherwise (another load, another source, not ours)
 * stops the load with one line unless `replace`.
 *
 * @module
 */
import { fileSha256 } from "../util/mod.ts";
import type { DbConnection } from "./connect.ts";
import { firstLine, loadTable } from "./load_table.ts";
import { ensureManifest, LOADER_VERSION, type ManifestRow, readManifest, writeManifest } from "./manifest.ts";
import { type LoadDialect, quoteIdent, targetName } from "./names.ts";
import { listDbIds, openSqlite, readSource, type SourceDb } from "./sqlite_source.ts";
import { type ColumnPlan, planColumns } from "./type_map.ts";

/** A load that cannot go on; one line. */
export class LoadError extends Error {
  /** @param message One line naming the database, table or file. */
  constructor(message: string) {
    super(message);
    this.name = "LoadError";
  }
}

/** Options of {@linkcode loadSqliteDatabases}. */
export interface LoadOptions {
  dialect: LoadDialect;
  /** Folder of `<db_id>/<db_id>.sqlite`. */
  dbRoot: string;
  /** The databases to load (default: every one under `dbRoot`). */
  dbIds?: string[];
  /** Drop and reload tables the target already holds. */
  replace?: boolean;
  /** Progress lines (stderr in the CLI). */
  log?: (line: string) => void;
}

/** One table's outcome. */
export interface TableReport {
  dbId: string;
  sourceTable: string;
  tableName: string;
  rows: number;
  /** `loaded` now, or `kept` (already loaded from the same source). */
  action: "loaded" | "kept";
  columns: { source: string; target: string; type: string }[];
  notes: string[];
}

/** What a load did. */
export interface LoadReport {
  dialect: LoadDialect;
  tables: TableReport[];
  /** Foreign keys added, and those skipped with why. */
  foreignKeys: { added: number; skipped: string[] };
  seconds: number;
}

interface TablePlan {
  db: SourceDb;
  sha256: string;
  tableIndex: number;
  target: string;
  plans: ColumnPlan[];
}

/** The databases' tables and column plans, refusing two tables that would get one name. */
async function planAll(options: LoadOptions): Promise<TablePlan[]> {
  const ids = options.dbIds?.length ? options.dbIds : listDbIds(options.dbRoot);
  if (!ids.length) throw new LoadError(`no BIRD databases (<db>/<db>.sqlite) under ${options.dbRoot}`);
  const out: TablePlan[] = [];
  const seen = new Map<string, string>();
  for (const id of ids) {
    let db: SourceDb;
    try {
      db = readSource(options.dbRoot, id);
    } catch (e) {
      throw new LoadError(firstLine(e));
    }
    const sha256 = await fileSha256(db.path);
    db.tables.forEach((t, i) => {
      const target = targetName(t.name, options.dialect);
      const key = options.dialect === "mysql" ? target.toLowerCase() : target;
      const other = seen.get(key);
      if (other) {
        throw new LoadError(
          `table name collision: ${other} and ${id}.${t.name} would both be ${JSON.stringify(target)} ` +
            `in one database; load them into different databases (--target-db)`,
        );
      }
      seen.set(key, `${id}.${t.name}`);
      out.push({ db, sha256, tableIndex: i, target, plans: planColumns(t, options.dialect) });
    });
  }
  return out;
}

/** Tables in the target's default schema (`public`) or database. */
async function existingTables(conn: DbConnection, dialect: LoadDialect): Promise<Set<string>> {
  const sql = dialect === "postgresql"
    ? "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
    : "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE()";
  return new Set((await conn.query(sql)).rows.map((r) => r[0]!));
}

/**
 * Load BIRD SQLite databases into the database `conn` is connected to (already created).
 *
 * @throws {LoadError} for a missing database, a name collision, or tables the target holds without `replace`.
 */
export async function loadSqliteDatabases(conn: DbConnection, options: LoadOptions): Promise<LoadReport> {
  const t0 = performance.now();
  const { dialect } = options;
  const log = options.log ?? (() => {});
  const plan = await planAll(options);
  await ensureManifest(conn, dialect);
  const manifest = new Map((await readManifest(conn, dialect)).map((m) => [m.tableName, m]));
  const existing = await existingTables(conn, dialect);
  const isDone = (p: TablePlan, m: ManifestRow | undefined) =>
    m?.status === "done" && m.dbId === p.db.dbId && m.sourceSha256 === p.sha256 &&
    m.loaderVersion === LOADER_VERSION && existing.has(p.target);
  const conflicts = plan.filter((p) => {
    const m = manifest.get(p.target);
    if (isDone(p, m)) return false;
    if (m?.status === "loading" && m.dbId === p.db.dbId) return false; // our own load that died: redo
    return existing.has(p.target) || (m !== undefined && m.dbId !== p.db.dbId);
  });
  if (conflicts.length && !options.replace) {
    const names = conflicts.slice(0, 5).map((p) => p.target).join(", ");
    throw new LoadError(
      `the target already holds ${conflicts.length} of these tables (${names}${
        conflicts.length > 5 ? ", …" : ""
      }) ` +
        `from another load or source: --replace drops and reloads them`,
    );
  }
  const tables: TableReport[] = [];
  for (const [i, p] of plan.entries()) {
    const t = p.db.tables[p.tableIndex];
    const columns = p.plans.map((c) => ({
      source: c.source,
      target: targetName(c.source, dialect),
      type: c.sqlType,
    }));
    const typeNotes = p.plans.filter((c) => c.note).map((c) => `${c.source}: ${c.note}`);
    const m = manifest.get(p.target);
    if (isDone(p, m) && !options.replace) {
      tables.push({
        dbId: p.db.dbId,
        sourceTable: t.name,
        tableName: p.target,
        rows: m!.rows,
        action: "kept",
        columns,
        notes: JSON.parse(m!.notes),
      });
      continue;
    }
    const row: ManifestRow = {
      dbId: p.db.dbId,
      tableName: p.target,
      sourceTable: t.name,
      sourceSha256: p.sha256,
      rows: 0,
      checksum: "",
      status: "loading",
      columns: JSON.stringify(columns.map((c) => [c.source, c.target, c.type])),
      notes: "[]",
      loaderVersion: LOADER_VERSION,
    };
    await writeManifest(conn, dialect, row);
    log(`db load: [${i + 1}/${plan.length}] ${p.db.dbId}.${t.name} → ${p.target} (${t.rows} rows)`);
    const source = openSqlite(p.db.path);
    let done;
    try {
      done = await loadTable(conn, source, { table: t, plans: p.plans, dialect });
    } finally {
      source.close();
    }
    const notes = [...typeNotes, ...done.notes];
    await writeManifest(conn, dialect, {
      ...row,
      rows: done.rows,
      checksum: done.checksum,
      status: "done",
      notes: JSON.stringify(notes),
    });
    tables.push({
      dbId: p.db.dbId,
      sourceTable: t.name,
      tableName: p.target,
      rows: done.rows,
      action: "loaded",
      columns,
      notes,
    });
  }
  const foreignKeys = await addForeignKeys(conn, dialect, plan, log);
  return { dialect, tables, foreignKeys, seconds: (performance.now() - t0) / 1000 };
}

/** Constraint names already on the target's tables. */
async function constraintNames(conn: DbConnection, dialect: LoadDialect): Promise<Set<string>> {
  const sql = dialect === "postgresql"
    ? "SELECT conname FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace WHERE n.nspname = 'public'"
    : "SELECT constraint_name FROM information_schema.table_constraints WHERE table_schema = DATABASE()";
  return new Set((await conn.query(sql)).rows.map((r) => r[0]!));
}

/** Add every source foreign key whose constraint is missing; one note per key the data or types refuse. */
async function addForeignKeys(
  conn: DbConnection,
  dialect: LoadDialect,
  plan: TablePlan[],
  log: (line: string) => void,
): Promise<{ added: number; skipped: string[] }> {
  const have = await constraintNames(conn, dialect);
  const skipped: string[] = [];
  let added = 0;
  for (const p of plan) {
    const t = p.db.tables[p.tableIndex];
    for (const [k, fk] of t.foreignKeys.entries()) {
      const name = `fk_${p.target}_${k + 1}`.slice(0, 63);
      if (have.has(name)) continue;
      const ref = p.db.tables.find((x) => x.name.toLowerCase() === fk.refTable.toLowerCase());
      const what = `${p.db.dbId}.${t.name}(${fk.columns.join(", ")}) → ${fk.refTable}(${
        fk.refColumns.join(", ")
      })`;
      if (!ref) {
        skipped.push(`${what}: table ${fk.refTable} does not exist`);
        continue;
      }
      const refCols = fk.refColumns.some((c) => c === "") ? ref.primaryKey : fk.refColumns;
      const q = (n: string) => quoteIdent(targetName(n, dialect), dialect);
      const sql = `ALTER TABLE ${q(t.name)} ADD CONSTRAINT ${quoteIdent(name, dialect)} FOREIGN KEY (${
        fk.columns.map(q).join(", ")
      }) REFERENCES ${q(ref.name)} (${refCols.map(q).join(", ")})`;
      try {
        await conn.exec(sql);
        added++;
      } catch (e) {
        skipped.push(`${what}: ${firstLine(e)}`);
      }
    }
  }
  if (skipped.length) log(`db load: ${skipped.length} foreign keys skipped (see the report)`);
  return { added, skipped };
}
