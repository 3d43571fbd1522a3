#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets (Tools/fuzz/corpus/<target>/): small valid inputs, a few KB each,
cut down from the reference models in ../shared and llama.cpp's vocabulary files, so that libFuzzer starts from
files that reach deep into each parser. Run from the repository root; needs the `gguf` Python package.

    python3 Tools/fuzz/make-corpus.py [--shared ../shared] [--llamacpp-models DIR]

Everything is deterministic: running it again rewrites the same bytes.
"""
import argparse
import json
import os
import struct
import sys

import numpy as np
import gguf

ap = argparse.ArgumentParser()
ap.add_argument("--shared", default="../shared")
ap.add_argument("--llamacpp-models", default=os.path.expanduser(
    "~/.cache/swiftmoe/llama.cpp-0.3.36/src/vendor/llama.cpp/models"))
ap.add_argument("--out", default="Tools/fuzz/corpus")
args = ap.parse_args()
models = os.path.join(args.shared, "models")


def out(target, name, data):
    d = os.path.join(args.out, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def write_gguf(path, arch, fill):
    """A GGUF file through gguf-py's writer; `fill(w)` adds metadata and tensors."""
    w = gguf.GGUFWriter(path, arch)
    fill(w)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    with open(path, "rb") as f:
        data = f.read()
    os.remove(path)
    return data


def field_value(field):
    """A scalar, string or array value of a GGUFReader field."""
    t = field.types[0]
    if t == gguf.GGUFValueType.ARRAY:
        et = field.types[1]
        if et == gguf.GGUFValueType.STRING:
            return [bytes(field.parts[i]).decode() for i in field.data]
        return [field.parts[i].tolist()[0] for i in field.data]
    if t == gguf.GGUFValueType.STRING:
        return bytes(field.parts[field.data[0]]).decode()
    return field.parts[field.data[0]].tolist()[0]


def add_value(w, key, field):
    t = field.types[0]
    v = field_value(field)
    if t == gguf.GGUFValueType.ARRAY:
        w.add_array(key, v)
    elif t == gguf.GGUFValueType.STRING:
        w.add_string(key, v)
    else:
        w.add_key_value(key, v, t)


# --- gguf: each reference model's architecture metadata, a handful of its tensor names with tiny data --------
tmp = "/tmp/moe-fuzz-seed.gguf"
for model in sorted(os.listdir(models)):
    files = [f for f in os.listdir(os.path.join(models, model)) if f.endswith("-bf16.gguf")]
    if not files:
        continue
    r = gguf.GGUFReader(os.path.join(models, model, files[0]))
    arch = field_value(r.fields["general.architecture"])
    names = [t.name for t in r.tensors]
    keep = [n for n in names if n in ("token_embd.weight", "output.weight", "output_norm.weight")
            or n.startswith("blk.0.") or n.startswith("blk.1.ffn_gate_inp")][:12]

    def fill(w, r=r, arch=arch, keep=keep):
        for key, field in r.fields.items():
            if key.startswith("GGUF.") or key == "general.architecture" or key.startswith("tokenizer."):
                continue
            add_value(w, key, field)
        w.add_uint32("tokenizer.ggml.eos_token_id", 1)
        for i, n in enumerate(keep):
            if i % 3 == 1:   # some quantized tensors: one Q8_0 block
                w.add_tensor(n, np.zeros((1, 34), dtype=np.uint8), raw_shape=(1, 34), raw_dtype=gguf.GGMLQuantizationType.Q8_0)
            elif i % 3 == 2:
                w.add_tensor(n, np.zeros((1, 144), dtype=np.uint8), raw_shape=(1, 144), raw_dtype=gguf.GGMLQuantizationType.Q4_K)
            else:
                w.add_tensor(n, np.arange(8, dtype=np.float32).reshape(2, 4))
    out("gguf", f"{model}.gguf", write_gguf(tmp, arch, fill))

# --- gguf-tokenizer: small vocabularies of each tokenizer model --------------------------------------------
def byte_level_alphabet():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return [chr(c) for _, c in sorted(zip(bs, cs))]


def closed_merges(vocab, merges, limit):
    """The first merges whose parts and result are in `vocab`, up to `limit` of them."""
    kept = []
    for m in merges:
        a, b = m.split(" ", 1) if isinstance(m, str) else m
        if a in vocab and b in vocab and a + b in vocab:
            kept.append(f"{a} {b}")
            if len(kept) >= limit:
                break
    return kept


qwen = json.load(open(os.path.join(models, "tiny-qwen3moe", "tokenizer.json")))
qvocab = sorted(qwen["model"]["vocab"].items(), key=lambda kv: kv[1])
alphabet = byte_level_alphabet()
small = alphabet + [t for t, _ in qvocab if t not in set(alphabet)][:60]
vset = set(small)
qmerges = closed_merges(vset, qwen["model"]["merges"], 40)
for pre in ["qwen2", "llama-bpe", "deepseek-v3", "gpt-4o"]:
    def fill(w, pre=pre):
        w.add_string("tokenizer.ggml.model", "gpt2")
        w.add_string("tokenizer.ggml.pre", pre)
        toks = small + ["<|endoftext|>", "<|im_start|>"]
        w.add_array("tokenizer.ggml.tokens", toks)
        w.add_array("tokenizer.ggml.token_type", [1] * len(small) + [3, 4])
        w.add_array("tokenizer.ggml.merges", qmerges)
        w.add_uint32("tokenizer.ggml.eos_token_id", len(small))
        w.add_uint32("tokenizer.ggml.bos_token_id", len(small))
        w.add_bool("tokenizer.ggml.add_bos_token", pre == "llama-bpe")
    out("gguf-tokenizer", f"gpt2-{pre}.gguf", write_gguf(tmp, "qwen3moe", fill))


def vocab_subset(path, n, merges_limit=60):
    r = gguf.GGUFReader(path)
    f = {k: field_value(v) for k, v in r.fields.items() if not k.startswith("GGUF.") and k != "tokenizer.chat_template"}
    toks = f["tokenizer.ggml.tokens"]
    types = f.get("tokenizer.ggml.token_type")
    # Keep the special and byte tokens, then the first normal ones.
    keep = [i for i, t in enumerate(types) if t != 1][:300] if types else []
    keep += [i for i in range(len(toks)) if (not types or types[i] == 1)][:n]
    keep = sorted(set(keep))
    return f, keep


def fill_subset(f, keep, merges_limit=60):
    def fill(w):
        toks = f["tokenizer.ggml.tokens"]
        sub = [toks[i] for i in keep]
        for key, v in f.items():
            if not key.startswith("tokenizer.") or key == "tokenizer.ggml.merges":
                continue
            if key in ("tokenizer.ggml.tokens", "tokenizer.ggml.scores", "tokenizer.ggml.token_type"):
                w.add_array(key, [v[i] for i in keep])
            elif isinstance(v, str):
                w.add_string(key, v)
            elif isinstance(v, bool):
                w.add_bool(key, v)
            elif isinstance(v, int):
                w.add_uint32(key, min(v, len(sub) - 1))
        if "tokenizer.ggml.merges" in f:
            w.add_array("tokenizer.ggml.merges", closed_merges(set(sub), f["tokenizer.ggml.merges"], merges_limit))
    return fill


spm = os.path.join(args.llamacpp_models, "ggml-vocab-llama-spm.gguf")
if os.path.exists(spm):
    f, keep = vocab_subset(spm, 120)
    out("gguf-tokenizer", "llama-spm.gguf", write_gguf(tmp, "llama", fill_subset(f, keep)))
gemma = os.path.join(args.llamacpp_models, "ggml-vocab-gemma-4.gguf")
if os.path.exists(gemma):
    r = gguf.GGUFReader(gemma)
    f = {k: field_value(v) for k, v in r.fields.items() if k.startswith("tokenizer.") and k != "tokenizer.chat_template"}
    toks, types = f["tokenizer.ggml.tokens"], f["tokenizer.ggml.token_type"]
    # Special and byte tokens, the newline runs, and the tokens made by the first merges over ASCII.
    keep = set(i for i, t in enumerate(types) if t != 1)
    keep |= set(i for i, t in enumerate(toks) if set(t) == {"\n"} and len(t) <= 3)
    index = {t: i for i, t in enumerate(toks)}
    picked = []
    for m in f["tokenizer.ggml.merges"]:
        a, b = m.split(" ", 1)
        if all(x in index and len(x) <= 4 and all(ord(c) < 128 or c == "\u2581" for c in x) for x in (a, b, a + b)):
            picked.append(m)
            keep |= {index[a], index[b], index[a + b]}
            if len(picked) >= 60:
                break
    keep = sorted(keep)
    out("gguf-tokenizer", "gemma4.gguf", write_gguf(tmp, "gemma4", fill_subset(f, keep, 60)))

# --- safetensors: a small header of each dtype, and the first entries of a reference file ------------------
def safetensors(entries, metadata=None):
    header = {}
    data = b""
    for name, dtype, shape in entries:
        size = {"F32": 4, "F16": 2, "BF16": 2}[dtype] * int(np.prod(shape))
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + size]}
        data += bytes(range(size % 256)) + bytes(size - size % 256)
    if metadata:
        header["__metadata__"] = metadata
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + data


out("safetensors", "three-dtypes.safetensors",
    safetensors([("a.weight", "F32", [2, 3]), ("b.weight", "F16", [4]), ("c.bias", "BF16", [1, 2, 2])], {"format": "pt"}))
out("safetensors", "scalar-and-empty.safetensors", safetensors([("s", "F32", []), ("e", "BF16", [0, 4])]))
with open(os.path.join(models, "tiny-deepseek-v2", "model.safetensors"), "rb") as fh:
    n = struct.unpack("<Q", fh.read(8))[0]
    real = json.loads(fh.read(n))
names = [k for k in sorted(real) if k != "__metadata__"][:6]
out("safetensors", "deepseek-v2-names.safetensors",
    safetensors([(k, real[k]["dtype"], [2, 2]) for k in names], real.get("__metadata__")))

# --- hf-config: every reference model's config.json, and a cut-down shard index -----------------------------
for model in sorted(os.listdir(models)):
    p = os.path.join(models, model, "config.json")
    if os.path.exists(p):
        out("hf-config", f"{model}.config.json", open(p, "rb").read())
index = json.load(open(os.path.join(models, "tiny-qwen3moe", "model.safetensors.index.json")))
some = dict(sorted(index["weight_map"].items())[:8])
out("hf-config", "index.json", json.dumps({"metadata": index.get("metadata", {}), "weight_map": some}, indent=2))

# --- tokenizer-json: the byte-level fixtures as they are, SentencePiece-style ones cut down -----------------
fixtures = "Tests/MoETokenizerTests/Fixtures"
for name in ["hf-added-tokens", "hf-normalizers", "hf-merged-next", "hf-removed-invert"]:
    out("tokenizer-json", f"{name}.json", open(os.path.join(fixtures, f"{name}.tokenizer.json"), "rb").read())


def cut_tokenizer_json(path, n):
    t = json.load(open(path))
    m = t["model"]
    vocab = {k: v for k, v in m["vocab"].items() if v < n}
    m["vocab"] = vocab
    m["merges"] = [x.split(" ", 1) if isinstance(x, str) else x for x in
                   closed_merges(set(vocab), m["merges"], 60)]
    t["added_tokens"] = [a for a in t.get("added_tokens", []) if a["id"] < n]
    return json.dumps(t, ensure_ascii=False, separators=(",", ":"))


for model in ["tiny-mixtral-spm", "tiny-ernie45-moe"]:
    out("tokenizer-json", f"{model}.json", cut_tokenizer_json(os.path.join(models, model, "tokenizer.json"), 400))

# --- sentencepiece: tokenizer.model files with the first pieces only ---------------------------------------
def varint(v):
    b = b""
    while v >= 0x80:
        b += bytes([v & 0x7F | 0x80])
        v >>= 7
    return b + bytes([v])


def fields(buf):
    """(number, wire type, raw bytes of the whole field) of a protobuf message."""
    i = 0
    while i < len(buf):
        start = i
        key = 0
        shift = 0
        while True:
            byte = buf[i]
            i += 1
            key |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80:
                break
        wire = key & 7
        if wire == 0:
            while buf[i] >= 0x80:
                i += 1
            i += 1
        elif wire == 1:
            i += 8
        elif wire == 5:
            i += 4
        elif wire == 2:
            length = 0
            shift = 0
            while True:
                byte = buf[i]
                i += 1
                length |= (byte & 0x7F) << shift
                shift += 7
                if byte < 0x80:
                    break
            i += length
        yield key >> 3, wire, buf[start:i]


for model in ["tiny-mixtral-spm", "tiny-ernie45-moe"]:
    buf = open(os.path.join(models, model, "tokenizer.model"), "rb").read()
    kept = b""
    pieces = 0
    for number, wire, raw in fields(buf):
        if number == 1:
            pieces += 1
            if pieces > 300:
                continue
        if number == 3:   # normalizer_spec: drop the charsmap (field 2), which the reader only measures
            body_start = len(varint((3 << 3) | 2))
            inner = raw[body_start:]
            # skip the length varint
            j = 0
            while inner[j] >= 0x80:
                j += 1
            inner = inner[j + 1:]
            body = b"".join(r for n, w, r in fields(inner) if n != 2) + varint((2 << 3) | 2) + varint(4) + b"\x00\x01\x02\x03"
            raw = varint((3 << 3) | 2) + varint(len(body)) + body
        kept += raw
    out("sentencepiece", f"{model}.model", kept)

# --- encode: the texts of llama.cpp's tokenizer suite, and bytes that are not UTF-8 ------------------------
texts = []
for name in ["gemma-4", "llama-spm", "qwen2", "deepseek-coder"]:
    p = os.path.join(args.llamacpp_models, f"ggml-vocab-{name}.gguf.inp")
    if os.path.exists(p):
        texts += open(p, "rb").read().split(b"\n__ggml_vocab_test__\n")
seen = set()
count = 0
for t in texts:
    if t in seen or len(t) > 512:
        continue
    seen.add(t)
    out("encode", f"text-{count:03d}", t)
    count += 1
for i, t in enumerate([b"\xff\xfe abc", b"caf\xc3", b"\xe2\x96\x81\xe2\x96", b"\xf0\x9f\x99\x82\x80\x80", b"<|endoftext|><s>\n\n\n x",
                       "\u2581\u2581 \u00a0\u3000\t\r\n".encode(), b"\x00\x01\x7f"]):
    out("encode", f"bytes-{i}", t)
print("seeds written under", args.out, file=sys.stderr)
