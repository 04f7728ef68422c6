/**
 * `deno task <command>` entry point: `eval`, `download`, `db`, `audit`, `sft`, `cot`, `train`, `serve`, `report`,
 * `notebook:html`, `notebooks`, `bench`. Each command's flags live in a file of its own here (`eval.ts`,
 * `download.ts`, `db.ts`, `audit.ts`, `sft.ts`, `cot.ts`, `train.ts`, `bench.ts`; `report`, `notebook:html` and `notebooks` parse theirs
 * in their rooms), loaded only when asked for, so `eval` never pays for Polars or Plot.
 *
 * Errors the user can fix (bad flags, files, keys) print one line and exit non-zero, never a stack trace. Every
 * error line passes the secret model's scrubber (with the credentials the command registered: a server URL's).
 *
 * @module
 */
import { numberFlag, redact, UsageError, watchTaskParent } from "../util/mod.ts";
import { evalCommand } from "./eval.ts";

export { evalCommand, numberFlag, UsageError };

const COMMANDS: Record<string, (argv: string[]) => Promise<number>> = {
  eval: evalCommand,
  download: async (a) => (await import("./download.ts")).downloadCommand(a),
  db: async (a) => (await import("./db.ts")).dbCommand(a),
  audit: async (a) => (await import("./audit.ts")).auditCommand(a),
  sft: async (a) => (await import("./sft.ts")).sftCommand(a),
  cot: async (a) => (await import("./cot.ts")).cotCommand(a),
  train: async (a) => (await import("./train.ts")).trainCommand(a),
  serve: async (a) => (await import("./train.ts")).serveCommand(a),
  report: async (a) => {
    // nodejs-polars is a native addon: say plainly which permission is missing before loading it (a stack trace
    // from deep inside the import otherwise).
    if (Deno.permissions.querySync({ name: "ffi" }).state !== "granted") {
      console.error(
        "report: needs --allow-ffi (nodejs-polars is a native addon); run `deno run -A lib/cli/cli.ts report ...` " +
          "or add --allow-ffi to the report task in deno.json",
      );
      return 1;
    }
    return (await import("../look/mod.ts")).reportCommand(a);
  },
  "notebook:html": async (a) => (await import("../notebook/mod.ts")).notebookHtmlCommand(a),
  notebooks: async (a) => (await import("../notebook/mod.ts")).notebooksCommand(a),
  bench: async (a) => (await import("./bench.ts")).benchCommand(a),
  "prompt-stats": async (a) => (await import("./prompt_stats.ts")).promptStatsCommand(a),
};

/** Run a command by name; returns the exit code. Known errors become one line on stderr. */
export async function main(args: string[]): Promise<number> {
  const [command, ...rest] = args;
  const run = command ? COMMANDS[command] : undefined;
  if (!run) {
    console.error(`usage: deno task <${Object.keys(COMMANDS).join("|")}> [flags]   (--help on each)`);
    return 2;
  }
  try {
    return await run(rest);
  } catch (e) {
    // Whatever went wrong, one line (a stack only with TEXT2SQL_DEBUG=1): bad flags exit 2, the rest 1.
    const err = e instanceof Error ? e : new Error(String(e));
    const code = (e as { code?: string }).code ?? "";
    console.error(`error: ${redact(err.message.split("\n")[0], [])}`);
    if (Deno.env.get("TEXT2SQL_DEBUG")) console.error(redact(err.stack ?? "", []));
    return err.name === "UsageError" || code.startsWith("ERR_PARSE_ARGS") ? 2 : 1;
  }
}

if (import.meta.main) {
  // Started by `deno task`: when that process dies (SIGKILL), stop too, releasing the run's lock; the
  // workers die with us (their parent-death signal).
  watchTaskParent();
  Deno.exit(await main(Deno.args));
}
