"""The GPU memory estimate (stdlib only), on Llama 3.1 8B's shape."""

import unittest

import _path  # noqa: F401  (puts trainer/ on sys.path)
from text2sql_trainer import validate_config
from text2sql_trainer.memory import estimate, fit_error, model_shape, parameter_count

LLAMA31_8B = {"hidden_size": 4096, "num_hidden_layers": 32, "intermediate_size": 14336, "vocab_size": 128256,
              "num_attention_heads": 32, "num_key_value_heads": 8}


class MemoryTest(unittest.TestCase):
    def test_the_8b_shape_has_8_billion_parameters(self):
        self.assertAlmostEqual(parameter_count(model_shape(LLAMA31_8B)) / 1e9, 8.03, delta=0.01)

    def test_the_default_profile_logits_alone_are_about_six_gigabytes(self):
        parts = estimate(validate_config({}), model_shape(LLAMA31_8B))
        self.assertAlmostEqual(parts["logits_gb"], 3 * 4096 * 128256 * 4 / 2**30, places=2)
        self.assertGreater(parts["total_gb"], parts["weights_gb"] + parts["logits_gb"])
        self.assertLess(parts["weights_gb"], 8)  # 4-bit: well under the 16 GB of bf16 weights
        self.assertIsNone(fit_error(parts, 80.0))

    def test_a_config_that_cannot_fit_is_refused_with_the_number(self):
        cfg = validate_config({"method": "lora", "training": {"per_device_batch_size": 16}})
        parts = estimate(cfg, model_shape(LLAMA31_8B))
        msg = fit_error(parts, 24.0, "NVIDIA L4")
        self.assertIsNotNone(msg)
        self.assertIn(f"estimated {parts['total_gb']:.1f} GiB", msg)
        self.assertIn("NVIDIA L4's 24.0 GiB", msg)

    def test_grpo_counts_the_completions_in_the_sequence(self):
        sft = estimate(validate_config({"training": {"per_device_batch_size": 4}}), model_shape(LLAMA31_8B))
        grpo = estimate(validate_config({"method": "grpo", "training": {"per_device_batch_size": 4,
                                                                        "gradient_accumulation_steps": 4}}),
                        model_shape(LLAMA31_8B))
        self.assertAlmostEqual(grpo["logits_gb"] / sft["logits_gb"], (4096 + 1024) / 4096, places=2)

    def test_qlora_counts_the_embeddings_and_head_in_fp32(self):
        # prepare_model_for_kbit_training casts them to fp32: 2 x 128256 x 4096 x 4 bytes = 3.91 GiB (1.96 more
        # than 16 bits), measured on a real model in test_torch_facts.py.
        shape = model_shape(LLAMA31_8B)
        parts = estimate(validate_config({}), shape)
        embed = 2 * 128256 * 4096
        quantized = (parameter_count(shape) - embed - (2 * 32 + 1) * 4096) * 0.53
        self.assertAlmostEqual(parts["weights_gb"], (quantized + (embed + 65 * 4096) * 4) / 2**30, places=2)
        self.assertGreater(parts["weights_gb"], quantized / 2**30 + 3.9)

    def test_vllm_colocated_takes_its_share_of_the_gpu(self):
        cfg = validate_config({"method": "grpo", "training": {"per_device_batch_size": 4, "gradient_accumulation_steps": 4},
                               "grpo": {"vllm_gpu_memory_utilization": 0.3}})
        shape = model_shape(LLAMA31_8B)
        without = estimate(cfg, shape, gpu_gb=80.0)
        with_vllm = estimate(cfg, shape, gpu_gb=80.0, vllm=True)
        self.assertAlmostEqual(with_vllm["vllm_gb"], 24.0)
        self.assertAlmostEqual(with_vllm["total_gb"] - without["total_gb"], 24.0, places=1)
        self.assertEqual(estimate(cfg, shape, vllm=True)["vllm_fraction"], 0.3)  # GPU unknown: the share, stated
        self.assertIn("vLLM's share 24.0", fit_error(with_vllm, 40.0))

    def test_fsdp_shards_weights_and_optimizer_over_the_processes(self):
        one = estimate(validate_config({"method": "full"}), model_shape(LLAMA31_8B))
        cfg = validate_config({"method": "full", "distributed": {"launcher": "accelerate", "num_processes": 8,
                                                                   "fsdp": True, "fsdp_layer_cls": "LlamaDecoderLayer"}})
        eight = estimate(cfg, model_shape(LLAMA31_8B))
        self.assertAlmostEqual(eight["weights_gb"], one["weights_gb"] / 8, places=1)
        self.assertAlmostEqual(eight["adapter_and_optimizer_gb"], one["adapter_and_optimizer_gb"] / 8, places=1)
        self.assertEqual(eight["fsdp_shards"], 8)
        self.assertNotIn("fsdp_machines", eight)
        # Over two machines FSDP shards over all 16 processes: half of eight's share each.
        cfg["distributed"].update(num_processes=16, num_machines=2)
        sixteen = estimate(cfg, model_shape(LLAMA31_8B))
        self.assertEqual((sixteen["fsdp_shards"], sixteen["fsdp_machines"]), (16, 2))
        self.assertAlmostEqual(sixteen["weights_gb"], one["weights_gb"] / 16, places=1)
        self.assertAlmostEqual(sixteen["adapter_and_optimizer_gb"], one["adapter_and_optimizer_gb"] / 16, places=1)


if __name__ == "__main__":
    unittest.main()
