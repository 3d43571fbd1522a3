#!/usr/bin/env bash
# Coverage-guided fuzzing (libFuzzer + AddressSanitizer) of the parsers of untrusted bytes.
#
#   Tools/scripts/fuzz.sh --list            the targets
#   Tools/scripts/fuzz.sh NAME SECONDS      build NAME (optimised, -O, with sanitizers) and fuzz it for SECONDS
#   Tools/scripts/fuzz.sh --build NAME      build only; prints the binary's path
#
# Each target is one entry point in Tools/fuzz/ compiled with the sources of MoEFormats (and MoETokenizer;
# chat-template: ChatTemplate alone),
# which have no C dependencies, straight with swiftc; nothing here touches the package build. Builds and
# scratch corpora live under $MOE_FUZZ_CACHE (default $SWIFTMOE_CACHE/fuzz, i.e. ~/.cache/swiftmoe/fuzz).
# libFuzzer starts from the committed seeds in Tools/fuzz/corpus/NAME and writes the inputs it finds to the
# scratch corpus (kept between runs, never the committed one); a crash, leak, timeout or out-of-memory input
# is written under the scratch artifacts folder and printed at the end. Extra arguments after SECONDS go to
# libFuzzer (e.g. -jobs, -dict, -seed). Minimise a crash with: BINARY -minimize_crash=1 -runs=100000 FILE.
set -euo pipefail

repo="$(cd "$(dirname "$0")/../.." && pwd)"
cache="${MOE_FUZZ_CACHE:-${SWIFTMOE_CACHE:-$HOME/.cache/swiftmoe}/fuzz}"
llamacpp="${MOE_LLAMACPP_SOURCE:-${SWIFTMOE_CACHE:-$HOME/.cache/swiftmoe}/llama.cpp-${LLAMA_CPP_PYTHON_VERSION:-0.3.36}/src/vendor/llama.cpp}"

# name | entry point | libraries (formats = MoEFormats; tokenizer = MoEFormats + MoETokenizer) | -max_len | dictionary
targets=(
  "gguf|FuzzGGUF.swift|formats|16384|gguf.dict"
  "safetensors|FuzzSafetensors.swift|formats|4096|json.dict"
  "hf-config|FuzzHFConfig.swift|formats|4096|json.dict"
  "gguf-tokenizer|FuzzGGUFTokenizer.swift|tokenizer|16384|gguf.dict"
  "tokenizer-json|FuzzTokenizerJSON.swift|tokenizer|16384|json.dict"
  "sentencepiece|FuzzSentencePiece.swift|tokenizer|4096|"
  "encode|FuzzEncode.swift|tokenizer|2048|"
  "chat-template|FuzzChatTemplate.swift|chat|16384|"
)
describe() {
  case "$1" in
    gguf) echo "GGUF header, metadata, tensor infos and views; architecture and ModelConfig from the metadata" ;;
    safetensors) echo "safetensors header (length, JSON entries, data offsets) and tensor views" ;;
    hf-config) echo "config.json (HFConfig -> ModelConfig, validated) and model.safetensors.index.json" ;;
    gguf-tokenizer) echo "GGUF tokenizer.ggml.* -> TokenizerSpec -> Tokenizer, encode/decode a fixed text" ;;
    tokenizer-json) echo "tokenizer.json -> TokenizerSpec -> Tokenizer, encode/decode a fixed text" ;;
    sentencepiece) echo "tokenizer.model (protobuf) -> SentencePieceModelFile -> Tokenizer, encode/decode" ;;
    chat-template) echo "chat template (Jinja2) parse + render with a chat context; the bytes as JSON context of a fixed template" ;;
    encode) echo "Tokenizer.encode(bytes:) of arbitrary bytes with 5 real tokenizers; ids in range, round trips" ;;
  esac
}

lookup() {
  for t in "${targets[@]}"; do
    IFS='|' read -r name entry libs maxlen dict <<<"$t"
    if [[ "$name" == "$1" ]]; then return 0; fi
  done
  echo "fuzz.sh: unknown target '$1' (see --list)" >&2
  exit 2
}

# Compiles one library's sources into an object and a module (instrumented for coverage and ASan), unless
# nothing in it or in what it depends on changed since the last build.
build_library() {   # module-name, source folder, extra flags...
  local module="$1" dir="$2"; shift 2
  local out="$cache/build/$module"
  mkdir -p "$out"
  local stamp="$out/$module.o"
  if [[ -f "$stamp" ]] && [[ -z "$(find "$repo/$dir" "$@" -name '*.swift' -newer "$stamp" 2>/dev/null | head -1)" ]] \
     && [[ -z "$(find "$cache/build" -name '*.swiftmodule' -newer "$stamp" ! -path "$out/*" 2>/dev/null | head -1)" ]]; then
    return 0
  fi
  echo "fuzz.sh: compiling $module" >&2
  # shellcheck disable=SC2046
  swiftc -O -wmo -parse-as-library -enable-testing -sanitize=fuzzer,address -module-name "$module" \
    -I "$cache/build/MoEFormats" \
    -emit-module -emit-module-path "$out/$module.swiftmodule" -c -o "$out/$module.o" \
    $(find "$repo/$dir" -name '*.swift' | sort)
}

build() {   # target name -> prints the binary path
  lookup "$1"
  if [[ "$libs" == chat ]]; then build_chat; return; fi
  build_library MoEFormats Sources/MoEFormats
  local objects=("$cache/build/MoEFormats/MoEFormats.o")
  local support=("$repo/Tools/fuzz/FuzzSupport.swift")
  if [[ "$libs" == tokenizer ]]; then
    build_library MoETokenizer Sources/MoETokenizer
    objects+=("$cache/build/MoETokenizer/MoETokenizer.o")
    support+=("$repo/Tools/fuzz/FuzzTokenizerSupport.swift")
  fi
  local bin="$cache/bin/fuzz-$name"
  mkdir -p "$cache/bin"
  local newest
  newest="$(ls -t "${objects[@]}" "${support[@]}" "$repo/Tools/fuzz/$entry" 2>/dev/null | head -1)"
  if [[ ! -x "$bin" || "$newest" -nt "$bin" ]]; then
    echo "fuzz.sh: linking $bin" >&2
    swiftc -O -parse-as-library -sanitize=fuzzer,address -module-name "Fuzz${name//-/_}" \
      -I "$cache/build/MoEFormats" -I "$cache/build/MoETokenizer" \
      "${support[@]}" "$repo/Tools/fuzz/$entry" "${objects[@]}" -o "$bin"
  fi
  echo "$bin"
}

# The chat-template target: the ChatTemplate sources only (Foundation, no MoEFormats, no FuzzSupport.swift).
build_chat() {
  build_library ChatTemplate Sources/ChatTemplate
  local bin="$cache/bin/fuzz-$name" object="$cache/build/ChatTemplate/ChatTemplate.o"
  mkdir -p "$cache/bin"
  if [[ ! -x "$bin" || "$object" -nt "$bin" || "$repo/Tools/fuzz/$entry" -nt "$bin" ]]; then
    echo "fuzz.sh: linking $bin" >&2
    swiftc -O -parse-as-library -sanitize=fuzzer,address -module-name "Fuzz${name//-/_}" -I "$cache/build/ChatTemplate" \
      "$repo/Tools/fuzz/$entry" "$object" -o "$bin"
  fi
  echo "$bin"
}

case "${1:-}" in
  --list|-l)
    for t in "${targets[@]}"; do
      IFS='|' read -r name entry libs maxlen dict <<<"$t"
      printf '%-15s max_len %-6s %s\n' "$name" "$maxlen" "$(describe "$name")"
    done
    exit 0 ;;
  --build)
    build "${2:?target name}"
    exit 0 ;;
  ""|-h|--help)
    sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'
    exit 0 ;;
esac

name="$1"; seconds="${2:?usage: fuzz.sh NAME SECONDS}"; shift 2
bin="$(build "$name")"
lookup "$name"
scratch="$cache/corpus/$name"
artifacts="$cache/artifacts/$name"
mkdir -p "$scratch" "$artifacts"
dictArgs=()
if [[ -n "$dict" ]]; then dictArgs=(-dict="$repo/Tools/fuzz/dict/$dict"); fi
log="$cache/logs/$name-$(date -u +%Y%m%dT%H%M%SZ).log"
mkdir -p "$(dirname "$log")"
echo "fuzz.sh: $name for ${seconds}s; seeds Tools/fuzz/corpus/$name, new inputs -> $scratch, log $log" >&2
export MOE_FUZZ_REPO="$repo" MOE_LLAMACPP_MODELS="$llamacpp/models"
# No LeakSanitizer at exit (Foundation keeps buffers), no Swift backtracer (it reads ASan's shadow gap after a trap).
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=0}" SWIFT_BACKTRACE="${SWIFT_BACKTRACE:-enable=no}"
# -timeout: one input taking 10 s is a hang; -rss_limit_mb: 2 GiB is an out-of-memory (ASan counts shadow);
# -detect_leaks=0: LeakSanitizer reports buffers Foundation keeps (Data(contentsOf:) of an empty file), not ours.
set +e
"$bin" -max_total_time="$seconds" -max_len="$maxlen" -timeout=10 -rss_limit_mb=2048 -detect_leaks=0 -print_final_stats=1 \
  -artifact_prefix="$artifacts/" "${dictArgs[@]}" "$@" "$scratch" "$repo/Tools/fuzz/corpus/$name" 2>&1 | tee "$log" | grep -v '^#[0-9]*.*\(NEW\|REDUCE\)' 
status=${PIPESTATUS[0]}
set -e
echo "---"
grep -E '^(stat::number_of_executed_units|stat::average_exec_per_sec|stat::peak_rss_mb)' "$log" || true
grep -E '^#[0-9]+' "$log" | tail -1 || true
crashes="$(grep -oE "(Test unit|artifact) written to [^ ]+" "$log" | awk '{print $NF}' || true)"
if [[ -n "$crashes" ]]; then echo "FOUND: $crashes"; else echo "no crash, hang or out-of-memory"; fi
exit "$status"
