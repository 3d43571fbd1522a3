#!/usr/bin/env python3
"""Makes Tests/MoETokenizerTests/Fixtures/pretok-*: small byte-level BPE vocabularies trained with Hugging Face
`tokenizers` under the pre-tokenizers of models whose vocabularies llama.cpp's suite lacks (DeepSeek-V3, GLM-4.5,
gpt-oss/GPT-4o, Kimi-K2), each written as tokenizer.json and as a vocabulary-only GGUF with that model's
`tokenizer.ggml.pre`, plus the ids `tokenizers` gives for the reference texts.

    pip install tokenizers regex
    python3 Tools/scripts/make-tokenizer-fixtures.py [--llama-tokenize BIN]

Texts: the documents of ../shared/data/valid.txt and the texts of llama.cpp's suite (models/ggml-vocab-qwen2.gguf.inp,
from the source that `Tools/scripts/build-llamacpp.sh --source-only` unpacks). valid.txt's ids are stored as a
count and an FNV-1a hash per document (the full lists would be megabytes); the suite's texts and ids in full.
With --llama-tokenize, llama.cpp's ids for every text are checked against `tokenizers`' and the agreement printed.

The pre-tokenizer regexes are those the models' tokenizer.json files carry, as llama.cpp's src/llama-vocab.cpp
records them (the originals where it keeps them in a comment; Kimi-K2's from the comment in src/unicode.cpp),
written here independently of the engine's own table so that the test compares two transcriptions.
"""
import argparse, json, os, subprocess, sys, tempfile

from tokenizers import Tokenizer, Regex, AddedToken, models, normalizers, pre_tokenizers, decoders, trainers

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "Tests/MoETokenizerTests/Fixtures")
SHARED = os.path.join(os.path.dirname(ROOT), "shared")

CONTRACTIONS = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)"
MODELS = {
    # DeepSeek-V3/R1: three Isolated splits, then ByteLevel without its regex.
    "deepseek-v3": [
        r"\p{N}{1,3}",
        "[\u4e00-\u9fa5\u3040-\u309f\u30a0-\u30ff]+",
        r"""[!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+""",
    ],
    # GLM-4.5 (tokenizer.ggml.pre = glm4): Llama 3's pattern, contractions written out as llama.cpp has them.
    "glm4": [
        r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
    ],
    # gpt-oss (o200k): case-aware words with optional contractions.
    "gpt-4o": [
        r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+" + CONTRACTIONS + r"?"
        r"|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*" + CONTRACTIONS + r"?"
        r"|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+",
    ],
    # Kimi-K2 (tokenization_kimi.py): Han runs apart, letters without Han by class intersection.
    "kimi-k2": [
        r"[\p{Han}]+|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}&&[^\p{Han}]]*[\p{Ll}\p{Lm}\p{Lo}\p{M}&&[^\p{Han}]]+" + CONTRACTIONS + r"?"
        r"|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}&&[^\p{Han}]]+[\p{Ll}\p{Lm}\p{Lo}\p{M}&&[^\p{Han}]]*" + CONTRACTIONS + r"?"
        r"|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
    ],
}
VOCAB_SIZE = 2000
SPECIALS = ["<|endoftext|>", "<|user|>"]


# Hugging Face forms the models above do not use (tokenizer.json only): each split behaviour, inversion, Digits,
# Punctuation, ByteLevel with its own regex and prefix space, normalizers, added-token options.
B = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
HF_FORMS = {
    "removed-invert": (None, [pre_tokenizers.Split(Regex(r"\s+"), "removed"), pre_tokenizers.Split(Regex(r"[\p{L}\p{N}]+"), "isolated", invert=True), B]),
    "merged-previous": (None, [pre_tokenizers.Split(Regex(r"[.,;:!?]"), "merged_with_previous"), pre_tokenizers.WhitespaceSplit(), B]),
    "merged-next": (None, [pre_tokenizers.Split(" ", "merged_with_next"), pre_tokenizers.Split(Regex(r"\p{P}"), "contiguous"), B]),
    "digits-punctuation": (None, [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.Punctuation("isolated"),
                                  pre_tokenizers.ByteLevel(add_prefix_space=True, use_regex=True)]),
    "digits-grouped": (None, [pre_tokenizers.Digits(individual_digits=False), pre_tokenizers.Whitespace(), B]),
    "normalizers": (normalizers.Sequence([normalizers.NFKC(), normalizers.Replace(Regex(r"\s+"), " "), normalizers.Strip(),
                                          normalizers.Lowercase(), normalizers.Prepend("\u2581")]),
                    [pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)]),
    "added-tokens": (normalizers.Sequence([normalizers.NFD(), normalizers.Lowercase()]),
                     [pre_tokenizers.ByteLevel(add_prefix_space=True, use_regex=True)]),
}
HF_ADDED = [AddedToken("<mask>", lstrip=True, special=True), AddedToken("[END]", rstrip=True, special=True),
            AddedToken("dog", single_word=True, normalized=True), AddedToken("Cat", normalized=False),
            AddedToken("café", normalized=True)]
HF_TEXTS = ["I saw a <mask> dog", "the dogs and a dog. dog", "<mask><mask>  <mask>", "x  [END]   y [END]", "Cat cat CAT",
            "\uff21\uff22\uff23\uff11\uff12\uff13 \uff76\uff80\uff76\uff85 \ufb01ne", "  leading and trailing  ",
            "caf\u00e9 cafe\u0301 CAF\u00c9", "a,b;;c...d!? e", "tabs\tand\nnewlines\r\n  x", "1234567 89 3.14159 \u0661\u0662\u0663",
            "dog_dog dog-dog (dog) dogs", "it's HE'LL we're"]
HF_DOCUMENTS = 300


def fnv1a(ids):
    """FNV-1a (64-bit) over the ids as little-endian uint32: what the Swift test computes."""
    h = 0xCBF29CE484222325
    for i in ids:
        for b in int(i).to_bytes(4, "little"):
            h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def llama_source():
    out = subprocess.run([os.path.join(ROOT, "Tools/scripts/build-llamacpp.sh"), "--source-only"],
                         check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
    return out


def write_gguf(gguf, path, name, tok):
    """A vocabulary-only GGUF as llama.cpp's converter writes one for a BPE tokenizer (no tensors)."""
    data = json.loads(tok.to_str())
    vocab = data["model"]["vocab"]
    tokens = [None] * len(vocab)
    for t, i in vocab.items():
        tokens[i] = t
    specials = {a["id"] for a in data["added_tokens"] if a["special"]}
    merges = [m if isinstance(m, str) else " ".join(m) for m in data["model"]["merges"]]
    w = gguf.GGUFWriter(path, "llama")
    w.add_name(f"pretok-{name}")
    w.add_block_count(1)
    w.add_context_length(512)
    w.add_embedding_length(64)
    w.add_feed_forward_length(128)
    w.add_head_count(1)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre(name)
    w.add_token_list(tokens)
    w.add_token_types([gguf.TokenType.CONTROL if i in specials else gguf.TokenType.NORMAL for i in range(len(tokens))])
    w.add_token_merges(merges)
    w.add_eos_token_id(vocab["<|endoftext|>"])
    w.add_add_bos_token(False)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--llama-tokenize", help="llama.cpp's llama-tokenize, to check its ids too")
    args = ap.parse_args()
    src = llama_source()
    sys.path.insert(0, os.path.join(src, "gguf-py"))
    import gguf

    valid = open(os.path.join(SHARED, "data/valid.txt"), encoding="utf-8").read()
    documents = valid.split("<|endoftext|>")
    suite = open(os.path.join(src, "models/ggml-vocab-qwen2.gguf.inp"), encoding="utf-8").read().split("\n__ggml_vocab_test__\n")
    os.makedirs(OUT, exist_ok=True)

    for name, regexes in MODELS.items():
        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.Sequence(
            [pre_tokenizers.Split(Regex(r), behavior="isolated", invert=False) for r in regexes]
            + [pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
        tok.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(vocab_size=VOCAB_SIZE, special_tokens=SPECIALS, show_progress=False,
                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
        tok.train_from_iterator(documents, trainer)
        base = os.path.join(OUT, f"pretok-{name}")
        tok.save(base + ".tokenizer.json", pretty=False)
        write_gguf(gguf, base + ".gguf", name, tok)

        # No special tokens added; special tokens in the text are not parsed (llama-tokenize --no-parse-special
        # and test-tokenizer-0 do the same), so encode with them split off as text: tokenizers has no switch for
        # that, but none of these texts contains one.
        assert not any(s in t for s in SPECIALS for t in documents + suite)
        doc_ids = [tok.encode(d, add_special_tokens=False).ids for d in documents]
        # The pieces themselves (the split steps alone, before ByteLevel spells them): a vocabulary this small
        # leaves rare characters unmerged, so ids alone would not show a piece boundary out of place.
        splitter = pre_tokenizers.Sequence([pre_tokenizers.Split(Regex(r), behavior="isolated", invert=False) for r in regexes])
        def piece_lengths(text):
            return [len(p.encode("utf-8")) for p, _ in splitter.pre_tokenize_str(text)]
        suite_ids = [tok.encode(t, add_special_tokens=False).ids for t in suite]
        expected = {
            "pre": name,
            "documents": [[len(ids), f"{fnv1a(ids):016x}"] for ids in doc_ids],
            "suite": [{"text": t, "ids": ids} for t, ids in zip(suite, suite_ids)],
            # Per document and per suite text: the UTF-8 lengths of its pieces, as count and FNV-1a hash.
            "pieces": [[len(lengths), f"{fnv1a(lengths):016x}"] for lengths in map(piece_lengths, documents + suite)],
        }
        with open(base + ".expected.json", "w", encoding="utf-8") as f:
            json.dump(expected, f, ensure_ascii=False, separators=(",", ":"))
        print(f"{name}: {tok.get_vocab_size()} tokens, {sum(map(len, doc_ids))} ids over {len(documents)} documents")

        if args.llama_tokenize and name in MODELS:
            agree = 0
            texts = documents + suite
            wanted = doc_ids + suite_ids
            for text, ids in zip(texts, wanted):
                with tempfile.NamedTemporaryFile("w", encoding="utf-8", suffix=".txt", delete=False) as f:
                    f.write(text)
                r = subprocess.run([args.llama_tokenize, "-m", base + ".gguf", "-f", f.name, "--ids", "--log-disable",
                                    "--no-bos", "--no-parse-special", "--no-escape"], capture_output=True, text=True)
                os.unlink(f.name)
                got = json.loads(r.stdout.strip().splitlines()[-1]) if r.stdout.strip() else None
                agree += got == ids
            print(f"  llama-tokenize agrees with tokenizers on {agree}/{len(texts)} texts")

    for name, (normalizer, steps) in HF_FORMS.items():
        tok = Tokenizer(models.BPE())
        if normalizer is not None:
            tok.normalizer = normalizer
        tok.pre_tokenizer = pre_tokenizers.Sequence(steps)
        trainer = trainers.BpeTrainer(vocab_size=500, special_tokens=SPECIALS, show_progress=False,
                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
        tok.train_from_iterator(documents[:HF_DOCUMENTS], trainer)
        if name == "added-tokens":
            tok.add_tokens(HF_ADDED)
        base = os.path.join(OUT, f"hf-{name}")
        tok.save(base + ".tokenizer.json", pretty=False)
        texts = suite + HF_TEXTS
        expected = {
            "pre": name,
            "documents": [[len(ids), f"{fnv1a(ids):016x}"] for ids in (tok.encode(d, add_special_tokens=False).ids for d in documents[:HF_DOCUMENTS])],
            "suite": [{"text": t, "ids": tok.encode(t, add_special_tokens=False).ids} for t in texts],
        }
        with open(base + ".expected.json", "w", encoding="utf-8") as f:
            json.dump(expected, f, ensure_ascii=False, separators=(",", ":"))
        print(f"hf-{name}: {tok.get_vocab_size()} tokens")


if __name__ == "__main__":
    main()
