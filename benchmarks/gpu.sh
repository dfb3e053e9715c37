#!/usr/bin/env bash
# The GPU check, in one go, on a CUDA machine (issues 16 and 18):
#
#   bash benchmarks/gpu.sh [OUTPUT_FOLDER]        # default: $OUT, else benchmarks/gpu-results
#
# 1. pytest -m gpu (tests/test_gpu.py, tests/test_hf_backend.py, and any other gpu-marked test)
# 2. benchmarks/overhead.py in float32 and bfloat16 (workloads scaled to the GPU)
# 3. the log-likelihood and generation benchmarks against lm-evaluation-harness
#    (benchmarks/lm_eval_peer.py, when present and lm-eval is installed)
# 4. the same through vLLM, when vLLM is installed and the benchmark has a vLLM option
# 5. BERTScore against the bert-score package on the GPU, when time remains
#
# and writes every figure with the GPU's name into one Markdown file (gpu-<time>.md) in the
# output folder, plus each step's full log.  Each step runs under `timeout` within its share
# of TOTAL_S (480 s: the whole check fits in 8 minutes); a step that fails, is missing or runs
# out of time is reported in the file, never stops the others.  Exit status: 0 when every step
# that ran passed, 1 otherwise, 2 without a CUDA GPU (GPU_SH_DRY_RUN=1 runs every step on the
# CPU at toy sizes, to check the script itself).
set -u -o pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
PYTHON="${PYTHON:-$REPO/.venv/bin/python}"
[ -x "$PYTHON" ] || PYTHON="$(command -v python3)"
DEST="${1:-${OUT:-$REPO/benchmarks/gpu-results}}"
TOTAL_S="${TOTAL_S:-480}"
DRY="${GPU_SH_DRY_RUN:-0}"
START=$SECONDS
STAMP="$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$DEST/logs"
REPORT="$DEST/gpu-$STAMP.md"
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
FAILED=0

has_cuda() { "$PYTHON" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)'; }
if ! has_cuda && [ "$DRY" != 1 ]; then
    echo "gpu.sh: no CUDA GPU is visible to $PYTHON (torch.cuda.is_available() is False);" \
         "set GPU_SH_DRY_RUN=1 to check the script on the CPU" >&2
    exit 2
fi

# -- the machine ---------------------------------------------------------------------------------
{
    echo "# GPU check — $STAMP"
    echo
    if command -v nvidia-smi >/dev/null 2>&1; then
        echo "GPU (nvidia-smi): $(nvidia-smi --query-gpu=name,memory.total,driver_version \
            --format=csv,noheader | paste -sd ';' -)"
    fi
    "$PYTHON" - <<'EOF'
import platform, subprocess
import torch, transformers
try:
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
except OSError:
    commit = "?"
if torch.cuda.is_available():
    names = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    cap = torch.cuda.get_device_capability(0)
    print(f"GPU (torch): {', '.join(names)} (compute capability {cap[0]}.{cap[1]}, "
          f"CUDA {torch.version.cuda})")
else:
    print("GPU: none — dry run on the CPU (toy sizes; these figures say nothing about a GPU)")
print()
print(f"torch {torch.__version__}, transformers {transformers.__version__}, "
      f"Python {platform.python_version()}, evalsuite commit {commit}")
EOF
    echo
} > "$REPORT"

# -- steps ---------------------------------------------------------------------------------------
# step NAME BUDGET_S COMMAND...: run within min(BUDGET_S, the time left), log everything, copy
# the Markdown tables (lines starting with '|' or '###') and the last lines into the report.
step() {
    local name="$1" budget="$2"
    shift 2
    local left=$(( TOTAL_S - (SECONDS - START) - 5 ))
    local log="$DEST/logs/$STAMP-$name.log"
    (( budget > left )) && budget=$left
    {
        echo "## $name"
        echo
        echo "\`$*\`"
        echo
    } >> "$REPORT"
    if (( budget < 10 )); then
        echo "**not run**: the 8-minute budget is spent." >> "$REPORT"
        echo >> "$REPORT"
        FAILED=1
        return
    fi
    local began=$SECONDS
    timeout --kill-after=10 "$budget" "$@" > "$log" 2>&1
    local status=$?
    local took=$(( SECONDS - began ))
    if (( status == 124 || status == 137 )); then
        echo "**timed out** after ${budget} s (its figures below are what it printed)." \
            >> "$REPORT"
        FAILED=1
    elif (( status != 0 )); then
        echo "**failed** (exit status $status) after ${took} s." >> "$REPORT"
        FAILED=1
    else
        echo "passed in ${took} s." >> "$REPORT"
    fi
    echo >> "$REPORT"
    grep -E '^(\||###)' "$log" >> "$REPORT" || true
    echo >> "$REPORT"
    echo '```' >> "$REPORT"
    grep -v -E '^(\||###)|it/s\]|Loading weights|Writing model' "$log" | tail -n 15 \
        >> "$REPORT"
    echo '```' >> "$REPORT"
    echo >> "$REPORT"
}

missing() {  # missing NAME WHY: a step that cannot run here, reported, not fatal
    printf '## %s\n\nnot run: %s\n\n' "$1" "$2" >> "$REPORT"
}

if [ "$DRY" = 1 ]; then
    OVERHEAD=(--pairs 100 --sentences 64 --repeats 1 --dtypes float32 --scale 1)
    PEER=(--sentences 16 --documents 4 --rounds 1 --device cpu)
else
    OVERHEAD=(--repeats 3 --dtypes float32,bfloat16 --target-seconds 1)
    PEER=(--rounds 1 --device cuda)
fi

step "pytest -m gpu" 150 "$PYTHON" -m pytest -m gpu -q -rs -p no:cacheprovider

step "overhead" 140 "$PYTHON" benchmarks/overhead.py "${OVERHEAD[@]}"

if [ ! -f benchmarks/lm_eval_peer.py ]; then
    missing "log-likelihood and generation (lm-eval peer)" \
        "benchmarks/lm_eval_peer.py is not in this checkout"
elif ! "$PYTHON" -c 'import lm_eval' >/dev/null 2>&1; then
    missing "log-likelihood and generation (lm-eval peer)" \
        "lm-evaluation-harness is not installed (pip install -e '.[bench]')"
else
    step "log-likelihood and generation (lm-eval peer)" 100 \
        "$PYTHON" benchmarks/lm_eval_peer.py "${PEER[@]}"
fi

if ! "$PYTHON" -c 'import vllm' >/dev/null 2>&1; then
    missing "vLLM" "vllm is not installed (its gpu-marked tests, if any, ran in step 1)"
elif [ -f benchmarks/lm_eval_peer.py ] && \
        "$PYTHON" benchmarks/lm_eval_peer.py --help 2>/dev/null | grep -q -- '--kind'; then
    step "vLLM: log-likelihood and generation" 80 \
        "$PYTHON" benchmarks/lm_eval_peer.py "${PEER[@]}" --kind vllm
else
    missing "vLLM" "vllm is installed, but no benchmark here takes a vLLM option (its \
gpu-marked tests ran in step 1)"
fi

# 5. when time remains: BERTScore on the GPU against the bert-score package
if [ ! -f benchmarks/bertscore_check.py ]; then
    missing "BERTScore" "benchmarks/bertscore_check.py is not in this checkout"
elif ! "$PYTHON" -c 'import bert_score' >/dev/null 2>&1; then
    missing "BERTScore" "the bert-score package is not installed"
else
    step "BERTScore" 45 "$PYTHON" benchmarks/bertscore_check.py \
        --device "$([ "$DRY" = 1 ] && echo cpu || echo cuda)"
fi

echo "Total: $(( SECONDS - START )) s of the ${TOTAL_S} s budget." >> "$REPORT"
echo "gpu.sh: figures in $REPORT"
exit $FAILED
