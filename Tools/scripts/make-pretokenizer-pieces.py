#!/usr/bin/env python3
"""Makes Tests/MoETokenizerTests/Fixtures/pieces-by-name.json: for one name of every pre-tokenizer family in
llama.cpp's src/llama-vocab.cpp, how Hugging Face `tokenizers` (Oniguruma) cuts ../shared/data/valid.txt's documents
and the suite's texts with that family's regexes (each an Isolated Split, in turn), as a count and FNV-1a hash of
the pieces' UTF-8 lengths (documents separated by a length of 0). The Swift test cuts the same texts with the
engine's table and ICU and must get the same pieces. It also prints where Python's `regex` module disagrees
with `tokenizers`, the measurement behind Docs/FORMATS.md's note on regex engines.

    pip install tokenizers regex
    python3 Tools/scripts/make-pretokenizer-pieces.py

The regexes are read from llama.cpp's source (the originals where llama.cpp keeps them in a comment), so this
checks the engine's regex semantics against Oniguruma's, not the table's transcription (which the suite and the
trained vocabularies check). Families that llama.cpp runs through hand-written matchers only (kimi-k2, afmoe)
are left out; kimi-k2's pattern is checked by Fixtures/pretok-kimi-k2.
"""
import json, os, re, subprocess, sys

import regex as pyregex
from tokenizers import Regex, pre_tokenizers

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHARED = os.path.join(os.path.dirname(ROOT), "shared")
OUT = os.path.join(ROOT, "Tests/MoETokenizerTests/Fixtures/pieces-by-name.json")


def cdecode(s):
    out, i = [], 0
    while i < len(s):
        if s[i] == "\\":
            out.append({"n": "\n", "r": "\r", "t": "\t", "\\": "\\", '"': '"', "'": "'"}[s[i + 1]])
            i += 2
        else:
            out.append(s[i])
            i += 1
    return "".join(out)


def families(source):
    """{LLAMA_VOCAB_PRE_TYPE suffix: [regex]} from llm_tokenizer_bpe's constructor, originals preferred."""
    start = source.index("struct llm_tokenizer_bpe : llm_tokenizer {")
    body = source[start:source.index("std::vector<std::string> regex_exprs;", start)]
    result = {}
    for block in re.split(r"\n\s*break;\n", body):
        cases = [a or b for a, b in re.findall(r"case LLAMA_VOCAB_PRE_TYPE_(\w+)|(default):", block)]
        if not cases:
            continue
        exprs, origs = [], []
        for line in block.split("\n"):
            s = line.strip()
            lit = re.findall(r'"((?:[^"\\]|\\.)*)"', s)
            if not lit:
                continue
            if s.startswith("//"):
                if s.startswith('// "') or s.startswith('//"') or "original regex from tokenizer.json:" in s:
                    origs.append(cdecode(lit[0]))
                continue
            exprs.append(cdecode(lit[0]))
        if origs:
            exprs[-len(origs):] = origs
        for case in cases:
            result[case.upper() if case != "default" else "DEFAULT"] = exprs
    return result


def first_names(source):
    """{LLAMA_VOCAB_PRE_TYPE suffix: first tokenizer.ggml.pre name that maps to it}."""
    names = {"DEFAULT": "default"}
    load = source[source.index('tokenizer_pre == "default"'):source.index("unknown pre-tokenizer type")]
    for cond, kind in re.findall(r"if \(([^{]*?)\)\s*\{\s*pre_type = LLAMA_VOCAB_PRE_TYPE_(\w+);", load, re.S):
        found = re.findall(r'tokenizer_pre == "([^"]+)"', cond)
        if found and kind not in names:
            names[kind] = found[0]
    return names


def fnv1a(values):
    h = 0xCBF29CE484222325
    for v in values:
        for b in int(v).to_bytes(4, "little"):
            h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"


def main():
    src = subprocess.run([os.path.join(ROOT, "Tools/scripts/build-llamacpp.sh"), "--source-only"],
                         check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
    source = open(os.path.join(src, "src/llama-vocab.cpp"), encoding="utf-8").read()
    texts = open(os.path.join(SHARED, "data/valid.txt"), encoding="utf-8").read().split("<|endoftext|>")
    texts += open(os.path.join(src, "models/ggml-vocab-qwen2.gguf.inp"), encoding="utf-8").read().split("\n__ggml_vocab_test__\n")
    names = first_names(source)
    out = {}
    for kind, regexes in families(source).items():
        if kind in ("KIMI_K2", "AFMOE") or kind not in names:
            continue
        splitter = pre_tokenizers.Sequence([pre_tokenizers.Split(Regex(r), "isolated") for r in regexes])
        lengths, py_lengths, differ = [], [], 0
        compiled = [pyregex.compile(r) for r in regexes]
        for text in texts:
            pieces = [len(p.encode()) for p, _ in splitter.pre_tokenize_str(text)]
            lengths += pieces + [0]
            # Python regex: each regex over each piece, matches and gaps kept, empty ones dropped.
            current = [text]
            for rx in compiled:
                nxt = []
                for piece in current:
                    pos = 0
                    for m in rx.finditer(piece):
                        if m.start() > pos:
                            nxt.append(piece[pos:m.start()])
                        if m.end() > m.start():
                            nxt.append(m.group())
                        pos = m.end()
                    if pos < len(piece):
                        nxt.append(piece[pos:])
                current = nxt
            py = [len(p.encode()) for p in current]
            differ += py != pieces
        out[names[kind]] = [len(lengths), fnv1a(lengths)]
        print(f"{names[kind]:>24}: {len(lengths)} pieces; Python regex differs from tokenizers on {differ}/{len(texts)} texts")
    with open(OUT, "w") as f:
        json.dump(out, f, indent=0, sort_keys=True)


if __name__ == "__main__":
    main()
