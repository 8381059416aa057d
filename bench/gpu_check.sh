#!/usr/bin/env bash
# GPU check (issue 13 part 6): on one CUDA GPU, within 10 minutes,
#   1. the CUDA tests (pytest -m gpu: tests/training/test_gpu_path.py and friends),
#   2. SYNTHETIC full-size CIFAR-10 files (random pixels; bench/make_synthetic.py) in a scratch data directory,
#   3. the full CIFAR-10 / ResNet-18 comparison on them (every method, one seed; bench/bench_full_comparison.py):
#      per-method seconds, speed-up vs retrain, peak GPU memory (torch.cuda.max_memory_allocated) per job.
# The data are synthetic: the timings and memory are real, the accuracies mean nothing.
#
# Usage:  bash bench/gpu_check.sh [--out DIR]
#   --out DIR               also write gpu_check.log, pytest.log, comparison.csv there
#   PYTHON=...              the interpreter (default: .venv/bin/python if it imports torch, else python3)
#   GPU_CHECK_BUDGET=570    seconds for the whole check; the comparison gets what the tests leave
#   GPU_CHECK_TRAIN="epochs=10 batch_size=512"   training overrides for the comparison (default: none)
#   GPU_CHECK_METHODS=all   comma-separated methods for the comparison
#   GPU_CHECK_WHEELS=.whl   folder of wheels installed (no network, into a scratch --target) when a package
#                           the engine needs is missing; see the README ("Scale out, GPU, share")
#   GPU_CHECK_DEVICE=cpu    a DRY RUN of the script's plumbing on a CPU (the CUDA tests skip; tiny settings
#                           via GPU_CHECK_PER_CLASS=10 GPU_CHECK_MODEL=cnn GPU_CHECK_TRAIN=epochs=1); no GPU figure
# Exit status: 0 all passed; 1 a CUDA test or the comparison failed; 2 no CUDA device (or no torch);
# 3 a package is missing; 124 the budget ran out (the job lines printed so far are the figures).
set -uo pipefail
cd "$(dirname "$0")/.."

OUT_DIR=""
while [ $# -gt 0 ]; do
  case "$1" in
    --out) OUT_DIR="${2:?--out needs a directory}"; shift 2 ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "gpu_check: unknown argument $1 (try --help)" >&2; exit 64 ;;
  esac
done
BUDGET="${GPU_CHECK_BUDGET:-570}"
DEVICE="${GPU_CHECK_DEVICE:-cuda}"
MODEL="${GPU_CHECK_MODEL:-resnet18}"
METHODS="${GPU_CHECK_METHODS:-all}"
WHEELS="${GPU_CHECK_WHEELS:-.whl}"
SCRATCH="$(mktemp -d "${TMPDIR:-/tmp}/gpu-check.XXXXXX")"
trap 'rm -rf "$SCRATCH"' EXIT
if [ -n "$OUT_DIR" ]; then
  mkdir -p "$OUT_DIR" || exit 64
  exec > >(tee "$OUT_DIR/gpu_check.log") 2>&1
fi
export PYTHONUNBUFFERED=1

fail() {  # fail STATUS MESSAGE...: say it loudly on stderr and stop
  local status="$1"; shift
  { echo; echo "gpu_check: FAILED: $*"; echo; } >&2
  exit "$status"
}
left() { echo $(( BUDGET - SECONDS )); }
limit() {  # limit SECONDS COMMAND...: run COMMAND, stopped after SECONDS (status 124) where coreutils' timeout exists
  local s="$1"; shift
  if command -v timeout >/dev/null 2>&1; then timeout "$s" "$@"; else "$@"; fi
}

# --- the interpreter and its CUDA device (first, so that a machine without one stops at once) -------------------
if [ -z "${PYTHON:-}" ]; then
  PYTHON=python3
  if [ -x .venv/bin/python ] && .venv/bin/python -c 'import torch' >/dev/null 2>&1; then PYTHON=.venv/bin/python; fi
fi
command -v "$PYTHON" >/dev/null 2>&1 || fail 2 "no Python interpreter '$PYTHON' (set PYTHON=...)"
if [ "$DEVICE" = cpu ]; then
  echo "gpu_check: DRY RUN on the CPU (GPU_CHECK_DEVICE=cpu): the script's plumbing only; no CUDA test runs and" \
    "no figure below is a GPU figure"
else
  cuda_info="$("$PYTHON" - <<'EOF' 2>&1
import sys
try:
    import torch
except Exception as e:  # no torch at all
    print(f"{sys.executable} cannot import torch: {e}")
    sys.exit(2)
if not torch.cuda.is_available():
    built = f"built for CUDA {torch.version.cuda}" if torch.version.cuda else "built without CUDA"
    print(f"no CUDA device is visible to {sys.executable} (torch {torch.__version__}, {built}: "
          f"torch.cuda.is_available() is False)")
    sys.exit(2)
p = torch.cuda.get_device_properties(0)
print(f"{torch.cuda.get_device_name(0)}, {p.total_memory / 2**30:.0f} GiB, compute capability {p.major}.{p.minor}, "
      f"{torch.cuda.device_count()} visible; torch {torch.__version__} (CUDA {torch.version.cuda}); "
      f"python {sys.version.split()[0]} at {sys.executable}")
EOF
  )"
  status=$?
  if [ $status -ne 0 ]; then
    fail 2 "$cuda_info. This check needs one NVIDIA GPU with a CUDA build of torch (README: \"Scale out, GPU, share\"); on a CPU machine run 'make test' instead."
  fi
  echo "gpu_check: device: $cuda_info"
fi

# --- packages the engine and the tests import; carried wheels fill the gaps (no network) -------------------------
MODULES="torch torchvision numpy pandas scipy sklearn xgboost diskcache pytest"
missing_modules() {
  "$PYTHON" -c 'import importlib.util, sys; print(" ".join(m for m in sys.argv[1:] if importlib.util.find_spec(m) is None))' $MODULES
}
missing="$(missing_modules)"
if [ -n "$missing" ] && compgen -G "$WHEELS/*.whl" >/dev/null; then
  echo "gpu_check: missing [$missing]: installing the wheels in $WHEELS into $SCRATCH/site (no network)"
  "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$SCRATCH/site" "$WHEELS"/*.whl \
    || fail 3 "pip could not install the wheels in $WHEELS"
  export PYTHONPATH="$SCRATCH/site${PYTHONPATH:+:$PYTHONPATH}"
  missing="$(missing_modules)"
fi
if [ -n "$missing" ]; then
  fail 3 "$PYTHON lacks: $missing. The GPU machine's python (its image) brings torch, torchvision, numpy,
  pandas, scipy, scikit-learn and pytest, but not diskcache or xgboost: bring those two as wheels into $WHEELS
  (on a machine with the package index, in the repo root; the pins of requirements.txt, xgboost-cpu being
  xgboost without its CUDA library, 6 MB instead of 230; match --python-version to the GPU machine's python):
    python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \\
      --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \\
      -d $WHEELS diskcache==5.6.3 xgboost-cpu==3.2.0
  and carry $WHEELS along (it must not be committed: list it in .git/info/exclude)."
fi
echo "gpu_check: packages: all of [$MODULES] import"

# --- 1. the CUDA tests --------------------------------------------------------------------------------------------
test_limit=$(( $(left) < 240 ? $(left) : 240 ))
echo; echo "gpu_check: [1/3] CUDA tests (pytest -m gpu, at most ${test_limit} s)"
pytest_log="${OUT_DIR:+$OUT_DIR/pytest.log}"
limit "$test_limit" "$PYTHON" -m pytest -m gpu -p no:cacheprovider -q -rA tests/training 2>&1 \
  | tee "${pytest_log:-/dev/null}"
tests_status=${PIPESTATUS[0]}
case $tests_status in
  0) if [ "$DEVICE" = cpu ]; then echo "gpu_check: pytest passed (DRY RUN: the CUDA tests skip on the CPU)"
     else echo "gpu_check: CUDA tests passed"; fi ;;
  5) echo "gpu_check: FAILED: pytest collected no CUDA test"; tests_status=1 ;;
  124) echo "gpu_check: FAILED: the CUDA tests ran past ${test_limit} s"; tests_status=1 ;;
  *) echo "gpu_check: FAILED: CUDA tests (pytest exit $tests_status); the comparison runs anyway"; tests_status=1 ;;
esac

# --- 2. synthetic CIFAR-10 ----------------------------------------------------------------------------------------
echo; echo "gpu_check: [2/3] SYNTHETIC CIFAR-10 (random pixels, timing only) in $SCRATCH/data"
"$PYTHON" bench/make_synthetic.py "$SCRATCH/data" --datasets cifar10 \
  ${GPU_CHECK_PER_CLASS:+--train-per-class "$GPU_CHECK_PER_CLASS" --test-per-class "$GPU_CHECK_PER_CLASS"} \
  || fail 1 "could not write the synthetic files"

# --- 3. the full comparison ---------------------------------------------------------------------------------------
bench_limit=$(left)
[ "$bench_limit" -gt 30 ] || fail 124 "no time left for the comparison (budget ${BUDGET} s)"
train_args=()
for kv in ${GPU_CHECK_TRAIN:-}; do train_args+=(--train "$kv"); done
echo; echo "gpu_check: [3/3] CIFAR-10 (SYNTHETIC) / $MODEL, methods $METHODS, 1 seed, $DEVICE" \
  "(at most ${bench_limit} s)${GPU_CHECK_TRAIN:+, training overrides: $GPU_CHECK_TRAIN}"
UNLEARN_VERIFY_CHECKSUMS=0 limit "$bench_limit" "$PYTHON" bench/bench_full_comparison.py \
  --dataset cifar10 --model "$MODEL" --device "$DEVICE" --executor local --methods "$METHODS" \
  --data-dir "$SCRATCH/data" ${OUT_DIR:+--csv "$OUT_DIR/comparison.csv"} ${train_args[@]+"${train_args[@]}"}
bench_status=$?
echo
if [ $bench_status -eq 124 ]; then
  echo "gpu_check: FAILED: the comparison ran past the budget (${BUDGET} s in all); the job lines above are what finished"
  exit 124
fi
[ $bench_status -eq 0 ] || { echo "gpu_check: FAILED: the comparison exited with status $bench_status"; exit 1; }
[ $tests_status -eq 0 ] || { echo "gpu_check: FAILED: the CUDA tests (see above); the comparison finished"; exit 1; }
echo "gpu_check: OK in ${SECONDS} s (data SYNTHETIC: timings and memory are real, accuracies mean nothing)"
