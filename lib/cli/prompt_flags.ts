/**
 * The prompt flags every command that builds prompts reads (`eval`, `sft`, `cot`, `prompt-stats`): `--values K`,
 * `--schema-format ddl|mschema` and `--link`, beside the older `--no-evidence`, `--sample-rows` and
 * `--descriptions` that each command declares itself.
 *
 * @module
 */
import { parseSchemaFormat, type SchemaFormat } from "../prompt/mod.ts";
import { numberFlag, UsageError } from "../util/mod.ts";

/** The parseArgs spec of the value and schema flags. */
export const VALUE_FLAGS = {
  values: { type: "string" },
  "schema-format": { type: "string" },
  link: { type: "boolean" },
} as const;

/** Their usage line. */
export const VALUE_USAGE = "[--values K] [--schema-format ddl|mschema] [--link]";

/**
 * The prompt options of the value and schema flags, each only when given (so the defaults stay out of records).
 *
 * @param values parsed flags (`values`, `schema-format`, `link`, and `sample-rows` to check against M-Schema)
 * @returns `{values?, schemaFormat?, link?}`
 * @throws {UsageError} for a bad K or format, or sample rows with M-Schema
 */
export function valueFlags(
  values: { values?: string; "schema-format"?: string; link?: boolean; "sample-rows"?: string },
): { values?: number; schemaFormat?: SchemaFormat; link?: boolean } {
  const k = numberFlag("values", values.values, { integer: true, min: 0 });
  let format: SchemaFormat | undefined;
  try {
    format = values["schema-format"] === undefined ? undefined : parseSchemaFormat(values["schema-format"]);
  } catch (e) {
    throw new UsageError(`--schema-format: ${(e as Error).message}`);
  }
  if (format === "mschema" && Number(values["sample-rows"] ?? 0) > 0) {
    throw new UsageError("--sample-rows applies to --schema-format ddl only (M-Schema shows example values)");
  }
  return {
    ...(k ? { values: k } : {}),
    ...(format && format !== "ddl" ? { schemaFormat: format } : {}),
    ...(values.link ? { link: true } : {}),
  };
}
