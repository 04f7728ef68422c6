/**
 * Datasets in: BIRD-format question sets and predictions files, the official archives' download and streaming unzip.
 *
 * @module
 */
export * from "./dataset.ts";
export { type DatasetName, type DatasetSpec, datasetSpec, DownloadError } from "./bird_archives.ts";
export { downloadDataset, type DownloadOptions, type DownloadResult } from "./download.ts";
export { type DownloadProgress, formatProgress } from "./download_progress.ts";
export { VERIFIED_MARKER } from "./manifest.ts";
export { formatSummary, type VerificationSummary } from "./verify.ts";
