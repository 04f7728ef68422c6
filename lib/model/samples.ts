/**
 * K samples of one prompt for self-consistency ({@linkcode sampleCompletions}), cached like the model client's
 * answers: one request with `n: K` where the endpoint honours it; where it returns fewer choices, the missing
 * samples come from separate requests whose cache keys include the sample index (sample 0 shares the key of the
 * plain single-answer request, so it is the very answer a single run at this sampling gets).
 *
 * @module
 */
import { type AssistantTurn, backendKey, type TurnBackend, type TurnCache } from "./chat_wire.ts";
import type { ChatMessage, Usage } from "../types.ts";

/**
 * A warning for self-consistency at temperature 0, where every sample is the same and the vote is the first
 * sample at K times the cost; null when there is nothing to say.
 *
 * @param n samples per question
 * @param temperature sampling temperature
 */
export function samplingWarning(n: number, temperature: number): string | null {
  if (n <= 1 || temperature > 0) return null;
  return `warning: --n ${n} with temperature 0 gives ${n} identical samples: the vote is the first sample ` +
    `at ${n} times the cost; give --temperature (e.g. 0.8)`;
}

/** Which path K samples take on an endpoint, learnt from its first answer and shared across questions. */
export interface SamplingState {
  /** null: not known yet; false: it returned fewer choices than asked, so ask for one at a time. */
  honoursN: boolean | null;
}

/** K samples of one prompt. */
export interface SampleSet {
  /** K texts, by sample index. */
  texts: string[];
  /** Tokens of the requests behind the samples (the original requests' when cached). */
  usage: Usage;
  /** HTTP requests made now (0 when everything came from the cache). */
  requests: number;
  /** True when no request was made. */
  cached: boolean;
  /** `n`: one request answered all K; `separate`: some or all came one per request; `cache`: a rerun's read. */
  via: "n" | "separate" | "cache";
  ms: number;
}

/** Options of {@linkcode sampleCompletions}. */
export interface SampleOptions {
  /** The completion cache, or null for none (`--no-cache`). */
  cache: TurnCache | null;
  /** Shared across a run's questions, so only the first question asks an endpoint that ignores `n` with it. */
  state?: SamplingState;
}

/**
 * The cache key of sample `index` when samples are requested one at a time: sample 0 is keyed exactly as the
 * plain single-answer request (`n: 1`, what `ModelClient.complete` uses), later ones add `sample_index`, so K
 * identical requests at temperature > 0 get K entries.
 */
export function sampleKey(backend: TurnBackend, messages: ChatMessage[], index: number): string {
  const params: Record<string, unknown> = { ...backend.sampling, n: 1 };
  if (index > 0) params.sample_index = index;
  return backendKey(backend, { messages, params });
}

const none: Usage = Object.freeze({ prompt: 0, completion: 0 });

function text(turn: AssistantTurn): string {
  return turn.content ?? "";
}

/** One prompt's sampling: what to ask, where, and where answers are kept. */
interface Job {
  messages: ChatMessage[];
  backend: TurnBackend;
  cache: TurnCache | null;
}

/** The samples gathered so far: texts by index, the usage behind them, requests made now. */
interface Gathered {
  texts: string[];
  usage: Usage;
  requests: number;
}

/** One sample as found or fetched. */
interface OneSample {
  text: string;
  usage: Usage;
  fetched: boolean;
}

/**
 * An endpoint that ignored `n` answered a one-sample request: its answers are filed as such, so a resumed or
 * single-answer run finds them.
 */
async function fileAsSingles(job: Job, texts: string[], usage: Usage): Promise<void> {
  await Promise.all(texts.map((t, i) =>
    job.cache!.put(sampleKey(job.backend, job.messages, i), {
      model: job.backend.model,
      texts: [t],
      usage: i ? none : usage,
    })
  ));
}

/** One request with `n: K`, which also tells whether the endpoint honours `n` (recorded in `state`). */
async function askAll(job: Job, k: number, state: SamplingState): Promise<Gathered> {
  const reply = await job.backend.send({ messages: job.messages, n: k });
  const texts = reply.choices.slice(0, k).map(text);
  state.honoursN = reply.choices.length >= k;
  if (job.cache && !state.honoursN) await fileAsSingles(job, texts, reply.usage);
  return { texts, usage: { prompt: reply.usage.prompt, completion: reply.usage.completion }, requests: 1 };
}

/** Sample `index` on its own: from its cache entry, else one `n: 1` request (then cached). */
async function oneSample(job: Job, index: number): Promise<OneSample> {
  const key = sampleKey(job.backend, job.messages, index);
  const entry = job.cache ? await job.cache.get(key) : null;
  if (entry && entry.texts.length > 0) return { text: entry.texts[0], usage: entry.usage, fetched: false };
  const reply = await job.backend.send({ messages: job.messages, n: 1 });
  const got = { text: text(reply.choices[0]), usage: reply.usage, fetched: true };
  if (job.cache) await job.cache.put(key, { model: job.backend.model, texts: [got.text], usage: got.usage });
  return got;
}

/** The samples from `got.texts.length` to `k - 1`, one per request (started together), added to `got`. */
async function fillMissing(job: Job, k: number, got: Gathered): Promise<void> {
  const missing = Array.from({ length: k - got.texts.length }, (_, i) => got.texts.length + i);
  const more = await Promise.all(missing.map((index) => oneSample(job, index)));
  for (const m of more) {
    got.texts.push(m.text);
    got.usage.prompt += m.usage.prompt;
    got.usage.completion += m.usage.completion;
    if (m.fetched) got.requests++;
  }
}

/**
 * K samples of a prompt, from the cache where possible: first the `n: K` entry, else one request with `n: K`,
 * else, for the samples an endpoint that ignores `n` did not return, one request per sample (started together;
 * the backend bounds concurrency), each cached under {@linkcode sampleKey}. The K texts end up under the `n: K`
 * key too, so a rerun is one cache read.
 *
 * @param messages the prompt
 * @param k samples wanted (≥ 1)
 * @param backend the endpoint
 * @param options the cache and the shared sampling state
 */
export async function sampleCompletions(
  messages: ChatMessage[],
  k: number,
  backend: TurnBackend,
  options: SampleOptions,
): Promise<SampleSet> {
  if (!Number.isInteger(k) || k < 1) {
    throw new RangeError(`samples per question must be a positive integer, got ${k}`);
  }
  const started = performance.now();
  const job: Job = { messages, backend, cache: options.cache };
  const state = options.state ?? { honoursN: null };
  const allKey = backendKey(backend, { messages, params: { ...backend.sampling, n: k } });
  const hit = job.cache ? await job.cache.get(allKey) : null;
  if (hit && hit.texts.length >= k) {
    const texts = hit.texts.slice(0, k);
    return {
      texts,
      usage: hit.usage,
      requests: 0,
      cached: true,
      via: "cache",
      ms: performance.now() - started,
    };
  }
  const got: Gathered = state.honoursN !== false && k > 1
    ? await askAll(job, k, state)
    : { texts: [], usage: { prompt: 0, completion: 0 }, requests: 0 };
  const via = got.texts.length >= k ? "n" : "separate";
  await fillMissing(job, k, got);
  if (job.cache && k > 1) {
    await job.cache.put(allKey, { model: backend.model, texts: got.texts, usage: got.usage });
  }
  return { ...got, cached: got.requests === 0, via, ms: performance.now() - started };
}
