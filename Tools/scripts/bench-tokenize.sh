#!/usr/bin/env bash
# Tokenizing speed of SwiftMoE's tokenizer beside llama-tokenize, on one text (default: ../shared/data/valid.txt
# twice, about 1 MB) for each vocabulary given (GGUF files), and whether the ids agree.
#
#   Tools/scripts/bench-tokenize.sh [--text FILE] VOCAB.gguf...
#
# Builds MoEFormats and MoETokenizer optimized with swiftc into a scratch folder (no SwiftPM release build of the
# whole package), and uses llama-tokenize from Tools/scripts/build-llamacpp.sh's build when present.
set -euo pipefail
cd "$(dirname "$0")/../.."
SCRATCH="${TMPDIR:-/tmp}/swiftmoe-tokenize-bench"
mkdir -p "$SCRATCH"
TEXT=""
if [ "${1:-}" = "--text" ]; then TEXT="$2"; shift 2; fi
if [ -z "$TEXT" ]; then TEXT="$SCRATCH/text.txt"; cat ../shared/data/valid.txt ../shared/data/valid.txt > "$TEXT"; fi

if [ ! -x "$SCRATCH/tokenize-bench" ] || [ -n "$(find Sources/MoEFormats Sources/MoETokenizer Tools/scripts/tokenize-bench.swift -newer "$SCRATCH/tokenize-bench" -name '*.swift')" ]; then
  echo "== building tokenize-bench (swiftc -O)" >&2
  (cd "$SCRATCH" && swiftc -O -parse-as-library -emit-module -emit-library -static -module-name MoEFormats \
      $(find "$OLDPWD/Sources/MoEFormats" -name '*.swift') -o libMoEFormats.a)
  (cd "$SCRATCH" && swiftc -O -parse-as-library -emit-module -emit-library -static -module-name MoETokenizer -I . \
      "$OLDPWD"/Sources/MoETokenizer/*.swift -o libMoETokenizer.a)
  swiftc -O -I "$SCRATCH" -L "$SCRATCH" -lMoETokenizer -lMoEFormats Tools/scripts/tokenize-bench.swift -o "$SCRATCH/tokenize-bench"
fi

LLAMA_BIN="$(Tools/scripts/build-llamacpp.sh --print 2>/dev/null || true)"
for vocab in "$@"; do
  name="$(basename "$vocab" .gguf)"
  ours="$("$SCRATCH/tokenize-bench" "$vocab" "$TEXT" --ids)"
  echo "$name: SwiftMoE $(echo "$ours" | head -1)"
  if [ -n "$LLAMA_BIN" ] && [ -x "$LLAMA_BIN/llama-tokenize" ]; then
    run() { "$LLAMA_BIN/llama-tokenize" -m "$vocab" -f "$1" --ids --log-disable --no-bos --no-parse-special --no-escape 2>/dev/null | tail -1; }
    # Its time to load the vocabulary, measured on a one-byte text, is subtracted from the whole run's.
    printf 'a' > "$SCRATCH/one.txt"
    t0=$(date +%s.%N); run "$SCRATCH/one.txt" >/dev/null; t1=$(date +%s.%N)
    theirs="$(run "$TEXT")"; t2=$(date +%s.%N)
    same=$([ "[$(echo "$ours" | tail -1 | sed 's/,/, /g')]" = "$theirs" ] && echo "ids equal" || echo "ids DIFFER")
    echo "$name: llama-tokenize $(echo "($t2 - $t1) - ($t1 - $t0)" | bc) s without loading ($(echo "$t2 - $t1" | bc) s with); $same"
  fi
done
