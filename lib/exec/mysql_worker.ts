/**
 * The MySQL/MariaDB worker: a persistent Deno subprocess started by `mysql_engine.ts`, allowed to reach the
 * server's host and port only (no file, env, run or ffi permission), under the pool's memory limit, serving
 * `worker_core.ts`'s protocol over one sandboxed session (`mysql_session.ts`). Its first stdin line is the set-up
 * (`{url, limits}`): the URL and its password never appear on a command line.
 *
 * A score request runs its prediction and gold query in one session (`pair`), as mini-dev's script runs both on
 * one connection; every other request, and every statement of an exec request, starts from a reset session. A
 * statement that outlives its limit by a moment is killed on the server from a second connection (`KILL QUERY`)
 * before the parent's SIGKILL, so the server stops working on it too.
 *
 * @module
 */
import { isQueryStatement, killQuery, type MysqlLimits, MysqlSession, NOT_A_QUERY } from "./mysql_session.ts";
import {
  fail,
  type Failure,
  type Ran,
  serveWorker,
  type StatementIo,
  type WorkerRequest,
} from "./worker_core.ts";

/** How long past the limit the worker kills its statement on the server (the parent kills the worker at 1 s). */
const SERVER_KILL_SLACK_MS = 250;

/** The worker's set-up line. */
interface Init {
  url: string;
  limits: MysqlLimits;
}

async function backend(init: Record<string, unknown> | null) {
  const { url, limits } = init as unknown as Init;
  const session = await MysqlSession.open(url, { limits });
  let paired = false;
  return {
    async pair<T>(req: WorkerRequest, body: () => Promise<T>): Promise<T> {
      await session.begin(req.timeoutS);
      paired = true;
      try {
        return await body();
      } finally {
        paired = false;
      }
    },
    async run(req: WorkerRequest, sql: string, io: StatementIo): Promise<Ran | Failure> {
      if (!isQueryStatement(sql)) return fail(NOT_A_QUERY);
      if (!paired) await session.begin(req.timeoutS);
      const threadId = session.threadId;
      io.started();
      const killer = setTimeout(() => {
        if (threadId !== null) killQuery(url, threadId).catch(() => {});
      }, req.timeoutS * 1000 + SERVER_KILL_SLACK_MS);
      try {
        const r = await session.run(sql, { maxBytes: req.maxBytes, timeoutS: req.timeoutS });
        return r.ok ? { ok: true, columns: r.columns, rows: r.rows, execMs: r.execMs } : r;
      } finally {
        clearTimeout(killer);
      }
    },
  };
}

await serveWorker(backend, { init: true });
