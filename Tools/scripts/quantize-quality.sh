#!/usr/bin/env bash
# Quality of moe-quantize's files against llama-quantize's on the reference model (issue 4's targets):
# perplexity rise over the bf16 file with `moe perplexity` (65,536 tokens of valid.txt, float32 activations,
# the method of ../shared/ppl.json) and with llama.cpp's own `llama-perplexity` (-c 512 --chunks 120 over
# valid.txt with <|endoftext|> as blank lines, as ../shared/README.md), and file sizes.
#
# Usage: Tools/scripts/quantize-quality.sh [OUTDIR]     (run from the repository root after
#        swift build -c release; llama.cpp from Tools/scripts/build-llamacpp.sh, skipped if absent)
set -euo pipefail
OUT=${1:-/tmp/moe-quality}
SHARED=${MOE_SHARED:-../shared}
TINY=$SHARED/models/tiny-qwen3moe
BIN=${MOE_BIN:-.build/release}
LLAMA=${LLAMA_CPP_BIN:-$HOME/.cache/swiftmoe/llama.cpp-0.3.36/bin}
mkdir -p "$OUT"
python3 Tools/scripts/quality-texts.py "$SHARED" "$OUT" >&2

moe_ppl() { "$BIN/moe" perplexity -m "$1" -f "$SHARED/data/valid.txt" --max-tokens 65536 --activations f32 --json 2>/dev/null |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["result"]["perplexity"])' || echo nan; }
llama_ppl() {
  if [ -x "$LLAMA/llama-perplexity" ]; then
    "$LLAMA/llama-perplexity" -m "$1" -f "$OUT/valid-llamacpp.txt" -c 512 --chunks 120 -t 2 2>&1 |
      sed -n 's/.*Final estimate: PPL = \([0-9.]*\).*/\1/p' | grep . || echo nan
  else echo nan; fi; }

# name | file | moe-quantize arguments (empty: the file is llama.cpp's own)
CONFIGS=(
  "bf16|$TINY/tiny-qwen3moe-bf16.gguf|"
  "llama-quantize Q8_0|$TINY/tiny-qwen3moe-Q8_0.gguf|"
  "llama-quantize Q4_0|$TINY/tiny-qwen3moe-Q4_0.gguf|"
  "moe-quantize Q8_0|$OUT/q8_0.gguf|--type q8_0"
  "moe-quantize Q8_0 calibrated+GPTQ|$OUT/q8_0-gptq.gguf|--type q8_0 --calibration $OUT/calibration.txt --gptq"
  "moe-quantize Q4_0 reference rounding|$OUT/q4_0-ref.gguf|--type q4_0 --rounding reference"
  "moe-quantize Q4_0|$OUT/q4_0.gguf|--type q4_0"
  "moe-quantize Q4_0 calibrated|$OUT/q4_0-cal.gguf|--type q4_0 --calibration $OUT/calibration.txt"
  "moe-quantize Q4_0 calibrated+GPTQ|$OUT/q4_0-gptq.gguf|--type q4_0 --calibration $OUT/calibration.txt --gptq"
  "moe-quantize Q4_1|$OUT/q4_1.gguf|--type q4_1"
  "moe-quantize Q4_1 calibrated+GPTQ|$OUT/q4_1-gptq.gguf|--type q4_1 --calibration $OUT/calibration.txt --gptq"
)
base_moe=""; base_llama=""
printf '| file | bytes | moe perplexity | rise | llama-perplexity | rise |\n| --- | ---: | ---: | ---: | ---: | ---: |\n'
for c in "${CONFIGS[@]}"; do
  IFS='|' read -r name file args <<<"$c"
  # ONLY=REGEX: measure only the matching rows (and the bf16 base)
  if [ -n "${ONLY:-}" ] && [ "$name" != bf16 ] && ! [[ "$name" =~ $ONLY ]]; then continue; fi
  if [ -n "$args" ]; then
    # shellcheck disable=SC2086
    "$BIN/moe-quantize" "$TINY" "$file" $args --force 2>"$file.log" || { echo "failed: $name (see $file.log)" >&2; continue; }
  fi
  m=$(moe_ppl "$file"); l=$(llama_ppl "$file")
  [ -z "$base_moe" ] && base_moe=$m && base_llama=$l
  python3 - "$name" "$(stat -c %s "$file")" "$m" "$base_moe" "$l" "$base_llama" <<'PY'
import sys
name, size, m, bm, l, bl = sys.argv[1], int(sys.argv[2]), *(float(a or "nan") for a in sys.argv[3:])
rise = lambda a, b: "—" if a == b else f"{(a / b - 1) * 100:+.2f}%"
print(f"| {name} | {size:,} | {m:.4f} | {rise(m, bm)} | {l:.4f} | {rise(l, bl)} |")
PY
done
