/**
 * One table from SQLite into the target: created, filled in batches inside one transaction (PostgreSQL also
 * creates it inside that transaction, so a crash leaves nothing), its primary key added, then read back and
 * compared with the source (row count and {@linkcode TableChecksum} of every value).
 *
 * @module
 */
import type { DatabaseSync } from "node:sqlite";
import type { DbConnection } from "./connect.ts";
import { type LoadDialect, quoteIdent, targetName } from "./names.ts";
import type { ColumnPlan } from "./type_map.ts";
import type { SourceTable } from "./sqlite_source.ts";
import {
  canonSource,
  canonTarget,
  type SourceValue,
  sqliteReadExpr,
  TableChecksum,
  toParam,
} from "./values.ts";

/** What loading one table produced. */
export interface TableLoad {
  rows: number;
  checksum: string;
  /** Notes for the report (primary key not added, …). */
  notes: string[];
}

/** The loader found the target's values different from the source's. */
export class VerifyError extends Error {
  /** @param message One line naming the table. */
  constructor(message: string) {
    super(message);
    this.name = "VerifyError";
  }
}

const sqliteQuote = (n: string) => `"${n.replaceAll('"', '""')}"`;

interface StatementExtras {
  setReturnArrays(on: boolean): void;
  setReadBigInts(on: boolean): void;
  iterate(): IterableIterator<unknown>;
}

/** The CREATE TABLE statement (no keys: they are added after the data). */
export function createTableSql(table: SourceTable, plans: ColumnPlan[], dialect: LoadDialect): string {
  const name = quoteIdent(targetName(table.name, dialect), dialect);
  const cols = plans.map((p, i) =>
    `${quoteIdent(targetName(p.source, dialect), dialect)} ${p.sqlType}${
      table.columns[i].notNull ? " NOT NULL" : ""
    }`
  );
  const tail = dialect === "mysql" ? " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4" : "";
  return `CREATE TABLE ${name} (\n  ${cols.join(",\n  ")}\n)${tail}`;
}

/** Rows per INSERT: under PostgreSQL's 65535 parameters, and under MySQL's packet size in bytes. */
function batchSize(columns: number): number {
  return Math.max(1, Math.min(2000, Math.floor(30_000 / Math.max(1, columns))));
}

/**
 * Load one table: DROP (if present), CREATE, INSERT every row, add the primary key, verify.
 *
 * @throws {VerifyError} when the values read back differ from the source.
 */
export async function loadTable(
  conn: DbConnection,
  source: DatabaseSync,
  options: { table: SourceTable; plans: ColumnPlan[]; dialect: LoadDialect },
): Promise<TableLoad> {
  const { table, plans, dialect } = options;
  const target = quoteIdent(targetName(table.name, dialect), dialect);
  const colList = plans.map((p) => quoteIdent(targetName(p.source, dialect), dialect)).join(", ");
  const notes: string[] = [];
  const sourceSum = new TableChecksum();
  const pg = dialect === "postgresql";
  if (pg) {
    await conn.exec(
      `BEGIN; DROP TABLE IF EXISTS ${target} CASCADE; ${createTableSql(table, plans, dialect)}`,
    );
  } else {
    await conn.exec(
      `SET FOREIGN_KEY_CHECKS = 0; DROP TABLE IF EXISTS ${target}; ${
        createTableSql(table, plans, dialect)
      }; ` +
        `SET FOREIGN_KEY_CHECKS = 1; START TRANSACTION`,
    );
  }
  try {
    const select = `SELECT ${
      plans.map((p) => sqliteReadExpr(sqliteQuote(p.source), p.kind, p.readAsBytes)).join(", ")
    } FROM ${sqliteQuote(table.name)}`;
    const stmt = source.prepare(plans.length ? select : `SELECT 1 FROM ${sqliteQuote(table.name)}`);
    const ext = stmt as unknown as StatementExtras;
    ext.setReturnArrays(true);
    ext.setReadBigInts(true);
    const size = batchSize(plans.length);
    const decode = plans.flatMap((p, i) => (p.readAsBytes ? [i] : []));
    const utf8 = new TextDecoder();
    let batch: SourceValue[][] = [];
    const flush = async () => {
      if (!batch.length) return;
      const rows = batch.map((r) => r.map((v, i) => toParam(v, plans[i].kind, dialect)));
      batch = [];
      if (pg) {
        let n = 0;
        const tuples = rows.map((r) => `(${r.map(() => `$${++n}`).join(",")})`).join(",");
        await conn.query(`INSERT INTO ${target} (${colList}) VALUES ${tuples}`, rows.flat());
      } else {
        await conn.query(`INSERT INTO ${target} (${colList}) VALUES ?`, [rows]);
      }
    };
    for (const raw of ext.iterate()) {
      const row = (plans.length ? raw : []) as SourceValue[];
      for (const i of decode) if (row[i] instanceof Uint8Array) row[i] = utf8.decode(row[i] as Uint8Array);
      sourceSum.add(row.map((v, i) => canonSource(v, plans[i].kind, dialect)));
      batch.push(row);
      if (batch.length >= size) await flush();
    }
    await flush();
    if (table.primaryKey.length) {
      const pk = table.primaryKey.map((c) => quoteIdent(targetName(c, dialect), dialect)).join(", ");
      if (pg) {
        await conn.exec("SAVEPOINT pk");
        try {
          await conn.exec(`ALTER TABLE ${target} ADD PRIMARY KEY (${pk})`);
        } catch (e) {
          await conn.exec("ROLLBACK TO SAVEPOINT pk");
          notes.push(`primary key (${table.primaryKey.join(", ")}) not added: ${firstLine(e)}`);
        }
      }
    }
    await conn.exec("COMMIT");
  } catch (e) {
    await conn.exec("ROLLBACK").catch(() => {});
    throw e;
  }
  if (!pg && table.primaryKey.length) {
    const pk = table.primaryKey.map((c) => quoteIdent(targetName(c, dialect), dialect)).join(", ");
    try {
      await conn.exec(`ALTER TABLE ${target} ADD PRIMARY KEY (${pk})`);
    } catch (e) {
      notes.push(`primary key (${table.primaryKey.join(", ")}) not added: ${firstLine(e)}`);
    }
  }
  const targetSum = await targetChecksum(conn, { target, plans, dialect });
  if (targetSum !== sourceSum.digest()) {
    throw new VerifyError(
      `table ${table.name}: values read back differ from the SQLite file (checksum ${targetSum} ≠ ${sourceSum.digest()})`,
    );
  }
  return { rows: sourceSum.rows, checksum: sourceSum.digest(), notes };
}

/** The checksum of a loaded table as the target returns its values. */
export async function targetChecksum(
  conn: DbConnection,
  options: { target: string; plans: ColumnPlan[]; dialect: LoadDialect },
): Promise<string> {
  const { target, plans, dialect } = options;
  const sum = new TableChecksum();
  const cols = plans.length
    ? plans.map((p) => quoteIdent(targetName(p.source, dialect), dialect)).join(", ")
    : "1";
  await conn.scan(`SELECT ${cols} FROM ${target}`, (rows) => {
    for (const r of rows) {
      sum.add(plans.length ? r.map((v, i) => canonTarget(v, plans[i].kind, dialect)) : []);
    }
  });
  return sum.digest();
}

/** The first line of an error's message. */
export function firstLine(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).split("\n")[0];
}
