#!/usr/bin/env bash
# process.seccomp.log: what a call costs with the log off and on, side by side in one run.
#  - a refused call (ptrace, EPERM): plain errno from the filter, against a user notification
#    answered by the supervisor (without --audit, and with --audit FILE, which adds reading
#    /proc/PID/exe, the SHA-256 cache and writing the JSON line);
#  - allowed calls with the log on: getppid (answered by the kernel's action cache) and
#    ioctl(-1, TCGETS) (the filter runs: the profile looks at ioctl's arguments);
#  - the kernel's own round trip: a C supervisor that only answers (bench/seccomp/notif-bench.c),
#    with the kernel's default wake-ups and with SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP.
# Each figure is ns per call inside the sandbox (the probe's syscall-loop), median of R runs,
# the configurations interleaved.
# Usage: bench/seccomp-log.sh [N_CHEAP] [N_NOTIFIED] [R]   (run as root; builds artifacts when missing)
set -euo pipefail
cd "$(dirname "$0")/.."
cheap=${1:-2000000}
notified=${2:-20000}
reps=${3:-7}
[ -x artifacts/sandboxrun ] && [ -x artifacts/probe ] || ./build.sh >/dev/null
out=$(mktemp -d /var/tmp/sbr-seccomp-log.XXXXXX)
trap 'rm -rf "$out"' EXIT
chmod 755 "$out"
cp artifacts/sandboxrun artifacts/probe "$out/"
cc -O2 -Wall -Wextra -o "$out/notif-bench" bench/seccomp/notif-bench.c

for log in false true; do
  printf 'version: 1\nfilesystem_policy:\n  include_workdir: true\n  read_only: [/]\nprocess:\n  seccomp: { log: %s }\n' "$log" >"$out/log-$log.yaml"
done
host_ns="$(readlink /proc/self/ns/mnt),$(readlink /proc/self/ns/pid)"
ptrace=101 getppid=110 ioctl=16

# CONFIG N NR ARGS... -> ns per call. CONFIG: off | on | audit.
probe() {
  local config=$1 n=$2
  shift 2
  local opts=(--policy "$out/log-false.yaml")
  case $config in
    on) opts=(--policy "$out/log-true.yaml") ;;
    audit) opts=(--policy "$out/log-true.yaml" --audit "$out/audit.jsonl") ;;
  esac
  local text
  text=$(cd "$out" && ./sandboxrun "${opts[@]}" -e PROBE_HOST_NS="$host_ns" -- "$out/probe" syscall-loop "$n" "$@" || true) # a refused call exits 1
  sed -n 's/.*ns_per_call=\([0-9.]*\).*/\1/p' <<<"$text"
  rm -f "$out/audit.jsonl"
}

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

rows=("refused off" "refused on" "refused audit" "getppid off" "getppid on" "ioctl off" "ioctl on" "floor default" "floor sync")
for row in "${rows[@]}"; do : >"$out/${row// /-}"; done
for ((i = 0; i < reps; i++)); do
  probe off "$cheap" $ptrace 7 2147483647 >>"$out/refused-off"
  probe on "$notified" $ptrace 7 2147483647 >>"$out/refused-on"
  probe audit "$notified" $ptrace 7 2147483647 >>"$out/refused-audit"
  probe off "$cheap" $getppid >>"$out/getppid-off"
  probe on "$cheap" $getppid >>"$out/getppid-on"
  probe off "$cheap" $ioctl -1 0x5401 0 >>"$out/ioctl-off"
  probe on "$cheap" $ioctl -1 0x5401 0 >>"$out/ioctl-on"
  "$out/notif-bench" "$notified" >>"$out/floor-default"
  "$out/notif-bench" "$notified" sync >>"$out/floor-sync" 2>/dev/null || echo "-" >>"$out/floor-sync"
done
m() { median <"$out/${1// /-}"; }

echo "== ns per call, median of $reps interleaved runs ($cheap calls; $notified for notified calls) =="
printf '%-46s %10s %10s %16s\n' "call" "log off" "log on" "log on, --audit"
printf '%-46s %10s %10s %16s\n' "ptrace(PTRACE_CONT, no such pid): refused" "$(m 'refused off')" "$(m 'refused on')" "$(m 'refused audit')"
printf '%-46s %10s %10s %16s\n' "getppid: allowed (kernel action cache)" "$(m 'getppid off')" "$(m 'getppid on')" "-"
printf '%-46s %10s %10s %16s\n' "ioctl(-1, TCGETS): allowed (filter runs)" "$(m 'ioctl off')" "$(m 'ioctl on')" "-"
echo
echo "kernel round trip, a C supervisor that only answers: $(m 'floor default') ns (default wake-ups), $(m 'floor sync') ns (SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP)"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg); $(nproc) CPUs; Linux $(uname -r)"
