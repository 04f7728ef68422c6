/**
 * `npm:openai`, loaded the first time a client is made: scoring a predictions file never evaluates the library
 * (tens of milliseconds of start-up). Its error classes are read through {@linkcode loadedOpenAI}: an error of
 * theirs exists only once the library is loaded.
 *
 * @module
 */
import type * as OpenAIModule from "openai";

/** The `npm:openai` module. */
export type OpenAILib = typeof OpenAIModule;

let lib: OpenAILib | null = null;

/** The `npm:openai` module, loaded on the first call. */
export async function loadOpenAI(): Promise<OpenAILib> {
  lib ??= await import("openai");
  return lib;
}

/** The `npm:openai` module when a client has loaded it, else null (then nothing can have thrown its errors). */
export function loadedOpenAI(): OpenAILib | null {
  return lib;
}
