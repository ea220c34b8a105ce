#!/usr/bin/env bash
# Every GPU test and the GPU benchmark in one go, with a short table at the end.
#
#   scripts/gpu-check.sh --build     here (with network): builds the test and bench binaries
#                                    and copies them into device-bin/ (git-ignored)
#   scripts/gpu-check.sh device-bin  on the GPU machine (no network): runs those binaries
#   scripts/gpu-check.sh             anywhere cargo can build: builds, then runs
#
# The GPU machine's own CUDA libraries are used (its NVRTC matches its driver: PTX from a
# newer NVRTC can be refused by an older driver). Without a GPU every test prints why it
# skipped and passes; the table then says so.
set -uo pipefail
cd "$(dirname "$0")/.."
bins=device-bin

build() {
    mkdir -p "$bins"
    { cargo test --release --no-run --message-format=json -p tensor --test cuda 2>/dev/null
      cargo test --release --no-run --message-format=json -p kernels --tests 2>/dev/null; } \
        | python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["kind"] == ["test"]:
        print(m["executable"])' | while read -r exe; do
        cp "$exe" "$bins/$(basename "$exe" | sed 's/-[0-9a-f]*$//')"
    done
    cargo bench --no-run --bench gpu --message-format=json 2>/dev/null | python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] == "gpu":
        print(m["executable"])' | while read -r exe; do cp "$exe" "$bins/gpu-bench"; done
    ls "$bins"
}

case "${1:-}" in
    --build) build; exit 0 ;;
    "") build >/dev/null ;;
    *) bins="$1" ;;
esac

nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || echo "nvidia-smi: no GPU seen"
log=$(mktemp)
status=0
for t in cuda compile optim; do
    [ -x "$bins/$t" ] || { echo "missing $bins/$t (run scripts/gpu-check.sh --build first)"; status=1; continue; }
    echo "== $t"
    "$bins/$t" --test-threads=1 --nocapture 2>&1 | tee -a "$log" | grep -E "^test |skipped|panicked|result" || true
    [ "${PIPESTATUS[0]}" -eq 0 ] || status=1
done
echo "== benchmark"
"$bins/gpu-bench" 2>&1 | tee "$log.bench"

echo
echo "================ summary ================"
grep -E "^test result" "$log" | awk '{p+=$4; f+=$6} END {printf "tests: %d passed, %d failed\n", p, f}'
skips=$(grep -c "skipped:" "$log" || true)
[ "$skips" -gt 0 ] && echo "skipped (no GPU): $skips tests, so nothing above was verified on a GPU"
grep -vE "^(skipped|device:)" "$log.bench" || true
exit $status
