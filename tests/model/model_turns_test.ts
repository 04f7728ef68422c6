/**
 * K samples per prompt (self-consistency): one `n: K` request where the endpoint honours it, separate
 * requests keyed by sample index where it does not, both cached so that a rerun makes no request, and keys
 * shared with the model client's single-answer requests. Plus the reply parser and the sampling warning.
 */
import { deepStrictEqual as assertEquals, ok as assert, rejects as assertRejects } from "node:assert/strict";
import OpenAI from "openai";
import { CompletionCache } from "../../lib/model/cache.ts";
import { GenerationError, ModelClient } from "../../lib/model/mod.ts";
import {
  type ChatReply,
  type ChatRequest,
  ENABLE_TOOLS_HINT,
  looksLikeTextToolCall,
  openAIBackend,
  parseChatReply,
  sampleCompletions,
  samplingWarning,
  toolsUnsupported,
  ToolsUnsupportedError,
  type TurnBackend,
} from "../../lib/model/mod.ts";
import type { ChatMessage } from "../../lib/types.ts";
import { startFakeOpenAI } from "../support/fake_openai_server.ts";

const PROMPT: ChatMessage[] = [
  { role: "system", content: "You are a text to SQL query translator." },
  { role: "user", content: "-- DB Schema: CREATE TABLE t (a INT)\n\n-- Question: How many rows?" },
];

/** A backend that answers one choice whatever `n` asks (as some servers do), numbering its answers. */
function oneChoiceBackend(base: Omit<TurnBackend, "send">): TurnBackend & { requests: ChatRequest[] } {
  const requests: ChatRequest[] = [];
  return {
    ...base,
    requests,
    send(request: ChatRequest): Promise<ChatReply> {
      requests.push(request);
      return Promise.resolve({
        choices: [{ content: `SELECT ${requests.length}`, tool_calls: [] }],
        usage: { prompt: 10, completion: 3 },
      });
    },
  };
}

Deno.test("n honoured: one request for K samples, cached under the key the model client uses for n = K", async () => {
  const dir = await Deno.makeTempDir({ prefix: "t2s-turns-" });
  const server = await startFakeOpenAI({
    script: () => ({ content: ["SELECT 1", "SELECT 2", "SELECT 1", "SELECT 3", "SELECT 1"] }),
  });
  try {
    const cache = new CompletionCache({ dir });
    const client = await ModelClient.create(
      { baseUrl: server.url, model: "fake-model", temperature: 0.8, n: 5, cacheDir: dir },
      { env: () => undefined },
    );
    const api = new OpenAI({ baseURL: server.url, apiKey: "none", maxRetries: 0 });
    const backend = openAIBackend(api, {
      model: "fake-model",
      baseUrl: server.url,
      identity: client.identity,
      sampling: { ...client.sampling, n: 1 },
    });
    const state = { honoursN: null };
    const set = await sampleCompletions(PROMPT, 5, backend, { cache, state });
    assertEquals(set.texts, ["SELECT 1", "SELECT 2", "SELECT 1", "SELECT 3", "SELECT 1"]);
    assertEquals([set.requests, set.cached, set.via, state.honoursN], [1, false, "n", true]);
    const posts = () => server.requests.filter((r) => r.method === "POST");
    assertEquals(posts().length, 1);
    assertEquals(posts()[0].body?.n, 5);
    assertEquals(posts()[0].body?.temperature, 0.8);
    assert(!("tools" in posts()[0].body!));

    const again = await sampleCompletions(PROMPT, 5, backend, { cache });
    assertEquals([again.texts, again.requests, again.cached, again.via], [set.texts, 0, true, "cache"]);
    // The model client configured with n = 5 finds the same entry: one cache, whichever path asked first.
    const viaClient = await client.complete(PROMPT);
    assertEquals([viaClient.texts, viaClient.cached], [set.texts, true]);
    assertEquals(posts().length, 1);
  } finally {
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("n ignored: the missing samples come one per request, keyed by sample index; the endpoint's habit is learnt", async () => {
  const dir = await Deno.makeTempDir({ prefix: "t2s-turns-" });
  const server = await startFakeOpenAI();
  try {
    const cache = new CompletionCache({ dir });
    const client = await ModelClient.create(
      { baseUrl: server.url, model: "fake-model", temperature: 0.7, cacheDir: dir },
      { env: () => undefined },
    );
    const backend = oneChoiceBackend({
      baseUrl: server.url,
      model: "fake-model",
      identity: client.identity,
      sampling: client.sampling,
    });
    const state = { honoursN: null as boolean | null };
    const set = await sampleCompletions(PROMPT, 4, backend, { cache, state });
    // The n: 4 request answered one sample; three more were asked for one at a time.
    assertEquals(backend.requests.map((r) => r.n), [4, 1, 1, 1]);
    assertEquals(new Set(set.texts).size, 4);
    assertEquals([set.requests, set.via, state.honoursN], [4, "separate", false]);
    assertEquals(set.usage, { prompt: 40, completion: 12 });

    // The next question goes straight to single requests.
    const other: ChatMessage[] = [PROMPT[0], { role: "user", content: PROMPT[1].content + " (other)" }];
    await sampleCompletions(other, 4, backend, { cache, state });
    assertEquals(backend.requests.slice(4).map((r) => r.n), [1, 1, 1, 1]);

    // Reruns are cache reads; sample 0 is the very entry a single-answer run at this sampling reads.
    const before = backend.requests.length;
    const again = await sampleCompletions(PROMPT, 4, backend, { cache, state });
    assertEquals([again.texts, again.requests, again.cached], [set.texts, 0, true]);
    assertEquals(backend.requests.length, before);
    const single = await client.complete(other);
    assertEquals([single.cached, single.texts], [true, [
      (await sampleCompletions(other, 4, backend, { cache })).texts[0],
    ]]);
    assertEquals(server.requests.filter((r) => r.method === "POST").length, 0);

    // Resuming a question cut after some of its samples asks only for the rest.
    const third: ChatMessage[] = [PROMPT[0], { role: "user", content: PROMPT[1].content + " (third)" }];
    await sampleCompletions(third, 2, backend, { cache, state });
    const mark = backend.requests.length;
    const resumed = await sampleCompletions(third, 5, backend, { cache, state });
    assertEquals(backend.requests.length - mark, 3);
    assertEquals(resumed.requests, 3);
  } finally {
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("without a cache every sample is a request; K must be a positive integer", async () => {
  const backend = oneChoiceBackend({
    baseUrl: "http://127.0.0.1:1/v1",
    model: "m",
    identity: null,
    sampling: {},
  });
  const set = await sampleCompletions(PROMPT, 3, backend, { cache: null });
  assertEquals([set.texts, set.requests], [["SELECT 1", "SELECT 2", "SELECT 3"], 3]);
  await assertRejects(() => sampleCompletions(PROMPT, 0, backend, { cache: null }), RangeError);
});

Deno.test("reply parsing: choices in index order, tool calls with text or object arguments, null content", () => {
  const reply = parseChatReply({
    choices: [
      { index: 1, message: { content: "b" } },
      {
        index: 0,
        message: {
          content: null,
          tool_calls: [
            {
              id: "c1",
              type: "function",
              function: { name: "execute_sql", arguments: '{"query":"SELECT 1"}' },
            },
            { function: { name: "execute_sql", arguments: { query: "SELECT 2" } } },
          ],
        },
      },
    ],
    usage: { prompt_tokens: 12, completion_tokens: 5 },
  });
  assertEquals(reply.usage, { prompt: 12, completion: 5 });
  assertEquals(reply.choices[1], { content: "b", tool_calls: [] });
  assertEquals(reply.choices[0].content, null);
  assertEquals(reply.choices[0].tool_calls.map((c) => [c.id, c.function.arguments]), [
    ["c1", '{"query":"SELECT 1"}'],
    ["call_0_1", '{"query":"SELECT 2"}'],
  ]);
  for (const bad of [null, {}, { choices: [] }, { choices: [{}] }]) {
    let threw = false;
    try {
      parseChatReply(bad);
    } catch {
      threw = true;
    }
    assert(threw, JSON.stringify(bad));
  }
});

Deno.test("K > 1 at temperature 0 warns: the samples would be identical", () => {
  assert(samplingWarning(8, 0)?.includes("8 identical samples"));
  assertEquals(samplingWarning(8, 0.8), null);
  assertEquals(samplingWarning(1, 0), null);
});

Deno.test("tools-unsupported refusals are recognised in the model client's errors too; text tool calls are spotted", () => {
  const refusal = new GenerationError(
    'HTTP 400: "auto" tool choice requires --enable-auto-tool-choice and --tool-call-parser to be set',
    { status: 400, attempts: 1, transient: false },
  );
  const error = toolsUnsupported(refusal, "http://gpu:8000/v1");
  assert(error instanceof ToolsUnsupportedError);
  assertEquals(
    error.message,
    'http://gpu:8000/v1 does not accept tool calls (HTTP 400: "auto" tool choice requires --enable-auto-tool-choice ' +
      `and --tool-call-parser to be set): ${ENABLE_TOOLS_HINT}`,
  );
  assertEquals(
    toolsUnsupported(
      new GenerationError("HTTP 400: max_tokens too large", {
        status: 400,
        attempts: 1,
        transient: false,
      }),
      "x",
    ),
    null,
  );
  assertEquals(
    toolsUnsupported(
      new GenerationError("HTTP 503: tools busy", {
        status: 503,
        attempts: 7,
        transient: true,
      }),
      "x",
    ),
    null,
  );

  const names = ["execute_sql"];
  assert(looksLikeTextToolCall('{"name": "execute_sql", "parameters": {"query": "SELECT 1"}}', names));
  assert(
    looksLikeTextToolCall(
      '```json\n[{"name": "execute_sql", "arguments": {"query": "SELECT 1"}}]\n```',
      names,
    ),
  );
  assert(looksLikeTextToolCall('<|python_tag|>execute_sql.call(query="SELECT 1")', names));
  assert(!looksLikeTextToolCall('{"name": "other", "parameters": {}}', names));
  assert(!looksLikeTextToolCall("```sql\nSELECT 1\n```", names));
  assert(!looksLikeTextToolCall('{"query": "SELECT 1"}', names));
  assert(!looksLikeTextToolCall(null, names));
});
