/**
 * Datasets in: BIRD-format question sets and predictions files, the official archives' download and streaming unzip.
 *
 * @module
 */
export * from "./dataset.ts";
export * from "./download.ts";
