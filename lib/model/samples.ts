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
  const { cache } = options;
  const state = options.state ?? { honoursN: null };
  const allKey = backendKey(backend, { messages, params: { ...backend.sampling, n: k } });
  const hit = cache ? await cache.get(allKey) : null;
  if (hit && hit.texts.length >= k) {
    return {
      texts: hit.texts.slice(0, k),
      usage: hit.usage,
      requests: 0,
      cached: true,
      via: "cache",
      ms: performance.now() - started,
    };
  }
  const usage: Usage = { prompt: 0, completion: 0 };
  const add = (u: Usage) => {
    usage.prompt += u.prompt;
    usage.completion += u.completion;
  };
  let requests = 0;
  let texts: string[] = [];
  if (state.honoursN !== false && k > 1) {
    const reply = await backend.send({ messages, n: k });
    requests++;
    add(reply.usage);
    texts = reply.choices.slice(0, k).map(text);
    state.honoursN = reply.choices.length >= k;
    // An endpoint that ignored `n` answered a one-sample request: file its answers as such, so a resumed or
    // single-answer run finds them.
    if (cache && !state.honoursN) {
      await Promise.all(
        texts.map((t, i) =>
          cache.put(sampleKey(backend, messages, i), {
            model: backend.model,
            texts: [t],
            usage: i ? none : reply.usage,
          })
        ),
      );
    }
  }
  const via = texts.length >= k ? "n" : "separate";
  const missing = Array.from({ length: k - texts.length }, (_, i) => texts.length + i);
  const more = await Promise.all(missing.map(async (index) => {
    const key = sampleKey(backend, messages, index);
    const entry = cache ? await cache.get(key) : null;
    if (entry && entry.texts.length > 0) return { text: entry.texts[0], usage: entry.usage, fetched: false };
    const reply = await backend.send({ messages, n: 1 });
    const got = { text: text(reply.choices[0]), usage: reply.usage, fetched: true };
    if (cache) await cache.put(key, { model: backend.model, texts: [got.text], usage: got.usage });
    return got;
  }));
  for (const m of more) {
    texts.push(m.text);
    add(m.usage);
    if (m.fetched) requests++;
  }
  if (cache && k > 1) await cache.put(allKey, { model: backend.model, texts, usage });
  return { texts, usage, requests, cached: requests === 0, via, ms: performance.now() - started };
}
