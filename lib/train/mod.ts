/**
 * Training data and training: SFT and CoT datasets, the trainer's config, launch, metrics and vLLM serving.
 *
 * @module
 */
export * from "./cot.ts";
export * from "./sft.ts";
export * from "./trainer.ts";
