/**
 * Talking to models: OpenAI-compatible providers, the client (start-up check, retries and rate limits, the
 * completion cache), secret scrubbing, tool turns and samples, SQL extraction.
 *
 * @module
 */
export * from "./client.ts";
export type { Completion } from "./completion.ts";
export * from "./context.ts";
export { GenerationError, parseRetryAfter, StartupError } from "./errors.ts";
export type { ModelIdentity } from "./listing.ts";
export * from "./chat_wire.ts";
export * from "./samples.ts";
export * from "./tool_chat.ts";
export {
  DEFAULT_REQUEST_TIMEOUT_S,
  DEFAULT_RETRY_BUDGET_S,
  KNOWN_CONTEXT_WINDOWS,
  knownContextWindow,
  type ModelClientOptions,
  type ModelConfig,
  type Prices,
  type Provider,
  PROVIDER_DEFAULTS,
  PROVIDERS,
  type ResolvedProvider,
  resolveProvider,
} from "./providers.ts";
export {
  keyShaped,
  publicBaseUrl,
  redact,
  redactUrl,
  Scrubber,
  scrubDeep,
  secretValues,
  type StripOptions,
  stripUrlCredentials,
} from "../util/mod.ts";
export * from "./sql_extract.ts";
