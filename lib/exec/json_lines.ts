/**
 * Newline-delimited messages on a byte stream, as the pool and its workers speak them: each line is assembled
 * from a list of chunks and joined once, so a 40 MB line costs one pass, not a quadratic series of
 * concatenations and searches.
 *
 * @module
 */

/** Call `onLine` with each non-empty line of `stream` (without its newline, decoded as UTF-8), in order. */
export async function readLines(
  stream: AsyncIterable<Uint8Array>,
  onLine: (line: string) => void,
): Promise<void> {
  const decoder = new TextDecoder();
  let parts: Uint8Array[] = [];
  for await (const chunk of stream) {
    let from = 0;
    let nl: number;
    while ((nl = chunk.indexOf(10, from)) >= 0) {
      parts.push(chunk.subarray(from, nl));
      const line = parts.length === 1 ? parts[0] : concat(parts);
      parts = [];
      from = nl + 1;
      if (line.length) onLine(decoder.decode(line));
    }
    // A copy: the stream may reuse its chunk's buffer for the next read.
    if (from < chunk.length) parts.push(chunk.slice(from));
  }
}

function concat(list: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(list.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of list) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}
