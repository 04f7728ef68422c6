/**
 * An audit folder as training and reports read it: the records by dataset index, checked against the dataset
 * they are used with (an audit of another dataset is refused, in one line), and which questions an exclude list
 * leaves out, with the flags that did it.
 *
 * @module
 */
import { join } from "node:path";
import { readAuditLog } from "./audit_log.ts";
import { AUDIT_FILES, type AuditInfo, type AuditRecord, excludedBy, type Flag } from "./audit_types.ts";

/** A loaded audit. */
export interface LoadedAudit {
  dir: string;
  info: AuditInfo;
  records: Map<number, AuditRecord>;
}

/**
 * Load an audit folder. With `datasetSha256`, refuse an audit of another dataset.
 *
 * @throws {Error} one line naming the folder when it holds no finished audit or audits another dataset
 */
export async function loadAudit(dir: string, options: { datasetSha256?: string } = {}): Promise<LoadedAudit> {
  let info: AuditInfo;
  try {
    info = JSON.parse(await Deno.readTextFile(join(dir, AUDIT_FILES.info)));
  } catch (e) {
    throw new Error(
      `--audit ${dir}: no audit there (${AUDIT_FILES.info}: ${
        (e as Error).message
      }); run deno task audit first`,
    );
  }
  if (options.datasetSha256 && info.dataset.sha256 !== options.datasetSha256) {
    throw new Error(
      `--audit ${dir}: it audits ${info.dataset.path} (sha256 ${
        info.dataset.sha256.slice(0, 12)
      }…), not this dataset`,
    );
  }
  const { records } = await readAuditLog(dir);
  return { dir, info, records };
}

/** The flags of a question that an exclude list leaves out (empty: kept). */
export function excludingFlags(record: AuditRecord | undefined, exclude: readonly string[]): Flag[] {
  return record ? record.flags.filter((f) => excludedBy(f, exclude)) : [];
}

/** True when the question carries a severe flag (EX on unflagged questions leaves it out). */
export const hasSevereFlag = (record: AuditRecord | undefined): boolean =>
  record !== undefined && record.flags.some((f) => f.severity === "error");

/** The alternative results of a question's `tie` flags (for the GRPO reward), or null when it has none. */
export function tieAlternatives(record: AuditRecord | undefined): string[][][] | null {
  const alts = (record?.flags ?? []).filter((f) => f.kind === "tie" && f.alternatives).flatMap((f) =>
    f.alternatives!
  );
  return alts.length ? alts : null;
}
