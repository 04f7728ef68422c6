/**
 * The gold audit: every gold query executed through the sandboxed engine and checked (errors, empty results,
 * ties at a LIMIT cut, literals absent from the data, evidence and shape heuristics, duplicates, SQLite-version
 * sensitivity); the audit folder as training and reports read it.
 *
 * @module
 */
export * from "./audit.ts";
export * from "./audit_read.ts";
export * from "./audit_types.ts";
export { parseAuditLog, readAuditLog } from "./audit_log.ts";
export { AUDIT_SAMPLE_ROWS, auditQuestion, setKeyOf } from "./audit_question.ts";
export { limitSites, literalComparisons, roundNudged, tableRefs, versionConstructs } from "./sql_analysis.ts";
export { askedShape, evidenceFlags, normaliseQuestion, shapeFlags } from "./question_rules.ts";
