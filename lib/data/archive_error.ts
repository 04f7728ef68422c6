/**
 * The error of an archive and the one-line message of any thrown value: shared by the download, the
 * verification and the zip extraction without loading `@zip.js/zip.js`, which only extraction needs.
 *
 * @module
 */

/** An error about one archive or one of its entries; the message is one line naming them. */
export class ArchiveError extends Error {
  /** The archive the error is about. */
  archive: string;
  /** The entry the error is about, when there is one. */
  entry?: string;
  /**
   * `unsafe`: a name or symlink was refused (the archive itself is intact); `corrupt`: an entry failed its
   * CRC or could not be inflated; `unreadable`: no zip structure could be read.
   */
  kind: "unsafe" | "corrupt" | "unreadable";
  /**
   * @param message One line naming the archive (and entry).
   * @param kind What went wrong, see {@link ArchiveError.kind}.
   * @param archive Path of the archive.
   * @param entry Entry name, when the error is about one entry.
   */
  constructor(
    message: string,
    kind: ArchiveError["kind"],
    archive: string,
    entry?: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = "ArchiveError";
    this.kind = kind;
    this.archive = archive;
    this.entry = entry;
  }
}

/** The message of an unknown thrown value, on one line. */
export function message(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.replace(/\s*\n\s*/g, " ").trim();
}
