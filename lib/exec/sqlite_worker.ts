/**
 * The sandboxed SQLite worker: a persistent Deno subprocess started by `sqlite_pool.ts` with read access
 * to the database folders and no other permission, under an OS memory limit, killed by the kernel when its
 * parent dies. It speaks the protocol of `worker_core.ts` (JSON lines; `exec` and `score`, compared here on row
 * digests); this file is the SQLite backend: one statement run as Python's `sqlite3` would run it. The parent
 * enforces the time limit by SIGKILL once a statement has run too long, because nothing inside a thread can
 * interrupt `node:sqlite` mid-query.
 *
 * The connection (`sqlite_connection.ts`) behaves as Python's `sqlite3`, and `python_text.ts` restores Python's
 * handling of parameters, NUL bytes, lone surrogates and undecodable text.
 *
 * @module
 */
import type { StatementSync } from "node:sqlite";
import { MULTIPLE_STATEMENTS_ERROR, splitFirstStatement } from "./sql_statement.ts";
import { open, READ_STATEMENT, type StatementExtras } from "./sqlite_connection.ts";
import { reread, unboundParameters, unencodable } from "./python_text.ts";
import {
  fail,
  type Failure,
  type Ran,
  serveWorker,
  type StatementIo,
  type WorkerRequest,
} from "./worker_core.ts";

/** Prepare and run one statement as Python's `sqlite3` would. */
function runStatement(req: WorkerRequest, sql: string, io: StatementIo): Ran | Failure {
  const badText = unencodable(sql);
  if (badText) return fail(badText);
  if (sql.includes("\0")) return fail("the query contains a null character");
  const { statement, multiple } = splitFirstStatement(sql);
  if (multiple) return fail(MULTIPLE_STATEMENTS_ERROR);
  // Python's sqlite3 returns no rows for an empty statement; node:sqlite would throw.
  if (statement === null) return { ok: true, columns: [], rows: [], execMs: 0 };
  const db = open(req.db, req.heapLimit);
  io.started();
  const t0 = performance.now();
  try {
    // Prepared first, so a typo reports SQLite's own syntax error and a write the authorizer's refusal.
    const stmt = db.prepare(statement) as StatementSync & StatementExtras;
    if (!READ_STATEMENT.test(statement)) {
      // VACUUM, REINDEX, BEGIN … never reach the authorizer; a query statement is all BIRD ever asks for.
      return fail("not authorized: only SELECT, WITH, VALUES, EXPLAIN and read-only PRAGMA");
    }
    const params = unboundParameters(statement);
    if (params > 0) {
      return fail(
        `Incorrect number of bindings supplied. The current statement uses ${params}, and there are 0 supplied.`,
      );
    }
    stmt.setReturnArrays(true);
    const columns = stmt.columns().map((c) => c.name);
    // `all()`, not `iterate()`: in Deno 2.9 an error raised while stepping (`json('x')`, integer overflow in
    // `sum`) silently ends `iterate()` as if the result were complete. Memory is bounded by the process's
    // limit: a result too big for it kills the worker, and the question gets that error.
    let rows: unknown[][];
    try {
      rows = stmt.all() as unknown as unknown[][];
    } catch (e) {
      // Plain numbers are faster; an integer past 2^53 needs BigInt (node:sqlite refuses to round it).
      if (!String((e as Error).message).includes("too large to be represented")) throw e;
      stmt.setReadBigInts(true);
      rows = stmt.all() as unknown as unknown[][];
    }
    const execMs = performance.now() - t0;
    const bad = reread(db, statement, columns, rows);
    return bad ? fail(bad) : { ok: true, columns, rows, execMs };
  } catch (e) {
    return fail(e instanceof Error ? e.message : String(e));
  }
}

await serveWorker(() => ({ run: runStatement }));
