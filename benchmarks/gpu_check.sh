#!/usr/bin/env bash
# GPU check (issue 20 item 6): the `gpu` test subset and the training-speed table on one CUDA GPU.
#
# Run from the repository root on a machine with an NVIDIA GPU:
#
#     bash benchmarks/gpu_check.sh
#
# It prints nvidia-smi and the torch / CUDA versions, runs `pytest -m gpu tests` (the tests in
# tests/test_gpu.py), then benchmarks/bench_train.py for the presets cifar (32x32) and paper256
# (256x256), each in fp32 and mixed precision, at their default batch (64) on synthetic data of
# the preset's resolution, and prints a markdown table (preset, precision, batch, ms/step, sec/kimg,
# kimg/s, images/s, GPU name) ready to paste into benchmarks/RESULTS.md. With $OUT set, the
# table is also written to $OUT/gpu_table.md, the logs to $OUT/gpu_pytest.log and gpu_bench.log.
# RESULTS.md itself is not modified. A configuration that fails (e.g. out of memory) is one
# "FAILED ..." line and a "failed" row; the others still run. Budget: under ~8 minutes on one
# H100 once stylegen is installed (a first pip install comes on top).
#
# Python: $PYTHON if set, else .venv/bin/python if it exists, else python3. If that Python cannot
# import stylegen, `pip install -e .[dev]` installs it (no torch download if torch is there). A
# GPU machine should use the CUDA wheel of torch 2.14.1 (`make TORCH='torch==2.14.1'` builds .venv
# with it; the Makefile's default is the CPU wheel 2.13.0). Knobs: BENCH_SECONDS (timed window per
# configuration, default 20), TEST_TIMEOUT (default 180 s), BENCH_TIMEOUT (default 300 s).
set -euo pipefail

cd "$(dirname "$0")/.."
export PYTHONPATH="src${PYTHONPATH:+:$PYTHONPATH}"
if [[ -z "${PYTHON:-}" ]]; then
    if [[ -x .venv/bin/python ]]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
BENCH_SECONDS="${BENCH_SECONDS:-20}"
TEST_TIMEOUT="${TEST_TIMEOUT:-180}"
BENCH_TIMEOUT="${BENCH_TIMEOUT:-300}"
OUTDIR="${OUT:-}"
TABLE="${OUTDIR:+$OUTDIR/gpu_table.md}"
TABLE="${TABLE:-$(mktemp -t gpu_table.XXXXXX)}"
[[ -z "$OUTDIR" ]] || mkdir -p "$OUTDIR"
START=$SECONDS

echo "== machine"
nvidia-smi || echo "nvidia-smi not found"
"$PYTHON" -c 'import sys, torch
print(f"python {sys.version.split()[0]}, torch {torch.__version__}, CUDA {torch.version.cuda}, "
      f"cuDNN {torch.backends.cudnn.version()}, cuda available: {torch.cuda.is_available()}")
if torch.cuda.is_available():
    print("GPU:", torch.cuda.get_device_name(0))'

if ! "$PYTHON" -c 'import stylegen, pytest' 2>/dev/null; then
    echo "== installing stylegen (pip install -e .[dev])"
    # offline machines: src/ on PYTHONPATH may already do, if torch, numpy, pytest... are there
    "$PYTHON" -m pip install -q --disable-pip-version-check -e '.[dev]' \
        || echo "pip install failed; going on with PYTHONPATH=src"
fi
if ! "$PYTHON" -c 'import torch, sys; sys.exit(not torch.cuda.is_available())'; then
    echo "no CUDA device visible to torch: the gpu tests would all be skipped; stopping" >&2
    exit 1
fi

status=0
echo "== pytest -m gpu (timeout ${TEST_TIMEOUT}s)"
PYTEST_LOG="${OUTDIR:+$OUTDIR/gpu_pytest.log}"
PYTEST_LOG="${PYTEST_LOG:-/dev/null}"
# every test marked gpu (tests/test_gpu.py so far); a module that cannot be imported here (an
# optional dependency missing) is reported and the gpu tests still run
if ! timeout "$TEST_TIMEOUT" "$PYTHON" -m pytest -m gpu -q -p no:cacheprovider \
    --continue-on-collection-errors tests 2>&1 | tee "$PYTEST_LOG"; then
    echo "GPU TESTS FAILED (or timed out); the benchmark still runs"
    status=1
fi
echo "   ($((SECONDS - START)) s so far)"

echo "== training speed: cifar, paper256 x fp32, mixed" \
    "(${BENCH_SECONDS}s each, timeout ${BENCH_TIMEOUT}s)"
BENCH_LOG="${OUTDIR:+$OUTDIR/gpu_bench.log}"
BENCH_LOG="${BENCH_LOG:-/dev/null}"
if ! timeout "$BENCH_TIMEOUT" "$PYTHON" benchmarks/bench_train.py --device cuda \
    --presets cifar,paper256 --precision fp32,mixed --data synthetic --threads 4 \
    --warmup 5 --seconds "$BENCH_SECONDS" --no-append --table "$TABLE" \
    --note "benchmarks/gpu_check.sh" 2>&1 | tee "$BENCH_LOG"; then
    echo "SOME BENCHMARK CONFIGURATIONS FAILED (or the run timed out); see the table"
    status=1
fi

echo "== table ($TABLE), $((SECONDS - START)) s in all"
if [[ -s "$TABLE" ]]; then cat "$TABLE"; else echo "no table was written"; status=1; fi
exit "$status"
