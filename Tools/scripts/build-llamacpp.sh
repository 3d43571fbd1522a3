#!/usr/bin/env bash
# Builds the llama.cpp peer that moe-bench measures SwiftMoE against, outside the repository.
#
# Source: the llama.cpp tree vendored in the PyPI sdist of llama-cpp-python (pinned below), because
# PyPI is reachable from these machines and GitHub is not. Nothing it downloads or builds is committed.
#
#   Tools/scripts/build-llamacpp.sh            # builds into $SWIFTMOE_CACHE (default ~/.cache/swiftmoe)
#   Tools/scripts/build-llamacpp.sh --print    # prints the bin folder if already built, else exits 1
#   Tools/scripts/build-llamacpp.sh --source-only   # only downloads and unpacks; prints the llama.cpp source folder
#                                                   # (tests read its models/ggml-vocab-* files and gguf-py)
#
# Result: $SWIFTMOE_CACHE/llama.cpp-<version>/bin/{llama-bench,llama-completion,llama-perplexity,llama-quantize,llama-tokenize,llama-server}
# About 10 minutes on 2 cores. Idempotent: a finished build is reused.
set -euo pipefail

VERSION="${LLAMA_CPP_PYTHON_VERSION:-0.3.36}"
CACHE="${SWIFTMOE_CACHE:-$HOME/.cache/swiftmoe}"
ROOT="$CACHE/llama.cpp-$VERSION"
BIN="$ROOT/bin"
TARGETS=(llama-bench llama-completion llama-perplexity llama-quantize llama-tokenize llama-server)

built() { for t in "${TARGETS[@]}"; do [ -x "$BIN/$t" ] || return 1; done; }

if [ "${1:-}" = "--print" ]; then
  built && { echo "$BIN"; exit 0; }
  exit 1
fi

# The sdist, unpacked into $ROOT/src. pip prepares its metadata, which needs CMake: hence the build tools
# first and no build isolation.
fetch_source() {
  [ -d "$ROOT/src/vendor/llama.cpp" ] && return 0
  mkdir -p "$ROOT"
  echo "== build tools (cmake, ninja, scikit-build-core) from PyPI" >&2
  python3 -m pip install -q cmake ninja scikit-build-core >&2
  echo "== downloading the llama-cpp-python $VERSION sdist" >&2
  rm -rf "$ROOT/dl" "$ROOT/src.partial" && mkdir -p "$ROOT/dl" "$ROOT/src.partial"
  python3 -m pip download -q --no-deps --no-binary llama-cpp-python --no-build-isolation \
    -d "$ROOT/dl" "llama-cpp-python==$VERSION" >&2
  tar -xzf "$ROOT/dl/llama_cpp_python-$VERSION.tar.gz" -C "$ROOT/src.partial" --strip-components=1
  # Renamed only when complete, so a concurrent or interrupted run never sees half a tree.
  rm -rf "$ROOT/src" && mv "$ROOT/src.partial" "$ROOT/src"
}

if [ "${1:-}" = "--source-only" ]; then
  fetch_source
  echo "$ROOT/src/vendor/llama.cpp"
  exit 0
fi
if built; then echo "llama.cpp $VERSION already built: $BIN"; exit 0; fi

fetch_source
cd "$ROOT"
python3 -m pip install -q cmake ninja scikit-build-core

# Tuned for this CPU (GGML_NATIVE), except on CPUs with AMX: there the vendored ggml's AMX matrix path faults
# (SIGILL at its first `tilezero`, in llama-bench and llama-completion, for Q8_0, Q4_K, … on the Xeon these
# machines have, although a plain C program that requests XTILEDATA runs AMX tiles there), so the build names
# every other x86 feature of this CPU instead and leaves AMX out: llama.cpp's AVX-512 (VNNI, VBMI, BF16) paths.
CPU_FLAGS=(-DGGML_NATIVE=ON)
if grep -qw amx_tile /proc/cpuinfo 2>/dev/null; then
  has() { grep -qw "$1" /proc/cpuinfo; }
  onoff() { if has "$1"; then echo ON; else echo OFF; fi; }
  CPU_FLAGS=(-DGGML_NATIVE=OFF -DGGML_SSE42=ON -DGGML_AVX=ON -DGGML_AVX2="$(onoff avx2)" -DGGML_FMA="$(onoff fma)"
    -DGGML_F16C="$(onoff f16c)" -DGGML_BMI2="$(onoff bmi2)" -DGGML_AVX_VNNI="$(onoff avx_vnni)" -DGGML_AVX512="$(onoff avx512f)"
    -DGGML_AVX512_VBMI="$(onoff avx512vbmi)" -DGGML_AVX512_VNNI="$(onoff avx512_vnni)" -DGGML_AVX512_BF16="$(onoff avx512_bf16)"
    -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF)
  echo "== this CPU has AMX: building with its other features named, AMX left out (${CPU_FLAGS[*]})"
fi

echo "== configuring and building ${TARGETS[*]} (tuned for this CPU)"
cmake -S src/vendor/llama.cpp -B build -G Ninja -DCMAKE_BUILD_TYPE=Release \
  "${CPU_FLAGS[@]}" -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_SERVER=ON \
  -DLLAMA_BUILD_EXAMPLES=ON -DBUILD_SHARED_LIBS=OFF >build.log 2>&1 || { tail -20 build.log; exit 1; }
cmake --build build --target "${TARGETS[@]}" -j "$(nproc)" >>build.log 2>&1 || { tail -30 build.log; exit 1; }

mkdir -p "$BIN"
for t in "${TARGETS[@]}"; do cp "build/bin/$t" "$BIN/$t"; done
echo "llama.cpp $VERSION built: $BIN"
