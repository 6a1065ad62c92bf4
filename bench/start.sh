#!/usr/bin/env bash
# Whole-process start time: sandboxrun (AOT, every layer it has) against bubblewrap with
# --unshare-all, measured side by side in one run, interleaved so machine noise hits both.
# Usage: bench/start.sh [RUNS]   (needs root for apt when bubblewrap/hyperfine are missing)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-300}
need=()
command -v bwrap >/dev/null || need+=(bubblewrap)
command -v hyperfine >/dev/null || need+=(hyperfine)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
[ -x artifacts/sandboxrun ] || ./build.sh >/dev/null

sbr="artifacts/sandboxrun --quiet -- /bin/true"
bw="bwrap --unshare-all --die-with-parent --new-session --ro-bind / / --tmpfs /tmp --proc /proc --dev /dev --cap-drop ALL /bin/true"
hyperfine -N --warmup 20 --runs "$runs" --export-json /tmp/sbr-start.json "$sbr" "$bw"
python3 - <<'PY'
import json
r = json.load(open('/tmp/sbr-start.json'))['results']
s, b = r[0], r[1]
print(f"sandboxrun mean {s['mean']*1e3:.2f} ms, median {s['median']*1e3:.2f} ms")
print(f"bwrap      mean {b['mean']*1e3:.2f} ms, median {b['median']*1e3:.2f} ms")
print(f"ratio sandboxrun/bwrap (median): {s['median']/b['median']:.2f}  (target <= 1.2)")
PY
