#!/usr/bin/env bash
# Proves the trainer's GPU path on one GPU in under 8 minutes, with no network:
#   1. installs trl, bitsandbytes (and vLLM when present) ONLY from the wheels folder given (pip --no-index
#      --only-binary: nothing is downloaded or built);
#   2. QLoRA 4-bit SFT of a tiny random Llama with the real Llama 3.1 template (smoke_test.py --method qlora):
#      loss falls, the adapter reloads and generates, resume continues step, learning rate and optimizer state;
#   3. GRPO for 10 steps on the same kind of model, rewarded by the sandboxed execution reward (grpo_check.py).
# Metric files and logs go to OUT_DIR (default: $OUT when set, else ./gpu_check_out).
#
#   bash trainer/gpu_check.sh WHEELS_DIR [OUT_DIR]
#   bash trainer/gpu_check.sh --check-only   # the non-GPU parts: arguments, wheels folder, python imports
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
python="${PYTHON:-python3}"
budget_s="${GPU_CHECK_BUDGET_S:-480}"

usage() {
  echo "usage: bash trainer/gpu_check.sh WHEELS_DIR [OUT_DIR] | --check-only" >&2
  exit 2
}

# Install the packages the GPU image lacks from local wheels only; refuse a folder over 64 MiB.
install_wheels() {
  local wheels="$1"
  [[ -d "$wheels" ]] || { echo "gpu_check: wheels folder not found: $wheels" >&2; exit 2; }
  local size_kib
  size_kib="$(du -sk "$wheels" | cut -f1)"
  if ((size_kib > 65536)); then
    echo "gpu_check: $wheels holds ${size_kib} KiB of wheels (at most 65536)" >&2
    exit 2
  fi
  local pkgs=()
  local name
  for name in trl bitsandbytes vllm; do
    if compgen -G "$wheels/${name}-*.whl" >/dev/null; then pkgs+=("$name"); fi
  done
  if ((${#pkgs[@]} == 0)); then
    echo "gpu_check: no trl/bitsandbytes/vllm wheel in $wheels" >&2
    exit 2
  fi
  echo "gpu_check: installing ${pkgs[*]} from $wheels (no index, binaries only)"
  "$python" -m pip install --quiet --no-index --only-binary=:all: --find-links "$wheels" "${pkgs[@]}"
}

versions() {
  "$python" - <<'PY'
import importlib, importlib.util
for name in ("torch", "transformers", "peft", "accelerate", "trl", "bitsandbytes", "vllm", "datasets"):
    if importlib.util.find_spec(name) is None:
        print(f"{name}: not installed")
    else:
        print(f"{name}: {getattr(importlib.import_module(name), '__version__', '?')}")
PY
}

if [[ "${1:-}" == "--check-only" ]]; then
  bash -n "$0"
  versions
  "$python" -c "import sys; sys.path.insert(0, '$here'); import text2sql_trainer.reward, text2sql_trainer.config"
  echo "gpu_check: check-only passed"
  exit 0
fi
[[ $# -ge 1 && $# -le 2 ]] || usage
wheels="$1"
out_dir="${2:-${OUT:-./gpu_check_out}}"
mkdir -p "$out_dir"

command -v nvidia-smi >/dev/null || { echo "gpu_check: nvidia-smi not found: no GPU here" >&2; exit 1; }
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$out_dir/gpu.txt"
install_wheels "$wheels"
versions | tee "$out_dir/versions.txt"

start=$SECONDS
export TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
echo "gpu_check: QLoRA SFT, 40 steps"
timeout "$budget_s" "$python" "$here/smoke_test.py" --method qlora --steps 40 \
  --metrics "$out_dir/metrics_gpu_sft_qlora.jsonl" 2>&1 | tee "$out_dir/sft_qlora.log"
left=$((budget_s - (SECONDS - start)))
((left > 30)) || { echo "gpu_check: no time left for GRPO" >&2; exit 1; }
echo "gpu_check: GRPO (QLoRA policy), 10 steps"
timeout "$left" "$python" "$here/grpo_check.py" --adapter qlora --steps 10 \
  --metrics "$out_dir/metrics_gpu_grpo.jsonl" 2>&1 | tee "$out_dir/grpo.log"
echo "gpu_check: passed in $((SECONDS - start)) s; metrics in $out_dir"
