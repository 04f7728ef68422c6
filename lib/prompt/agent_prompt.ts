/**
 * What the agent mode shows the model, as pure functions: its system prompt (the evaluation prompt's, plus how
 * to use the tool), the `execute_sql` tool spec, the text a tool result is sent back as, and the template
 * hash recorded in run.json. The user turn is the evaluation's own renderer, so a question reads the same in
 * every mode.
 *
 * @module
 */
import { canonicalJson, pyDisplayText, sha256Hex } from "../util/mod.ts";
import {
  dialectName,
  PROMPT_VERSION,
  type PromptOptions,
  renderUserPrompt,
  resolvePromptOptions,
  systemPromptFor,
} from "./prompts.ts";
import type { ChatMessage, Dialect, DisplayValue, Example, ToolSpec } from "../types.ts";

/**
 * Version of the agent's templates (system prompt addition, tool spec, tool result format). Bump it whenever
 * any of them changes; the hash changes on its own as well.
 */
export const AGENT_PROMPT_VERSION = "1";

/** The tool's name. */
export const EXECUTE_SQL = "execute_sql";

/** Rows of a result shown to the model by default. */
export const DEFAULT_TOOL_ROWS = 20;

/** The tool spec naming `name` as the dialect. */
function toolSpec(name: string): ToolSpec {
  return Object.freeze({
    type: "function",
    function: {
      name: EXECUTE_SQL,
      description:
        `Run one read-only ${name} query on the question's database and see its column names, its row ` +
        "count and its first rows, or the error message. Only SELECT (and WITH) queries run.",
      parameters: {
        type: "object",
        properties: { query: { type: "string", description: `One ${name} SELECT statement.` } },
        required: ["query"],
      },
    },
  }) as ToolSpec;
}

/** The one tool: run a read-only query on the question's database (the SQLite dialect's spec). */
export const EXECUTE_SQL_TOOL: ToolSpec = toolSpec("SQLite");

const TOOLS: Readonly<Record<Dialect, ToolSpec>> = Object.freeze({
  sqlite: EXECUTE_SQL_TOOL,
  postgresql: toolSpec(dialectName("postgresql")),
  mysql: toolSpec(dialectName("mysql")),
});

/**
 * The `execute_sql` tool spec for a dialect: {@linkcode EXECUTE_SQL_TOOL} for SQLite, else the same naming
 * PostgreSQL or MySQL.
 *
 * @param dialect the dialect (default sqlite)
 * @returns the (frozen) spec
 */
export function executeSqlTool(dialect: Dialect = "sqlite"): ToolSpec {
  dialectName(dialect);
  return TOOLS[dialect];
}

/** The agent's instructions naming `name` as the dialect. */
function instructions(name: string): string {
  return `You may call the ${EXECUTE_SQL} tool to run read-only ${name} queries on the ` +
    "database and look at their results, for example to check values, joins or your query's answer, as often as " +
    `you need. When you are sure, reply without a tool call and give the final ${name} SQL select statement in a ` +
    "```sql code block.";
}

/** What the agent's system prompt adds to the evaluation's (the SQLite dialect's text). */
export const AGENT_INSTRUCTIONS: string = instructions("SQLite");

/**
 * What the agent's system prompt adds to the evaluation's, for a dialect: {@linkcode AGENT_INSTRUCTIONS} for
 * SQLite, else the same naming PostgreSQL or MySQL.
 *
 * @param dialect the dialect (default sqlite)
 * @returns the text
 */
export function agentInstructions(dialect: Dialect = "sqlite"): string {
  return dialect === "sqlite" ? AGENT_INSTRUCTIONS : instructions(dialectName(dialect));
}

/**
 * The agent's system prompt: the evaluation's (plain or reasoning) followed by {@linkcode agentInstructions} of
 * the options' dialect.
 *
 * @param options prompt options
 */
export function agentSystemPrompt(options: Partial<PromptOptions> = {}): string {
  return systemPromptFor(options) + " " + agentInstructions(resolvePromptOptions(options).dialect);
}

/**
 * The messages that open an agent conversation: `[system, user]`, the user turn rendered exactly as in
 * single-answer evaluation.
 *
 * @param example the question
 * @param schema the rendered schema
 * @param options prompt options
 */
export function buildAgentMessages(
  example: Pick<Example, "question" | "evidence">,
  schema: string,
  options: Partial<PromptOptions> = {},
): ChatMessage[] {
  return [
    { role: "system", content: agentSystemPrompt(options) },
    { role: "user", content: renderUserPrompt(example, schema, options) },
  ];
}

/**
 * Hash of the agent's templates with their options (run.json's prompt hash in agent mode): the opening
 * messages for placeholder question, evidence and schema, the tool spec, the rows shown per result, and both
 * versions (the options hold the dialect when it is not sqlite). Apart from `templateHash`, so an agent run never
 * resumes a single-answer folder by accident.
 *
 * @param options prompt options
 * @param toolRows rows of a result shown to the model
 */
export function agentTemplateHash(
  options: Partial<PromptOptions> = {},
  toolRows = DEFAULT_TOOL_ROWS,
): string {
  const o = resolvePromptOptions(options);
  return sha256Hex(canonicalJson({
    version: PROMPT_VERSION,
    agent_version: AGENT_PROMPT_VERSION,
    options: o,
    agent: buildAgentMessages({ question: "{question}", evidence: "{evidence}" }, "{schema}", o),
    tools: [executeSqlTool(o.dialect)],
    tool_rows: toolRows,
  }));
}

/** Characters of one cell shown to the model: a long text must not flood the context. */
const CELL_CHARS = 80;

/** One cell as the model reads it: NULL, numbers and texts as themselves, blobs as `x'…'`, one line. */
export function cellText(value: DisplayValue): string {
  let s: string;
  if (value === null) s = "NULL";
  else if (typeof value === "number") s = String(value);
  else if (typeof value === "string") s = value;
  else if ("int" in value) s = value.int;
  else if ("real" in value) s = value.real;
  else if ("py" in value) s = pyDisplayText(value.py);
  else s = `x'${value.blob}'`;
  s = s.replace(/\r?\n/g, "\\n").replace(/\|/g, "\\|");
  return s.length > CELL_CHARS ? s.slice(0, CELL_CHARS - 1) + "…" : s;
}

/** A query's outcome as the tool reports it. */
export type ToolResult =
  | { ok: true; columns: string[]; rows: DisplayValue[][]; rowCount: number }
  | { ok: false; error: string };

/**
 * The tool result message text: the row count and column names, then a compact `|`-separated table of the
 * first rows (header first), or `error: <message>`.
 *
 * @param result the query's outcome
 * @param maxRows rows shown at most
 */
export function formatToolResult(result: ToolResult, maxRows = DEFAULT_TOOL_ROWS): string {
  if (!result.ok) return `error: ${result.error.replace(/\s+/g, " ").trim()}`;
  const shown = result.rows.slice(0, maxRows);
  const count = `${result.rowCount} row${result.rowCount === 1 ? "" : "s"}`;
  const head = `${count}; columns: ${result.columns.join(", ") || "(none)"}`;
  if (result.rowCount === 0) return head;
  const lines = [
    head,
    result.columns.map((c) => cellText(c)).join(" | "),
    ...shown.map((r) => r.map(cellText).join(" | ")),
  ];
  if (result.rowCount > shown.length) lines.push(`(first ${shown.length} of ${result.rowCount} rows shown)`);
  return lines.join("\n");
}
