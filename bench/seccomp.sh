#!/usr/bin/env bash
# Seccomp: our compiler against libseccomp for the same rules, side by side in one run.
#  1. program length: the default profile (in the deny-only form both can express) and 400 rules;
#  2. per-call cost of a syscall loop (N iterations, median of R interleaved runs) with no filter,
#     our program and libseccomp's (its default layout and its binary tree, SCMP_FLTATR_CTL_OPTIMIZE=2).
# Usage: bench/seccomp.sh [N] [R]   (needs root for apt when libseccomp-dev is missing)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-10000000}
reps=${2:-5}
if [ ! -e /usr/include/seccomp.h ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libseccomp-dev >/dev/null
fi
[ -x artifacts/sandboxrun ] || ./build.sh >/dev/null
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

cc -O2 -Wall -Wextra -o "$out/seccomp-bench" bench/seccomp/seccomp-bench.c -lseccomp
b="$out/seccomp-bench"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
dotnet run --project bench/Bench.csproj -c Release -v quiet -- seccomp-export "$out" >"$out/export.txt"
artifacts/sandboxrun debug seccomp-dump -o "$out/installed.bpf"
artifacts/sandboxrun debug seccomp-dump --text >"$out/installed.txt"

echo "== program length (instructions) =="
printf '%-34s %8s %12s %12s\n' "rules" "ours" "libseccomp" "lib (tree)"
for p in default 400; do
  ours=$(( $(stat -c %s "$out/$p.bpf") / 8 ))
  printf '%-34s %8d %12d %12d\n' "$p ($(wc -l <"$out/$p.rules") rules)" "$ours" "$($b length "$out/$p.rules")" "$($b length "$out/$p.rules" tree)"
done
printf '%-34s %8d %12s %12s\n' "default profile as installed" "$(( $(stat -c %s "$out/installed.bpf") / 8 ))" "-" "-"
sed 's/^/  ours: /' "$out/export.txt"
head -1 "$out/installed.txt" | sed 's/^# /  installed: /'

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
measure() { # CALL RULESET -> "none ours lib libtree" medians in ns/call, runs interleaved
  local call=$1 set=$2 i
  : >"$out/none" ; : >"$out/ours" ; : >"$out/lib" ; : >"$out/tree"
  for ((i = 0; i < reps; i++)); do
    $b run "$call" none "$n" >>"$out/none"
    $b run "$call" bpf "$out/$set.bpf" "$n" >>"$out/ours"
    $b run "$call" libseccomp "$out/$set.rules" "$n" >>"$out/lib"
    $b run "$call" libseccomp "$out/$set.rules" tree "$n" >>"$out/tree"
  done
  printf '%-34s %8s %8s %12s %12s\n' "$call ($set rules)" "$(median <"$out/none")" "$(median <"$out/ours")" "$(median <"$out/lib")" "$(median <"$out/tree")"
}

echo
echo "== ns per call, median of $reps runs of $n calls =="
printf '%-34s %8s %8s %12s %12s\n' "call" "none" "ours" "libseccomp" "lib (tree)"
measure getppid default
measure ioctl default
measure read 400
measure tkill 400
ours_installed=$(for ((i = 0; i < reps; i++)); do $b run ioctl bpf "$out/installed.bpf" "$n"; done | median)
printf '%-34s %8s %8s\n' "ioctl (profile as installed)" "" "$ours_installed"
echo
echo "getppid is allowed whatever its arguments, so since Linux 5.11 the kernel's seccomp action"
echo "cache answers it without running any filter; ioctl, read and tkill run the filter every time."
