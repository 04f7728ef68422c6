"""Facts the stdlib code assumes about the pinned torch stack, checked against it (needs the trainer's venv).

- memory.py's QLoRA term: `prepare_model_for_kbit_training` leaves the embeddings, head and norms in fp32;
- defaults.json's optimizer names are exactly the pinned transformers' `OptimizerNames`;
- a tokenizer listing `token_type_ids` (transformers 4.x's default) is fixed by `prepare_tokenizer`, so GRPO's
  `generate` never receives them.
"""

import json
import os
import unittest

import _path  # noqa: F401
import cpu_checks as cc


@unittest.skipIf(cc.MISSING, cc.WHY_SKIPPED)
class TorchFactsTest(unittest.TestCase):
    def test_kbit_preparation_keeps_embeddings_head_and_norms_in_fp32_as_the_estimate_counts(self):
        import torch
        from peft import prepare_model_for_kbit_training
        from transformers import LlamaConfig, LlamaForCausalLM

        from text2sql_trainer import validate_config
        from text2sql_trainer.memory import model_shape, parameter_count, weight_bytes

        conf = LlamaConfig(vocab_size=512, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                           num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=False)
        model = LlamaForCausalLM(conf).to(torch.bfloat16)
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
        # A real 4-bit model keeps its linear layers in Params4bit; everything else is what the cast touched.
        other = {n: p for n, p in model.named_parameters()
                 if not any(k in n for k in ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj",
                                             "down_proj"))}
        self.assertTrue(other and all(p.dtype == torch.float32 for p in other.values()),
                        {n: p.dtype for n, p in other.items()})
        measured = sum(p.numel() * p.element_size() for p in other.values())
        shape = model_shape(conf)
        cfg = validate_config({"method": "qlora", "lora": {"r": 8}, "training": {"max_length": 64}})
        linear = parameter_count(shape) - sum(p.numel() for p in other.values())
        self.assertEqual(parameter_count(shape), sum(p.numel() for p in model.parameters()))
        counted = weight_bytes(cfg, shape) - linear * 0.53
        self.assertAlmostEqual(counted / measured, 1.0, delta=0.01)

    def test_the_optimizer_names_are_the_pinned_transformers(self):
        from transformers.training_args import OptimizerNames

        with open(os.path.join(cc.TRAINER, "text2sql_trainer", "defaults.json"), encoding="utf-8") as f:
            ours = set(json.load(f)["optimizers"])
        self.assertEqual(ours, {o.value for o in OptimizerNames})

    def test_a_tokenizer_listing_token_type_ids_stops_returning_them(self):
        import smoke_test  # noqa: F401  (trainer/ is on sys.path)
        from transformers import PreTrainedTokenizerFast

        from text2sql_trainer.hf_data import prepare_tokenizer

        built = smoke_test.build_tokenizer()
        self.assertNotIn("token_type_ids", built("SELECT 1"))  # the cause: Llama's config lists no such input
        # transformers 4.57's default for a tokenizer without that config: the failure GRPO's generate() hit.
        tok = PreTrainedTokenizerFast(tokenizer_object=built._tokenizer, bos_token=built.bos_token,
                                      eos_token=built.eos_token, chat_template=built.chat_template,
                                      model_input_names=["input_ids", "token_type_ids", "attention_mask"])
        self.assertIn("token_type_ids", tok("SELECT 1"))
        prepare_tokenizer(tok)
        self.assertNotIn("token_type_ids", tok("SELECT 1"))
        self.assertNotIn("token_type_ids", tok.apply_chat_template([{"role": "user", "content": "q"}],
                                                                   add_generation_prompt=True, return_dict=True))


if __name__ == "__main__":
    unittest.main()
