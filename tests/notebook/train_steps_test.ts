/**
 * `05`'s steps on the recorded streams, without a kernel: the live charts (the loss chart alone for SFT, the GRPO
 * panels beside it from the first GRPO step), the metric tables' columns per stream, and which dataset a GRPO config
 * trains on. The headless run of the notebook itself is in `notebooks_test.ts`.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import {
  liveTrainingCharts,
  metricRows,
  notebookParams,
  notebookTrainPlan,
  setDisplayBackend,
  showMetricRows,
} from "../../lib/notebook/mod.ts";
import {
  type MetricLine,
  readMetrics,
  SAMPLE_GRPO_METRICS,
  SAMPLE_METRICS,
  TRAINER_DIR,
} from "../../lib/train/mod.ts";

const SFT_COLUMNS = ["step", "epoch", "loss", "lr", "grad_norm", "tokens_per_s", "gpu_mem_gb"];

interface Call {
  obj: Record<string, string>;
  options: { display_id?: string; update?: boolean };
}

/** Replays a stream through `liveTrainingCharts` with a recording display backend; returns the displays. */
async function liveDisplays(metrics: MetricLine[]): Promise<Call[]> {
  const calls: Call[] = [];
  setDisplayBackend({
    display(obj, options = {}) {
      calls.push({ obj: obj as Record<string, string>, options });
      return Promise.resolve();
    },
  });
  try {
    const charts = liveTrainingCharts({ loss: "Loss", grpo: "GRPO" }, { intervalMs: 60_000 });
    for (const m of metrics) charts.onMetric(m);
    await charts.finish();
    assert.equal(charts.metrics.length, metrics.length);
  } finally {
    setDisplayBackend(undefined);
  }
  return calls;
}

Deno.test("liveTrainingCharts: an SFT stream shows the loss chart alone, as liveLossChart does", async () => {
  const metrics = await readMetrics(SAMPLE_METRICS);
  const calls = await liveDisplays(metrics);
  const ids = new Set(calls.map((c) => c.options.display_id));
  assert.equal(ids.size, 1, "one display");
  assert.ok(calls.every((c) => c.obj["text/html"].includes('data-chart="loss-curve"')));
  assert.ok(!calls.some((c) => /grpo/i.test(c.obj["text/html"])));
  assert.equal(calls.at(-1)!.obj["text/plain"], "[chart: Loss, 40 steps]");
});

Deno.test("liveTrainingCharts: a GRPO stream adds the reward panels, updated in place; KL absent is said", async () => {
  const metrics = await readMetrics(SAMPLE_GRPO_METRICS);
  const calls = await liveDisplays(metrics);
  const grpo = calls.filter((c) => c.obj["text/html"].includes('data-chart="grpo-metrics"'));
  const loss = calls.filter((c) => c.obj["text/html"].includes('data-chart="loss-curve"'));
  assert.equal(grpo.length + loss.length, calls.length);
  // Drawn at the first line (the start line: no GRPO step yet, so no GRPO display) and at the end.
  assert.deepEqual(loss.map((c) => c.options.update), [false, true]);
  assert.deepEqual(grpo.map((c) => c.options.update), [false]);
  assert.notEqual(grpo[0].options.display_id, loss[0].options.display_id);
  assert.equal(
    grpo[0].obj["text/plain"],
    "[chart: GRPO, 4 steps: reward ± batch std, frac_reward_zero_std, kl, grad_norm]",
  );
  for (const panel of ["grpo-reward", "grpo-zero-std", "grpo-kl", "grpo-grad-norm"]) {
    assert.match(grpo[0].obj["text/html"], new RegExp(`data-chart="${panel}"[^>]*>[\\s\\S]*?<svg`), panel);
  }

  // beta 0: TRL logs no kl; the text and the KL panel say so.
  const noKl = await liveDisplays(metrics.map((m) => m.type === "train" ? { ...m, kl: null } : m));
  const last = noKl.filter((c) => c.obj["text/html"].includes("grpo-metrics")).at(-1)!;
  assert.match(last.obj["text/plain"], /kl not logged \(beta 0\), grad_norm\]$/);
  assert.match(last.obj["text/html"], /KL not logged: TRL computes and logs kl only with beta &gt; 0/);
});

Deno.test("metricRows: SFT columns unchanged; GRPO columns with the reward statistics; kl left out when unlogged", async () => {
  const sft = await readMetrics(SAMPLE_METRICS);
  const sftRows = metricRows(sft, "train", 5);
  assert.equal(sftRows.length, 5);
  for (const r of sftRows) assert.deepEqual(Object.keys(r), SFT_COLUMNS);
  assert.ok(metricRows(sft, "eval").length > 0);

  const grpo = await readMetrics(SAMPLE_GRPO_METRICS);
  const rows = metricRows(grpo, "train");
  assert.deepEqual(Object.keys(rows[0]), [
    "step",
    "epoch",
    "loss",
    "reward",
    "reward_std",
    "frac_reward_zero_std",
    "frac_correct",
    "frac_executable",
    "kl",
    "completion_length",
    "grad_norm",
    "lr",
    "gpu_mem_gb",
  ]);
  assert.deepEqual(rows.map((r) => r.frac_reward_zero_std), [0, 0, 0.5, 1]);
  assert.deepEqual(metricRows(grpo, "train", 2).map((r) => r.step), [3, 4]);
  assert.deepEqual(metricRows(grpo, "eval"), []);
  const noKl = metricRows(grpo.map((m) => m.type === "train" ? { ...m, kl: null } : m), "train");
  assert.ok(!("kl" in noKl[0]) && "frac_reward_zero_std" in noKl[0], "no empty kl column");

  // Outside a notebook: a stream without eval lines says so in one line rather than an empty table.
  const logged: string[] = [];
  const log = console.log;
  console.log = (...a: unknown[]) => logged.push(a.join(" "));
  setDisplayBackend(null);
  try {
    await showMetricRows(grpo, "eval");
  } finally {
    console.log = log;
    setDisplayBackend(undefined);
  }
  assert.deepEqual(logged, ["no eval lines in this metrics stream"]);
});

Deno.test("notebookTrainPlan: a GRPO config takes its prompt rows, not 03's SFT conversations", async () => {
  const runs = await Deno.makeTempDir({ prefix: "t2s-05-plan-" });
  try {
    const sft = join(runs, "datasets", "sft");
    await Deno.mkdir(sft, { recursive: true });
    for (const f of ["train.jsonl", "test.jsonl"]) {
      await Deno.copyFile(join(TRAINER_DIR, "fixtures", "sft_sample", f), join(sft, f));
    }
    const grpo = await notebookTrainPlan(
      notebookParams({ runsDir: runs, trainConfig: "trainer/configs/llama31_8b_grpo.json" }),
    );
    assert.equal(grpo.config.method, "grpo");
    assert.equal(grpo.datasetDir, join(TRAINER_DIR, "fixtures", "grpo_sample"));
    const qlora = await notebookTrainPlan(notebookParams({ runsDir: runs }));
    assert.equal(qlora.datasetDir, sft, "an SFT config still trains on 03's output");
  } finally {
    await Deno.remove(runs, { recursive: true });
  }
});
