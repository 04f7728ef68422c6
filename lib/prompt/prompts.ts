/**
 * The prompts, as pure functions. ONE user-prompt renderer serves evaluation, SFT and CoT, so a model is trained
 * on exactly the prompt it is evaluated with (the original tool drifted: its CoT data said `-- Text Question:`).
 *
 * The default prompt is the original tool's, byte for byte:
 *
 * ```
 * system: You are a text to SQL query translator. Using the SQLite DB Schema and the External Knowledge, translate the following text question into a SQLite SQL select statement.
 * user:   -- DB Schema: <CREATE statements joined by blank lines>\n\n-- External Knowledge: <evidence>\n\n-- Question: <question>
 * ```
 *
 * The schema text comes from `renderSchema` in `schema.ts`, called with {@link schemaOptionsOf}; these functions
 * take it as a string so they stay pure.
 *
 * @module
 */

import { canonicalJson, sha256Hex } from "../util/mod.ts";
import type { ChatMessage, Dialect, Example } from "../types.ts";

/**
 * Version of the prompt templates. Bump it whenever any template text below changes; it is recorded per run
 * (the template hash changes on its own as well).
 */
export const PROMPT_VERSION = "1";

/** How the prompts name each dialect. */
const DIALECT_NAMES: Readonly<Record<Dialect, string>> = Object.freeze({
  sqlite: "SQLite",
  postgresql: "PostgreSQL",
  mysql: "MySQL",
});

/**
 * The dialect's name as the prompts write it (`SQLite`, `PostgreSQL`, `MySQL`).
 *
 * @param dialect the dialect (default sqlite)
 * @returns its display name
 * @throws {RangeError} for a name that is not a dialect
 */
export function dialectName(dialect: Dialect = "sqlite"): string {
  const name = DIALECT_NAMES[dialect];
  if (name === undefined || !Object.hasOwn(DIALECT_NAMES, dialect)) {
    throw new RangeError(
      `unknown dialect ${JSON.stringify(dialect)}: use one of ${Object.keys(DIALECT_NAMES).join(", ")}`,
    );
  }
  return name;
}

/** The plain system prompt naming `name` (the original tool's with `SQLite`). */
function plainSystem(name: string): string {
  return `You are a text to SQL query translator. Using the ${name} DB Schema and the External Knowledge, translate the following text question into a ${name} SQL select statement.`;
}

/** The reasoning system prompt naming `name`. */
function reasoningSystem(name: string): string {
  return `You are a text to SQL query translator. Using the ${name} DB Schema and the External Knowledge, generate the step-by-step reasoning and the final ${name} SQL select statement from the text question. Reason step by step first, then end your answer with the final SQL statement in a \`\`\`sql code block.`;
}

/** The original tool's system prompt, exactly (the SQLite dialect's; other dialects name theirs instead). */
export const SYSTEM_PROMPT: string = plainSystem("SQLite");

/**
 * System prompt of the reasoning variant (`--reasoning`), also the system turn of the CoT dataset, so a model
 * fine-tuned on CoT data is evaluated with the prompt it was trained on. The first sentence is the original
 * tool's CoT system prompt; the second fixes the answer's shape so the SQL can be found after the reasoning.
 * This is the SQLite dialect's; other dialects name theirs instead.
 */
export const REASONING_SYSTEM_PROMPT: string = reasoningSystem("SQLite");

/** Prompt options, each recorded in run.json / dataset.json. */
export interface PromptOptions {
  /** Include the `-- External Knowledge:` section (default true). False (`--no-evidence`) omits it entirely. */
  evidence: boolean;
  /** Sample rows per table in the schema (default 0). */
  sampleRows: number;
  /** Column descriptions from `database_description/*.csv` in the schema (default false). */
  descriptions: boolean;
  /** The reasoning variant: {@link REASONING_SYSTEM_PROMPT} instead of {@link SYSTEM_PROMPT} (default false). */
  reasoning: boolean;
  /**
   * The SQL dialect the prompts name and the schema is rendered in (default `sqlite`). Resolved options carry it
   * only when it is not `sqlite`, so every SQLite prompt, hash and record stays as it was before dialects.
   */
  dialect?: Dialect;
  /**
   * Database values matching the question shown beside their columns: up to K per column (default 0: none).
   * Resolved options carry it only when above 0.
   */
  values?: number;
  /**
   * How the schema is written: `ddl` (CREATE statements, the default) or `mschema` (XiYan's M-Schema). Resolved
   * options carry it only when it is not `ddl`.
   */
  schemaFormat?: SchemaFormat;
  /**
   * Schema linking: only the tables and columns the question and its evidence touch (with the keys that join
   * them) are shown (default false). Resolved options carry it only when true.
   */
  link?: boolean;
}

/** The schema formats: CREATE statements (the default) or XiYan's M-Schema. */
export const SCHEMA_FORMATS = ["ddl", "mschema"] as const;
/** A schema format. */
export type SchemaFormat = typeof SCHEMA_FORMATS[number];

/**
 * A schema format from a flag or parameter.
 *
 * @param text `ddl` or `mschema` (any case; `m-schema` accepted)
 * @returns the format
 * @throws {RangeError} naming the accepted formats
 */
export function parseSchemaFormat(text: string): SchemaFormat {
  const t = text.trim().toLowerCase().replace("m-schema", "mschema") as SchemaFormat;
  if (!SCHEMA_FORMATS.includes(t)) {
    throw new RangeError(
      `unknown schema format ${JSON.stringify(text)}: use one of ${SCHEMA_FORMATS.join(", ")}`,
    );
  }
  return t;
}

/**
 * Whether these options make a schema per question (matched values, linking) rather than one per database.
 *
 * @param options prompt options
 * @returns true with `values` above 0 or `link`
 */
export function perQuestionSchema(options: Partial<PromptOptions> = {}): boolean {
  const o = resolvePromptOptions(options);
  return (o.values ?? 0) > 0 || o.link === true;
}

/** The default options: the original tool's prompt. */
export const DEFAULT_PROMPT_OPTIONS: Readonly<PromptOptions> = Object.freeze({
  evidence: true,
  sampleRows: 0,
  descriptions: false,
  reasoning: false,
});

/**
 * Fill defaults and normalise (sample rows to a non-negative integer), with keys in a fixed order so the result
 * can be hashed and recorded as is. `dialect` is kept only when it is not `sqlite` (the default).
 *
 * @param options any subset of the options
 * @returns complete options
 * @throws {RangeError} for a dialect that is not one
 */
export function resolvePromptOptions(options: Partial<PromptOptions> = {}): PromptOptions {
  const sampleRows = Math.max(
    0,
    Math.floor(Number(options.sampleRows ?? DEFAULT_PROMPT_OPTIONS.sampleRows) || 0),
  );
  return {
    evidence: options.evidence ?? DEFAULT_PROMPT_OPTIONS.evidence,
    sampleRows,
    descriptions: options.descriptions ?? DEFAULT_PROMPT_OPTIONS.descriptions,
    reasoning: options.reasoning ?? DEFAULT_PROMPT_OPTIONS.reasoning,
    ...dialectField(options.dialect),
    ...extrasFields(options),
  };
}

/** The value, schema-format and linking options, each only when not its default (checked either way). */
function extrasFields(
  options: Partial<PromptOptions>,
): { values?: number; schemaFormat?: SchemaFormat; link?: boolean } {
  const values = Math.max(0, Math.floor(Number(options.values ?? 0) || 0));
  const format = options.schemaFormat === undefined ? "ddl" : parseSchemaFormat(options.schemaFormat);
  return {
    ...(values > 0 ? { values } : {}),
    ...(format !== "ddl" ? { schemaFormat: format } : {}),
    ...(options.link ? { link: true } : {}),
  };
}

/** `{dialect}` for a dialect other than sqlite, else nothing (checked either way). */
function dialectField(dialect: Dialect | undefined): { dialect?: Dialect } {
  if (dialect === undefined) return {};
  dialectName(dialect);
  return dialect === "sqlite" ? {} : { dialect };
}

/**
 * The options `renderSchema` needs for these prompt options.
 *
 * @param options prompt options (defaults filled in)
 * @returns `{sampleRows, descriptions}`, and `schemaFormat` when not `ddl`
 */
export function schemaOptionsOf(
  options: Partial<PromptOptions> = {},
): { sampleRows: number; descriptions: boolean; schemaFormat?: SchemaFormat } {
  const o = resolvePromptOptions(options);
  return {
    sampleRows: o.sampleRows,
    descriptions: o.descriptions,
    ...(o.schemaFormat ? { schemaFormat: o.schemaFormat } : {}),
  };
}

/**
 * The user prompt: `-- DB Schema: <schema>\n\n-- External Knowledge: <evidence>\n\n-- Question: <question>`.
 *
 * An empty evidence still gives `-- External Knowledge: ` (with its trailing space), as the original did, so
 * prompts for questions without knowledge match the original tool's too. With `evidence: false` the whole
 * knowledge section (and its blank line) is left out: a model is not shown an empty slot it was never meant to use.
 *
 * @param example the question (only `question` and `evidence` are read)
 * @param schema the rendered schema (from `renderSchema`)
 * @param options prompt options
 * @returns the user message text
 */
export function renderUserPrompt(
  example: Pick<Example, "question" | "evidence">,
  schema: string,
  options: Partial<PromptOptions> = {},
): string {
  const o = resolvePromptOptions(options);
  let text = "-- DB Schema: " + schema;
  if (o.evidence) text += "\n\n-- External Knowledge: " + (example.evidence ?? "");
  return text + "\n\n-- Question: " + example.question;
}

/**
 * The system prompt for these options.
 *
 * @param options prompt options
 * @returns {@link REASONING_SYSTEM_PROMPT} when `reasoning`, else {@link SYSTEM_PROMPT}; for another dialect
 *   the same texts naming it (`PostgreSQL`, `MySQL`) instead of `SQLite`
 */
export function systemPromptFor(options: Partial<PromptOptions> = {}): string {
  const o = resolvePromptOptions(options);
  if (o.dialect === undefined) return o.reasoning ? REASONING_SYSTEM_PROMPT : SYSTEM_PROMPT;
  const name = dialectName(o.dialect);
  return o.reasoning ? reasoningSystem(name) : plainSystem(name);
}

/**
 * The chat messages sent to a model (and the first two turns of an SFT/CoT conversation).
 *
 * @param example the question
 * @param schema the rendered schema
 * @param options prompt options
 * @returns `[system, user]`
 */
export function buildMessages(
  example: Pick<Example, "question" | "evidence">,
  schema: string,
  options: Partial<PromptOptions> = {},
): ChatMessage[] {
  return [
    { role: "system", content: systemPromptFor(options) },
    { role: "user", content: renderUserPrompt(example, schema, options) },
  ];
}

/**
 * The CoT teacher's instruction, from the original `create_reasoning_dataset.py`, with its faults fixed: the
 * question block is the evaluation renderer's (the original said `-- Text Question Input:` without blank lines,
 * so the student learnt on a prompt it was never evaluated with), and the teacher is told not to mention that it
 * was shown the answer, since the student will not be. It names no dialect (the SQLite default, as before
 * dialects); {@link teacherInstruction} names PostgreSQL or MySQL.
 */
export const TEACHER_INSTRUCTION =
  "You are a text to SQL query translator. Based on the DB Schema and External Knowledge, given the Question and its Gold SQL below, generate the step-by-step reasoning to infer the Gold SQL from the Question.";

/**
 * The teacher's instruction for a dialect: {@link TEACHER_INSTRUCTION} for SQLite, else the same naming the
 * dialect's schema and SQL (`Based on the PostgreSQL DB Schema …`, `… the Gold PostgreSQL SQL …`).
 *
 * @param dialect the dialect (default sqlite)
 * @returns the instruction text
 */
export function teacherInstruction(dialect: Dialect = "sqlite"): string {
  if (dialect === "sqlite") return TEACHER_INSTRUCTION;
  const name = dialectName(dialect);
  return `You are a text to SQL query translator. Based on the ${name} DB Schema and External Knowledge, given the Question and its Gold ${name} SQL below, generate the step-by-step reasoning to infer the Gold SQL from the Question.`;
}

const TEACHER_RESPONSE_FORMAT =
  "Write the reasoning as if you were deriving the SQL yourself from the question: " +
  "do not mention that a gold SQL was given. Your response should be as follows:\n\n" +
  "Let me think through this step by step:\n\n1. First, I need to consider...\n2. Then...\n3. Next...\n...\n\n" +
  "Finally, the SQL statement for the text question is:\n```sql\n...\n```";

/**
 * The messages asking a teacher model for reasoning toward the known gold SQL: one user turn holding the
 * instruction, the evaluation user prompt for the question, the gold SQL, and the required response shape
 * (reasoning, then the SQL in a ```sql fence).
 *
 * @param example the question, with its gold SQL in `sql`
 * @param schema the rendered schema
 * @param options prompt options (evidence, schema extras); `reasoning` is irrelevant here
 * @returns `[user]`
 */
export function buildTeacherMessages(
  example: Pick<Example, "question" | "evidence" | "sql">,
  schema: string,
  options: Partial<PromptOptions> = {},
): ChatMessage[] {
  const content = teacherInstruction(resolvePromptOptions(options).dialect) + "\n\n" +
    renderUserPrompt(example, schema, options) +
    "\n\n-- Gold SQL: " + example.sql.trim() + "\n\n" + TEACHER_RESPONSE_FORMAT;
  return [{ role: "user", content }];
}

/**
 * Hash of the exact messages sent for one question (recorded per result record).
 *
 * @param messages the chat messages
 * @returns sha256 hex of their canonical JSON (`[{content, role}, …]`)
 */
export function promptHash(messages: readonly ChatMessage[]): string {
  return sha256Hex(canonicalJson(messages.map((m) => ({ role: m.role, content: m.content }))));
}

const PLACEHOLDER = { question: "{question}", evidence: "{evidence}", sql: "{gold_sql}" };

/**
 * Hash of the prompt TEMPLATE with its options (recorded in run.json / dataset.json): the messages rendered for
 * placeholder question, evidence and schema, plus the version and options. Any change to a template's text or
 * to an option changes it; the data (questions, schemas) does not.
 *
 * @param options prompt options
 * @returns sha256 hex
 */
export function templateHash(options: Partial<PromptOptions> = {}): string {
  return hashTemplate(options, "messages", buildMessages);
}

/**
 * Hash of the CoT teacher's template with its options (recorded in a CoT dataset.json beside
 * {@link templateHash} of the student prompt). Kept apart so editing the teacher never invalidates evaluation runs.
 *
 * @param options prompt options
 * @returns sha256 hex
 */
export function teacherTemplateHash(options: Partial<PromptOptions> = {}): string {
  return hashTemplate(options, "teacher", buildTeacherMessages);
}

/** sha256 of `{version, options, [field]: render(placeholders)}`: the field name keeps the two hashes apart. */
function hashTemplate(
  options: Partial<PromptOptions>,
  field: "messages" | "teacher",
  render: (example: typeof PLACEHOLDER, schema: string, options: PromptOptions) => ChatMessage[],
): string {
  const o = resolvePromptOptions(options);
  return sha256Hex(
    canonicalJson({ version: PROMPT_VERSION, options: o, [field]: render(PLACEHOLDER, "{schema}", o) }),
  );
}
