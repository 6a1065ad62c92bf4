#!/usr/bin/env bash
# Egress proxy against a direct loopback connection and tinyproxy, side by side in one run
# (DESIGN.md: tunnel throughput >= 90% of direct; keep-alive requests/s ahead of tinyproxy).
#  1. CONNECT tunnel throughput: curl downloads SIZE bytes from the upstream, directly on the
#     host, through the sandbox's proxy (curl -p) and through three references: tinyproxy's
#     CONNECT tunnel and the two relays of bench/proxy/relay.c (splice(2) in a C process, and a
#     BPF sockmap redirect with no user space in the data path), RUNS times interleaved; medians.
#  2. keep-alive small requests: one connection, one request after another (bench/proxy/kaclient),
#     directly, through tinyproxy on the host and through the sandbox's proxy; req/s, p50, p99.
# The upstream (bench/proxy/upstream.c) listens on 198.18.0.1, added to lo for the run (the proxy
# never dials loopback) and removed after. Everything started here is stopped on exit.
# Usage: bench/proxy.sh [RUNS] [REQUESTS] [SECONDS] [SIZE]
#   defaults: 3 transfers of 1 GiB each way; 20000 requests per path, or 30 s, whichever ends first
# Needs root (the lo address; apt when tinyproxy is missing).
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
requests=${2:-20000}
seconds=${3:-30}
size=${4:-1073741824}
addr=198.18.0.1
[ "$(id -u)" -eq 0 ] || { echo "proxy.sh: needs root (adds $addr to lo)" >&2; exit 1; }
need=()
command -v tinyproxy >/dev/null || need+=(tinyproxy-bin) # the proxy alone, no system service
command -v curl >/dev/null || need+=(curl)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
[ -x artifacts/sandboxrun ] || ./build.sh >/dev/null
sbr=$PWD/artifacts/sandboxrun

out=$(mktemp -d)
chmod 755 "$out" # the sandbox's user runs kaclient from here
added=0
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do
    kill "$p" 2>/dev/null && wait "$p" 2>/dev/null || true
  done
  [ "$added" -eq 0 ] || ip addr del "$addr/32" dev lo 2>/dev/null || true
  rm -rf "$out"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

cc -O2 -Wall -Wextra -pthread -o "$out/upstream" bench/proxy/upstream.c
cc -O2 -Wall -Wextra -o "$out/kaclient" bench/proxy/kaclient.c
cc -O2 -Wall -Wextra -pthread -o "$out/relay" bench/proxy/relay.c
chmod 755 "$out/kaclient"

# Left in place when something else (a test run) already added it.
if ! ip -4 addr show dev lo | grep -q " $addr/32 "; then
  ip addr add "$addr/32" dev lo
  added=1
fi

"$out/upstream" "$addr" 0 >"$out/upstream.port" &
pids+=($!)
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_port() { # HOST PORT: until something listens there (5 s at most)
  local i
  for ((i = 0; i < 100; i++)); do
    (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null && return 0
    sleep 0.05
  done
  echo "proxy.sh: nothing listens on $1:$2" >&2
  exit 1
}
for ((i = 0; i < 100; i++)); do [ -s "$out/upstream.port" ] && break; sleep 0.05; done
port=$(head -1 "$out/upstream.port")
wait_port "$addr" "$port"

tport=$(free_port)
cat >"$out/tinyproxy.conf" <<EOF
User nobody
Group nogroup
Port $tport
Listen 127.0.0.1
Timeout 60
MaxClients 100
Allow 127.0.0.1
LogLevel Critical
DisableViaHeader Yes
EOF
tinyproxy -d -c "$out/tinyproxy.conf" 2>"$out/tinyproxy.log" &
pids+=($!)
wait_port 127.0.0.1 "$tport"

# The reference relays, each on its own free port in front of the same upstream.
relays=()
for mode in splice sockmap; do
  rport=$(free_port)
  "$out/relay" "$mode" "$rport" "$addr" "$port" >"$out/relay-$mode.out" 2>"$out/relay-$mode.err" &
  pids+=($!)
  for ((i = 0; i < 100; i++)); do grep -q ready "$out/relay-$mode.out" 2>/dev/null && break; sleep 0.05; done
  if grep -q ready "$out/relay-$mode.out"; then
    relays+=("$mode:$rport")
  else
    echo "proxy.sh: the $mode relay did not start, left out: $(cat "$out/relay-$mode.err")" >&2
  fi
done

cat >"$out/policy.yaml" <<EOF
version: 1
filesystem_policy: { include_workdir: true, read_only: [/], read_write: [/tmp, /dev/null] }
network_policies:
  upstream:
    name: upstream
    endpoints:
      - { host: $addr, port: $port }
    binaries:
      - { path: $(readlink -f "$(command -v curl)") }
      - { path: $out/kaclient }
EOF
sandboxed() { (cd "$out" && "$sbr" --quiet --policy policy.yaml -- "$@"); }
url=http://$addr:$port

echo "== CONNECT tunnel throughput: $size bytes, $runs runs each, interleaved =="
paths=(direct proxy tinyproxy)
for r in "${relays[@]}"; do paths+=("relay-${r%%:*}"); done
for k in "${paths[@]}"; do : >"$out/$k.tp"; done
speed() { # PATH: bytes/s of one download through it
  case $1 in
    direct) curl -sS --noproxy '*' -o /dev/null -w '%{speed_download}' "$url/bytes/$size" ;;
    proxy) sandboxed curl -sS -p -o /dev/null -w '%{speed_download}' "$url/bytes/$size" ;;
    tinyproxy) curl -sS -p -x "http://127.0.0.1:$tport" -o /dev/null -w '%{speed_download}' "$url/bytes/$size" ;;
    relay-*)
      local r rport
      for r in "${relays[@]}"; do [ "relay-${r%%:*}" = "$1" ] && rport=${r##*:}; done
      curl -sS --noproxy '*' --connect-to "$addr:$port:127.0.0.1:$rport" -o /dev/null -w '%{speed_download}' "$url/bytes/$size" ;;
  esac
}
for ((i = 1; i <= runs; i++)); do
  line="  run $i:"
  for k in "${paths[@]}"; do
    v=$(speed "$k")
    echo "$v" >>"$out/$k.tp"
    line+=$(awk -v k="$k" -v v="$v" 'BEGIN { printf "  %s %.0f", k, v / 1048576 }')
  done
  echo "$line MiB/s"
done

echo "== keep-alive: GET /small (2-byte body), one connection, up to $requests requests or ${seconds} s per path =="
kac=("$out/kaclient")
"${kac[@]}" "$addr:$port" /small "$addr:$port" "$requests" "$seconds" >"$out/direct.ka"
"${kac[@]}" "127.0.0.1:$tport" "$url/small" "$addr:$port" "$requests" "$seconds" >"$out/tinyproxy.ka"
sandboxed sh -c '"$0" "$http_proxy" "$@"' "$out/kaclient" "$url/small" "$addr:$port" "$requests" "$seconds" >"$out/proxy.ka"
# Diagnostic: the same through the proxy, the client acknowledging every segment at once (-q).
sandboxed sh -c '"$0" -q "$http_proxy" "$@"' "$out/kaclient" "$url/small" "$addr:$port" "$requests" "$seconds" >"$out/proxy-quickack.ka"

python3 - "$out" <<'PY'
import statistics, sys
out = sys.argv[1]
import glob, os
tp = {os.path.basename(f)[:-3]: [float(x) for x in open(f).read().split()] for f in glob.glob(f"{out}/*.tp")}
med = {k: statistics.median(v) for k, v in tp.items()}
order = [k for k in ("direct", "proxy", "tinyproxy", "relay-splice", "relay-sockmap") if k in tp]
names = {"direct": "direct", "proxy": "sandboxrun proxy (CONNECT)", "tinyproxy": "tinyproxy (CONNECT)",
         "relay-splice": "C relay, splice(2)", "relay-sockmap": "kernel relay, BPF sockmap"}
print()
print("== summary (one run, ratios side by side) ==")
print(f"{'tunnel throughput':34} {'median MiB/s':>12} {'/direct':>8}   runs (MiB/s)")
for k in order:
    print(f"  {names[k]:32} {med[k] / 2**20:12.1f} {med[k] / med['direct']:8.2f}   " + ", ".join(f"{x / 2**20:.1f}" for x in tp[k]))
print(f"  ratio proxy/direct: {med['proxy'] / med['direct']:.2f}   (goal >= 0.90)")
for k in order[2:]:
    print(f"  ratio proxy/{k}: {med['proxy'] / med[k]:.2f}")
print()
ka = {}
for k in ("direct", "tinyproxy", "proxy", "proxy-quickack"):
    n, secs, rps, p50, p99, conns = open(f"{out}/{k}.ka").read().split()
    ka[k] = dict(n=int(n), secs=float(secs), rps=float(rps), p50=float(p50), p99=float(p99), conns=int(conns))
print(f"{'keep-alive':34} {'requests':>8} {'req/s':>9} {'p50 us':>9} {'p99 us':>9} {'connections':>12}")
labels = {"direct": "direct", "tinyproxy": "tinyproxy", "proxy": "sandboxrun proxy", "proxy-quickack": "proxy, client quick-ACKs (diag.)"}
for k, v in ka.items():
    print(f"  {labels[k]:32} {v['n']:8d} {v['rps']:9.0f} {v['p50']:9.1f} {v['p99']:9.1f} {v['conns']:12d}")
print(f"  req/s ratio proxy/tinyproxy: {ka['proxy']['rps'] / ka['tinyproxy']['rps']:.2f}   (goal > 1)")
print(f"  req/s ratio proxy/direct: {ka['proxy']['rps'] / ka['direct']['rps']:.3f},  tinyproxy/direct: {ka['tinyproxy']['rps'] / ka['direct']['rps']:.3f}")
if ka["tinyproxy"]["conns"] > 1:
    print(f"  tinyproxy closed the client connection after every response ({ka['tinyproxy']['conns']} connections): its figures include a connect per request")
PY
