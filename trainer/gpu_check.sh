#!/usr/bin/env bash
# Proves the trainer's GPU path on one GPU in under 8 minutes, on a bare GPU image with no network (torch CUDA,
# transformers, peft, accelerate installed; trl, datasets, bitsandbytes, vLLM not):
#   1. installs what the image lacks ONLY from the wheels folder given (pip --no-index --only-binary: nothing is
#      downloaded or built), after printing every wheel with its size;
#   2. SFT of a tiny random Llama with the real Llama 3.1 template (smoke_test.py): QLoRA 4-bit when
#      bitsandbytes is there, else bf16 LoRA (said in one line); loss falls, the adapter reloads and generates,
#      an interrupted run resumed from its checkpoint equals the uninterrupted one (losses and adapter, exactly);
#   3. GRPO on the same kind of model (grpo_check.py), QLoRA or LoRA policy likewise: temperature and beta reach
#      TRL, every step has a gradient, KL > 0 after the first update, the logged reward is the project's reward,
#      resume exact.
# Each step runs even when an earlier one failed; the last line says which failed (exit 1) or "passed".
#
#   bash trainer/gpu_check.sh WHEELS_DIR [OUT_DIR]       # on the GPU machine (OUT_DIR default: $OUT or ./gpu_check_out)
#   bash trainer/gpu_check.sh --fetch-wheels DIR         # on a machine with a Python index: the wheels to bring
#   bash trainer/gpu_check.sh --check-only [WHEELS_DIR]  # everything but the GPU, here: see check_only below
set -uo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
python="${PYTHON:-python3}"
budget_s="${GPU_CHECK_BUDGET_S:-480}"
max_wheels_kib=$((160 * 1024))
# What the bare GPU image lacks for SFT + GRPO, at requirements.txt's pins, with their own dependencies that
# torch/transformers/peft/accelerate do not already bring (measured with the pinned stack).
lacking=(trl datasets dill multiprocess xxhash pyarrow pandas python-dateutil six tzdata requests charset-normalizer
  urllib3)
# Optional: QLoRA (bitsandbytes) and colocated generation (vllm). Fetched when the index has them.
optional=(bitsandbytes)

usage() {
  echo "usage: bash trainer/gpu_check.sh WHEELS_DIR [OUT_DIR] | --fetch-wheels DIR | --check-only [WHEELS_DIR]" >&2
  exit 2
}

pin_of() { # the pinned requirement for a package, or the bare name
  local line
  line="$(grep -iE "^$1==" "$here/requirements.txt" || true)"
  echo "${line:-$1}"
}

# The wheels, one line each with its size: what the GPU machine must be given.
manifest() {
  local wheels="$1" f
  for f in "$wheels"/*.whl; do
    [[ -e "$f" ]] || continue
    printf '%8d KiB  %s\n' "$(($(stat -c %s "$f") / 1024))" "$(basename "$f")"
  done
  printf '%8d KiB  total\n' "$(du -sk "$wheels" | cut -f1)"
}

fetch_wheels() {
  local dir="$1" pyver="${GPU_PYTHON_VERSION:-$("$python" -c 'import sys; print(f"{sys.version_info[0]}{sys.version_info[1]}")')}"
  mkdir -p "$dir"
  local reqs=() name
  for name in "${lacking[@]}"; do reqs+=("$(pin_of "$name")"); done
  echo "gpu_check: fetching ${reqs[*]} for CPython ${pyver} (manylinux x86_64, binaries only)"
  "$python" -m pip download --quiet --retries 0 --timeout 5 --no-deps --only-binary=:all: \
    --python-version "$pyver" --platform manylinux2014_x86_64 --platform manylinux_2_28_x86_64 \
    --platform manylinux_2_17_x86_64 -d "$dir" "${reqs[@]}" 2> >(grep -v "^WARNING: Location" >&2) || return 1
  for name in "${optional[@]}"; do
    "$python" -m pip download --quiet --retries 0 --timeout 5 --no-deps --only-binary=:all: \
      --python-version "$pyver" --platform manylinux2014_x86_64 --platform manylinux_2_24_x86_64 -d "$dir" "$name" \
      >/dev/null 2>&1 || echo "gpu_check: $name: not on this index (the check then runs bf16 LoRA instead of QLoRA)"
  done
  manifest "$dir" | tee "$dir/MANIFEST.txt"
}

# Install what the image lacks, from local wheels only; refuse a folder over the cap.
install_wheels() {
  local wheels="$1"
  [[ -d "$wheels" ]] || { echo "gpu_check: wheels folder not found: $wheels" >&2; return 2; }
  local size_kib
  size_kib="$(du -sk "$wheels" | cut -f1)"
  if ((size_kib > max_wheels_kib)); then
    echo "gpu_check: $wheels holds ${size_kib} KiB of wheels (at most ${max_wheels_kib})" >&2
    return 2
  fi
  compgen -G "$wheels/trl-*.whl" >/dev/null || { echo "gpu_check: no trl wheel in $wheels" >&2; return 2; }
  manifest "$wheels"
  local pkgs=() name
  for name in "${lacking[@]}" "${optional[@]}"; do
    if compgen -G "$wheels/$(echo "$name" | tr - _)-*.whl" >/dev/null || compgen -G "$wheels/${name}-*.whl" >/dev/null; then
      pkgs+=("$name")
    fi
  done
  echo "gpu_check: installing ${pkgs[*]} from $wheels (no index, binaries only)"
  "$python" -m pip install --quiet --no-index --only-binary=:all: --find-links "$wheels" "${pkgs[@]}" "${@:2}"
}

# Every requirement of every wheel in the folder is met by another wheel there or by what the bare GPU image
# already has (torch, transformers, peft, accelerate and their own dependencies, as installed here).
wheels_complete() {
  "$python" - "$1" <<'PY'
import glob, os, re, sys, zipfile
from importlib.metadata import distribution, PackageNotFoundError
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name, parse_wheel_filename

def closure(names):
    seen = {}
    todo = list(names)
    while todo:
        n = canonicalize_name(todo.pop())
        if n in seen:
            continue
        try:
            d = distribution(n)
        except PackageNotFoundError:
            continue
        seen[n] = d.version
        for r in d.requires or []:
            req = Requirement(r)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
    return seen

image = closure(["torch", "transformers", "peft", "accelerate"])
wheels = {}
for f in glob.glob(os.path.join(sys.argv[1], "*.whl")):
    name, version, _, _ = parse_wheel_filename(os.path.basename(f))
    with zipfile.ZipFile(f) as z:
        meta = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
        reqs = [l.split(":", 1)[1].strip() for l in z.read(meta).decode().splitlines() if l.startswith("Requires-Dist:")]
    wheels[canonicalize_name(name)] = (str(version), reqs)
missing = []
for name, (_, reqs) in wheels.items():
    for r in reqs:
        req = Requirement(r)
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue
        n = canonicalize_name(req.name)
        have = wheels.get(n, (image.get(n),))[0]
        if have is None or (req.specifier and not req.specifier.contains(have, prereleases=True)):
            missing.append(f"{name} needs {r} (have {have or 'nothing'})")
if missing:
    print("gpu_check: the wheels are incomplete for the GPU image:\n  " + "\n  ".join(missing), file=sys.stderr)
    sys.exit(1)
print(f"gpu_check: {len(wheels)} wheels; every requirement met by them or by the image's {len(image)} packages")
PY
}

versions() {
  "$python" - <<'PY'
import importlib, importlib.util
for name in ("torch", "transformers", "peft", "accelerate", "trl", "datasets", "bitsandbytes", "vllm"):
    if importlib.util.find_spec(name) is None:
        print(f"{name}: not installed")
    else:
        print(f"{name}: {getattr(importlib.import_module(name), '__version__', '?')}")
PY
}

# QLoRA when bitsandbytes imports and sees CUDA; else bf16 LoRA, said in one line.
pick_method() {
  if "$python" -c "import bitsandbytes, torch; assert torch.cuda.is_available()" >/dev/null 2>&1; then
    echo qlora
  else
    echo "gpu_check: bitsandbytes absent (or without CUDA): QLoRA skipped; SFT and GRPO run as bf16 LoRA" >&2
    echo lora
  fi
}

failed=()
start=$SECONDS
# step NAME LOG CMD...: run with the time left, tee the log, record a failure and go on.
step() {
  local name="$1" logfile="$2"
  shift 2
  local left=$((budget_s - (SECONDS - start)))
  if ((left < 30)); then
    echo "gpu_check: $name: not run, no time left of the ${budget_s} s budget" >&2
    failed+=("$name (no time)")
    return
  fi
  echo "gpu_check: $name"
  if ! timeout "$left" "$@" 2>&1 | tee "$logfile"; then
    failed+=("$name")
  fi
}

finish() {
  if ((${#failed[@]})); then
    echo "gpu_check: FAILED: ${failed[*]} ($((SECONDS - start)) s)"
    exit 1
  fi
  echo "gpu_check: passed in $((SECONDS - start)) s${1:+; $1}"
  exit 0
}

# Everything but the GPU: the script parses, the pins and the lacking list agree with requirements.txt, a wheels
# folder (when given) resolves with no index into THIS environment (pip --dry-run), the method is picked (here
# without bitsandbytes: LoRA, with its line), and the same two checks run on CPU with the same arguments.
check_only() {
  bash -n "$0" || exit 1
  versions
  local name
  for name in trl datasets; do
    grep -qiE "^$name==" "$here/requirements.txt" || { echo "gpu_check: $name is not pinned in requirements.txt" >&2; exit 1; }
  done
  if [[ -n "${1:-}" ]]; then
    wheels_complete "$1" || exit 1
  fi
  local method
  method="$(pick_method)"
  export CUDA_VISIBLE_DEVICES="" TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
  if [[ "${GPU_CHECK_SKIP_RUNS:-0}" != 1 ]]; then
    local out
    out="$(mktemp -d)"
    step "SFT ($method), CPU" "$out/sft.log" "$python" "$here/smoke_test.py" --cpu --method "$method"
    step "GRPO ($method policy), CPU" "$out/grpo.log" "$python" "$here/grpo_check.py" --cpu --adapter "$method"
    rm -rf "$out"
  fi
  finish "check-only (no GPU used)"
}

case "${1:-}" in
  --fetch-wheels)
    [[ $# -eq 2 ]] || usage
    fetch_wheels "$2"
    exit $?
    ;;
  --check-only)
    [[ $# -le 2 ]] || usage
    check_only "${2:-}"
    ;;
  "" | -*) usage ;;
esac
[[ $# -ge 1 && $# -le 2 ]] || usage
wheels="$1"
out_dir="${2:-${OUT:-./gpu_check_out}}"
mkdir -p "$out_dir"

command -v nvidia-smi >/dev/null || { echo "gpu_check: nvidia-smi not found: no GPU here" >&2; exit 1; }
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$out_dir/gpu.txt"
install_wheels "$wheels" | tee "$out_dir/wheels.txt" || exit 1
versions | tee "$out_dir/versions.txt"
method="$(pick_method 2> >(tee "$out_dir/method.txt" >&2))"
echo "$method" >>"$out_dir/method.txt"

export TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
start=$SECONDS
step "SFT ($method), 30 steps + interrupted and resumed" "$out_dir/sft.log" \
  "$python" "$here/smoke_test.py" --method "$method" --metrics "$out_dir/metrics_gpu_sft_${method}.jsonl"
step "GRPO ($method policy), 4 steps + interrupted and resumed" "$out_dir/grpo.log" \
  "$python" "$here/grpo_check.py" --adapter "$method" --metrics "$out_dir/metrics_gpu_grpo.jsonl"
finish "metrics and logs in $out_dir"
