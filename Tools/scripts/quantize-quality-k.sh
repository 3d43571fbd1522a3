#!/usr/bin/env bash
# moe-quantize's llama-quantize mixes (issue 15) against llama-quantize's own files of the reference model:
# MXFP4_MOE, Q4_K_M and Q3_K_M, each as llama-quantize writes it and as moe-quantize writes it with ggml's rounding
# (--rounding reference: must be the same bytes), the error-minimising rounding, calibrated, and calibrated + GPTQ.
# Perplexity rise over the bf16 file measured as in quantize-quality.sh: `moe perplexity` (65,536 tokens of
# valid.txt, float32 activations) and llama.cpp's `llama-perplexity` (-c 512 --chunks 120, <|endoftext|> as blank lines).
#
# Usage: Tools/scripts/quantize-quality-k.sh [OUTDIR] [MIX ...]   (from the repository root after swift build -c release;
#        needs llama.cpp from Tools/scripts/build-llamacpp.sh for llama-quantize's files and llama-perplexity)
set -euo pipefail
OUT=${1:-/tmp/moe-quality-k}
shift || true
MIXES=("$@")
[ ${#MIXES[@]} -eq 0 ] && MIXES=(MXFP4_MOE Q4_K_M Q3_K_M)
SHARED=${MOE_SHARED:-../shared}
TINY=$SHARED/models/tiny-qwen3moe
BF16=$TINY/tiny-qwen3moe-bf16.gguf
BIN=${MOE_BIN:-.build/release}
LLAMA=${LLAMA_CPP_BIN:-$HOME/.cache/swiftmoe/llama.cpp-0.3.36/bin}
THREADS=${THREADS:-2}
mkdir -p "$OUT"
python3 Tools/scripts/quality-texts.py "$SHARED" "$OUT" >&2

moe_ppl() { "$BIN/moe" perplexity -m "$1" -f "$SHARED/data/valid.txt" --max-tokens 65536 --activations f32 --json 2>/dev/null |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["result"]["perplexity"])' || echo nan; }
llama_ppl() {
  if [ -x "$LLAMA/llama-perplexity" ]; then
    "$LLAMA/llama-perplexity" -m "$1" -f "$OUT/valid-llamacpp.txt" -c 512 --chunks 120 -t "$THREADS" 2>&1 |
      sed -n 's/.*Final estimate: PPL = \([0-9.]*\).*/\1/p' | grep . || echo nan
  else echo nan; fi; }

# name | file | how: "llama MIX" (llama-quantize), "" (the file as is), else moe-quantize arguments
CONFIGS=("bf16|$BF16|")
for mix in "${MIXES[@]}"; do
  m=$(echo "$mix" | tr 'A-Z' 'a-z')
  CONFIGS+=(
    "llama-quantize $mix|$OUT/llama-$m.gguf|llama $mix"
    "moe-quantize $mix reference rounding|$OUT/$m-ref.gguf|--preset $mix --rounding reference"
    "moe-quantize $mix|$OUT/$m.gguf|--preset $mix"
    "moe-quantize $mix calibrated|$OUT/$m-cal.gguf|--preset $mix --calibration $OUT/calibration.txt"
    "moe-quantize $mix calibrated+GPTQ|$OUT/$m-gptq.gguf|--preset $mix --calibration $OUT/calibration.txt --gptq"
    "llama-quantize $mix --imatrix|$OUT/llama-$m-imatrix.gguf|llama $mix --imatrix"
  )
done

# llama.cpp's importance matrix from the same calibration text (32,768 tokens: 64 windows of 512), for the
# --imatrix rows (skipped when llama-imatrix is absent: cmake --build …/build --target llama-imatrix).
if [ -x "$LLAMA/llama-imatrix" ] && [ ! -s "$OUT/imatrix.gguf" ]; then
  "$LLAMA/llama-imatrix" -m "$BF16" -f "$OUT/calibration.txt" -c 512 --chunks 64 -t "$THREADS" -o "$OUT/imatrix.gguf" >"$OUT/imatrix.log" 2>&1 ||
    echo "llama-imatrix failed (see $OUT/imatrix.log)" >&2
fi

base_moe=""; base_llama=""
printf '| file | bytes | moe perplexity | rise | llama-perplexity | rise |\n| --- | ---: | ---: | ---: | ---: | ---: |\n'
for c in "${CONFIGS[@]}"; do
  IFS='|' read -r name file how <<<"$c"
  # ONLY=REGEX: measure only the matching rows (and the bf16 base)
  if [ -n "${ONLY:-}" ] && [ "$name" != bf16 ] && ! [[ "$name" =~ $ONLY ]]; then continue; fi
  if [[ "$how" == llama\ *--imatrix ]]; then
    [ -s "$OUT/imatrix.gguf" ] || continue
    mix=${how#llama }; mix=${mix% --imatrix}
    "$LLAMA/llama-quantize" --imatrix "$OUT/imatrix.gguf" "$BF16" "$file" "$mix" "$THREADS" >"$file.log" 2>&1 || { echo "failed: $name (see $file.log)" >&2; continue; }
  elif [[ "$how" == llama\ * ]]; then
    "$LLAMA/llama-quantize" "$BF16" "$file" "${how#llama }" "$THREADS" >"$file.log" 2>&1 || { echo "failed: $name (see $file.log)" >&2; continue; }
  elif [ -n "$how" ]; then
    # shellcheck disable=SC2086
    "$BIN/moe-quantize" "$BF16" "$file" $how --threads "$THREADS" --force 2>"$file.log" || { echo "failed: $name (see $file.log)" >&2; continue; }
  fi
  m=$(moe_ppl "$file"); l=$(llama_ppl "$file")
  [ -z "$base_moe" ] && base_moe=$m && base_llama=$l
  python3 - "$name" "$(stat -c %s "$file")" "$m" "$base_moe" "$l" "$base_llama" <<'PY'
import sys
name, size, m, bm, l, bl = sys.argv[1], int(sys.argv[2]), *(float(a or "nan") for a in sys.argv[3:])
rise = lambda a, b: "—" if a == b else f"{(a / b - 1) * 100:+.2f}%"
print(f"| {name} | {size:,} | {m:.4f} | {rise(m, bm)} | {l:.4f} | {rise(l, bl)} |", flush=True)
PY
done
