/** `02`'s MODE parameter: parsed from the cell or `TEXT2SQL_MODE`, shown, and passed to `runEvaluation`. */
import { deepStrictEqual as assertEquals, match as assertMatch, throws } from "node:assert/strict";
import { clearStop, explainForNotebook, NotebookParamError, stopped } from "../../lib/notebook/mod.ts";
import { evalOptionsFor, evalTargets } from "../../lib/notebook/eval_steps.ts";
import { notebookParams, paramRows, parseEvalMode } from "../../lib/notebook/params.ts";

Deno.test("parseEvalMode: single, voting K, agent [T]; anything else is one line naming MODE", () => {
  assertEquals(parseEvalMode(undefined), { name: "single" });
  assertEquals(parseEvalMode(" single "), { name: "single" });
  assertEquals(parseEvalMode("voting 8"), { name: "voting", n: 8, temperature: 0.8 });
  assertEquals(parseEvalMode("agent"), { name: "agent", maxTurns: 8 });
  assertEquals(parseEvalMode("Agent 4"), { name: "agent", maxTurns: 4 });
  for (const bad of ["voting", "voting 1", "voting 2.5", "agent 0", "single 3", "greedy", "agent 4 5"]) {
    throws(() => parseEvalMode(bad), /^NotebookParamError: MODE \(TEXT2SQL_MODE\) must be/, bad);
  }
});

Deno.test("MODE: the variable wins over the cell; the table says it in words", () => {
  const cell = notebookParams({ mode: "voting 5" }, {});
  assertEquals(cell.mode, { name: "voting", n: 5, temperature: 0.8 });
  assertEquals(notebookParams({ mode: "voting 5" }, { TEXT2SQL_MODE: "agent 3" }).mode, {
    name: "agent",
    maxTurns: 3,
  });
  assertEquals(notebookParams({}, {}).mode, { name: "single" });
  assertEquals(paramRows(cell, ["mode"]), [{ parameter: "mode", value: "voting 5 (temperature 0.8)" }]);
});

Deno.test("MODE reaches runEvaluation, each mode in its own folder; the baseline predictions take none", () => {
  const options = (mode: string) => {
    const params = notebookParams({ models: ["m/x"], mode, runsDir: "/tmp/r" }, {});
    return evalTargets(params).map((t) => {
      const o = evalOptionsFor(params, t);
      return { out: o.out, n: o.n, temperature: o.temperature, agent: o.agent, maxTurns: o.maxTurns };
    });
  };
  const none = { n: undefined, temperature: undefined, agent: undefined, maxTurns: undefined };
  const baseline = { ...none, out: "/tmp/r/notebooks/gpt-3.5-turbo-evidence-superhero" };
  assertEquals(options("single"), [baseline, { ...none, out: "/tmp/r/notebooks/m-x-superhero" }]);
  assertEquals(options("voting 8"), [baseline, {
    ...none,
    out: "/tmp/r/notebooks/m-x-maj8-superhero",
    n: 8,
    temperature: 0.8,
  }]);
  assertEquals(options("agent 4"), [baseline, {
    ...none,
    out: "/tmp/r/notebooks/m-x-agent4-superhero",
    agent: true,
    maxTurns: 4,
  }]);
});

Deno.test("a run folder is named by what defines it: model, mode, dialect, dataset, databases, limit", () => {
  const folder = (cell: Parameters<typeof notebookParams>[0]) => {
    const params = notebookParams({ models: ["meta-llama/Llama-3.3-70B"], runsDir: "/r", ...cell }, {});
    return evalTargets(params).map((t) => t.out.replace("/r/notebooks/", ""));
  };
  assertEquals(folder({}), ["gpt-3.5-turbo-evidence-superhero", "meta-llama-Llama-3.3-70B-superhero"]);
  assertEquals(folder({ limit: 20 }), [
    "gpt-3.5-turbo-evidence-superhero-first20",
    "meta-llama-Llama-3.3-70B-superhero-first20",
  ]);
  // The order of DB does not make another run; four databases are counted and hashed.
  assertEquals(folder({ db: ["superhero", "formula_1"] }), folder({ db: ["formula_1", "superhero"] }));
  assertEquals(folder({ db: ["formula_1", "superhero"] })[1], "meta-llama-Llama-3.3-70B-formula_1+superhero");
  assertMatch(folder({ db: ["a", "b", "c", "d"] })[1], /^meta-llama-Llama-3\.3-70B-4dbs-[0-9a-f]{8}$/);
  // Another dialect: its own folders, and no baseline (its predictions are SQLite SQL).
  assertEquals(folder({ dialect: "postgresql", mode: "voting 8" }), [
    "meta-llama-Llama-3.3-70B-maj8-postgresql-superhero",
  ]);
  // The dialect reaches the run, and the server only from the environment.
  const pg = notebookParams({ models: ["m"], dialect: "postgresql" }, {
    TEXT2SQL_DB_URL: "postgres://u:p@h/bird",
  });
  const [target] = evalTargets(pg);
  assertEquals(
    [evalOptionsFor(pg, target).dialect, evalOptionsFor(pg, target).dbUrl],
    ["postgresql", "postgres://u:p@h/bird"],
  );
  assertEquals(evalOptionsFor(notebookParams({ models: ["m"] }, {}), target).dialect, undefined);
  // Another dataset: its folder's name; every database when DB is unset.
  assertEquals(folder({ dataset: "/d/minidev/mini_dev_sqlite.json" }), [
    "meta-llama-Llama-3.3-70B-minidev-all",
  ]);
  assertEquals(notebookParams({}, {}).dialect, "sqlite");
  assertEquals(notebookParams({}, { TEXT2SQL_DIALECT: "postgres" }).dialect, "postgresql");
});

Deno.test("a bad parameter stops the notebook in one line without a stack; the setup cell clears the stop", () => {
  clearStop();
  let error = new Error("not thrown");
  throws(() => {
    try {
      notebookParams({ dialect: "oracle" }, {});
    } catch (e) {
      error = e as Error;
      throw e;
    }
  }, NotebookParamError);
  assertEquals(stopped(), true);
  assertEquals(
    error.message,
    'DIALECT (TEXT2SQL_DIALECT) must be "sqlite", "postgresql" or "mysql", got "oracle": fix it in the Parameters cell',
  );
  // The kernel prints `stack` as the traceback: the line alone.
  assertEquals(error.stack, `Stopped: ${error.message}`);
  notebookParams({}, {});
  assertEquals(stopped(), false);
});

Deno.test("errors of the run, data and model rooms as one line naming the Parameters-cell fix", () => {
  const named = (name: string, message: string) => Object.assign(new Error(message), { name });
  assertEquals(
    explainForNotebook(
      named(
        "StartupError",
        "provider together needs an API key: set the environment variable TOGETHER_API_KEY",
      ),
    ),
    "provider together needs an API key: set TOGETHER_API_KEY in the environment Jupyter was started from and " +
      "restart the kernel, or point BASE_URL in the Parameters cell at a server that needs no key",
  );
  assertMatch(
    explainForNotebook(named("StartupError", "cannot reach http://127.0.0.1:9/v1: connection refused"))!,
    /: start that server, or set BASE_URL in the Parameters cell to one that answers$/,
  );
  assertEquals(
    explainForNotebook(
      named(
        "DatasetError",
        "/d/dev.json: missing database under /d/dev_databases: formula_1 (download them with `deno task download`, or leave them out with --db)",
      ),
    ),
    "/d/dev.json: missing database under /d/dev_databases: formula_1: run 01_download.ipynb to fetch them, or leave " +
      'them out with DB in the Parameters cell (e.g. DB = ["superhero"])',
  );
  assertMatch(
    explainForNotebook(
      named(
        "RunMismatchError",
        '/r/x holds a different run; not resuming: selection: {"limit":30} (in folder) vs {"limit":20} (now)',
      ),
    )!,
    /^\/r\/x holds a run made with other settings \(selection\): set the Parameters cell back to them, or set RUNS_DIR/,
  );
  // A bug keeps its stack: it is not a parameter to change.
  assertEquals(explainForNotebook(new TypeError("x is undefined")), null);
});
