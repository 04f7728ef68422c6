/**
 * One PostgreSQL simple query as `psycopg2`'s `cursor.execute(sql); cursor.fetchall()` sees it. psycopg2 hands the
 * whole string to libpq's `PQexec` (the simple query protocol), which runs EVERY statement in it and keeps the
 * LAST result; so `SELECT 1; SELECT 2` returns `[(2,)]`, an error anywhere fails the call, a last statement with
 * no rows (`SET x = 1`) makes `fetchall()` raise "no results to fetch", an empty string raises, and a `COPY` to or
 * from the client raises at once (PQexec stops there).
 *
 * {@linkcode PqExec} collects the backend's messages for one query (from `npm:pg` for a server, from PGlite's raw
 * protocol output through {@linkcode BackendParser}) into that outcome: the last result's columns (duplicate names
 * and order kept), its rows converted cell by cell as psycopg2 converts them (`pg_values.ts`), and a display
 * sample. Rows are converted as they stream in and counted against a byte budget, so a huge result fails with
 * `too_large` instead of filling memory.
 *
 * @module
 */
import { type PgCell, type PgConverter, pgConverter, pgDisplay, PgValueError } from "./pg_values.ts";
import { Unhashable } from "./python_values.ts";
import { DigestBuilder, type ResultDigest } from "./result_digest.ts";
import type { DisplayValue } from "../types.ts";

/** The last result of a query string, converted as psycopg2 converts it. */
export interface PqRows {
  ok: true;
  columns: string[];
  /** Type OIDs of the columns, in order. */
  oids: number[];
  /** Every row, duplicates included, as comparable cell values (with `digest`: the first `sampleRows` only). */
  rows: PgCell[][];
  /** Rows in the result. */
  rowCount: number;
  /** With `digest`: the result's digest, built as the rows streamed in (`digestRows` of every row). */
  digest?: ResultDigest;
  /** The first rows as returned, JSON-safe, for display. */
  sample: DisplayValue[][];
}

/** A query string that failed as psycopg2 would raise, hit the time limit, or returned too much. */
export interface PqFailure {
  ok: false;
  kind: "error" | "timeout" | "too_large";
  error: string;
}

/** The outcome of one query string. */
export type PqOutcome = PqRows | PqFailure;

/** SQLSTATE of a statement cancelled by `statement_timeout`. */
const QUERY_CANCELED = "57014";

/** A server error as psycopg2 words it: the primary message (the SQLSTATE decides timeouts). */
export interface ServerError {
  message: string;
  code?: string;
  severity?: string;
}

/**
 * The messages of one simple query, folded into the outcome libpq's `PQexec` and psycopg2's `fetchall` give.
 * Feed it in protocol order; {@linkcode PqExec.outcome} once the backend is ready for the next query.
 */
export class PqExec {
  private columns: string[] = [];
  private oids: number[] = [];
  private converters: PgConverter[] = [];
  private rows: PgCell[][] = [];
  private sample: DisplayValue[][] = [];
  /** The current result's state: no result yet, rows, a command without rows, an empty query. */
  private state: "none" | "rows" | "command" | "empty" = "none";
  /** A value psycopg2 could not build, in the current (rows) result. */
  private bad: string | null = null;
  private bytes = 0;
  private failure: PqFailure | null = null;
  /** PQexec stopped at a COPY: later messages do not change the outcome. */
  private stopped = false;
  /** The current statement began with a RowDescription. */
  private inRows = false;
  /** With `digest`: the current result's digest so far; rows past the sample are not kept. */
  private builder: DigestBuilder | null = null;
  private count = 0;
  /** The row array reused for rows that are digested and not kept. */
  private scratch: PgCell[] = [];

  /**
   * `maxBytes`: the result's byte budget; `sampleRows`: rows kept for display; `digest`: digest the rows as they
   * arrive and keep only the first `sampleRows` (a result of any size is never held whole).
   */
  constructor(private readonly budget: { maxBytes: number; sampleRows: number; digest?: boolean }) {}

  /** Whether the result has outgrown the byte budget (the caller may stop reading and drop the connection). */
  get overBudget(): boolean {
    return this.failure?.kind === "too_large";
  }

  /** A result with rows starts (RowDescription). */
  rowDescription(fields: { name: string; oid: number }[]): void {
    if (this.stopped || this.failure) return;
    this.columns = fields.map((f) => f.name);
    this.oids = fields.map((f) => f.oid);
    this.converters = this.oids.map(pgConverter);
    this.rows = [];
    this.sample = [];
    this.bad = null;
    this.bytes = 0;
    this.state = "rows";
    this.inRows = true;
    this.count = 0;
    this.builder = this.budget.digest ? new DigestBuilder(fields.length) : null;
    this.scratch = new Array<PgCell>(fields.length);
  }

  /** One row of the current result, each cell the server's text or NULL. */
  dataRow(cells: (string | null)[]): void {
    if (this.stopped || this.failure) return;
    let size = 16;
    for (const c of cells) size += c === null ? 1 : c.length + 8;
    this.bytes += size;
    if (this.bytes > this.budget.maxBytes) {
      this.failure = {
        ok: false,
        kind: "too_large",
        error: `result too large: over ${this.budget.maxBytes} bytes`,
      };
      this.rows = [];
      this.builder = null;
      return;
    }
    if (this.sample.length < this.budget.sampleRows) {
      this.sample.push(cells.map((c, j) => pgDisplay(this.oids[j], c)));
    }
    if (this.bad !== null) return;
    const keep = this.builder === null || this.count < this.budget.sampleRows;
    const row = keep || cells.length !== this.scratch.length ? new Array<PgCell>(cells.length) : this.scratch;
    try {
      for (let j = 0; j < cells.length; j++) {
        const c = cells[j];
        row[j] = c === null ? null : this.converters[j](c);
      }
    } catch (e) {
      if (!(e instanceof PgValueError || e instanceof Unhashable || e instanceof RangeError)) throw e;
      // psycopg2 raises while fetching (or set() while comparing): the rows no longer matter.
      this.bad = e.message;
      this.rows = [];
      this.builder = null;
      return;
    }
    this.count++;
    this.builder?.add(row);
    if (keep) this.rows.push(row);
  }

  /** A statement finished (CommandComplete): one without a RowDescription leaves no rows to fetch. */
  commandComplete(): void {
    if (this.stopped || this.failure) return;
    if (!this.inRows) this.clear("command");
    this.inRows = false;
  }

  /** The query string was empty (EmptyQueryResponse). */
  emptyQuery(): void {
    if (this.stopped || this.failure) return;
    this.clear("empty");
  }

  /** A `COPY … TO STDOUT`: PQexec returns at once and psycopg2 raises. */
  copyOut(): void {
    if (this.stopped || this.failure) return;
    this.failure = {
      ok: false,
      kind: "error",
      error: "can't execute COPY TO: use the copy_to() method instead",
    };
    this.stopped = true;
  }

  /** A `COPY … FROM STDIN`: PQexec returns at once and psycopg2 raises. */
  copyIn(): void {
    if (this.stopped || this.failure) return;
    this.failure = {
      ok: false,
      kind: "error",
      error: "can't execute COPY FROM: use the copy_from() method instead",
    };
    this.stopped = true;
  }

  /** The server reported an error: the rest of the string did not run. */
  error(e: ServerError): void {
    if (this.stopped || this.failure) return;
    const timeout = e.code === QUERY_CANCELED && /statement timeout/.test(e.message);
    this.failure = { ok: false, kind: timeout ? "timeout" : "error", error: e.message };
    this.rows = [];
    this.builder = null;
  }

  /** The connection broke or the caller gave up. */
  abort(error: string, kind: PqFailure["kind"] = "error"): void {
    if (this.failure) return;
    this.failure = { ok: false, kind, error };
    this.rows = [];
    this.builder = null;
  }

  private clear(state: "command" | "empty"): void {
    this.columns = [];
    this.oids = [];
    this.rows = [];
    this.builder = null;
    this.sample = [];
    this.bad = null;
    this.state = state;
  }

  /** The outcome, once the backend said it is ready for the next query. */
  outcome(): PqOutcome {
    if (this.failure) return this.failure;
    if (this.state === "empty" || this.state === "none") {
      return { ok: false, kind: "error", error: "can't execute an empty query" };
    }
    if (this.state === "command") return { ok: false, kind: "error", error: "no results to fetch" };
    if (this.bad !== null) return { ok: false, kind: "error", error: this.bad };
    return {
      ok: true,
      columns: this.columns,
      oids: this.oids,
      rows: this.rows,
      rowCount: this.count,
      sample: this.sample,
      ...(this.builder ? { digest: this.builder.finish() } : {}),
    };
  }
}

const decoder = new TextDecoder("utf-8", { fatal: false });

/** The `Q` message of a simple query. */
export function queryMessage(sql: string): Uint8Array {
  const body = new TextEncoder().encode(sql);
  const msg = new Uint8Array(body.length + 6);
  msg[0] = 0x51;
  new DataView(msg.buffer).setInt32(1, body.length + 5);
  msg.set(body, 5);
  return msg;
}

/** What {@linkcode BackendParser} reports beyond {@linkcode PqExec}'s messages. */
export interface BackendEvents {
  /** ReadyForQuery, with the transaction status (`I` idle, `T` in a transaction, `E` failed transaction). */
  ready(status: string): void;
}

/**
 * Parses the backend's protocol messages from raw bytes (PGlite's `execProtocolRawStream` output), in chunks of
 * any size, into a {@linkcode PqExec}.
 */
export class BackendParser {
  private buf = new Uint8Array(0);

  constructor(private readonly exec: PqExec, private readonly events: BackendEvents) {}

  /** Feed the next bytes. */
  push(chunk: Uint8Array): void {
    let data: Uint8Array;
    if (this.buf.length) {
      data = new Uint8Array(this.buf.length + chunk.length);
      data.set(this.buf);
      data.set(chunk, this.buf.length);
    } else data = chunk;
    const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
    let off = 0;
    while (data.length - off >= 5) {
      const len = view.getInt32(off + 1);
      if (data.length - off < len + 1) break;
      this.message(data[off], data.subarray(off + 5, off + 1 + len), view, off + 5);
      off += len + 1;
    }
    this.buf = off === data.length ? new Uint8Array(0) : data.slice(off);
  }

  private message(type: number, body: Uint8Array, view: DataView, at: number): void {
    switch (type) {
      case 0x54: { // T RowDescription
        const n = view.getInt16(at);
        let p = 2;
        const fields: { name: string; oid: number }[] = [];
        for (let i = 0; i < n; i++) {
          const end = body.indexOf(0, p);
          const name = decoder.decode(body.subarray(p, end));
          p = end + 1;
          const oid = view.getUint32(at + p + 6);
          p += 18;
          fields.push({ name, oid });
        }
        this.exec.rowDescription(fields);
        return;
      }
      case 0x44: { // D DataRow
        const n = view.getInt16(at);
        let p = 2;
        const cells: (string | null)[] = new Array(n);
        for (let i = 0; i < n; i++) {
          const len = view.getInt32(at + p);
          p += 4;
          if (len < 0) cells[i] = null;
          else {
            cells[i] = decoder.decode(body.subarray(p, p + len));
            p += len;
          }
        }
        this.exec.dataRow(cells);
        return;
      }
      case 0x43: // C CommandComplete
        this.exec.commandComplete();
        return;
      case 0x49: // I EmptyQueryResponse
        this.exec.emptyQuery();
        return;
      case 0x45: // E ErrorResponse
        this.exec.error(errorFields(body));
        return;
      case 0x48: // H CopyOutResponse
        this.exec.copyOut();
        return;
      case 0x47: // G CopyInResponse
        this.exec.copyIn();
        return;
      case 0x5a: // Z ReadyForQuery
        this.events.ready(String.fromCharCode(body[0]));
        return;
    }
  }
}

/** The fields of an ErrorResponse body (`S` severity, `C` SQLSTATE, `M` message). */
function errorFields(body: Uint8Array): ServerError {
  const out: ServerError = { message: "" };
  let p = 0;
  while (p < body.length && body[p] !== 0) {
    const code = String.fromCharCode(body[p]);
    const end = body.indexOf(0, p + 1);
    const value = decoder.decode(body.subarray(p + 1, end));
    if (code === "M") out.message = value;
    else if (code === "C") out.code = value;
    else if (code === "S") out.severity = value;
    p = end + 1;
  }
  return out;
}
