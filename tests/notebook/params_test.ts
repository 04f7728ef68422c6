/** `02`'s MODE parameter: parsed from the cell or `TEXT2SQL_MODE`, shown, and passed to `runEvaluation`. */
import { deepStrictEqual as assertEquals, throws } from "node:assert/strict";
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
  const baseline = { ...none, out: "/tmp/r/notebooks/gpt-3.5-turbo-evidence" };
  assertEquals(options("single"), [baseline, { ...none, out: "/tmp/r/notebooks/m-x" }]);
  assertEquals(options("voting 8"), [baseline, {
    ...none,
    out: "/tmp/r/notebooks/m-x-maj8",
    n: 8,
    temperature: 0.8,
  }]);
  assertEquals(options("agent 4"), [baseline, {
    ...none,
    out: "/tmp/r/notebooks/m-x-agent4",
    agent: true,
    maxTurns: 4,
  }]);
});
