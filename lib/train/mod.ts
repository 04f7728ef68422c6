/**
 * Training data and training: SFT and CoT datasets, the trainer's config, launch, metrics and vLLM serving.
 * (`guards.ts` and `host.ts` are internal helpers and not exported.)
 *
 * @module
 */
export * from "./cot.ts";
export * from "./cot_answer.ts";
export * from "./cot_progress.ts";
export * from "./sft.ts";
export * from "./sft_split.ts";
export * from "./conversation.ts";
export * from "./dataset_build.ts";
export * from "./config.ts";
export * from "./config_load.ts";
export * from "./dataset_check.ts";
export * from "./fingerprint.ts";
export * from "./machines.ts";
export * from "./command.ts";
export * from "./metrics.ts";
export * from "./launch.ts";
export * from "./preflight.ts";
export * from "./train_job.ts";
export * from "./serve.ts";
export * from "./serve_job.ts";
export * from "./prompt_stats.ts";
