/**
 * A small HTTP/1.1 file server on 127.0.0.1 for download tests and the download benchmark. It answers `Range`
 * requests with 206 (honouring `If-Range`), can cut the connection in the middle of a body, throttle, answer
 * 503 a number of times, and logs every request with the bytes it sent.
 *
 * It speaks raw HTTP over `Deno.listen` rather than `Deno.serve` so that a cut is exactly that: the headers
 * promise N bytes, fewer are written, the socket closes.
 *
 * @module
 */

/** A file the server can send: bytes in memory or a file on disk (streamed, for the benchmark's big archive). */
export type ServedFile = Uint8Array | { path: string };

/** One request as the server saw it. */
export interface RequestRecord {
  method: string;
  path: string;
  /** The `Range` header, `null` when absent. */
  range: string | null;
  /** The `If-Range` header, `null` when absent. */
  ifRange: string | null;
  status: number;
  /** Body bytes written to the socket. */
  bytesSent: number;
  /** `true` when the server cut this response short on purpose. */
  cut: boolean;
}

/** Behaviour knobs; they may be changed between requests. */
export interface ArchiveServerOptions {
  /** Cut the body after this many bytes (of this response)… */
  cutAfter?: number;
  /** …for this many responses (default 1 when `cutAfter` is set). */
  cutTimes?: number;
  /** `close` (default) closes the socket at the cut; `stall` keeps it open and silent until the client leaves. */
  cutMode?: "close" | "stall";
  /** Body bytes per second; unlimited when absent. */
  throttleBytesPerSecond?: number;
  /** Answer `Range` with 206 (default true); false sends the whole file with 200. */
  ranges?: boolean;
  /** Answer this many requests with 503 before serving. */
  failTimes?: number;
  /** ETag of every file (default `"v1"`); change it to simulate a file replaced upstream. */
  etag?: string;
}

/** A running server. */
export interface ArchiveServer {
  /** `http://127.0.0.1:<port>` */
  origin: string;
  /** The URL of a served path, e.g. `url("/dev.zip")`. */
  url(path: string): string;
  /** Every request so far, in order. */
  requests: RequestRecord[];
  /** Body bytes sent over all requests. */
  bytesServed(): number;
  /** The served files, by path; may be changed while running. */
  files: Map<string, ServedFile>;
  /** The behaviour knobs; may be changed while running. */
  options: ArchiveServerOptions;
  /** Stops listening and waits for open connections to end. */
  close(): Promise<void>;
}

const encoder = new TextEncoder();
const CHUNK = 64 * 1024;

/**
 * Starts a server on 127.0.0.1 on a free port.
 *
 * @param files Served files by URL path (e.g. `{"/dev.zip": bytes}`).
 * @param options Cuts, throttling, range support, failures.
 */
export function startArchiveServer(
  files: Record<string, ServedFile>,
  options: ArchiveServerOptions = {},
): ArchiveServer {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const origin = `http://127.0.0.1:${(listener.addr as Deno.NetAddr).port}`;
  const server: ArchiveServer = {
    origin,
    url: (path) => `${origin}${path}`,
    requests: [],
    bytesServed: () => server.requests.reduce((sum, r) => sum + r.bytesSent, 0),
    files: new Map(Object.entries(files)),
    options,
    close: async () => {
      closed = true;
      closing.resolve();
      listener.close();
      for (const conn of open) {
        try {
          conn.close();
        } catch { /* already closed */ }
      }
      await Promise.allSettled(handlers);
      await accepting;
    },
  };
  let closed = false;
  const closing = Promise.withResolvers<void>();
  let cutsDone = 0;
  let failsDone = 0;
  const open = new Set<Deno.Conn>();
  const handlers = new Set<Promise<void>>();

  const handle = async (conn: Deno.Conn) => {
    open.add(conn);
    try {
      const head = await readHead(conn);
      if (head === null) return;
      const [requestLine, ...headerLines] = head.split("\r\n");
      const [method, target] = requestLine.split(" ");
      const headers = new Map<string, string>();
      for (const line of headerLines) {
        const colon = line.indexOf(":");
        if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
      }
      const record: RequestRecord = {
        method,
        path: target,
        range: headers.get("range") ?? null,
        ifRange: headers.get("if-range") ?? null,
        status: 0,
        bytesSent: 0,
        cut: false,
      };
      server.requests.push(record);
      await respond(conn, record);
    } catch {
      // The client went away: nothing to answer.
    } finally {
      open.delete(conn);
      try {
        conn.close();
      } catch { /* already closed */ }
    }
  };

  const respond = async (conn: Deno.Conn, record: RequestRecord) => {
    const file = server.files.get(record.path);
    if (file === undefined) return await sendStatus(conn, record, 404, "Not Found");
    if (failsDone < (server.options.failTimes ?? 0)) {
      failsDone++;
      return await sendStatus(conn, record, 503, "Service Unavailable");
    }
    const size = file instanceof Uint8Array ? file.length : (await Deno.stat(file.path)).size;
    const etag = server.options.etag ?? `"v1"`;
    let start = 0;
    let status = 200;
    const extra: string[] = [];
    const range = record.range?.match(/^bytes=(\d+)-$/);
    const rangeApplies = range && (server.options.ranges ?? true) &&
      (record.ifRange === null || record.ifRange === etag);
    if (rangeApplies) {
      start = Number(range[1]);
      if (start >= size) {
        record.status = 416;
        await writeAll(
          conn,
          `HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */${size}\r\nContent-Length: 0\r\n` +
            `Connection: close\r\n\r\n`,
        );
        return;
      }
      status = 206;
      extra.push(`Content-Range: bytes ${start}-${size - 1}/${size}`);
    }
    record.status = status;
    const length = size - start;
    await writeAll(
      conn,
      `HTTP/1.1 ${status} ${status === 206 ? "Partial Content" : "OK"}\r\nContent-Type: application/zip\r\n` +
        `Content-Length: ${length}\r\nETag: ${etag}\r\nAccept-Ranges: bytes\r\n${
          extra.map((h) => `${h}\r\n`).join("")
        }Connection: close\r\n\r\n`,
    );
    if (record.method === "HEAD") return;

    let limit = length;
    const cutAfter = server.options.cutAfter;
    if (cutAfter !== undefined && cutsDone < (server.options.cutTimes ?? 1) && cutAfter < length) {
      cutsDone++;
      limit = cutAfter;
      record.cut = true;
    }
    const began = performance.now();
    const reader = file instanceof Uint8Array ? null : await Deno.open(file.path, { read: true });
    try {
      await reader?.seek(start, Deno.SeekMode.Start);
      const buffer = new Uint8Array(CHUNK);
      while (record.bytesSent < limit) {
        const want = Math.min(CHUNK, limit - record.bytesSent);
        let chunk: Uint8Array;
        if (file instanceof Uint8Array) {
          chunk = file.subarray(start + record.bytesSent, start + record.bytesSent + want);
        } else {
          const count = await reader!.read(buffer.subarray(0, want));
          if (count === null) break;
          chunk = buffer.subarray(0, count);
        }
        await writeAll(conn, chunk);
        record.bytesSent += chunk.length;
        const rate = server.options.throttleBytesPerSecond;
        if (rate) {
          const due = began + (record.bytesSent / rate) * 1000;
          const wait = due - performance.now();
          if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
        }
      }
    } finally {
      reader?.close();
    }
    if (record.cut && server.options.cutMode === "stall") {
      // Hold the connection open and silent until the client gives up (its read ends) or the server closes.
      await Promise.race([closing.promise, conn.read(new Uint8Array(1)).catch(() => null)]);
    }
  };

  const accepting = (async () => {
    try {
      for await (const conn of listener) {
        if (closed) {
          conn.close();
          break;
        }
        const handler = handle(conn);
        handlers.add(handler);
        handler.finally(() => handlers.delete(handler));
      }
    } catch {
      // The listener was closed.
    }
  })();

  return server;
}

async function sendStatus(conn: Deno.Conn, record: RequestRecord, status: number, text: string) {
  record.status = status;
  const body = `${status} ${text}\n`;
  await writeAll(
    conn,
    `HTTP/1.1 ${status} ${text}\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\n` +
      `Connection: close\r\n\r\n${body}`,
  );
}

async function writeAll(conn: Deno.Conn, data: string | Uint8Array): Promise<void> {
  const bytes = typeof data === "string" ? encoder.encode(data) : data;
  let written = 0;
  while (written < bytes.length) written += await conn.write(bytes.subarray(written));
}

/** Reads up to the blank line ending the request head; `null` when the client closed first. */
async function readHead(conn: Deno.Conn): Promise<string | null> {
  const buffer = new Uint8Array(16 * 1024);
  let filled = 0;
  while (filled < buffer.length) {
    const count = await conn.read(buffer.subarray(filled));
    if (count === null) return null;
    filled += count;
    const text = new TextDecoder().decode(buffer.subarray(0, filled));
    const end = text.indexOf("\r\n\r\n");
    if (end !== -1) return text.slice(0, end);
  }
  return null;
}
