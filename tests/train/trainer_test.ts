/**
 * Tests of the trainer side of lib/train/ (and the train/serve commands of lib/cli/train.ts) without a GPU: config and dataset validation (and parity with the Python validator),
 * command construction for docker/podman/local/multi-GPU, the dry-run contract (no probes, token by name only),
 * preflight errors, metric streaming from a fake trainer process, and serve readiness polling against a local
 * HTTP server.
 */

import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import * as path from "node:path";
import {
  buildServeCommand,
  buildTrainCommand,
  checkRunFolder,
  DEFAULT_TRAIN_CONFIG,
  evalCommandLine,
  FINGERPRINT_FILE,
  formatCommand,
  formatMetricForConsole,
  isEvalMetric,
  isGrpoTrainMetric,
  isTrainMetric,
  loadTrainConfig,
  type MetricLine,
  OPTIMIZERS,
  parseMetricLine,
  preflight,
  type Probe,
  readAdapterConfig,
  readMetrics,
  runFingerprint,
  runTraining,
  SAMPLE_GRPO_METRICS,
  SAMPLE_METRICS,
  TRAIN_DEFAULTS,
  TRAINER_DIR,
  TrainerError,
  validateDataset,
  validateTrainConfig,
  vllmLoraRank,
  waitForServer,
} from "../../lib/train/mod.ts";
import { serveCommand, trainCommand } from "../../lib/cli/train.ts";

// Small helpers over node:assert (jsr:@std/assert is unreachable here), returning the error for further checks.
function assertStringIncludes(actual: string, expected: string): void {
  assert(actual.includes(expected), `expected to find ${JSON.stringify(expected)} in:\n${actual}`);
}

function checkError<E extends Error>(e: unknown, cls: new (...a: never[]) => E, includes?: string): E {
  assert(e instanceof cls, `expected ${cls.name}, got ${e instanceof Error ? `${e.name}: ${e.message}` : e}`);
  if (includes) assertStringIncludes(e.message, includes);
  return e;
}

function assertThrows<E extends Error>(
  fn: () => unknown,
  cls: new (...a: never[]) => E,
  includes?: string,
): E {
  try {
    fn();
  } catch (e) {
    return checkError(e, cls, includes);
  }
  throw new Error("expected a throw");
}

async function assertRejects<E extends Error>(
  fn: () => Promise<unknown>,
  cls: new (...a: never[]) => E,
  includes?: string,
): Promise<E> {
  try {
    await fn();
  } catch (e) {
    return checkError(e, cls, includes);
  }
  throw new Error("expected a rejection");
}

const SAMPLE_DATASET = path.join(TRAINER_DIR, "fixtures", "sft_sample");
const TRAINER_MODULE = new URL("../../lib/cli/train.ts", import.meta.url).href;
const DENO_JSON = new URL("../../deno.json", import.meta.url).pathname;

/** Runs `fn` with a fresh temporary folder, removed afterwards whatever `fn` does. */
async function withTempDir(fn: (tmp: string) => Promise<void> | void): Promise<void> {
  const tmp = await Deno.makeTempDir();
  try {
    await fn(tmp);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
}

/** Runs `fn` with console.log/error captured; returns its result and what it printed. */
async function captureConsole<T>(fn: () => Promise<T>): Promise<{ result: T; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const { log, error } = console;
  console.log = (...a: unknown[]) => out.push(a.join(" "));
  console.error = (...a: unknown[]) => err.push(a.join(" "));
  try {
    const result = await fn();
    return { result, out: out.join("\n"), err: err.join("\n") };
  } finally {
    console.log = log;
    console.error = error;
  }
}

/** Runs trainCommand/serveCommand in a separate Deno with a controlled environment (PATH, HF_TOKEN). */
async function runCli(
  fn: "trainCommand" | "serveCommand",
  argv: string[],
  env: Record<string, string>,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const code = `import { ${fn} } from ${JSON.stringify(TRAINER_MODULE)};\n` +
    `Deno.exit(await ${fn}(${JSON.stringify(argv)}));`;
  // The command pulls in lib/train/mod.ts, whose dataset builders import npm packages: the child reads the
  // repository's deno.json (its import map, and node_modules installed by `deno install`), and `--cached-only`
  // makes any download an error instead of a network call (the environment is cleared of CA settings and
  // proxies). DENO_DIR passes through so the child uses the same cache as this process.
  const denoDir = Deno.env.get("DENO_DIR");
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--config", DENO_JSON, "--cached-only", code],
    env: { HOME: Deno.env.get("HOME") ?? "/tmp", ...(denoDir ? { DENO_DIR: denoDir } : {}), ...env },
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** `deno task train --dry-run` (no PATH: nothing can be probed) with `config` written to `<tmp>/c.json`. */
async function dryRunWithConfig(tmp: string, config: unknown, dataset: string) {
  const file = path.join(tmp, "c.json");
  await Deno.writeTextFile(file, JSON.stringify(config));
  return await runCli("trainCommand", ["--dry-run", "--config", file, "--dataset", dataset], { PATH: "" });
}

// ------------------------------------------------------------------------------------------------ config

Deno.test("config: defaults are the original profile with the warmup fix", () => {
  const cfg = validateTrainConfig({});
  assertEquals(cfg.base_model, "meta-llama/Llama-3.1-8B-Instruct");
  assertEquals(cfg.method, "qlora");
  assertEquals(cfg.lora, { r: 256, alpha: 128, dropout: 0.05, target_modules: "all-linear" });
  const t = cfg.training;
  assertEquals([t.learning_rate, t.lr_scheduler, t.warmup_ratio], [2e-4, "constant_with_warmup", 0.03]);
  assertEquals([t.epochs, t.per_device_batch_size, t.gradient_accumulation_steps], [3, 3, 2]);
  assertEquals([t.max_grad_norm, t.max_length, t.gradient_checkpointing], [0.3, 4096, true]);
});

Deno.test("config: sections merge one level and do not mutate the defaults", () => {
  const cfg = validateTrainConfig({ training: { epochs: 1 }, lora: { r: 8 } });
  assertEquals([cfg.training.epochs, cfg.training.learning_rate, cfg.lora.r, cfg.lora.alpha], [
    1,
    2e-4,
    8,
    128,
  ]);
  assertEquals(TRAIN_DEFAULTS.training.epochs, 3);
  assertEquals(TRAIN_DEFAULTS.lora.r, 256);
});

Deno.test("config: unknown keys and bad values are all listed", () => {
  const unknown = assertThrows(
    () => validateTrainConfig({ training: { learning_rte: 1e-4 }, bogus: 1 }),
    TrainerError,
  );
  assertStringIncludes(unknown.message, "training: unknown key 'learning_rte'");
  assertStringIncludes(unknown.message, "config: unknown key 'bogus'");
  const bad = assertThrows(() =>
    validateTrainConfig({
      method: "qlora4",
      lora: { r: 0, dropout: 1.5, target_modules: [] },
      training: {
        epochs: -1,
        lr_scheduler: "constant_ish",
        per_device_batch_size: 2.5,
        eval_strategy: "steps",
        gradient_checkpointing: "yes",
      },
    }), TrainerError);
  for (
    const fragment of [
      "method:",
      "lora.r:",
      "lora.dropout:",
      "lora.target_modules:",
      "training.epochs:",
      "training.lr_scheduler:",
      "training.per_device_batch_size:",
      "training.eval_steps:",
      "training.gradient_checkpointing:",
    ]
  ) assertStringIncludes(bad.message, fragment);
  assertThrows(() => validateTrainConfig({ lora: { r: true } }), TrainerError);
  assertThrows(
    () => validateTrainConfig({ distributed: { fsdp: true }, output: { merge: true } }),
    TrainerError,
  );
  assertThrows(() => validateTrainConfig([]), TrainerError);
  assertEquals(validateTrainConfig({ lora: null, output: null }), validateTrainConfig({}));
});

Deno.test("config: distributed gets defaults and is checked", () => {
  const cfg = validateTrainConfig({ distributed: { launcher: "torchrun", num_processes: 4 } });
  assertEquals(cfg.distributed, {
    launcher: "torchrun",
    num_processes: 4,
    num_machines: 1,
    fsdp: true,
    fsdp_layer_cls: null,
  });
  const e = assertThrows(
    () => validateTrainConfig({ distributed: { launcher: "mpirun", num_processes: 0, gpus: 2 } }),
    TrainerError,
  );
  assertStringIncludes(e.message, "distributed: unknown key 'gpus'");
});

Deno.test("config: the shipped configs load, with dataset_dir resolved against the config's folder", async () => {
  const sample = await loadTrainConfig(DEFAULT_TRAIN_CONFIG);
  assertEquals(sample.dataset_dir, SAMPLE_DATASET);
  assertEquals(sample.training, TRAIN_DEFAULTS.training);
  assertEquals(sample.lora, TRAIN_DEFAULTS.lora);
  const multi = await loadTrainConfig(path.join(TRAINER_DIR, "configs", "llama33_70b_fsdp_qlora.json"));
  assert(multi.distributed && multi.distributed.fsdp && multi.distributed.num_processes > 1);
  await withTempDir(async (tmp) => {
    await Deno.writeTextFile(path.join(tmp, "bad.json"), "{nope");
    const e = await assertRejects(() => loadTrainConfig(path.join(tmp, "bad.json")), TrainerError);
    assertStringIncludes(e.message, "not valid JSON");
    await Deno.writeTextFile(path.join(tmp, "typo.json"), JSON.stringify({ trainng: {} }));
    const t = await assertRejects(() => loadTrainConfig(path.join(tmp, "typo.json")), TrainerError);
    assertStringIncludes(t.message, `${path.join(tmp, "typo.json")}: config: unknown key 'trainng'`);
  });
});

const python = await new Deno.Command("python3", { args: ["--version"], stdout: "null", stderr: "null" })
  .output().then((o) => o.success).catch(() => false);

Deno.test({
  name: "config: the TypeScript defaults equal the Python trainer's (the container validates again)",
  ignore: !python,
  fn: async () => {
    const out = await new Deno.Command("python3", {
      args: [
        "-c",
        "import json,sys; sys.path.insert(0, sys.argv[1]); from text2sql_trainer import DEFAULTS; print(json.dumps(DEFAULTS))",
        TRAINER_DIR,
      ],
      stdout: "piped",
    }).output();
    assert(out.success);
    assertEquals(JSON.parse(new TextDecoder().decode(out.stdout)), TRAIN_DEFAULTS);
  },
});

const GRPO_CONFIG = path.join(TRAINER_DIR, "configs", "llama31_8b_grpo.json");

/** A case's errors from the TypeScript validator (`ok` when valid), as `validateTrainConfig` words them. */
function tsValidation(c: unknown): string {
  try {
    validateTrainConfig(c);
    return "ok";
  } catch (e) {
    return (e as Error).message;
  }
}

/** Each case's errors from the Python validator (`ok` when valid), as `validate_config` words them. */
async function pythonValidation(cases: unknown[]): Promise<string[]> {
  const out = await new Deno.Command("python3", {
    args: [
      "-c",
      "import json,sys; sys.path.insert(0, sys.argv[1]); from text2sql_trainer import validate_config, ConfigError\n" +
      "out = []\nfor c in json.loads(sys.argv[2]):\n  try:\n    validate_config(c); out.append('ok')\n" +
      "  except ConfigError as e:\n    out.append(str(e))\nprint(json.dumps(out))",
      TRAINER_DIR,
      JSON.stringify(cases),
    ],
    stdout: "piped",
  }).output();
  assert(out.success);
  return JSON.parse(new TextDecoder().decode(out.stdout)) as string[];
}

Deno.test({
  name: "config: grpo section errors are the same in both validators",
  ignore: !python,
  fn: async () => {
    const cases: unknown[] = [
      { method: "grpo" }, // 16 generations do not divide 3 × 2 completions per step
      { method: "grpo", training: { per_device_batch_size: 4, gradient_accumulation_steps: 4 } },
      {
        grpo: {
          adapter: "full",
          num_generations: 1,
          partial_reward: 1,
          use_vllm: "yes",
          loss_type: "nope",
          vllm_gpu_memory_utilization: 0,
          temperature: 0,
          db_root: "",
        },
      },
      { method: "grpo", distributed: { fsdp: true, num_processes: 2 }, grpo: { num_generations: 2 } },
    ];
    const ts = cases.map(tsValidation);
    assertEquals(ts, await pythonValidation(cases));
    assertStringIncludes(ts[0], "grpo.num_generations: 16 must divide the completions per step");
    assertEquals(ts[1], "ok");
    assertEquals(ts[2].split("\n").length, 8, ts[2]);
    assertStringIncludes(ts[3], "grpo is not supported with distributed.fsdp");
  },
});

Deno.test({
  name: "config: several machines are checked alike in both validators (one line a problem)",
  ignore: !python,
  fn: async () => {
    const cases: unknown[] = [
      { method: "full", distributed: { num_processes: 16, num_machines: 2 } },
      { distributed: { num_processes: 16, num_machines: 3 } },
      { method: "full", distributed: { num_processes: 16, num_machines: 2, fsdp: false } },
      { method: "lora", distributed: { num_processes: 16, num_machines: 2, fsdp: false } }, // DDP of LoRA
      { distributed: { num_processes: 8, num_machines: 0 } },
      { distributed: { num_processes: 8, num_machines: 1.5 } },
      { distributed: { num_processes: 0, num_machines: 2 } },
    ];
    const ts = cases.map(tsValidation);
    assertEquals(ts, await pythonValidation(cases));
    assertEquals(ts[0], "ok");
    assertEquals(
      ts[1],
      "distributed.num_processes: 16 is not a multiple of distributed.num_machines (3): every machine runs the same number of processes, one a GPU",
    );
    assertEquals(
      ts[2],
      "distributed.fsdp: must be true for method full on several machines (without it every GPU holds the whole model, its gradients and the AdamW state)",
    );
    assertEquals(ts[3], "ok");
    assertEquals(ts[4], "distributed.num_machines: must be a positive integer");
    assertEquals(ts[5], "distributed.num_machines: must be a positive integer");
    assertEquals(ts[6], "distributed.num_processes: must be a positive integer");
  },
});

Deno.test("grpo: the shipped config's dry run mounts the databases read-only and prints the exact command", async () => {
  const cfg = await loadTrainConfig(GRPO_CONFIG);
  assertEquals([cfg.method, cfg.grpo.num_generations, cfg.grpo.temperature, cfg.grpo.beta], [
    "grpo",
    16,
    0.8,
    0.001,
  ]);
  assertEquals(cfg.grpo.db_root, path.resolve(TRAINER_DIR, "..", "data", "sample", "dev_databases"));
  const r = await runCli("trainCommand", ["--dry-run", "--config", GRPO_CONFIG], { PATH: "" });
  assertEquals(r.code, 0, r.stderr);
  assertStringIncludes(r.stdout, "(valid; grpo, base meta-llama/Llama-3.1-8B-Instruct)");
  assertStringIncludes(r.stdout, `-v ${cfg.grpo.db_root}:/dbs:ro -e TEXT2SQL_DB_ROOT=/dbs`);
  assertStringIncludes(
    r.stdout,
    "python /app/train.py --config /config/train.json --data /data --output /out",
  );
  const local = buildTrainCommand(cfg, { runtime: "local", configPath: GRPO_CONFIG, outDir: "/tmp/x" });
  assertEquals(local.env.TEXT2SQL_DB_ROOT, cfg.grpo.db_root);
});

Deno.test("grpo: prompt rows are validated (user turn last, gold SQL, db_path inside the root)", async () => {
  const sample = await validateDataset(path.join(TRAINER_DIR, "fixtures", "grpo_sample"), { grpo: true });
  assert(sample.train > 0);
  await withTempDir(async (tmp) => {
    const row = (extra: Record<string, unknown>) =>
      JSON.stringify({
        messages: [{ role: "user", content: "q" }],
        db_id: "hero",
        gold_sql: "SELECT 1",
        db_path: "hero/hero.sqlite",
        ...extra,
      });
    const answered = row({ messages: [{ role: "user", content: "q" }, { role: "assistant", content: "x" }] });
    const lines = [
      row({}),
      answered,
      row({ gold_sql: "" }),
      row({ db_path: "../etc/x.sqlite" }),
      row({ db_path: "/abs" }),
    ];
    await Deno.writeTextFile(path.join(tmp, "train.jsonl"), lines.join("\n"));
    const e = await assertRejects(
      () => validateDataset(tmp, { grpo: true, requireTest: false }),
      TrainerError,
    );
    assertStringIncludes(e.message, "train.jsonl:2: a GRPO prompt must end with the user turn");
    assertStringIncludes(e.message, 'train.jsonl:3: missing "gold_sql"');
    assertStringIncludes(e.message, "train.jsonl:4: db_path");
    assertStringIncludes(e.message, "train.jsonl:5: db_path");
    assert(!e.message.includes("train.jsonl:1:"), e.message);
  });
});

// ------------------------------------------------------------------------------------------------ dataset

Deno.test("dataset: the sample validates; broken lines are reported as file:line", async () => {
  const sample = await validateDataset(SAMPLE_DATASET);
  assertEquals([sample.train, sample.test, sample.warnings], [6, 3, []]);
  await withTempDir(async (tmp) => {
    const good = JSON.stringify({
      messages: [{ role: "user", content: "q" }, { role: "assistant", content: "SELECT 1" }],
    });
    const noAnswer = JSON.stringify({ messages: [{ role: "user", content: "q" }] });
    await Deno.writeTextFile(path.join(tmp, "train.jsonl"), [good, "", "{oops", noAnswer].join("\n"));
    const e = await assertRejects(() => validateDataset(tmp), TrainerError);
    assertStringIncludes(e.message, "train.jsonl:3: not valid JSON");
    assertStringIncludes(e.message, "train.jsonl:4: the last message must be the assistant answer");
    assertStringIncludes(e.message, "test.jsonl: missing");
    await Deno.writeTextFile(path.join(tmp, "train.jsonl"), good);
    await Deno.writeTextFile(path.join(tmp, "test.jsonl"), "\n");
    const empty = await assertRejects(() => validateDataset(tmp), TrainerError);
    assertStringIncludes(empty.message, "test.jsonl: no examples");
    await assertRejects(
      () => validateDataset(path.join(tmp, "missing")),
      TrainerError,
      "dataset folder not found",
    );
  });
});

// ------------------------------------------------------------------------------------------------ commands

const opts = {
  configPath: DEFAULT_TRAIN_CONFIG,
  datasetDir: SAMPLE_DATASET,
  outDir: "/runs/train/x",
  hfCache: "/cache/hf",
  user: "1000:1000",
};

Deno.test("command: docker run with GPU, mounts, token by name and the train.py call", () => {
  const cfg = validateTrainConfig({ dataset_dir: SAMPLE_DATASET });
  const plan = buildTrainCommand(cfg, { ...opts, runtime: "docker" });
  const cmd = formatCommand(plan.command);
  assert(cmd.startsWith("docker run --rm --gpus all --shm-size 16g"), cmd);
  for (
    const part of [
      "--user 1000:1000",
      "-e HF_TOKEN ",
      `-v ${TRAINER_DIR}:/app:ro`,
      `-v ${DEFAULT_TRAIN_CONFIG}:/config/train.json:ro`,
      `-v ${SAMPLE_DATASET}:/data:ro`,
      "-v /runs/train/x:/out",
      "-v /cache/hf:/hf",
      "text2sql-trainer:latest python /app/train.py --config /config/train.json --data /data --output /out",
    ]
  ) assertStringIncludes(cmd, part);
  assertEquals(plan.build, ["docker", "build", "-t", "text2sql-trainer:latest", TRAINER_DIR]);
  assert(!cmd.includes("HF_TOKEN="), "the token is passed by name only");
});

Deno.test("command: podman uses CDI for the GPU and no --user", () => {
  const plan = buildTrainCommand(validateTrainConfig({}), { ...opts, runtime: "podman" });
  const cmd = formatCommand(plan.command);
  assert(cmd.startsWith("podman run --rm --device nvidia.com/gpu=all --security-opt label=disable"), cmd);
  assert(!cmd.includes("--gpus"));
  assert(!cmd.includes("--user"));
  assertStringIncludes(cmd, "-e HF_TOKEN ");
  assertEquals(plan.build?.[0], "podman");
});

Deno.test("command: local runs the trainer's python with absolute paths", () => {
  const plan = buildTrainCommand(validateTrainConfig({}), {
    ...opts,
    runtime: "local",
    python: "/venv/bin/python",
  });
  assertEquals(plan.command, [
    "/venv/bin/python",
    path.join(TRAINER_DIR, "train.py"),
    "--config",
    DEFAULT_TRAIN_CONFIG,
    "--data",
    SAMPLE_DATASET,
    "--output",
    "/runs/train/x",
  ]);
  assertEquals(plan.build, null);
  assertEquals(plan.env.TENSORBOARD_LOGGING_DIR, "/runs/train/x/tensorboard");
  assert(!("HF_TOKEN" in plan.env), "the child inherits the token; the plan never holds it");
});

Deno.test("command: multi-GPU configs launch the same script under accelerate or torchrun", async () => {
  const multi = await loadTrainConfig(path.join(TRAINER_DIR, "configs", "llama33_70b_fsdp_qlora.json"));
  const docker = formatCommand(buildTrainCommand(multi, { ...opts, runtime: "docker" }).command);
  assertStringIncludes(
    docker,
    "text2sql-trainer:latest accelerate launch --multi_gpu --num_processes=8 /app/train.py --config",
  );
  assertStringIncludes(docker, "--shm-size 64g");
  const torchrun = validateTrainConfig({ distributed: { launcher: "torchrun", num_processes: 4 } });
  const local = buildTrainCommand(torchrun, { ...opts, runtime: "local" }).command;
  assertEquals(local.slice(0, 4), [
    "torchrun",
    "--standalone",
    "--nproc_per_node=4",
    path.join(TRAINER_DIR, "train.py"),
  ]);
  const one = validateTrainConfig({ distributed: { num_processes: 1 } });
  assertEquals(buildTrainCommand(one, { ...opts, runtime: "local" }).command[0], "python3");
});

Deno.test("command: one machine of several gets its rank and machine 0's address, the host network and RDMA", () => {
  const cfg = validateTrainConfig({ method: "full", distributed: { num_processes: 16, num_machines: 2 } });
  const machine = { rank: 1, count: 2, mainProcessIp: "10.0.0.1", mainProcessPort: 29501 };
  const docker = buildTrainCommand(cfg, { ...opts, runtime: "docker", machine, infiniband: true });
  const cmd = formatCommand(docker.command);
  assert(
    cmd.startsWith("docker run --rm --gpus all --network host --device /dev/infiniband --shm-size"),
    cmd,
  );
  assertStringIncludes(cmd, "-e NCCL_SOCKET_IFNAME -e GLOO_SOCKET_IFNAME -e NCCL_IB_HCA -e NCCL_DEBUG ");
  assertStringIncludes(
    cmd,
    "text2sql-trainer:latest accelerate launch --multi_gpu --num_machines=2 --num_processes=16 --machine_rank=1 " +
      "--main_process_ip=10.0.0.1 --main_process_port=29501 /app/train.py --config /config/train.json",
  );
  assertEquals(docker.machine, machine);
  // Without RDMA devices on the host, none are asked for (docker would refuse a missing device).
  const tcp = formatCommand(
    buildTrainCommand(cfg, { ...opts, runtime: "podman", machine, infiniband: false }).command,
  );
  assert(
    tcp.startsWith(
      "podman run --rm --device nvidia.com/gpu=all --security-opt label=disable --network host --shm-size",
    ),
    tcp,
  );
  const torchrun = validateTrainConfig({
    distributed: { launcher: "torchrun", num_processes: 16, num_machines: 2 },
  });
  assertEquals(buildTrainCommand(torchrun, { ...opts, runtime: "local", machine }).command.slice(0, 7), [
    "torchrun",
    "--nnodes=2",
    "--nproc_per_node=8",
    "--node_rank=1",
    "--master_addr=10.0.0.1",
    "--master_port=29501",
    path.join(TRAINER_DIR, "train.py"),
  ]);
  // One machine's settings must fit the config: required over several machines, refused for one.
  assertThrows(
    () => buildTrainCommand(cfg, { ...opts, runtime: "docker" }),
    TrainerError,
    "distributed.num_machines is 2: each machine's command needs its rank and machine 0's address",
  );
  assertThrows(
    () => buildTrainCommand(cfg, { ...opts, runtime: "docker", machine: { ...machine, rank: 2 } }),
    TrainerError,
    "--machine-rank: must be an integer from 0 to 1",
  );
  assertThrows(
    () => buildTrainCommand(validateTrainConfig({}), { ...opts, runtime: "docker", machine }),
    TrainerError,
    "are for a config with distributed.num_machines above 1",
  );
  // One machine: no host network, no NCCL settings (the single-node command is unchanged).
  const single = formatCommand(
    buildTrainCommand(validateTrainConfig({ distributed: {} }), { ...opts, runtime: "docker" }).command,
  );
  assert(!single.includes("--network") && !single.includes("NCCL"), single);
});

Deno.test("command: a local base-model folder is mounted and named to train.py", async () => {
  await withTempDir((tmp) => {
    const plan = buildTrainCommand(validateTrainConfig({ base_model: tmp }), { ...opts, runtime: "docker" });
    const cmd = formatCommand(plan.command);
    assertStringIncludes(cmd, `-v ${tmp}:/base:ro -e TEXT2SQL_BASE_MODEL=/base`);
    // train.py records the host folder (not /base) in the adapter, so serve finds the base afterwards.
    assertStringIncludes(cmd, `-e TEXT2SQL_BASE_MODEL_SOURCE=${tmp} `);
  });
});

Deno.test("command: formatCommand quotes for a POSIX shell", () => {
  assertEquals(formatCommand(["a", "b c", "it's", "x=1", "--f=/p/q"]), `a 'b c' 'it'"'"'s' x=1 --f=/p/q`);
});

Deno.test("dry run: prints the docker command with -e HF_TOKEN, never the value, and probes nothing", async () => {
  const secret = "hf_SECRETvalue123456789";
  // An empty PATH: a probe for docker, podman or nvidia-smi would fail, so success proves none was made.
  const r = await runCli("trainCommand", ["--dry-run"], { HF_TOKEN: secret, PATH: "" });
  assertEquals(r.code, 0, r.stderr);
  assertStringIncludes(r.stdout, "docker run --rm --gpus all");
  assertStringIncludes(r.stdout, " -e HF_TOKEN ");
  assertStringIncludes(
    r.stdout,
    "python /app/train.py --config /config/train.json --data /data --output /out",
  );
  assertStringIncludes(r.stdout, "train 6, test 3 examples");
  assert(!(r.stdout + r.stderr).includes(secret), "the token value leaked");
  const p = await runCli("trainCommand", ["--dry-run", "--runtime", "podman"], {
    HF_TOKEN: secret,
    PATH: "",
  });
  assertEquals(p.code, 0, p.stderr);
  assertStringIncludes(p.stdout, "podman run --rm --device nvidia.com/gpu=all");
  assert(!(p.stdout + p.stderr).includes(secret));
});

Deno.test("dry run: an invalid config or dataset fails with exit 2 before anything else", async () => {
  await withTempDir(async (tmp) => {
    await Deno.writeTextFile(path.join(tmp, "c.json"), JSON.stringify({ lora: { r: -1 } }));
    const { result, err } = await captureConsole(() =>
      trainCommand(["--dry-run", "--config", path.join(tmp, "c.json")])
    );
    assertEquals(result, 2);
    assertStringIncludes(err, "lora.r: must be a positive integer");
    await Deno.writeTextFile(path.join(tmp, "d.json"), JSON.stringify({ dataset_dir: "nowhere" }));
    const d = await captureConsole(() => trainCommand(["--dry-run", "--config", path.join(tmp, "d.json")]));
    assertEquals(d.result, 2);
    assertStringIncludes(d.err, "dataset folder not found");
  });
});

Deno.test("real run: no engine is a one-line error (exit 1)", async () => {
  const r = await runCli("trainCommand", [], { PATH: "", HF_TOKEN: "x" });
  assertEquals(r.code, 1);
  assertEquals(r.stderr.trim().split("\n").length, 1, r.stderr);
  assertStringIncludes(r.stderr, "no container engine");
});

Deno.test("preflight: missing engine, GPU, enough GPUs and token each give a clear error", async () => {
  const cfg = validateTrainConfig({});
  const probe = (have: string[], gpus = 1): Probe => (cmd) =>
    Promise.resolve({
      ok: have.includes(cmd),
      stdout: cmd === "nvidia-smi"
        ? Array.from({ length: gpus }, (_, i) => `GPU ${i}: NVIDIA H100`).join("\n")
        : "",
    });
  const env = (token?: string) => (name: string) => name === "HF_TOKEN" ? token : undefined;
  await assertRejects(
    () => preflight(cfg, "docker", { probe: probe([]), env: env("t") }),
    TrainerError,
    "docker not found",
  );
  await assertRejects(
    () => preflight(cfg, "podman", { probe: probe(["podman"]), env: env("t") }),
    TrainerError,
    "no NVIDIA GPU",
  );
  await assertRejects(
    () => preflight(cfg, "docker", { probe: probe(["docker", "nvidia-smi"], 0), env: env("t") }),
    TrainerError,
    "no NVIDIA GPU",
  );
  await assertRejects(
    () => preflight(cfg, "docker", { probe: probe(["docker", "nvidia-smi"]), env: env(undefined) }),
    TrainerError,
    "HF_TOKEN is not set",
  );
  const multi = validateTrainConfig({ distributed: { num_processes: 8 } });
  await assertRejects(
    () => preflight(multi, "local", { probe: probe(["nvidia-smi", "python3"], 2), env: env("t") }),
    TrainerError,
    "distributed.num_processes is 8 but nvidia-smi lists 2 GPU(s)",
  );
  // Over several machines each needs GPUs for its share of the processes only.
  const machines = validateTrainConfig({ distributed: { num_processes: 16, num_machines: 2 } });
  await preflight(machines, "local", { probe: probe(["nvidia-smi", "python3"], 8), env: env("t") });
  await assertRejects(
    () => preflight(machines, "local", { probe: probe(["nvidia-smi", "python3"], 4), env: env("t") }),
    TrainerError,
    "distributed.num_processes is 16 over 2 machines (8 on each) but nvidia-smi lists 4 GPU(s)",
  );
  await assertRejects(
    () =>
      preflight(cfg, "local", { probe: probe(["nvidia-smi"]), env: env("t"), python: "/venv/bin/python" }),
    TrainerError,
    "/venv/bin/python cannot import torch, transformers and peft",
  );
  await preflight(cfg, "local", { probe: probe(["nvidia-smi", "python3"]), env: env("t") });
  const e = await assertRejects(
    () => preflight(cfg, "docker", { probe: probe([]), env: env("t") }),
    TrainerError,
  );
  assertEquals(e.exitCode, 1);
  assertEquals(e.message.split("\n").length, 1);
});

// ------------------------------------------------------------------------------------------------ metrics

const FAKE_TRAINER = `
const enc = new TextEncoder();
const out = (s) => Deno.stdout.writeSync(enc.encode(s));
out('{"type":"start","train_examples":6,"eval_examples":3}\\n');
out("Loading checkpoint shards: 100%\\n");
out("{'loss': 9.9}\\n");
out('{"type":"train","step":1,"epoch":0.1,"loss":2.5,"lr":0.0002,"grad_norm":1.2,"tokens_per_s":3000.5,"gpu_mem_gb":24.1}\\n');
// One metric line split across two writes: the reader must join it.
out('{"type":"train","step":2,"epoch":0.2,"loss":2.1,"lr":0.0002,');
await new Promise((r) => setTimeout(r, 30));
out('"grad_norm":0.9,"tokens_per_s":3100,"gpu_mem_gb":24.3}\\n');
Deno.stderr.writeSync(enc.encode("a warning on stderr\\n"));
out('{"type":"eval","step":2,"epoch":0.2,"eval_loss":2.2}\\n');
out('{"type":"end","train_loss":2.3}');
Deno.exit(Number(Deno.args[0] ?? 0));
`;

Deno.test("runTraining: streams metric lines to metrics.jsonl and onMetric, tolerates log lines", async () => {
  await withTempDir(async (tmp) => {
    const script = path.join(tmp, "fake_trainer.js");
    await Deno.writeTextFile(script, FAKE_TRAINER);
    const outDir = path.join(tmp, "run");
    const plan = buildTrainCommand(validateTrainConfig({}), { ...opts, outDir, runtime: "local" });
    plan.command = [Deno.execPath(), "run", "--no-config", "--cached-only", "--quiet", script];
    const seen: MetricLine[] = [];
    const logs: string[] = [];
    const result = await runTraining(plan, {
      onMetric: (m) => seen.push(m),
      onLog: (l, s) => logs.push(`${s}:${l}`),
    });
    assertEquals(result.code, 0);
    assertEquals(seen.map((m) => m.type), ["start", "train", "train", "eval", "end"]);
    const trains = seen.filter(isTrainMetric);
    assertEquals(trains.map((m) => [m.step, m.loss, m.grad_norm]), [[1, 2.5, 1.2], [2, 2.1, 0.9]]);
    assertEquals(seen.filter(isEvalMetric)[0].eval_loss, 2.2);
    assert(logs.includes("stdout:Loading checkpoint shards: 100%"), logs.join("|"));
    assert(logs.includes("stdout:{'loss': 9.9}"));
    assert(logs.includes("stderr:a warning on stderr"));
    assertEquals(await readMetrics(result.metricsPath), seen);
    assertStringIncludes(await Deno.readTextFile(result.logPath), "a warning on stderr");

    // A resumed run appends to the same metrics file; a failing trainer's exit code comes back.
    plan.command = [Deno.execPath(), "run", "--no-config", "--cached-only", "--quiet", script, "3"];
    const again = await runTraining(plan, { onLog: () => {} });
    assertEquals(again.code, 3);
    assertEquals((await readMetrics(result.metricsPath)).length, 10);

    // Machine 1 of a run over several writes its own files into the shared run folder.
    plan.command = [Deno.execPath(), "run", "--no-config", "--cached-only", "--quiet", script];
    plan.machine = { rank: 1, count: 2, mainProcessIp: "10.0.0.1", mainProcessPort: 29500 };
    const other = await runTraining(plan, { onLog: () => {} });
    assertEquals([path.basename(other.metricsPath), path.basename(other.logPath)], [
      "metrics.machine1.jsonl",
      "train.machine1.log",
    ]);
    assertEquals((await readMetrics(result.metricsPath)).length, 10);
  });
});

/** The invented stream in the real line format (with a log line to skip); the Python tests read it too. */
const LINE_FORMAT_SAMPLE = path.join(TRAINER_DIR, "fixtures", "metrics_sample.jsonl");

Deno.test("readMetrics: the line-format fixture parses, log line skipped", async () => {
  const metrics = await readMetrics(LINE_FORMAT_SAMPLE);
  const raw = (await Deno.readTextFile(LINE_FORMAT_SAMPLE)).trim().split("\n");
  assertEquals(metrics.length, raw.length - 1);
  const train = metrics.filter(isTrainMetric);
  const evals = metrics.filter(isEvalMetric);
  assert(train.length > 100);
  assertEquals(evals.length, 3);
  for (const m of train) {
    for (const k of ["step", "epoch", "loss", "lr", "grad_norm", "tokens_per_s", "gpu_mem_gb"]) {
      assert(typeof m[k] === "number", `${k} in ${JSON.stringify(m)}`);
    }
  }
  assertEquals(parseMetricLine("not json"), null);
  assertEquals(parseMetricLine('{"no_type":1}'), null);
  assertEquals(parseMetricLine('{"type":"train","step":1'), null);
});

Deno.test("readMetrics: SAMPLE_METRICS is the real CPU run notebook 05 charts", async () => {
  assertEquals(path.basename(SAMPLE_METRICS), "metrics_cpu_tiny.jsonl");
  const metrics = await readMetrics(SAMPLE_METRICS);
  const raw = (await Deno.readTextFile(SAMPLE_METRICS)).trim().split("\n");
  assertEquals(metrics.length, raw.length);
  const train = metrics.filter(isTrainMetric);
  assertEquals(train.map((m) => m.step), Array.from({ length: 40 }, (_, i) => i + 1));
  assert(train.every((m) => typeof m.loss === "number" && m.gpu_mem_gb === null), "a CPU run: no GPU memory");
  assert(metrics.filter(isEvalMetric).length > 0);
  assertEquals(metrics[0].type, "start");
});

Deno.test("readMetrics: the recorded GRPO run parses into GRPO train lines; the console line shows reward, zero-std, kl", async () => {
  const metrics = await readMetrics(SAMPLE_GRPO_METRICS);
  const raw = (await Deno.readTextFile(SAMPLE_GRPO_METRICS)).trim().split("\n");
  assertEquals(metrics.length, raw.length);
  assertEquals(metrics[0].type, "start");
  assertEquals(metrics[0].method, "grpo");
  const grpo = metrics.filter(isGrpoTrainMetric);
  assertEquals(grpo.length, metrics.filter(isTrainMetric).length);
  assertEquals(grpo.map((m) => m.step), [1, 2, 3, 4]);
  // The fixture's numbers as trainer/README.md quotes them: the policy learns, groups run out of signal, KL grows.
  assertEquals(grpo.map((m) => m.frac_reward_zero_std), [0, 0, 0.5, 1]);
  assertEquals(grpo.map((m) => Number(m.reward!.toFixed(2))), [0.55, 0.76, 0.89, 1]);
  assert(grpo.every((m, i) => i === 0 || m.kl! > grpo[i - 1].kl!), "KL grows after the first update");
  assertEquals(grpo[0].kl, 0);
  for (const m of grpo) {
    for (
      const k of ["reward", "reward_std", "frac_correct", "frac_executable", "grad_norm", "completion_length"]
    ) {
      assert(typeof m[k] === "number", `${k} in ${JSON.stringify(m)}`);
    }
  }
  // An SFT line is no GRPO line, nor are eval or summary lines.
  assert(!(await readMetrics(SAMPLE_METRICS)).some(isGrpoTrainMetric));
  assert(!metrics.filter((m) => m.type !== "train").some(isGrpoTrainMetric));

  assertEquals(
    formatMetricForConsole(grpo[2]),
    "step 3  epoch 0.60  loss 0.0003  reward 0.887 ± 0.318  zero-std groups 50%  kl 0.00471  grad 0.263",
  );
  // beta 0: TRL logs no kl, and the line says so rather than printing null.
  assertStringIncludes(
    formatMetricForConsole({ ...grpo[3], kl: null }),
    "zero-std groups 100%  kl not logged  grad",
  );
  // SFT lines are printed as before.
  const sft = (await readMetrics(SAMPLE_METRICS)).filter(isTrainMetric)[0];
  assertEquals(
    formatMetricForConsole(sft),
    "step 1  epoch 0.50  loss 5.0076  lr 0.000000  338 tok/s  null GiB",
  );
});

// ------------------------------------------------------------------------------------------------ serve

Deno.test("serve: LoRA rank rounds up to a rank vLLM accepts", () => {
  assertEquals([1, 8, 9, 16, 200, 256, 300, 320, 512].map(vllmLoraRank), [
    8,
    8,
    16,
    16,
    256,
    256,
    320,
    320,
    512,
  ]);
  assertThrows(() => vllmLoraRank(513), TrainerError);
  assertThrows(() => vllmLoraRank(0), TrainerError);
});

async function writeAdapter(dir: string, r: number, base = "meta-llama/Llama-3.1-8B-Instruct") {
  await Deno.writeTextFile(
    path.join(dir, "adapter_config.json"),
    JSON.stringify({ r, lora_alpha: 128, base_model_name_or_path: base, peft_type: "LORA" }),
  );
}

Deno.test("serve: adapter config gives rank and base model", async () => {
  await withTempDir(async (tmp) => {
    await writeAdapter(tmp, 256);
    assertEquals(await readAdapterConfig(tmp), {
      r: 256,
      maxRank: 256,
      baseModel: "meta-llama/Llama-3.1-8B-Instruct",
    });
    await Deno.writeTextFile(path.join(tmp, "adapter_config.json"), JSON.stringify({ r: "big" }));
    await assertRejects(() => readAdapterConfig(tmp), TrainerError, "no positive integer");
    await assertRejects(() => readAdapterConfig(path.join(tmp, "nope")), TrainerError);
  });
});

Deno.test("serve: vllm command in docker and locally", () => {
  const base = {
    adapterDir: "/runs/x/adapter",
    baseModel: "meta-llama/Llama-3.1-8B-Instruct",
    name: "t2s",
    rank: 256,
    port: 8011,
    maxModelLen: 8192,
    hfCache: "/cache/hf",
  };
  const docker = buildServeCommand({ ...base, runtime: "docker" });
  const cmd = formatCommand(docker.command);
  for (
    const part of [
      "docker run --rm --gpus all",
      "-p 127.0.0.1:8011:8000",
      "-e HF_TOKEN ",
      "-v /runs/x/adapter:/adapter:ro",
      "-v /cache/hf:/root/.cache/huggingface",
      "--entrypoint vllm vllm/vllm-openai:",
      " serve meta-llama/Llama-3.1-8B-Instruct --host 0.0.0.0 --port 8000 --enable-lora --lora-modules t2s=/adapter",
      "--max-lora-rank 256 --max-model-len 8192",
    ]
  ) assertStringIncludes(cmd, part);
  assertEquals(docker.baseUrl, "http://127.0.0.1:8011/v1");
  const local = buildServeCommand({ ...base, runtime: "local", rank: 200 });
  assertEquals(local.command, [
    "vllm",
    "serve",
    "meta-llama/Llama-3.1-8B-Instruct",
    "--host",
    "127.0.0.1",
    "--port",
    "8011",
    "--enable-lora",
    "--lora-modules",
    "t2s=/runs/x/adapter",
    "--max-lora-rank",
    "256",
    "--max-model-len",
    "8192",
  ]);
  assertEquals(
    evalCommandLine(local.baseUrl, "t2s"),
    "deno task eval --base-url http://127.0.0.1:8011/v1 --model t2s --dataset data/sample/dev.json",
  );
});

Deno.test("serve: dry run prints the command and the eval line, probing nothing", async () => {
  await withTempDir(async (tmp) => {
    await writeAdapter(tmp, 256);
    const r = await runCli(
      "serveCommand",
      ["--adapter", tmp, "--name", "ft", "--port", "8123", "--dry-run"],
      {
        PATH: "",
        HF_TOKEN: "hf_SECRETvalue",
      },
    );
    assertEquals(r.code, 0, r.stderr);
    assertStringIncludes(r.stdout, "--max-lora-rank 256");
    assertStringIncludes(r.stdout, `--lora-modules ft=/adapter`);
    assertStringIncludes(r.stdout, "deno task eval --base-url http://127.0.0.1:8123/v1 --model ft --dataset");
    assert(!(r.stdout + r.stderr).includes("hf_SECRETvalue"));
    const bad = await runCli("serveCommand", ["--port", "0"], { PATH: "" });
    assertEquals(bad.code, 2);
    assertStringIncludes(bad.stderr, "--adapter DIR is required");
  });
});

Deno.test("serve: waitForServer polls /v1/models until the adapter is listed", async () => {
  let calls = 0;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req) => {
    calls++;
    if (new URL(req.url).pathname !== "/v1/models") return new Response("not found", { status: 404 });
    if (calls <= 2) return new Response("loading", { status: 503 });
    const data = calls <= 3 ? [{ id: "base" }] : [{ id: "base" }, { id: "ft" }];
    return Response.json({ object: "list", data });
  });
  try {
    const url = `http://127.0.0.1:${server.addr.port}/v1`;
    const ids = await waitForServer(url, { model: "ft", intervalMs: 20, timeoutMs: 5000 });
    assertEquals(ids, ["base", "ft"]);
    assertEquals(calls, 4);
    const e = await assertRejects(
      () => waitForServer(url, { model: "other", intervalMs: 20, timeoutMs: 200 }),
      TrainerError,
    );
    assertStringIncludes(e.message, "not ready");
    assertStringIncludes(e.message, "without other");
    await assertRejects(
      () => waitForServer(url, { intervalMs: 20, timeoutMs: 5000, isAlive: () => false }),
      TrainerError,
      "exited before it answered",
    );
  } finally {
    await server.shutdown();
  }
});

Deno.test("serve: waitForServer times out when nothing listens", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close(); // a port that was just free: connections are refused
  const t0 = Date.now();
  await assertRejects(
    () => waitForServer(`http://127.0.0.1:${port}/v1`, { intervalMs: 20, timeoutMs: 300 }),
    TrainerError,
    "not ready after",
  );
  assert(Date.now() - t0 < 3000);
});

// A stand-in for `vllm`: answers --version, then serves /v1/models (503 while "loading") and exits on its own.
const FAKE_VLLM = `
const args = Deno.args;
if (args[0] === "--version") { console.log("0.0.0-fake"); Deno.exit(0); }
const port = Number(args[args.indexOf("--port") + 1]);
const [name] = args[args.indexOf("--lora-modules") + 1].split("=");
const rank = args[args.indexOf("--max-lora-rank") + 1];
const t0 = Date.now();
Deno.serve({ hostname: "127.0.0.1", port, onListen: () => {} }, () =>
  Date.now() - t0 < 300
    ? new Response("loading", { status: 503 })
    : Response.json({ data: [{ id: args[1] }, { id: name, rank }] }));
setTimeout(() => Deno.exit(0), 2500);
`;

Deno.test("serveCommand: starts the server, waits until the adapter is listed, prints the eval line", async () => {
  await withTempDir(async (tmp) => {
    const adapter = path.join(tmp, "adapter");
    await Deno.mkdir(adapter);
    await writeAdapter(adapter, 200);
    const bin = path.join(tmp, "bin");
    await Deno.mkdir(bin);
    await Deno.writeTextFile(path.join(tmp, "fake_vllm.ts"), FAKE_VLLM);
    await Deno.writeTextFile(
      path.join(bin, "vllm"),
      `#!/bin/sh\nexec ${JSON.stringify(Deno.execPath())} run -A --no-config --cached-only --quiet ${
        JSON.stringify(path.join(tmp, "fake_vllm.ts"))
      } "$@"\n`,
    );
    await Deno.chmod(path.join(bin, "vllm"), 0o755);
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (listener.addr as Deno.NetAddr).port;
    listener.close();
    const r = await runCli(
      "serveCommand",
      ["--adapter", adapter, "--runtime", "local", "--name", "ft", "--port", String(port), "--timeout", "20"],
      { PATH: bin },
    );
    assertEquals(r.code, 0, r.stderr);
    assertStringIncludes(
      r.stderr,
      `vllm serve meta-llama/Llama-3.1-8B-Instruct --host 127.0.0.1 --port ${port}`,
    );
    assertStringIncludes(r.stderr, "--max-lora-rank 256");
    assertStringIncludes(r.stdout, `serving ft at http://127.0.0.1:${port}/v1`);
    assertStringIncludes(
      r.stdout,
      `deno task eval --base-url http://127.0.0.1:${port}/v1 --model ft --dataset`,
    );
  });
});

Deno.test("serveCommand: a missing adapter config is a clear error", async () => {
  const { result, err } = await captureConsole(() =>
    serveCommand(["--adapter", "/nonexistent/adapter", "--dry-run"])
  );
  assertEquals(result, 2);
  assertStringIncludes(err, "cannot read adapter config");
});

// ------------------------------------------------------------------------------------------------ review fixes

const GOOD_LINE = JSON.stringify({
  messages: [{ role: "user", content: "q" }, { role: "assistant", content: "SELECT 1" }],
});

/** A dataset folder with the given train/test lines (null: no test.jsonl). */
async function writeDataset(dir: string, train: string[], test: string[] | null): Promise<void> {
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(path.join(dir, "train.jsonl"), train.join("\n") + "\n");
  if (test !== null) await Deno.writeTextFile(path.join(dir, "test.jsonl"), test.join("\n"));
}

Deno.test("config: training.optim must be a transformers optimizer name", () => {
  for (
    const name of ["adamw_torch_fused", "adamw_torch", "paged_adamw_8bit", "adafactor", "sgd"]
  ) {
    assertEquals(validateTrainConfig({ training: { optim: name } }).training.optim, name);
  }
  // Typos, and names transformers 5 no longer has (they would pass the dry run and fail on the GPU).
  for (const typo of ["adamw_torch_fussed", "adam", "", "adamw_hf", "adamw_apex_fused"]) {
    assertThrows(() => validateTrainConfig({ training: { optim: typo } }), TrainerError, "training.optim:");
  }
});

Deno.test({
  name: "config: the optimizer names equal the Python trainer's",
  ignore: !python,
  fn: async () => {
    const out = await new Deno.Command("python3", {
      args: [
        "-c",
        "import json,sys; sys.path.insert(0, sys.argv[1]); from text2sql_trainer import OPTIMIZERS; print(json.dumps(OPTIMIZERS))",
        TRAINER_DIR,
      ],
      stdout: "piped",
    }).output();
    assert(out.success);
    assertEquals(JSON.parse(new TextDecoder().decode(out.stdout)), [...OPTIMIZERS]);
  },
});

Deno.test("dataset: max_length below every example is refused, over 10% dropped warns (estimated)", async () => {
  await withTempDir(async (tmp) => {
    const long = JSON.stringify({
      messages: [{ role: "user", content: "x".repeat(700) }, { role: "assistant", content: "SELECT 1" }],
    });
    await writeDataset(tmp, [long, long], [GOOD_LINE]);
    const e = await assertRejects(() => validateDataset(tmp, { maxLength: 64 }), TrainerError);
    assertStringIncludes(e.message, "training.max_length 64 is below every training example");
    assertEquals(e.message.split("\n").length, 1);
    await writeDataset(tmp, [long, GOOD_LINE, GOOD_LINE], [GOOD_LINE]);
    const r = await validateDataset(tmp, { maxLength: 64 });
    assertEquals(r.tooLong, { train: 1, test: 0 });
    assertEquals(r.warnings.length, 1);
    assertStringIncludes(
      r.warnings[0],
      "1 of 3 train examples are estimated longer than training.max_length 64",
    );
    assertEquals((await validateDataset(tmp, { maxLength: 4096 })).warnings, []);

    // Through the CLI: a dry run with a tiny max_length fails before printing a command.
    await writeDataset(tmp, [long], [GOOD_LINE]);
    const cli = await dryRunWithConfig(tmp, { training: { max_length: 32 } }, tmp);
    assertEquals(cli.code, 2, cli.stderr);
    assertStringIncludes(cli.stderr, "below every training example");
  });
});

Deno.test("dataset: an empty or missing test.jsonl is accepted when evaluation is off", async () => {
  await withTempDir(async (tmp) => {
    const data = path.join(tmp, "data");
    await writeDataset(data, [GOOD_LINE], [""]);
    await assertRejects(() => validateDataset(data), TrainerError, "test.jsonl: no examples");
    assertEquals((await validateDataset(data, { requireTest: false })).test, 0);
    await Deno.remove(path.join(data, "test.jsonl"));
    assertEquals((await validateDataset(data, { requireTest: false })).test, 0);
    const r = await dryRunWithConfig(tmp, { training: { eval_strategy: "no" } }, data);
    assertEquals(r.code, 0, r.stderr);
    assertStringIncludes(r.stdout, "train 1, test 0 examples");
  });
});

Deno.test("run folder: another dataset or config is refused in one line, also by a dry run", async () => {
  await withTempDir(async (tmp) => {
    const data = path.join(tmp, "data");
    await writeDataset(data, [GOOD_LINE], [GOOD_LINE]);
    const out = path.join(tmp, "run");
    await Deno.mkdir(out);
    const cfg = validateTrainConfig({});
    await checkRunFolder(out, cfg, data); // a folder without a previous run
    await Deno.writeTextFile(
      path.join(out, FINGERPRINT_FILE),
      JSON.stringify(await runFingerprint(cfg, data)),
    );
    await checkRunFolder(out, cfg, data);
    // Extending a run (more steps, another learning rate) is what resuming is for.
    await checkRunFolder(
      out,
      validateTrainConfig({ training: { max_steps: 900, learning_rate: 1e-4 } }),
      data,
    );
    const r8 = await assertRejects(
      () => checkRunFolder(out, validateTrainConfig({ lora: { r: 8 }, training: { optim: "sgd" } }), data),
      TrainerError,
      "lora.r (256 → 8)",
    );
    assertStringIncludes(r8.message, 'training.optim ("adamw_torch_fused" → "sgd")');
    assertEquals(r8.message.split("\n").length, 1);

    const other = path.join(tmp, "other");
    await writeDataset(other, [GOOD_LINE, GOOD_LINE], [GOOD_LINE]);
    const r = await runCli("trainCommand", ["--dry-run", "--dataset", other, "--out", out], { PATH: "" });
    assertEquals(r.code, 2, r.stdout);
    assertEquals(r.stderr.trim().split("\n").length, 1, r.stderr);
    assertStringIncludes(r.stderr, "dataset (train.jsonl content differs)");
    assertStringIncludes(r.stderr, "use another --out");
    const same = await runCli("trainCommand", ["--dry-run", "--dataset", data, "--out", out], { PATH: "" });
    assertEquals(same.code, 0, same.stderr);

    // A folder from before the fingerprint: its train_config.json (with the container's /base) is compared.
    const old = path.join(tmp, "old");
    await Deno.mkdir(old);
    await Deno.writeTextFile(
      path.join(old, "train_config.json"),
      JSON.stringify({ ...cfg, base_model: "/base" }),
    );
    await checkRunFolder(old, cfg, data);
    await assertRejects(
      () => checkRunFolder(old, validateTrainConfig({ training: { max_length: 2048 } }), data),
      TrainerError,
      "training.max_length (4096 → 2048)",
    );
  });
});

Deno.test({
  name: "run folder: the fingerprint equals the one train.py computes (it checks again itself)",
  ignore: !python,
  fn: async () => {
    await withTempDir(async (tmp) => {
      await writeDataset(tmp, [GOOD_LINE], null);
      const user = { base_model: tmp, lora: { r: 8, alpha: 16.5, target_modules: ["q_proj", "v_proj"] } };
      const script = "import json,sys; sys.path.insert(0, sys.argv[1]); from text2sql_trainer import *; " +
        "cfg = validate_config(json.loads(sys.argv[2])); " +
        "print(json.dumps(run_fingerprint(cfg, base_model_source(cfg['base_model']), dataset_hash(sys.argv[3]))))";
      const out = await new Deno.Command("python3", {
        args: ["-c", script, TRAINER_DIR, JSON.stringify(user), tmp],
        stdout: "piped",
      }).output();
      assert(out.success);
      const py = JSON.parse(new TextDecoder().decode(out.stdout));
      assertEquals(py, await runFingerprint(validateTrainConfig(user), tmp));
      assertEquals(py.dataset?.test, null);
      assertEquals(py.base_model, tmp);
    });
  },
});

Deno.test("serve: rank_pattern raises --max-lora-rank to its largest rank", async () => {
  await withTempDir(async (tmp) => {
    await Deno.writeTextFile(
      path.join(tmp, "adapter_config.json"),
      JSON.stringify({
        r: 8,
        rank_pattern: { "model.layers.0.self_attn.q_proj": 512, "v_proj": 16 },
        alpha_pattern: { "v_proj": 4096 },
        base_model_name_or_path: "meta-llama/Llama-3.1-8B-Instruct",
      }),
    );
    assertEquals((await readAdapterConfig(tmp)).maxRank, 512);
    const r = await runCli("serveCommand", ["--adapter", tmp, "--dry-run"], { PATH: "" });
    assertEquals(r.code, 0, r.stderr);
    assertStringIncludes(r.stdout, "--max-lora-rank 512");
  });
});

Deno.test("serve: a container path recorded as the base model is refused with a hint", async () => {
  await withTempDir(async (tmp) => {
    await writeAdapter(tmp, 16, "/base");
    const r = await runCli("serveCommand", ["--adapter", tmp, "--dry-run"], { PATH: "" });
    assertEquals(r.code, 2);
    assertEquals(r.stderr.trim().split("\n").length, 1, r.stderr);
    assertStringIncludes(r.stderr, "base model /base is not a folder on this machine");
    assertStringIncludes(r.stderr, "--base-model");
    const ok = await runCli("serveCommand", ["--adapter", tmp, "--base-model", tmp, "--dry-run"], {
      PATH: "",
    });
    assertEquals(ok.code, 0, ok.stderr);
    assertStringIncludes(ok.stdout, `-v ${tmp}:/base:ro`);
  });
});

Deno.test("multi-GPU profiles: 70B full bf16 FSDP and Llama 4 Scout LoRA pass the dry run, memory per GPU printed", async () => {
  // The estimate is stdlib Python (trainer/text2sql_trainer/memory.py), run by the dry run with python3 on PATH.
  const env = { PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin" };
  for (
    const [file, launch, estimate] of [
      [
        "llama33_70b_full_fsdp.json",
        "accelerate launch --multi_gpu --num_machines=2 --num_processes=16 --machine_rank=0",
        /# memory estimate: [\d.]+ GiB per GPU \(70\.6B parameters, FSDP over 16 processes on 2 machines: weights 8\.21, /,
      ],
      [
        "llama4_scout_lora_fsdp.json",
        "accelerate launch --multi_gpu --num_processes=8 /app/train.py",
        /# memory estimate: [\d.]+ GiB per GPU \(107\.8B parameters, FSDP over 8 processes: /,
      ],
    ] as const
  ) {
    await withTempDir(async (tmp) => {
      const r = await runCli("trainCommand", [
        "--dry-run",
        "--config",
        path.join(TRAINER_DIR, "configs", file),
        "--out",
        path.join(tmp, "run"),
      ], env);
      assertEquals(r.code, 0, r.stderr);
      assertStringIncludes(r.stdout, launch);
      assert(estimate.test(r.stdout), r.stdout);
      const gib = Number(/memory estimate: ([\d.]+) GiB/.exec(r.stdout)![1]);
      assert(gib < 80, `${file}: ${gib} GiB per GPU does not fit an 80 GiB GPU`);
    });
  }
});

const FULL_70B = path.join(TRAINER_DIR, "configs", "llama33_70b_full_fsdp.json");

/** The docker command of one machine of the 70B full-FSDP profile, as this user on this host would run it. */
function machineCommand(out: string, rank: number, ip: string, port: number): string {
  const rdma = existsDir("/dev/infiniband") ? ["--device", "/dev/infiniband"] : [];
  const home = Deno.env.get("HOME") ?? "/tmp";
  return formatCommand([
    ..."docker run --rm --gpus all --network host".split(" "),
    ...rdma,
    ..."--shm-size 64g --ulimit memlock=-1 --ulimit stack=67108864".split(" "),
    "--user",
    `${Deno.uid()}:${Deno.gid()}`,
    ..."-e HF_TOKEN -e HF_HOME=/hf -e HOME=/tmp -e PYTHONUNBUFFERED=1 -e TENSORBOARD_LOGGING_DIR=/out/tensorboard"
      .split(" "),
    ..."-e NCCL_SOCKET_IFNAME -e GLOO_SOCKET_IFNAME -e NCCL_IB_HCA -e NCCL_DEBUG".split(" "),
    ...["-v", `${TRAINER_DIR}:/app:ro`, "-v", `${FULL_70B}:/config/train.json:ro`],
    ...["-v", `${SAMPLE_DATASET}:/data:ro`, "-v", `${out}:/out`, "-v", `${home}/.cache/huggingface:/hf`],
    ..."text2sql-trainer:latest accelerate launch --multi_gpu --num_machines=2 --num_processes=16".split(" "),
    `--machine_rank=${rank}`,
    `--main_process_ip=${ip}`,
    `--main_process_port=${port}`,
    ..."/app/train.py --config /config/train.json --data /data --output /out".split(" "),
  ]);
}

function existsDir(p: string): boolean {
  try {
    return Deno.statSync(p).isDirectory;
  } catch {
    return false;
  }
}

Deno.test("several machines: the 70B full-FSDP dry run prints exactly one command per machine", async () => {
  await withTempDir(async (tmp) => {
    const out = path.join(tmp, "run");
    const env = { PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin" };
    const all = await runCli("trainCommand", ["--dry-run", "--config", FULL_70B, "--out", out], env);
    assertEquals(all.code, 0, all.stderr);
    const lines = all.stdout.trim().split("\n");
    // Without the address: a placeholder to replace, said so; machine 0 first, each under its own header.
    assertEquals(lines.filter((l) => !l.startsWith("#")), [
      machineCommand(out, 0, "MAIN_PROCESS_IP", 29500),
      machineCommand(out, 1, "MAIN_PROCESS_IP", 29500),
    ]);
    assertEquals(lines.filter((l) => l.startsWith("# machine ")), [
      "# machine 0 of 2 (main process: listens on port 29500):",
      "# machine 1 of 2:",
    ]);
    assertStringIncludes(all.stdout, `# run folder: ${out} (one folder for all machines: shared storage`);
    assertStringIncludes(
      all.stdout,
      `# 2 machines × 8 processes (16 in all); machine R runs its line below, or there: deno task train ` +
        `--config ${FULL_70B} --out ${out} --machine-rank R --main-process-ip MAIN_PROCESS_IP\n`,
    );
    assertStringIncludes(all.stdout, "# MAIN_PROCESS_IP: replace with machine 0's address");
    // With the rank and the address: that machine's command only, nothing left to fill in.
    const one = await runCli("trainCommand", [
      "--dry-run",
      "--config",
      FULL_70B,
      "--out",
      out,
      "--machine-rank",
      "1",
      "--main-process-ip",
      "10.1.2.3",
      "--main-process-port",
      "29600",
    ], env);
    assertEquals(one.code, 0, one.stderr);
    assertEquals(one.stdout.trim().split("\n").filter((l) => !l.startsWith("#")), [
      machineCommand(out, 1, "10.1.2.3", 29600),
    ]);
    assert(!one.stdout.includes("MAIN_PROCESS_IP"), one.stdout);
    assertStringIncludes(
      one.stdout,
      "--machine-rank R --main-process-ip 10.1.2.3 --main-process-port 29600\n",
    );
  });
});

Deno.test("several machines: launch flags that do not fit the config are refused in one line (exit 2)", async () => {
  const scout = path.join(TRAINER_DIR, "configs", "llama4_scout_lora_fsdp.json");
  for (
    const [argv, message] of [
      [
        ["--dry-run", "--config", FULL_70B, "--machine-rank", "2"],
        "--machine-rank: must be an integer from 0 to 1",
      ],
      [
        ["--dry-run", "--config", FULL_70B, "--machine-rank=-1"],
        "--machine-rank: must be an integer from 0 to 1",
      ],
      [
        ["--dry-run", "--config", FULL_70B, "--main-process-port", "0"],
        "--main-process-port: must be an integer",
      ],
      [
        ["--dry-run", "--config", FULL_70B, "--main-process-ip", "a;b"],
        "--main-process-ip: must be machine 0's",
      ],
      [
        ["--dry-run", "--config", scout, "--machine-rank", "0"],
        "--machine-rank, --main-process-ip and --main-process-port are for a config with distributed.num_machines above 1 (it is 1)",
      ],
      // A real run over several machines names everything it lacks, before probing for an engine or a GPU.
      [
        ["--config", FULL_70B, "--main-process-ip", "10.1.2.3"],
        "distributed.num_machines is 2: on each machine pass --machine-rank R (0 to 1; 0 runs the main process), " +
        "--out DIR",
      ],
    ] as const
  ) {
    const r = await runCli("trainCommand", [...argv], { PATH: "" });
    assertEquals(r.code, 2, `${argv.join(" ")}: ${r.stderr}`);
    assertEquals(r.stderr.trim().split("\n").length, 1, r.stderr);
    assertStringIncludes(r.stderr, `train: ${message}`);
    assertEquals(r.stdout, "");
  }
  // The config itself: processes that do not divide among the machines.
  await withTempDir(async (tmp) => {
    const r = await dryRunWithConfig(tmp, {
      method: "full",
      distributed: { num_processes: 16, num_machines: 3 },
    }, SAMPLE_DATASET);
    assertEquals(r.code, 2);
    assertEquals(r.stderr.trim().split("\n").length, 1, r.stderr);
    assertStringIncludes(
      r.stderr,
      "distributed.num_processes: 16 is not a multiple of distributed.num_machines (3)",
    );
  });
});
