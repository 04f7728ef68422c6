/**
 * `deno task download dev|train|mini-dev`: flags, a progress bar redrawn in place on stderr, the verification
 * summary on stdout. The work itself is `downloadDataset` (`lib/data/`).
 *
 * @module
 */
import { relative } from "node:path";
import {
  type DatasetSpec,
  datasetSpec,
  downloadDataset,
  type DownloadProgress,
  formatProgress,
  formatSummary,
} from "../data/mod.ts";
import { findDump } from "../db/mod.ts";
import { parseCommand, usageExit } from "../util/mod.ts";

const USAGE =
  `usage: deno task download dev|train|mini-dev [--dest data] [--url URL] [--quiet] [--remove-archive]

  --dest DIR         folder for the dataset and downloads/ (default: data)
  --url URL          archive URL (default: $TEXT2SQL_BIRD_URL_DEV / _TRAIN / _MINI_DEV, then the official one)
  --quiet            no progress bar and no log lines; the summary table is still printed
  --remove-archive   delete the archive once extracted (its sha256 stays in downloads/manifest.json)`;

const FLAGS = {
  dest: { type: "string", default: "data" },
  url: { type: "string" },
  quiet: { type: "boolean", short: "q", default: false },
  "remove-archive": { type: "boolean", default: false },
} as const;

/**
 * `deno task download` entry point: parses `argv` (the arguments after `download`), runs
 * `downloadDataset` with a terminal progress bar on stderr (only when stderr is a TTY and without
 * `--quiet`) and prints the verification summary on stdout.
 *
 * @param argv e.g. `["dev", "--dest", "data"]`.
 * @returns The exit code: 0 done, 1 failed (one line on stderr), 2 usage error.
 */
export async function downloadCommand(argv: string[]): Promise<number> {
  let parsed;
  let spec: DatasetSpec;
  try {
    parsed = parseCommand(argv, { usage: USAGE, options: FLAGS, positionals: { count: 1, name: "dataset" } });
    if (parsed === null) return 0;
    spec = datasetSpec(parsed.positionals[0]);
  } catch (error) {
    return usageExit("download", USAGE, error);
  }
  const { values } = parsed;
  const terminal = values.quiet ? undefined : terminalProgress();
  try {
    const result = await downloadDataset(spec.name, {
      dest: values.dest,
      url: values.url,
      keepArchive: !values["remove-archive"],
      onProgress: terminal?.onProgress,
      log: terminal?.log,
    });
    const shown = relative(Deno.cwd(), result.folder);
    console.log(formatSummary(result.verification, shown.startsWith("..") ? result.folder : shown));
    if (!values.quiet) console.error(`questions: ${result.questionsPath}\ndatabases: ${result.dbRoot}`);
    for (const dialect of ["postgresql", "mysql"] as const) {
      const dump = values.quiet ? null : findDump(result.dbRoot, dialect);
      if (dump) console.error(`${dialect} dump: ${dump} (deno task db load --dialect ${dialect} finds it)`);
    }
    return 0;
  } catch (error) {
    console.error(`download ${spec.name}: ${oneLine(error)}`);
    return 1;
  }
}

function oneLine(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.replace(/\s*\n\s*/g, " ").trim();
}

/** Progress and log output for a terminal, see {@link terminalProgress}. */
interface TerminalOutput {
  /** Pass as the `onProgress` option. */
  onProgress: (progress: DownloadProgress) => void;
  /** Pass as the `log` option: prints a line above the bar, which is redrawn below it. */
  log: (line: string) => void;
}

/**
 * A progress bar redrawn in place on stderr (`download dev.zip [####....] 42.0%  1.2/2.9 GB  12.3 MB/s  ETA
 * 2m21s`), and a logger that prints above it. The bar is drawn only when stderr is a terminal; log lines are
 * printed either way.
 */
function terminalProgress(): TerminalOutput {
  const tty = Deno.stderr.isTerminal();
  const encoder = new TextEncoder();
  const write = (text: string) => Deno.stderr.writeSync(encoder.encode(text));
  let openLine: string | null = null;
  let openKey = "";
  let finishedKey = "";
  return {
    onProgress: (progress) => {
      if (!tty) return;
      const key = `${progress.phase}:${progress.label}`;
      const finished = progress.total !== null && progress.done >= progress.total;
      // A phase reports its end once more when it finishes: draw it once.
      if (finished && key === finishedKey) return;
      const line = formatProgress(progress);
      write(`${openLine !== null && openKey !== key ? "\n" : ""}\r\x1b[2K${line}${finished ? "\n" : ""}`);
      openLine = finished ? null : line;
      openKey = key;
      if (finished) finishedKey = key;
    },
    log: (line) => {
      if (openLine === null) return write(`${line}\n`);
      write(`\r\x1b[2K${line}\n${openLine}`);
    },
  };
}
