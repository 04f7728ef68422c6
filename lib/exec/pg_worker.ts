/**
 * The sandboxed PostgreSQL worker: a persistent Deno subprocess started by `pg_engine.ts` that serves
 * `worker_core.ts`'s protocol on one session (`pg_session.ts`): a server connection (network access to that
 * server only) or a private in-memory PGlite copy of the data (read access to PGlite's files and the data file
 * only). The first line on stdin is its set-up (the server URL travels there, never on a command line).
 *
 * A score request runs as mini-dev's `execute_sql` does: the prediction and then the gold query in ONE read-only
 * transaction on ONE connection ({@linkcode WorkerBackend.pair}); an exec request runs each statement in its own.
 * A string that would leave that transaction or change the session's role or limits is refused before it is sent
 * (`pg_statements.ts`). On a server, each new connection's backend (pid, start time) is noted to the parent.
 * The parent kills the worker when a statement outlives the limit (PGlite cannot be interrupted otherwise).
 * A scored or digested statement's rows are converted and digested as they arrive (never held whole), so its time
 * includes that work, as the official time limit includes psycopg2's fetch and the `set()` comparison.
 *
 * @module
 */
import { type PgliteLike, PgSession } from "./pg_session.ts";
import { refusedStatement } from "./pg_statements.ts";
import {
  fail,
  type Failure,
  note,
  type Ran,
  serveWorker,
  type StatementIo,
  type WorkerRequest,
} from "./worker_core.ts";

/** The worker's set-up line. */
export interface PgWorkerInit {
  kind: "server" | "pglite";
  /** server: the connection URL. */
  url?: string;
  /** server: the session's `application_name` (unique per worker). */
  applicationName?: string;
  /** pglite: the data tarball (`dumpDataDir` format), or null for an empty database. */
  pgliteData?: string | null;
}

/** A PGlite instance holding a private in-memory copy of the data file. */
async function openPglite(data: string | null | undefined): Promise<PgliteLike> {
  const { PGlite } = await import("@electric-sql/pglite");
  const loadDataDir = data ? new Blob([await Deno.readFile(data)]) : undefined;
  return await PGlite.create({ loadDataDir });
}

/** The backend: one session; a score request's two statements share its transaction. */
export class PgBackend {
  private inPair = false;
  private begun: string | null | undefined = undefined;

  constructor(private readonly session: PgSession) {}

  async run(req: WorkerRequest, sql: string, io: StatementIo): Promise<Ran | Failure> {
    // Refused before anything runs: it never reaches the server, and no transaction is opened for it.
    const refused = refusedStatement(sql);
    if (refused !== null) return fail(refused);
    const own = !this.inPair;
    if (own || this.begun === undefined) this.begun = await this.session.begin(req.timeoutS);
    if (this.begun !== null) return fail(this.begun);
    io.started();
    // A scored or digested statement is digested as its rows arrive (only `exec` returns the rows themselves).
    const r = await this.session.run(sql, {
      maxBytes: req.maxBytes,
      sampleRows: req.sampleRows,
      digest: req.op !== "exec",
    });
    if (own) await this.session.end();
    if (!r.ok) return { ok: false, kind: r.kind, error: r.error, execMs: r.execMs };
    return {
      ok: true,
      columns: r.columns,
      rows: r.rows,
      rowCount: r.rowCount,
      digest: r.digest,
      execMs: r.execMs,
    };
  }

  async pair<T>(_req: WorkerRequest, body: () => Promise<T>): Promise<T> {
    this.inPair = true;
    this.begun = undefined;
    try {
      return await body();
    } finally {
      this.inPair = false;
      if (this.begun !== undefined) await this.session.end();
      this.begun = undefined;
    }
  }
}

if (import.meta.main) {
  await serveWorker(async (init) => {
    const setup = init as unknown as PgWorkerInit;
    const session = setup.kind === "server"
      ? new PgSession({
        kind: "server",
        url: String(setup.url),
        applicationName: setup.applicationName,
        // The parent terminates this backend if it kills this worker mid-query.
        onBackend: (backend) => note({ backend }),
      })
      : new PgSession({ kind: "pglite", open: () => openPglite(setup.pgliteData) });
    await session.open();
    return new PgBackend(session);
  }, { init: true });
}
