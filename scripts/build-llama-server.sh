#!/usr/bin/env bash
# Builds llama.cpp's llama-server from the source node-llama-cpp ships
# (node_modules/node-llama-cpp/llama/gitRelease.bundle), so it runs the same llama.cpp commit as
# the addon of the node-llama-cpp backend. `bulwark engine build` and
# bench/compare-llama-server.mjs both run this script.
# Usage: scripts/build-llama-server.sh OUTPUT [JOBS]
#   OUTPUT: path of the binary to create; nothing is done when it exists already.
#   JOBS: parallel compile jobs (default 2; about 9 minutes on 2 cores).
# Prints the binary's path on stdout; cmake's progress goes to stderr.
set -euo pipefail
if [[ $# -lt 1 ]]; then
  echo "usage: $0 OUTPUT [JOBS]" >&2
  exit 2
fi
cd "$(dirname "$0")/.."
root="$PWD"
bin="$1"
jobs="${2:-2}"
if [[ -x "$bin" ]]; then echo "$bin"; exit 0; fi
for tool in cmake make g++ git; do
  command -v "$tool" >/dev/null || { echo "building llama-server needs $tool" >&2; exit 1; }
done
bundle="$root/node_modules/node-llama-cpp/llama/gitRelease.bundle"
out_dir="$(dirname "$bin")"
mkdir -p "$out_dir"
src="$out_dir/llama.cpp"
if [[ ! -d "$src/.git" ]]; then
  rm -rf "$src"
  git clone --quiet "$bundle" "$src" >&2
fi
# Without these three flags the build tries to download the web UI and curl.
cmake -S "$src" -B "$src/build" -DCMAKE_BUILD_TYPE=Release \
  -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_BUILD_UI=OFF -DLLAMA_CURL=OFF \
  -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=ON \
  -DGGML_NATIVE=ON -DBUILD_SHARED_LIBS=OFF >&2
cmake --build "$src/build" --target llama-server -j "$jobs" >&2
# Copy then rename, so a binary at OUTPUT is always a complete one.
cp "$src/build/bin/llama-server" "$bin.tmp"
mv "$bin.tmp" "$bin"
# The source and objects take about 1 GiB; the binary is all that is needed.
rm -rf "$src"
echo "$bin"
