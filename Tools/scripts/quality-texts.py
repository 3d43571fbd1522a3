#!/usr/bin/env python3
"""Texts for moe-quantize's quality measurements, from ../shared/data/valid.txt (held-out text).

Writes into OUTDIR:
  calibration.txt      the documents that start after token 80,000 of valid.txt (by the reference
                       tokenizer's ids in valid-ids.bin): ~78K tokens that neither perplexity measurement
                       below reads, so calibrating on them does not see the evaluated text.
  valid-llamacpp.txt   valid.txt with <|endoftext|> replaced by blank lines, as llama-perplexity is fed
                       in ../shared/README.md (it scores 120 windows of 512 tokens from the start).

Usage: Tools/scripts/quality-texts.py [SHARED] OUTDIR
"""
import struct
import sys

shared = sys.argv[1] if len(sys.argv) > 2 else "../shared"
outdir = sys.argv[-1]
ids_bytes = open(f"{shared}/models/tiny-qwen3moe/valid-ids.bin", "rb").read()
ids = struct.unpack("<%dH" % (len(ids_bytes) // 2), ids_bytes)
text = open(f"{shared}/data/valid.txt", encoding="utf-8").read()
docs = text.split("<|endoftext|>")

# Token index at which each document starts (every document's ids end with <|endoftext|> = 0).
starts, n = [0], 0
for i, t in enumerate(ids):
    if t == 0:
        starts.append(i + 1)
first = next(d for d, s in enumerate(starts) if s >= 80_000)
calibration = "<|endoftext|>".join(docs[first:])
open(f"{outdir}/calibration.txt", "w", encoding="utf-8").write(calibration)
open(f"{outdir}/valid-llamacpp.txt", "w", encoding="utf-8").write(text.replace("<|endoftext|>", "\n\n"))
print(f"calibration.txt: documents {first}..{len(docs) - 1}, from token {starts[first]} of {len(ids)}, "
      f"{len(calibration.encode())} bytes")
