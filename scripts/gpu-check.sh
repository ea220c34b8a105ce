#!/usr/bin/env bash
# Every GPU test and the GPU benchmark in one go, with a short table at the end; then, in the
# time left, compute-sanitizer's memcheck and racecheck on the tensor GPU tests.
#
#   scripts/gpu-check.sh --build     here (with network): builds the test and bench binaries
#                                    and copies them into device-bin/ (git-ignored)
#   scripts/gpu-check.sh device-bin  on the GPU machine (no network): runs those binaries
#   scripts/gpu-check.sh             anywhere cargo can build: builds, then runs
#
# The tests that re-run themselves on the host's stand-in GPU are skipped here: this is for a
# real one. (With the stand-in first on LD_LIBRARY_PATH, and LESSON6_BENCH_SMOKE=1, this
# whole script runs here too, to check its own flow.)
# The GPU machine's own CUDA libraries are used (its NVRTC matches its driver: PTX from a
# newer NVRTC can be refused by an older driver). Without a GPU every test prints why it
# skipped and passes; the table then says so.
set -uo pipefail
cd "$(dirname "$0")/.."
bins=device-bin

build() {
    mkdir -p "$bins"
    # Each test binary is copied as PACKAGE-TARGET (tensor-cuda, nn-cuda, kernels-compile, ...).
    { cargo test --release --no-run --message-format=json -p tensor --test cuda 2>/dev/null
      cargo test --release --no-run --message-format=json -p nn --test cuda 2>/dev/null
      cargo test --release --no-run --message-format=json -p kernels --tests 2>/dev/null
      cargo bench --no-run --bench gpu --message-format=json 2>/dev/null
      cargo build --release --example rossmann --example pets --message-format=json 2>/dev/null; } | python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable"):
        t = m["target"]
        path, _, tail = m["package_id"].partition("#")
        pkg = tail.split("@")[0] if "@" in tail else path.rstrip("/").split("/")[-1]
        if t["kind"] == ["test"] or t["name"] in ("gpu", "rossmann", "pets"):
            print(m["executable"], pkg + "-" + t["name"])' | while read -r exe name; do
        cp "$exe" "$bins/$name"
        strip "$bins/$name"   # 10 MB instead of 170: the device tool carries at most 64 MiB
    done
    ls "$bins"
}

case "${1:-}" in
    --build) build; exit 0 ;;
    "") build >/dev/null ;;
    *) bins="$1" ;;
esac

# The machine's own CUDA libraries, first found first: the driver's (a container's mounted
# /usr/local/nvidia), the toolkit's NVRTC and cuBLAS, then those of its Python's torch
# wheels; the default search (ldconfig) after all of them.
py_cuda=$(python3 -c 'import nvidia, os; print(os.path.join(nvidia.__path__[0], "cu13", "lib"))' 2>/dev/null || true)
search=""
for d in /usr/local/nvidia/lib64 /usr/local/nvidia/lib /usr/local/cuda/lib64 \
         /usr/local/cuda/targets/x86_64-linux/lib "$py_cuda"; do
    [ -n "$d" ] && [ -d "$d" ] && search="${search:+$search:}$d"
done
export LD_LIBRARY_PATH="$search${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || echo "nvidia-smi: no GPU seen"
# Which file each library the engine opens resolves to (cudarc tries these names among
# others), so that a run where none is found says where it looked.
IFS=: read -ra dirs <<< "$LD_LIBRARY_PATH"
for lib in cuda:1 nvrtc:13 cublas:13; do
    name="lib${lib%:*}.so" found=""
    for f in "$name" "$name.${lib#*:}"; do
        for d in "${dirs[@]}"; do [ -e "$d/$f" ] && { found="$d/$f"; break 2; }; done
        found=$(ldconfig -p 2>/dev/null | awk -v l="$f" '$1 == l {print $NF; exit}')
        [ -n "$found" ] && break
    done
    echo "$name: ${found:-NOT FOUND (searched $LD_LIBRARY_PATH and ldconfig)}"
done
# Logs: under $OUT when the device tool runs this (what is written there comes back, even
# when a stage is cut short), else in a fresh folder.
logs=${OUT:-$(mktemp -d)}
mkdir -p "$logs"
log="$logs/tests.log"
: > "$log"
# Every stage is bounded, so that a hang in one leaves the others their time: each gets at most
# its own cap and never more than what is left of the whole run's budget (the device tool
# stops a command after 600 s).
deadline=$((SECONDS + ${LESSON6_GPU_CHECK_BUDGET:-560}))
bounded() {
    local cap=$1 left=$((deadline - SECONDS))
    shift
    [ "$left" -lt "$cap" ] && cap=$left
    if [ "$cap" -le 5 ]; then echo "not run, no time left: $*"; return 124; fi
    timeout -k 5 "$cap" "$@"
    local rc=$?
    [ "$rc" -eq 124 ] && echo "cut short after ${cap} s: $*"
    return "$rc"
}
status=0
for t in kernels-compile kernels-optim tensor-cuda nn-cuda; do
    [ -x "$bins/$t" ] || { echo "missing $bins/$t (run scripts/gpu-check.sh --build first)"; status=1; continue; }
    echo "== $t"
    bounded 150 "$bins/$t" --test-threads=1 --nocapture --skip on_a_stand_in_gpu 2>&1 | tee -a "$log" | grep -E "^test |skipped|panicked|result|cut short|not run" || true
    [ "${PIPESTATUS[0]}" -eq 0 ] || status=1
done
echo "== benchmark"
bounded 150 "$bins/lesson6-gpu" 2>&1 | tee "$logs/bench.log"
echo "== PyTorch on the same cases (needs a CUDA build of torch on this machine)"
PYTHONUNBUFFERED=1 bounded 150 python3 benches/gpu_torch.py 2>&1 | tee "$logs/torch.log" || true

echo "== the Rossmann example on the GPU (the CPU gives valid exp_rmspe 0.1085 on this data)"
bounded 90 "$bins/lesson6-rossmann" --device cuda --out "$(mktemp -d)" 2>&1 | tail -3 | tee "$logs/rossmann.log"
echo "== reproducibility: one Rossmann epoch twice with --deterministic (the saved models should be equal to the bit), once with atomics"
runs=$(mktemp -d)
for r in det1 det2 atomic; do
    flag=$([ "$r" = atomic ] || echo --deterministic)
    bounded 60 "$bins/lesson6-rossmann" --device cuda --epochs 1 $flag --out "$runs/$r" >/dev/null 2>&1 || echo "the $r run failed"
done
same() {
    local a="$runs/$1/model.safetensors" b="$runs/$2/model.safetensors"
    if [ ! -f "$a" ] || [ ! -f "$b" ]; then echo "not compared (a run did not finish)"
    elif cmp -s "$a" "$b"; then echo equal
    else echo DIFFERENT; fi
}
{ echo "deterministic twice: models $(same det1 det2)"
  echo "deterministic against atomics: models $(same det1 atomic) (atomics may differ in the last bits)"; } | tee "$logs/repro.log"
echo "== the pets example on the GPU (ResNet-34 from scratch on the embedded shapes; the CPU gives error_rate 0.24)"
bounded 150 "$bins/lesson6-pets" --device cuda --out "$(mktemp -d)" 2>&1 | tail -2 | tee "$logs/pets.log"
echo "== compute-sanitizer on the tensor GPU tests, in the time left: memcheck (an access outside"
echo "   a buffer, as the stand-in's fences catch on the host), then racecheck on the kernels"
echo "   that share memory in a block (reductions, softmax, batch norm, cross-entropy)"
sanitizer=$(command -v compute-sanitizer || ls /usr/local/cuda/bin/compute-sanitizer 2>/dev/null || true)
if [ -z "$sanitizer" ]; then
    echo "no compute-sanitizer on this machine" | tee "$logs/sanitizer.log"
else
    { bounded 90 "$sanitizer" --tool memcheck --leak-check no "$bins/tensor-cuda" --test-threads=1 --skip on_a_stand_in_gpu
      bounded 45 "$sanitizer" --tool racecheck "$bins/tensor-cuda" --test-threads=1 reductions batch_norm cross_entropy; } 2>&1 |
        grep -E "SUMMARY|^=+ +(Invalid|Race|Error|Program hit)|^test result|cut short|not run|not supported" > "$logs/sanitizer.log"
    # The whole log is kept (a head in the pipe would stop the sanitizer, summary unwritten).
    head -40 "$logs/sanitizer.log"
fi

echo
echo "================ summary ================"
grep -E "^test result" "$log" | awk '{p+=$4; f+=$6} END {printf "tests: %d passed, %d failed\n", p, f}'
skips=$(grep -c "skipped:" "$log" || true)
[ "$skips" -gt 0 ] && echo "skipped (no GPU): $skips tests, so nothing above was verified on a GPU"
echo "lesson6:"; grep -vE "^skipped" "$logs/bench.log" || true
echo "Rossmann on the GPU:"; cat "$logs/rossmann.log" "$logs/repro.log"
echo "Pets on the GPU:"; cat "$logs/pets.log"
echo "PyTorch:"; cat "$logs/torch.log"
echo "compute-sanitizer (the first 40 lines of sanitizer.log):"; head -40 "$logs/sanitizer.log"
echo "logs: $logs"
exit $status
