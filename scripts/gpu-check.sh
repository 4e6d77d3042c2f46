#!/usr/bin/env bash
# The GPU check: built here (Go, no GPU), run on the GPU machine in two
# stages of at most 5 minutes each, and rehearsed here on the emulated driver.
#
#   scripts/gpu-check.sh build        here: the aegpu binary and the GPU test
#                                     binaries (stripped, in one .tar.xz) and
#                                     20 000 MNIST training images into bin/gpu/
#   scripts/gpu-check.sh correctness  there: GPU tests, compute-sanitizer
#                                     memcheck and racecheck            (< 300 s)
#   scripts/gpu-check.sh speed        there: bench with the PyTorch reference,
#                                     variants, encode, MNIST accuracy   (< 300 s)
#   scripts/gpu-check.sh dryrun       here: both stages against the emulated
#                                     driver (cuda/internal/emugpu) and the fake
#                                     libcuda (cuda/internal/cu/testdata/fakecuda)
#   scripts/gpu-check.sh run          both stages one after the other (a GPU
#                                     machine without a per-command limit)
#   (make gpu-check-build, make gpu-check-dryrun)
#
# With the device tool (one command of ≤ 10 min at a time, 15 min of device
# time in all, the machine's start of a few minutes included; only what is
# written under $OUT comes back, ≤ 8 files):
#
#   1. here:   scripts/gpu-check.sh build      (prints the carried size)
#   2. run  command "scripts/gpu-check.sh correctness"  carry ["bin/gpu"]  timeout_s 330
#   3. run  command "scripts/gpu-check.sh speed"        carry ["bin/gpu"]  timeout_s 330
#      at once after 2 (the machine stays warm ~30 s), then give_back.
#
# Each stage writes into $OUT, as it goes: STAGE-summary.txt (rewritten after
# every step: a stage cut short still says what it did and which step was
# running), STAGE.log (every step's full output, appended as it runs) and,
# for speed, speed-bench.json ({"fp32": …, "tf32": …, "bf16": …, "variants":
# …, "encode": …}, the bench --json of each, rebuilt after each bench step).
# Without $OUT (not the device tool): bin/gpu-out/STAGE/.
#
# Every step has its own timeout and a stage's step timeouts add up to less
# than 300 s (the plans below; the script checks the sum). The emulator-only
# tests (TestEmulated*: TestEmulatedGPU compiles emugpu.cpp with g++ and runs
# for minutes) are left out with the test binaries' -test.skip; no test code
# changes. What is missing there (compute-sanitizer, nvidia-smi, a python3
# with torch) is recorded as "skipped: …" in the summary.
#
# The dry run runs the very same steps with the same timeouts, each stage
# under `timeout 330` as the device tool would; only the work the emulator
# cannot do in them is smaller (it takes ~14 s per step of the mnist model at
# batch 256): bench models toy with 1 window, variants and encode on the CPU
# only, the MNIST check on 64 rows with layers 784,64,16 (knobs GPU_CHECK_*,
# set by `dryrun` alone). Its GPU test steps run out of time there (the cuda
# tests need ~70 s and the parity tests ~120 s on the emulator, seconds on a
# GPU), which shows what a step cut short leaves: counts of what passed, and
# the test that was running.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
GPUDIR=bin/gpu
TARBALL=$GPUDIR/aegpu-gpu-check.tar.xz
MNIST_ROWS=20000
MNIST_FILE=$GPUDIR/mnist-train-$MNIST_ROWS-idx3-ubyte.gz
PKGS=(cuda/internal/cu cuda backends)
STAGE_LIMIT=300 # seconds: one command of the device tool
KILL_AFTER=2    # a step still running this long after its timeout's SIGTERM is killed

# The plans: step:timeout in seconds, in order. A stage's timeouts, plus
# KILL_AFTER for each step, add up to less than STAGE_LIMIT (checked). In
# speed, torch-probe runs in the background from the start of the acc-*
# steps, with their 75 s as its timeout, and is waited for after them: it
# adds nothing to the sum.
CORRECTNESS_PLAN="setup:10 gpu-info:10 test-cu:20 test-cuda:45 test-backends:45 memcheck:100 racecheck:45"
SPEED_PLAN="setup:10 gpu-info:10 acc-cpu:15 acc-fp32:20 acc-tf32:20 acc-bf16:20 bench-fp32:60 bench-tf32:35 bench-bf16:35 bench-variants:28 bench-encode:20"

# Dry-run knobs (set by `dryrun`; the defaults are the GPU machine's).
DRYRUN=${GPU_CHECK_DRYRUN:-}
read -r -a GPU_ENV <<<"${GPU_CHECK_GPU_ENV:-}" # env for everything that opens the GPU
read -r -a CU_ENV <<<"${GPU_CHECK_CU_ENV:-}"   # env for the driver-binding tests
PY=${GPU_CHECK_PYTHON:-python3}
BENCH_MODELS=${GPU_CHECK_MODELS:-}        # empty: toy,mnist,wide (fp32), mnist,wide (tf32, bf16)
WINDOWS=${GPU_CHECK_WINDOWS:-3}
HEAVY_DEVICES=${GPU_CHECK_HEAVY_DEVICES:-all} # devices of --variants and --encode
MNIST=${GPU_CHECK_MNIST:-$MNIST_FILE}
MNIST_LAYERS=${GPU_CHECK_MNIST_LAYERS:-784,512,256,32}

mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }

# be32 N: N as 4 big-endian bytes.
be32() { printf "\\x$(printf %02x $(($1 >> 24 & 255)))\\x$(printf %02x $(($1 >> 16 & 255)))\\x$(printf %02x $(($1 >> 8 & 255)))\\x$(printf %02x $(($1 & 255)))"; }

# mnist_subset N SRC DST: the first N images of the IDX file SRC (.gz) as a
# gzipped IDX file of N images.
mnist_subset() {
  local n=$1 src=$2 dst=$3
  (
    set +o pipefail # head closes the pipe early
    { printf '\x00\x00\x08\x03'; be32 "$n"; be32 28; be32 28; gzip -dc "$src" | tail -c +17 | head -c $((n * 784)); } | gzip -9 >"$dst.tmp"
  )
  local got
  got=$(gzip -dc "$dst.tmp" | wc -c)
  if [ "$got" -ne $((16 + n * 784)) ]; then
    echo "mnist subset: $got bytes, want $((16 + n * 784)) ($src has fewer than $n images?)" >&2
    rm -f "$dst.tmp"
    return 1
  fi
  mv -f "$dst.tmp" "$dst"
}

# carry_report: what travels to the GPU machine (tracked and untracked,
# not ignored files, plus bin/gpu) against the device tool's 64 MiB.
carry_report() {
  local tree untracked gpu total
  tree=$(git ls-files -z | xargs -0 du -cb 2>/dev/null | awk 'END { print $1 + 0 }')
  untracked=$(git ls-files -z -o --exclude-standard | xargs -0 -r du -cb 2>/dev/null | awk 'END { print $1 + 0 }')
  gpu=$(du -cb "$GPUDIR" | awk 'END { print $1 + 0 }')
  total=$((tree + untracked + gpu))
  echo "carried: tracked tree $(mib "$tree") + untracked files $(mib "$untracked") + $GPUDIR $(mib "$gpu") = $(mib "$total") of 64 MiB"
  if [ "$total" -gt $((56 << 20)) ]; then
    echo "WARNING: over 56 MiB, too close to the device tool's 64 MiB limit" >&2
  fi
}

build() {
  set -e
  if [ "$(go env CGO_ENABLED)" != 1 ]; then
    echo "build: cgo is off (CGO_ENABLED=0); the CUDA driver binding (cuda/internal/cu) needs it" >&2
    exit 1
  fi
  rm -rf "$GPUDIR"
  mkdir -p "$GPUDIR"
  local tmp
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' RETURN
  # Stripped (-s -w): the fatbin embedded in three of them is most of the rest.
  go build -ldflags='-s -w' -o "$tmp/aegpu" ./cmd/aegpu
  local p names=(aegpu)
  for p in "${PKGS[@]}"; do
    go test -c -ldflags='-s -w' -o "$tmp/$(echo "$p" | tr / _).test" "./$p"
    names+=("$(echo "$p" | tr / _).test")
  done
  (cd "$tmp" && sha256sum "${names[@]}" >SHA256SUMS)
  # Solid xz: the three copies of the 7.8 MB fatbin compress together.
  tar -C "$tmp" -cf - SHA256SUMS "${names[@]}" | xz -T0 -6 >"$TARBALL"
  # The GPU machine has no network: a subset of MNIST travels with them.
  if [ -f data/mnist/train-images-idx3-ubyte.gz ]; then
    mnist_subset "$MNIST_ROWS" data/mnist/train-images-idx3-ubyte.gz "$MNIST_FILE"
  else
    echo "no data/mnist/train-images-idx3-ubyte.gz (make data): the MNIST check will train on the built-in digits" >&2
  fi
  {
    echo "built $(date -u +%Y-%m-%dT%H:%M:%SZ) from $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- 2>/dev/null || echo ' (with uncommitted changes)') by $(go version | cut -d' ' -f3)"
    (cd "$tmp" && du -b "${names[@]}" | awk '{ printf "  %-24s %6.1f MiB\n", $2, $1 / 1048576 }')
  } >"$GPUDIR/BUILD.txt"
  cat "$GPUDIR/BUILD.txt"
  echo "into $GPUDIR: $(cd "$GPUDIR" && du -b -- * | awk '{ printf "%s (%.1f MiB) ", $2, $1 / 1048576 }')"
  carry_report
}

# ---------------------------------------------------------------------------
# The stages.

LINES=()    # the summary's step lines
SECTIONS=() # files under $S whose text follows the step lines
RUNNING=""
STATUS=0

summary() {
  local tmp="$SUM.tmp" f
  {
    echo "aegpu gpu-check $STAGE${DRYRUN:+ — DRY RUN against the emulated driver}, $(date -u +%Y-%m-%dT%H:%M:%SZ), ${HOSTNAME:-unknown host}"
    [ -f "$GPUDIR/BUILD.txt" ] && head -n 1 "$GPUDIR/BUILD.txt"
    echo "plan: $PLAN_TEXT"
    [ -n "$DRYRUN" ] && echo "dry run: $DRYRUN"
    echo
    printf '%s\n' "${LINES[@]}"
    if [ -n "$RUNNING" ]; then
      echo "$RUNNING"
    else
      echo "stage done in $((SECONDS - T0))s: $([ "$STATUS" -eq 0 ] && echo 'every step ok or skipped' || echo 'some steps FAILED or ran out of time')"
    fi
    for f in "${SECTIONS[@]}"; do
      [ -s "$f" ] && { echo; cat "$f"; }
    done
  } >"$tmp"
  mv -f "$tmp" "$SUM"
}

addline() { # status name seconds limit detail
  LINES+=("$(printf '%-9s %-15s %4s of %3ss  %s' "$1" "$2" "$3" "$4" "$5")")
}

# setstatus STATUS: changes the last step line's status.
setstatus() { LINES[-1]="$(printf '%-9s ' "$1")${LINES[-1]:10}"; }

# note TEXT: appends TEXT to the last step line.
note() {
  [ -n "$1" ] || return 0
  LINES[-1]="${LINES[-1]}  $1"
  summary
}

limit_of() { # step name → its timeout from the plan
  local w
  for w in $PLAN; do
    [ "${w%%:*}" = "$1" ] && { echo "${w#*:}"; return; }
  done
  echo "gpu-check: step $1 is not in the plan" >&2
  exit 2
}

# step NAME DIR CMD…: runs CMD in DIR with NAME's timeout, its output
# appended to the log; leaves it in $S/last.log and the exit code in RC.
step() {
  local name=$1 dir=$2
  shift 2
  local limit t0 off
  limit=$(limit_of "$name")
  t0=$SECONDS
  RUNNING="running   $name (timeout ${limit}s) since +$((t0 - T0))s — if this is the last line, the stage was cut short here"
  summary
  printf '\n==== +%ss %s (timeout %ss), in %s: %s\n' "$((t0 - T0))" "$name" "$limit" "$dir" "$*" >>"$LOG"
  off=$(stat -c %s "$LOG")
  # (The braces take the shell's "Killed" notice of a killed step.)
  { (cd "$dir" && exec timeout -k "$KILL_AFTER" "$limit" "$@") >>"$LOG" 2>&1 </dev/null; } 2>/dev/null
  RC=$?
  tail -c +$((off + 1)) "$LOG" >"$S/last.log"
  local st
  case $RC in
  0) st=ok ;;
  124 | 137) st=TIMEOUT ;;
  *) if grep -q '^panic: test timed out' "$S/last.log"; then st=TIMEOUT; else st=FAILED; fi ;;
  esac
  [ "$RC" -eq 0 ] || STATUS=1
  printf '==== %s: %s (exit %s) in %ss\n' "$name" "$st" "$RC" "$((SECONDS - t0))" >>"$LOG"
  RUNNING=""
  addline "$st" "$name" "$((SECONDS - t0))s" "$limit" "$([ "$RC" -ne 0 ] && echo "exit $RC;")"
  echo "${LINES[-1]}"
  summary
}

skip() { # name reason
  addline skipped "$1" - "$(limit_of "$1")" "$2"
  printf '\n==== %s: skipped: %s\n' "$1" "$2" >>"$LOG"
  echo "${LINES[-1]}"
  summary
}

# section NAME: SEC, a file for a part of the summary (filled by the caller).
section() {
  SEC=$S/section-$1.txt
  SECTIONS+=("$SEC")
}

# test_counts LOG: passed/failed/skipped tests and subtests of a -test.v
# log, the failures' names, the top-level skips, and what a timeout caught.
test_counts() {
  local f=$1 pass fail skip run out
  run=$(grep -cE '^=== RUN' "$f")
  pass=$(grep -cE '^ *--- PASS' "$f")
  fail=$(grep -cE '^ *--- FAIL' "$f")
  skip=$(grep -cE '^ *--- SKIP' "$f")
  # (-test.v prints a subtest's result when its parent test ends.)
  out="$pass passed, $fail failed, $skip skipped (of $run started)"
  if [ "$fail" -gt 0 ]; then
    out+="; failed: $(grep -E '^ *--- FAIL' "$f" | awk '{ print $3 }' | head -n 8 | paste -sd' ')"
  fi
  local tops
  tops=$(grep -E '^--- SKIP' "$f" | awk '{ print $3 }' | head -n 6 | paste -sd' ')
  [ -n "$tops" ] && out+="; skipped: $tops"
  if grep -q '^panic: test timed out' "$f"; then
    out+="; go test timed out in: $(grep -A3 'running tests:' "$f" | grep -E '^\s+Test' | awk '{ print $1 }' | head -n 3 | paste -sd' ')"
  elif grep -q '^panic:' "$f"; then
    out+="; $(grep -m1 '^panic:' "$f")"
  fi
  grep -q '^PASS$' "$f" || [ "$fail" -gt 0 ] || out+="; did not finish"
  echo "$out"
}

# sanitizer_says: compute-sanitizer's summary lines of the last step.
sanitizer_says() {
  local s
  s=$(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' "$S/last.log" | sed 's/^=* *//' | paste -sd';')
  [ -n "$s" ] && echo "$s;"
}

find_sanitizer() {
  local c
  if c=$(command -v compute-sanitizer); then
    echo "$c"
    return
  fi
  for c in /usr/local/cuda/bin/compute-sanitizer /usr/local/cuda/compute-sanitizer/compute-sanitizer /usr/local/cuda-*/bin/compute-sanitizer /opt/nvidia/compute-sanitizer/compute-sanitizer; do
    [ -x "$c" ] && { echo "$c"; return; }
  done
  return 1
}

# The start of both stages: $OUT, the scratch directory, the binaries.
begin() {
  STAGE=$1
  PLAN=$2
  local w sum=0 n=0 parts=()
  for w in $PLAN; do
    sum=$((sum + ${w#*:}))
    n=$((n + 1))
    parts+=("${w%%:*} ${w#*:}")
  done
  if [ $((sum + n * KILL_AFTER)) -ge "$STAGE_LIMIT" ]; then
    echo "gpu-check: the $STAGE plan's timeouts add up to ${sum}s + ${n}×${KILL_AFTER}s, not under ${STAGE_LIMIT}s" >&2
    exit 2
  fi
  PLAN_TEXT="$(IFS=,; echo "${parts[*]}" | sed 's/,/ + /g') = ${sum}s (+ ${n}×${KILL_AFTER}s to kill) of ${STAGE_LIMIT}s"
  OUT=${OUT:-$ROOT/bin/gpu-out/$STAGE}
  mkdir -p "$OUT"
  OUT=$(cd "$OUT" && pwd)
  LOG=$OUT/$STAGE.log
  SUM=$OUT/$STAGE-summary.txt
  : >"$LOG"
  S=$(mktemp -d /tmp/aegpu-gpu-check.XXXXXX)
  trap 'rm -rf "$S"' EXIT
  B=$S/bin
  T0=$SECONDS
  echo "gpu-check $STAGE: $PLAN_TEXT; summary and logs in $OUT"
  summary
  # setup: the binaries out of the tarball, checked against their sums.
  if [ -f "$TARBALL" ]; then
    step setup . bash -c '
      set -e
      mkdir -p "$2"
      if command -v xz >/dev/null; then xz -dc "$1" | tar -xf - -C "$2"
      else python3 -c "import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])" "$1" "$2"; fi
      cd "$2" && sha256sum -c --quiet SHA256SUMS && ls -l' _ "$TARBALL" "$B"
  else
    addline FAILED setup - "$(limit_of setup)" "no $TARBALL: run scripts/gpu-check.sh build first, and carry $GPUDIR"
    STATUS=1
    summary
  fi
  # gpu-info: what aegpu finds, and nvidia-smi's view of the GPU.
  local info
  section gpu-info
  info=$SEC
  if [ -x "$B/aegpu" ]; then
    step gpu-info . bash -c '
      env "$@" "$0" devices || exit
      if command -v nvidia-smi >/dev/null; then
        nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm,temperature.gpu,power.draw --format=csv || true
      else echo "nvidia-smi: skipped: no nvidia-smi"; fi' "$B/aegpu" "${GPU_ENV[@]}"
    { echo "== devices"; grep -v '^====' "$S/last.log"; } >"$info"
    if ! grep -qE '^cuda +cuda:0' "$S/last.log"; then
      setstatus FAILED
      STATUS=1
      note "no CUDA device: the GPU steps will fail"
    else
      note "$(grep -E '^cuda +cuda:0' "$S/last.log" | head -n 1 | sed 's/^cuda *//')"
    fi
    command -v nvidia-smi >/dev/null || note "(nvidia-smi: skipped: no nvidia-smi)"
  else
    skip gpu-info "no aegpu binary (setup failed)"
  fi
}

finish() {
  RUNNING=""
  summary
  echo
  cat "$SUM"
  return "$STATUS"
}

correctness() {
  begin correctness "$CORRECTNESS_PLAN"
  local p name bin lim
  for p in "${PKGS[@]}"; do
    name=$(echo "$p" | tr / _)
    bin=$B/$name.test
    local sname=test-${p##*/}
    lim=$(limit_of "$sname")
    if [ ! -x "$bin" ]; then
      skip "$sname" "no $name.test (setup failed)"
      continue
    fi
    local env=("${GPU_ENV[@]}")
    [ "$p" = cuda/internal/cu ] && env=("${CU_ENV[@]}")
    # AEGPU_CU_REQUIRE_DRIVER: the binding's GPU tests fail instead of skipping.
    # -test.skip: the emulator-only tests (TestEmulatedGPU and its children).
    step "$sname" "$p" env "${env[@]}" AEGPU_CU_REQUIRE_DRIVER=1 "$bin" -test.v -test.count=1 \
      -test.skip '^TestEmulated' -test.timeout "$((lim - 5))s"
    note "$(test_counts "$S/last.log")"
    # cuda's and backends' GPU tests skip without a device: here that fails.
    if grep -qE '^\s+[a-z_]+_test\.go:[0-9]+: no CUDA device' "$S/last.log"; then
      setstatus FAILED
      STATUS=1
      note "GPU tests skipped for want of a CUDA device"
    fi
  done

  local cs
  if ! cs=$(find_sanitizer); then
    skip memcheck "no compute-sanitizer"
    skip racecheck "no compute-sanitizer"
    finish
    return
  fi
  if [ -n "$DRYRUN" ]; then # never reached: the dry run has no compute-sanitizer
    skip memcheck "dry run (the emulated driver is no real libcuda for compute-sanitizer)"
    skip racecheck "dry run"
    finish
    return
  fi
  # memcheck: the cuda tests, but those that make the driver fail on purpose
  # (OOM, bad device index: compute-sanitizer would count the API errors).
  local cuda_bin=$B/cuda.test
  lim=$(limit_of memcheck)
  step memcheck cuda env "${GPU_ENV[@]}" "$cs" --tool memcheck --error-exitcode 1 "$cuda_bin" -test.v -test.count=1 \
    -test.run '^(TestConformance|TestMatchesCPU|TestTF32Dense|TestBF16Dense|TestRecordAndReplay|TestAllocatorReusesBlocks)$' \
    -test.timeout "$((lim - 5))s"
  note "$(sanitizer_says) $(test_counts "$S/last.log")"
  grep -q 'Device not supported' "$S/last.log" && note "compute-sanitizer does not support this device or runtime"
  # racecheck: a short subset — the GEMMs (shared-memory tiles), the row
  # losses and sums (shared-memory reductions), the tensor-core GEMMs.
  lim=$(limit_of racecheck)
  step racecheck cuda env "${GPU_ENV[@]}" "$cs" --tool racecheck --error-exitcode 1 "$cuda_bin" -test.v -test.count=1 \
    -test.run '^(TestConformance|TestTF32Dense|TestBF16Dense)$/^(Dense|DenseBackward|RowLoss|SumSquares|300x70x200)$' \
    -test.timeout "$((lim - 5))s"
  note "$(sanitizer_says) $(test_counts "$S/last.log")"
  grep -q 'Device not supported' "$S/last.log" && note "compute-sanitizer does not support this device or runtime"
  finish
}

# bench_json: $OUT/speed-bench.json from the bench --json files so far.
bench_json() {
  local k sep=""
  {
    printf '{'
    for k in fp32 tf32 bf16 variants encode; do
      [ -s "$S/bench-$k.json" ] || continue
      printf '%s\n"%s": ' "$sep" "$k"
      cat "$S/bench-$k.json"
      sep=,
    done
    printf '}\n'
  } >"$OUT/speed-bench.json.tmp" && mv -f "$OUT/speed-bench.json.tmp" "$OUT/speed-bench.json"
}

# bench KEY TITLE ARGS…: one aegpu bench run, its rows into the summary.
bench_step() {
  local key=$1 title=$2
  shift 2
  local sec
  section "bench-$key"
  sec=$SEC
  if [ ! -x "$B/aegpu" ]; then
    skip "bench-$key" "no aegpu binary (setup failed)"
    return
  fi
  step "bench-$key" . env "${GPU_ENV[@]}" "$B/aegpu" bench "$@" --windows "$WINDOWS" --json "$S/bench-$key.json"
  bench_json
  { echo "== $title"; grep -v -e '…$' -e '^====' "$S/last.log"; } >"$sec"
  note "$(grep -cE '^[a-z][-a-z0-9]* +[0-9]+ +((tf32|bf16) )?(cpu|cuda)' "$S/last.log") rows"
}

# The cross-precision table: every aegpu row next to PyTorch's rows of the
# same model, batch and kind of device (PyTorch's reference computes in fp32).
compare_table() {
  python3 - "$OUT/speed-bench.json" <<'EOF' 2>&1
import json, sys
d = json.load(open(sys.argv[1]))
if not (d.get("fp32") or {}).get("pytorch"):
    print("(no PyTorch rows: see torch-probe and bench-fp32)")
    sys.exit(0)
print(f"{'precision':9} {'model':6} {'batch':>6}  {'aegpu samples/s':>16} {'torch eager':>12} {'torch graph':>12} {'vs best':>8}")
for prec in ("fp32", "tf32", "bf16"):
    # PyTorch in the same precision when that bench ran it, else fp32's rows.
    refs = (d.get(prec) or {}).get("pytorch") or d["fp32"]["pytorch"]
    for r in (d.get(prec) or {}).get("aegpu") or []:
        kind = "cpu" if r["device"].startswith("cpu") else "cuda"
        if prec != "fp32" and kind == "cpu":
            continue
        m = {f.get("mode"): f["samples_per_sec"] for f in refs
             if f["model"] == r["model"] and f["batch"] == r["batch"] and f.get("kind", "cuda") == kind}
        best = max(m.values(), default=0)
        fmt = lambda v: f"{v:12.0f}" if v else f"{'—':>12}"
        ratio = f"{r['samples_per_sec'] / best:7.2f}×" if best else f"{'—':>8}"
        print(f"{prec:9} {r['model']:6} {r['batch']:6}  {r['samples_per_sec']:16.0f} {fmt(m.get('eager'))} {fmt(m.get('graph'))} {ratio}   ({kind})")
EOF
}

speed() {
  begin speed "$SPEED_PLAN"
  # The PyTorch probe, in the background while the mnist steps run (importing
  # torch from a cold disk can take tens of seconds; it warms the cache for
  # bench's own import). Timeout: the acc-* steps' 75 s.
  local probe_limit=$(($(limit_of acc-cpu) + $(limit_of acc-fp32) + $(limit_of acc-tf32) + $(limit_of acc-bf16)))
  local probe_pid="" probe_t0=$SECONDS
  if command -v "$PY" >/dev/null; then
    (
      t=$SECONDS
      timeout -k 2 "$probe_limit" "$PY" -c '
import sys
print(sys.executable, "Python", sys.version.split()[0], flush=True)
import torch
print("torch", torch.__version__, "cuda", torch.cuda.is_available(), "built for CUDA", torch.version.cuda)' \
        >"$S/torch.txt" 2>&1 </dev/null
      rc=$?
      echo $((SECONDS - t)) >"$S/torch.sec"
      exit $rc
    ) &
    probe_pid=$!
  fi

  # MNIST, 1 epoch, same seed: the CPU's losses, then the GPU's in each precision.
  local data=() rows="the 10 000 built-in MNIST test digits"
  if [ -f "$MNIST" ]; then
    data=(--data "$MNIST")
    rows="$(basename "$MNIST")"
  fi
  local acc
  section mnist
  acc=$SEC
  local -A val=() tr=()
  local k dev prec
  for k in cpu fp32 tf32 bf16; do
    if [ ! -x "$B/aegpu" ]; then
      skip "acc-$k" "no aegpu binary (setup failed)"
      continue
    fi
    dev=cuda:0 prec=$k
    [ "$k" = cpu ] && dev=cpu prec=fp32
    step "acc-$k" . env "${GPU_ENV[@]}" "$B/aegpu" train "${data[@]}" --layers "$MNIST_LAYERS" --epochs 1 --batch 256 \
      --seed 1 --val-split 0.1 --precision "$prec" --device "$dev" --out "$S/acc-$k" --json
    val[$k]=$(grep -o '"val_loss": *[-0-9.eE+]*' "$S/last.log" | tail -n 1 | awk '{ print $2 }')
    tr[$k]=$(grep -o '"train_loss": *[-0-9.eE+]*' "$S/last.log" | tail -n 1 | awk '{ print $2 }')
    note "$(grep -E '^epoch 1/' "$S/last.log" | tail -n 1 | sed 's/  (\*.*//')"
    {
      echo "== MNIST, 1 epoch, layers $MNIST_LAYERS, batch 256, seed 1, val-split 0.1, on $rows"
      echo "   (the GPU's validation loss next to the CPU's; close: within 1% in fp32, 3% in tf32/bf16)"
      printf '%-16s %12s %12s %10s\n' run "train loss" "val loss" "vs cpu"
      local j v
      for j in cpu fp32 tf32 bf16; do
        [ -n "${val[$j]:-}" ] || continue
        v=$(awk -v a="${val[$j]}" -v c="${val[cpu]:-}" -v j="$j" 'BEGIN {
          if (j == "cpu" || c == "" || c == 0) { print "—"; exit }
          d = (a - c) / c * 100; tol = (j == "fp32") ? 1 : 3
          printf "%+.2f%% %s", d, (d < tol && d > -tol) ? "close" : "DIFFERS" }')
        printf '%-16s %12.5f %12.5f %10s\n' "$([ "$j" = cpu ] && echo "cpu fp32" || echo "cuda:0 $j")" "${tr[$j]}" "${val[$j]}" "$v"
      done
    } >"$acc"
    summary
  done

  # The probe's result: wait for it within its deadline (counted in the 60 s above).
  local ref=()
  if [ -z "$probe_pid" ]; then
    addline skipped torch-probe - "$probe_limit" "no $PY: bench without the PyTorch reference"
  else
    wait "$probe_pid"
    local prc=$?
    {
      printf '\n==== torch-probe (in the background since +%ss, timeout %ss): %s\n' "$((probe_t0 - T0))" "$probe_limit" "$PY"
      cat "$S/torch.txt"
    } >>"$LOG"
    if [ "$prc" -eq 0 ]; then
      addline ok torch-probe "$(cat "$S/torch.sec")s" "$probe_limit" "in the background during acc-*: $(sed -n 2p "$S/torch.txt") ($(sed -n 1p "$S/torch.txt"))"
      ref=(--reference --python "$(command -v "$PY")")
      grep -q 'cuda True' "$S/torch.txt" || LINES[-1]+="  — no CUDA in this torch: the PyTorch rows are CPU rows"
    elif [ "$prc" -eq 124 ] || [ "$prc" -eq 137 ]; then
      addline skipped torch-probe "$(cat "$S/torch.sec")s" "$probe_limit" "import torch took over ${probe_limit}s: bench without the PyTorch reference"
    else
      addline skipped torch-probe "$(cat "$S/torch.sec")s" "$probe_limit" "no torch for $PY ($(tail -n 1 "$S/torch.txt")): bench without the PyTorch reference"
    fi
    echo "${LINES[-1]}"
    summary
  fi

  # The benchmarks: fp32 on every device with the PyTorch reference, then
  # the tensor-core precisions on the GPU, each against PyTorch in the same
  # precision (allow_tf32; bf16 autocast) in the same run.
  bench_step fp32 "bench fp32, every device$([ ${#ref[@]} -gt 0 ] && echo ', with the PyTorch reference (fp32, TF32 off)')" \
    --models "${BENCH_MODELS:-toy,mnist,wide}" "${ref[@]}"
  bench_step tf32 "bench --precision tf32 (goals on an H100: wide b8192 ≥ 250 TFLOP/s, mnist b4096 ≥ 10 000 000 samples/s)" \
    --precision tf32 --models "${BENCH_MODELS:-mnist,wide}" --devices cuda:0 "${ref[@]}"
  bench_step bf16 "bench --precision bf16 (goals on an H100: mnist b4096 graph ≥ 8 590 000 samples/s, wide b8192 eager ≥ 473 TFLOP/s)" \
    --precision bf16 --models "${BENCH_MODELS:-mnist,wide}" --devices cuda:0 "${ref[@]}"
  local cmp
  section compare
  cmp=$SEC
  if command -v python3 >/dev/null && [ -s "$OUT/speed-bench.json" ]; then
    { echo "== every precision against PyTorch in the same precision (vs best = aegpu / PyTorch's faster mode)"; compare_table; } >"$cmp"
  else
    echo "== every precision against PyTorch: skipped ($(command -v python3 >/dev/null || echo 'no python3')$([ -s "$OUT/speed-bench.json" ] || echo 'no bench JSON'))" >"$cmp"
  fi
  summary
  bench_step variants "bench --variants (mnist b256; 'vs cpu' is each variant's GPU/CPU ratio)" \
    --variants --devices "$HEAVY_DEVICES"
  bench_step encode "bench --encode, rows/s from host memory (goal on an H100: ≥ 14M rows/s; PyTorch 11.5M from pinned memory, 30M device-resident)" \
    --encode --devices "$HEAVY_DEVICES"
  finish
}

# ---------------------------------------------------------------------------
# The dry run: both stages here, against the emulated driver.

dryrun() {
  set -e
  local dry=bin/gpu-dry
  [ -f "$TARBALL" ] || build
  mkdir -p "$dry/emu" "$dry/fake"
  local cxx=${CXX:-g++} cc=${CC:-gcc}
  command -v "$cxx" >/dev/null || { echo "dryrun: no C++ compiler ($cxx) for the emulated driver" >&2; exit 1; }
  # The emulated libcuda.so.1 as cuda/emulated_test.go builds it (rebuilt
  # when its sources changed), and the binding tests' fake libcuda.so.1.
  local src=cuda/internal/emugpu/emugpu.cpp
  if [ ! -f "$dry/emu/libcuda.so.1" ] || [ -n "$(find "$src" kernels/emu kernels/*.cu kernels/*.cuh -newer "$dry/emu/libcuda.so.1" -print -quit)" ]; then
    echo "building the emulated driver ($src) …"
    "$cxx" -std=c++20 -O1 -shared -fPIC -pthread -fvisibility=hidden -Wall -Wno-unknown-pragmas -o "$dry/emu/libcuda.so.1" "$src"
  fi
  "$cc" -shared -fPIC -O1 -Wall -Werror -o "$dry/fake/libcuda.so.1" cuda/internal/cu/testdata/fakecuda/fakecuda.c -lpthread
  local mnist=""
  if [ -f "$MNIST_FILE" ]; then
    mnist=$ROOT/$dry/mnist-train-64-idx3-ubyte.gz
    mnist_subset 64 "$MNIST_FILE" "$mnist"
  fi
  local py=python3 p
  for p in python3 /usr/bin/python3; do
    if command -v "$p" >/dev/null && "$p" -c 'import torch' 2>/dev/null; then
      py=$p
      break
    fi
  done
  set +e
  local st rc=0 t
  for st in correctness speed; do
    rm -rf "${dry:?}/out/$st"
    mkdir -p "$dry/out/$st"
    t=$SECONDS
    # The device tool's timeout_s: 330.
    OUT=$ROOT/$dry/out/$st \
      GPU_CHECK_DRYRUN="bench models toy, 1 window; variants and encode on the CPU only; MNIST: 64 rows, layers 784,64,16; python $py" \
      GPU_CHECK_GPU_ENV="LD_LIBRARY_PATH=$ROOT/$dry/emu" \
      GPU_CHECK_CU_ENV="LD_LIBRARY_PATH=$ROOT/$dry/fake AEGPU_CU_FAKE_DRIVER=1" \
      GPU_CHECK_PYTHON="$py" GPU_CHECK_MODELS=toy GPU_CHECK_WINDOWS=1 GPU_CHECK_HEAVY_DEVICES=cpu \
      GPU_CHECK_MNIST="$mnist" GPU_CHECK_MNIST_LAYERS=784,64,16 \
      timeout -k 5 330 bash scripts/gpu-check.sh "$st" >/dev/null
    local src=$?
    [ "$src" -eq 0 ] || rc=1
    echo "dry run $st: exit $src in $((SECONDS - t))s wall; files: $(ls "$dry/out/$st" | paste -sd' ')"
  done
  for st in correctness speed; do
    echo
    cat "$dry/out/$st/$st-summary.txt"
  done
  return $rc
}

case "${1:-}" in
build) build ;;
correctness) correctness ;;
speed) speed ;;
run)
  base=${OUT:-$ROOT/bin/gpu-out}
  OUT=$base/correctness bash "$ROOT/scripts/gpu-check.sh" correctness
  c=$?
  OUT=$base/speed bash "$ROOT/scripts/gpu-check.sh" speed || exit
  exit $c
  ;;
dryrun) dryrun ;;
*)
  echo "usage: $0 build|correctness|speed|dryrun|run (see the top of the script)" >&2
  exit 2
  ;;
esac
