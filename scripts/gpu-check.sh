#!/usr/bin/env bash
# The whole GPU check in one go, in two halves:
#
#   scripts/gpu-check.sh build   on the build machine (Go, no GPU): builds the
#                                aegpu binary and the GPU test binaries into bin/gpu/
#   scripts/gpu-check.sh run     on the GPU machine (driver, compute-sanitizer,
#                                PyTorch; no Go): runs them and prints a summary
#
# The run half: every GPU test (kernels against the CPU backend, the
# conformance suite, 50-step training parity in fp32, TF32 and BF16),
# compute-sanitizer memcheck and racecheck on the cuda tests, then `aegpu bench
# --reference`, `aegpu bench --precision tf32` and `--precision bf16`, and the
# mnist accuracy of each precision (1 epoch of train in fp32, tf32, bf16: the
# final losses side by side; real MNIST when `make data` fetched it before the
# build half, which copies it into bin/gpu/, else the built-in digits).
# Budget: < 6 min.
# Output of each part goes to bin/gpu/logs/; the summary is printed last.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=bin/gpu
PKGS=(cuda cuda/internal/cu backends)

build() {
  set -e
  mkdir -p "$OUT"
  go build -o "$OUT/aegpu" ./cmd/aegpu
  # The GPU machine has no network: MNIST travels with the binaries.
  if [ -f data/mnist/train-images-idx3-ubyte.gz ]; then
    mkdir -p "$OUT/data"
    cp data/mnist/train-images-idx3-ubyte.gz "$OUT/data/"
  fi
  for p in "${PKGS[@]}"; do
    go test -c -o "$OUT/$(echo "$p" | tr / _).test" "./$p"
  done
  echo "built into $OUT: $(ls "$OUT" | tr '\n' ' ')"
}

run() {
  mkdir -p "$OUT/logs"
  local summary=() status=0
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 | sed 's/^/gpu: /'
  step() { # name, timeout seconds, command…
    local name=$1 limit=$2; shift 2
    local log="$OUT/logs/$name.log" t0=$SECONDS
    timeout "$limit" "$@" >"$log" 2>&1
    local rc=$?
    local line="$name: $([ $rc -eq 0 ] && echo ok || echo "FAILED (exit $rc)") in $((SECONDS - t0))s"
    summary+=("$line")
    echo "$line"
    [ $rc -eq 0 ] || { status=1; tail -n 30 "$log"; }
    return 0
  }
  for p in "${PKGS[@]}"; do
    bin=$(realpath "$OUT/$(echo "$p" | tr / _).test")
    # AEGPU_CU_REQUIRE_DRIVER: the binding's GPU tests fail instead of skipping.
    step "test-$(echo "$p" | tr / _)" 240 bash -c "cd '$p' && AEGPU_CU_REQUIRE_DRIVER=1 '$bin' -test.v -test.count=1"
    grep -hE '^(--- |=== RUN|ok|FAIL|PASS)|SKIP' "$OUT/logs/test-$(echo "$p" | tr / _).log" | grep -E -- '--- (FAIL|SKIP)' | head -20
  done
  if command -v compute-sanitizer >/dev/null; then
    cudabin=$(realpath "$OUT/cuda.test")
    step memcheck 300 bash -c "cd cuda && compute-sanitizer --tool memcheck --error-exitcode 1 '$cudabin' -test.count=1 -test.run 'Conformance|MatchesCPU|TF32Dense|BF16Dense'"
    step racecheck 300 bash -c "cd cuda && compute-sanitizer --tool racecheck --error-exitcode 1 '$cudabin' -test.count=1 -test.run 'MatchesCPU'"
  else
    summary+=("sanitizer: compute-sanitizer not found")
  fi
  # Budget: the whole check in under 5 minutes on an H100; bench rows print
  # as they finish, so a timeout still leaves the ones measured.
  step bench 180 "$OUT/aegpu" bench --reference --windows 5 --json "$OUT/logs/bench.json"
  # TF32 tensor cores (goals on an H100: wide b8192 ≥ 250 TFLOP/s, mnist b4096 ≥ 10M samples/s).
  step bench-tf32 120 "$OUT/aegpu" bench --precision tf32 --models mnist,wide --devices cuda:0 --windows 5 --json "$OUT/logs/bench-tf32.json"
  # BF16 tensor cores (goals: PyTorch's bf16 autocast on an H100, mnist b4096
  # in a CUDA graph ≥ 8 590 000 samples/s, wide b8192 eager ≥ 473 TFLOP/s).
  step bench-bf16 120 "$OUT/aegpu" bench --precision bf16 --models mnist,wide --devices cuda:0 --windows 5 --json "$OUT/logs/bench-bf16.json"
  # Accuracy of each precision on mnist: 1 epoch, same seed, the final loss.
  local mnist=() accuracy=()
  [ -f "$OUT/data/train-images-idx3-ubyte.gz" ] && mnist=(--data "$OUT/data/train-images-idx3-ubyte.gz")
  for p in fp32 tf32 bf16; do
    rm -rf "$OUT/acc-$p"
    step "accuracy-$p" 120 "$OUT/aegpu" train "${mnist[@]}" --layers 784,512,256,32 --epochs 1 --batch 256 --seed 1 --val-split 0.1 --precision "$p" --device cuda:0 --out "$OUT/acc-$p"
    accuracy+=("$p: $(grep -E '^epoch 1/' "$OUT/logs/accuracy-$p.log" | tail -n 1)")
  done
  step bench-encode 90 "$OUT/aegpu" bench --encode --windows 3 --json "$OUT/logs/bench-encode.json"
  step bench-variants 120 "$OUT/aegpu" bench --variants --windows 3 --json "$OUT/logs/bench-variants.json"
  echo
  echo "== bench"
  cat "$OUT/logs/bench.log" | grep -v '…$'
  echo "== bench --precision tf32 (goals on an H100: wide b8192 ≥ 250 TFLOP/s, mnist b4096 ≥ 10 000 000 samples/s)"
  cat "$OUT/logs/bench-tf32.log" | grep -v '…$'
  echo "== bench --precision bf16 (goals on an H100: mnist b4096 graph ≥ 8 590 000 samples/s, wide b8192 eager ≥ 473 TFLOP/s)"
  cat "$OUT/logs/bench-bf16.log" | grep -v '…$'
  echo "== mnist accuracy by precision (1 epoch, seed 1, ${mnist[*]:-built-in digits}: the last loss line of each run)"
  printf '%s\n' "${accuracy[@]}"
  echo "== encode rows/s from host memory (goal on an H100: ≥ 14M rows/s; PyTorch 11.5M from pinned memory, 30M device-resident)"
  cat "$OUT/logs/bench-encode.log" | grep -v '…$'
  echo "== bench, every variant (mnist b256; 'vs cpu' is each variant's GPU/CPU ratio)"
  cat "$OUT/logs/bench-variants.log" | grep -v '…$'
  echo
  echo "== summary"
  printf '%s\n' "${summary[@]}"
  return $status
}

case "${1:-}" in
  build) build ;;
  run) run ;;
  *) echo "usage: $0 build|run" >&2; exit 2 ;;
esac
