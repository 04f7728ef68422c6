/**
 * Notebook display: tables (Polars frames or rows), charts and HTML as `text/html` outputs, and an in-place
 * progress display for long cells. Charts go out as HTML, never `image/svg+xml`, because nbconvert's HTML export
 * drops SVG outputs.
 *
 * Outside a notebook (CLI, tests: `Deno.jupyter` throws or is absent) nothing is displayed and nothing throws:
 * tables print as plain text, charts and HTML as a one-line notice, progress as one line when it finishes.
 *
 * @module
 */

import { escapeHtml, tableHtml, type TableInput, type TableOptions, tableText } from "../look/mod.ts";

export {
  escapeHtml,
  formatNumber,
  tableHtml,
  type TableInput,
  type TableOptions,
  tableText,
} from "../look/mod.ts";

/** A Jupyter MIME bundle, e.g. `{"text/html": "...", "text/plain": "..."}`. */
export type MediaBundle = Record<string, string>;

/** The part of `Deno.jupyter` used here. */
export interface DisplayBackend {
  /** Sends a MIME bundle (`raw`), optionally as an update of the output with `display_id`. */
  display(obj: unknown, options?: { raw?: boolean; update?: boolean; display_id?: string }): Promise<void>;
}

let backendOverride: DisplayBackend | null | undefined;

/**
 * Replaces the display backend (normally `Deno.jupyter`, which cannot be redefined): a recorder in tests, `null` to
 * force the plain-text path, `undefined` to go back to the kernel's.
 */
export function setDisplayBackend(backend: DisplayBackend | null | undefined): void {
  backendOverride = backend;
}

/** The kernel's display API, or null outside `deno jupyter` (where merely reading `Deno.jupyter` throws). */
function jupyter(): DisplayBackend | null {
  if (backendOverride !== undefined) return backendOverride;
  try {
    const api = (Deno as unknown as { jupyter?: DisplayBackend }).jupyter;
    return api && typeof api.display === "function" ? api : null;
  } catch {
    return null;
  }
}

/** True when running inside a Deno Jupyter kernel. */
export function inNotebook(): boolean {
  return jupyter() !== null;
}

/**
 * Sends a bundle to the notebook (with `display_id`, `update` replaces that earlier output); false when there is no
 * notebook or the kernel refused it (no frontend attached), so callers fall back to text instead of failing a long
 * computation over a display.
 */
export async function displayBundle(
  bundle: MediaBundle,
  options: { update?: boolean; display_id?: string } = {},
): Promise<boolean> {
  const api = jupyter();
  if (!api) return false;
  try {
    await api.display(bundle, { raw: true, ...options });
    return true;
  } catch {
    return false;
  }
}

/**
 * Styles for tables shown in a notebook (the report has its own stylesheet). A word or number never breaks inside
 * (`overflow-wrap: break-word` splits only a word longer than the cell's 48em, and does not let a column shrink
 * below its longest word, as `anywhere` did: "-13./95"); numbers stay on one line, headers wrap only
 * between words or after the `:` and `_` of a name; a table wider than
 * the output area scrolls in its own box.
 */
const NOTEBOOK_TABLE_CSS = "<style>.t2s-table{border-collapse:collapse;font:12px system-ui,sans-serif;" +
  "display:block;max-width:100%;overflow-x:auto}" +
  ".t2s-table th,.t2s-table td{border:1px solid #ddd;padding:2px 6px;text-align:left;vertical-align:top}" +
  ".t2s-table td{max-width:48em;overflow-wrap:break-word;white-space:pre-wrap}" +
  ".t2s-table td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}" +
  ".t2s-table td.null{color:#999}" +
  ".t2s-table caption{text-align:left;font-weight:600;padding:4px 0}</style>";

/**
 * Displays a table in the notebook as `text/html` with a `text/plain` twin (never Polars'
 * `application/vnd.dataresource+json`, which VS Code picks first and renders as nothing); outside one, prints it
 * as plain text. Every table the notebooks show goes through here.
 */
export async function showTable(data: TableInput, options: TableOptions = {}): Promise<void> {
  const text = tableText(data, options);
  if (
    !await displayBundle({ "text/html": NOTEBOOK_TABLE_CSS + tableHtml(data, options), "text/plain": text })
  ) {
    console.log(text);
  }
}

/** The title (`<h2>`) of a chart figure, for text fallbacks. */
function chartTitle(html: string): string {
  const m = html.match(/<h2[^>]*>([\s\S]*?)<\/h2>/);
  return m
    ? m[1].replace(/<[^>]*>/g, "").replace(/&amp;/g, "&").replace(/&lt;/g, "<").replace(/&gt;/g, ">")
    : "chart";
}

/** Displays a chart (a `<figure>` from `lib/look/charts.ts`) as `text/html`; outside a notebook prints a notice. */
export async function showChart(html: string): Promise<void> {
  const title = chartTitle(html);
  if (!await displayBundle({ "text/html": html, "text/plain": `[chart: ${title}]` })) {
    console.log(`[chart: ${title}] (drawn in notebooks and HTML reports only)`);
  }
}

/** Displays an HTML fragment; outside a notebook prints a one-line notice (or `options.text` when given). */
export async function showHtml(html: string, options: { text?: string } = {}): Promise<void> {
  const text = options.text ?? `[html output, ${html.length} characters] (shown in notebooks only)`;
  if (!await displayBundle({ "text/html": html, "text/plain": text })) console.log(text);
}

/** An in-place progress display; see {@link createNotebookProgress}. */
export interface NotebookProgress {
  /** Sets progress to `done` of `total` (total may be given once, at creation), with an optional note. */
  update(done: number, total?: number, note?: string): Promise<void>;
  /** Marks the work finished: the display shows the final count and elapsed time. */
  finish(note?: string): Promise<void>;
}

function fmtSeconds(ms: number): string {
  return ms < 60_000
    ? `${(ms / 1000).toFixed(1)} s`
    : `${Math.floor(ms / 60_000)} min ${Math.round(ms % 60_000 / 1000)} s`;
}

/**
 * A progress bar that updates in place in the notebook (one output, updated through its `display_id`), so a long
 * cell shows one line rather than hundreds. Updates are throttled to 5 per second; `finish` always draws.
 * Outside a notebook it prints a single line when finished.
 */
export function createNotebookProgress(label: string, options: { total?: number } = {}): NotebookProgress {
  const displayId = `t2s-progress-${crypto.randomUUID()}`;
  const started = Date.now();
  let total = options.total ?? 0, done = 0, note = "", shown = false, last = 0;
  const bundle = (finished: boolean): MediaBundle => {
    const pct = total > 0 ? Math.min(100, 100 * done / total) : 0;
    const count = total > 0 ? `${done}/${total} (${pct.toFixed(0)}%)` : `${done}`;
    const text = `${label}: ${count}${finished ? " done" : ""} · ${fmtSeconds(Date.now() - started)}${
      note ? ` · ${note}` : ""
    }`;
    const bar = total > 0 ? `<progress max="${total}" value="${done}" style="width:240px"></progress> ` : "";
    return {
      "text/html": `<div class="t2s-progress" style="font:12px system-ui,sans-serif">${bar}${
        escapeHtml(text)
      }</div>`,
      "text/plain": text,
    };
  };
  const draw = async (finished: boolean) => {
    const now = Date.now();
    if (!finished && shown && now - last < 200) return;
    last = now;
    if (!inNotebook()) {
      if (finished) console.log(bundle(true)["text/plain"]);
      return;
    }
    // Claimed before awaiting: callers often fire updates without awaiting them, and a second "first" display
    // would leave a stale progress line behind.
    const update = shown;
    shown = true;
    if (!await displayBundle(bundle(finished), { display_id: displayId, update }) && finished) {
      console.log(bundle(true)["text/plain"]);
    }
  };
  return {
    async update(d: number, t?: number, n?: string) {
      done = d;
      if (t !== undefined) total = t;
      if (n !== undefined) note = n;
      await draw(false);
    },
    async finish(n?: string) {
      if (n !== undefined) note = n;
      if (total > 0 && done < total) done = total;
      await draw(true);
    },
  };
}
