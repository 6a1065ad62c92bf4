#!/usr/bin/env bash
# Builds the single NativeAOT binary artifacts/sandboxrun (and the test probe artifacts/probe).
# Installs what NativeAOT needs from Debian when it is missing (needs root for that step).
set -euo pipefail
cd "$(dirname "$0")"

need=()
command -v clang >/dev/null || need+=(clang)
command -v cc >/dev/null || need+=(gcc)
[ -e /usr/lib/x86_64-linux-gnu/libz.so ] || [ -e /usr/lib/x86_64-linux-gnu/libz.a ] || need+=(zlib1g-dev)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "build.sh: missing ${need[*]}; install them (sudo apt-get install ${need[*]}) and run again" >&2
    exit 1
  fi
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
command -v dotnet >/dev/null || { echo "build.sh: the .NET 10 SDK is required (dotnet not on PATH)" >&2; exit 1; }

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
mkdir -p artifacts
dotnet publish src/Runtime/Runtime.csproj -c Release -r linux-x64 -o artifacts/publish-sandboxrun --nologo -v quiet
dotnet publish tests/Probe/Probe.csproj -c Release -r linux-x64 -o artifacts/publish-probe --nologo -v quiet
cp artifacts/publish-sandboxrun/sandboxrun artifacts/sandboxrun
cp artifacts/publish-probe/probe artifacts/probe
ls -la artifacts/sandboxrun artifacts/probe
