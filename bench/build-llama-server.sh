#!/usr/bin/env bash
# Builds llama.cpp's llama-server from the source node-llama-cpp ships
# (node_modules/node-llama-cpp/llama/gitRelease.bundle), so the comparison runs
# the same llama.cpp commit as the addon Bulwark loads. The binary is cached in
# bench/.cache/ because the build takes about 9 minutes on 2 cores.
# Usage: bench/build-llama-server.sh [JOBS]   (prints the binary's path)
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
cache="$root/bench/.cache"
bundle="$root/node_modules/node-llama-cpp/llama/gitRelease.bundle"
bin="$cache/llama-server"
if [[ -x "$bin" ]]; then echo "$bin"; exit 0; fi
mkdir -p "$cache"
src="$cache/llama.cpp"
if [[ ! -d "$src/.git" ]]; then
  rm -rf "$src"
  git clone --quiet "$bundle" "$src" >&2
fi
jobs="${1:-2}"
# Without these three flags the build tries to download the web UI and curl.
cmake -S "$src" -B "$src/build" -DCMAKE_BUILD_TYPE=Release \
  -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_BUILD_UI=OFF -DLLAMA_CURL=OFF \
  -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=ON \
  -DGGML_NATIVE=ON -DBUILD_SHARED_LIBS=OFF >&2
cmake --build "$src/build" --target llama-server -j "$jobs" >&2
cp "$src/build/bin/llama-server" "$bin"
echo "$bin"
