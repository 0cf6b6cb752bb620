"""Writes the T5 fixtures of Tests/DiffusionTests/Fixtures:
  t5_tokenizer.json          a small SentencePiece Unigram tokenizer in Hugging Face tokenizer.json form
  t5_tokenizer_goldens.json  T5TokenizerFast ids for hard prompts (and a second, older pipeline flavour)
  t5_encoder_tiny.safetensors  a tiny seeded T5EncoderModel and its last_hidden_state on framed prompts

Run from the repository root on a developer machine (never in CI), in a virtual environment with
torch, transformers 5, tokenizers, safetensors, sentencepiece and protobuf:
    python Tests/Golden/generate_t5_goldens.py

Tokenizer. No real T5 tokenizer is available offline, so the script trains one with
`sentencepiece` on a built-in corpus (English, accents, digits, punctuation, Cyrillic, Greek, CJK,
emoji), Unigram, vocab 1000, ids <pad> 0, </s> 1, <unk> 2, no BOS, no byte fallback, as T5's
`spiece.model`. T5 uses the `nmt_nfkc` normalization rules; their compiled form (a darts-clone
trie, 240 KB) would make the fixture too big, so the script decompiles sentencepiece's `nmt_nfkc`
charsmap and keeps the rules whose source has no Hangul jamo, compatibility jamo, parenthesized or
circled Hangul, no CJK compatibility ideographs and no code point above U+FFFF except mathematical
alphanumerics (U+1D400-1D7FF) and enclosed alphanumerics (U+1F100-1F2FF): 17,591 of 225,276 rules
(most of the rest are Hangul jamo sequences). Sentencepiece compiles them again
(`normalization_rule_tsv`) into a 46 KB charsmap (61 KB of base64 in the JSON). The script checks that every prompt normalizes
identically under the full and the reduced rules, so the goldens are nmt_nfkc's ids.
The model file is converted by transformers 5 (`T5TokenizerFast.from_pretrained` on a folder with
`spiece.model`, the slow->fast `T5Converter` path) and saved: that tokenizer.json is the fixture.

Older transformers (4.x) wrote T5 files with another pipeline (the one of FLUX's and SD3's
`tokenizer_2`/`tokenizer_3` folders): normalizer Sequence[Precompiled, Strip(right), Replace(" {2,}",
"▁")], pre-tokenizer Metaspace(prepend_scheme "always", split). The goldens hold that flavour's
`normalizer` / `pre_tokenizer` JSON too, with ids from `tokenizers` running it on the same vocab.

Encoder. transformers `T5EncoderModel` (eager attention, fp32 on CPU), T5 v1.1 flavour:
d_model 64, d_kv 16, 4 heads, d_ff 128, 3 layers, gated-gelu (gelu_new), 32 buckets, max distance
128, vocab = the tokenizer's size. Parameters re-drawn with O(1) outputs (seed below), rounded to
fp16 and stored as fp16 under transformers' names (`weights.shared.weight`,
`weights.encoder.block.{i}...`); the reference runs in fp32 on those rounded values.
Three prompts (PROMPTS[3], PROMPTS[20] and the long prompt, which is truncated) at n = 16 and 48:
  input.ids_<n>          token ids (float32) framed as diffusers' FLUX/SD3 pipelines do:
                         tokenizer(prompt, padding="max_length", max_length=n, truncation=True)
  output.hidden_<n>      text_encoder(ids)[0], no attention mask (what the pipelines call)
  output.masked_<n>      the same with attention_mask = the tokenizer's mask (not used by diffusers)
  output.buckets         transformers' `_relative_position_bucket` of relative positions -300 ... 300
                         (bidirectional, 32 buckets, max distance 128), int as float32
"""
import json
import os
import random
import struct
import sys
import tempfile

import numpy as np
import safetensors
import sentencepiece as spm
import tokenizers
import torch
import transformers
from safetensors.torch import save_file
from sentencepiece import sentencepiece_model_pb2
from transformers import T5Config, T5EncoderModel, T5TokenizerFast

FIXTURES = "Tests/DiffusionTests/Fixtures"
SEED = 20240722
VOCAB_SIZE = 1000
EXTRA_IDS = 10

WORDS = """a an the of on in at to for with from by over under above below near behind between red
blue green yellow purple orange black white golden silver bright dark soft sharp detailed photo
painting portrait landscape city street forest mountain river ocean sky cloud sun moon star night
morning evening light shadow reflection cat dog horse bird dragon astronaut robot knight wizard
castle tower bridge house garden flower tree leaf rain snow fire water stone glass metal wood
beautiful cinematic masterpiece quality ultra realistic highly intricate elegant cozy ancient modern
futuristic abstract minimal vibrant colorful warm cold large small tiny giant old young happy quiet
walking running flying sitting standing riding reading watching holding wearing smiling looking
camera lens focus depth field bokeh wide angle closeup view scene style art artist digital oil
watercolor sketch drawing render octane unreal engine trending illustration concept character
is are was were be been has have had do does did not and or but if then so very really quite
one two three four five six seven eight nine ten hundred thousand first second third last
kitchen library window mirror lantern candle harbor island desert valley meadow village temple palace
jungle glacier volcano canyon waterfall lighthouse cathedral marketplace balcony staircase corridor
umbrella bicycle motorcycle airplane spaceship submarine locomotive carriage sailboat telescope
butterfly elephant giraffe penguin dolphin octopus squirrel hedgehog tiger panda wolf fox owl whale
musician dancer scientist explorer pirate samurai princess soldier farmer sculptor photographer
velvet marble porcelain crystal emerald sapphire bronze copper leather silk wool denim feather
dramatic mysterious whimsical serene gloomy luminous ethereal surreal nostalgic majestic rustic
volumetric symmetrical isometric panoramic photorealistic hyperrealistic monochrome pastel neon
sunrise sunset twilight midnight autumn winter spring summer storm fog mist thunder rainbow aurora""".split()
ACCENTED = "café naïve résumé façade jalapeño crème brûlée Ångström Øresund straße œuvre São Paulo Zürich Kraków Ελλάδα Москва".split()
EXTRAS = ["東京", "タワー", "夜景", "美しい", "猫", "中文", "提示", "😀", "🐱", "🌸", "✨", "❤️", "©", "°", "±", "€",
          "3.14", "1,000", "2024-01-01", "100%", "#1", "(", ")", "[", "]", ",", ".", "!", "?", ":", ";", "-", "'", '"']


def corpus():
    rng = random.Random(SEED)
    lines = []
    for _ in range(1500):
        n = rng.randint(5, 14)
        words = [rng.choice(WORDS) for _ in range(n)]
        for _ in range(rng.randint(0, 2)):
            words.insert(rng.randrange(len(words) + 1), rng.choice(ACCENTED + EXTRAS))
        if rng.random() < 0.3:
            words.append(str(rng.randint(0, 99999)))
        line = " ".join(words)
        lines.append(line[0].upper() + line[1:] + rng.choice([".", ",", "!", "?", ""]))
    return "\n".join(lines) + "\n"


def decompile_charsmap(blob):
    """All (source bytes -> normalized bytes) rules of a sentencepiece precompiled charsmap:
    u32 trie size, a darts-clone double array of that many bytes, then NUL-terminated strings."""
    size = struct.unpack("<I", blob[:4])[0]
    units = struct.unpack("<%dI" % (size // 4), blob[4:4 + size])
    strings = blob[4 + size:]
    offset = lambda u: (u >> 10) << ((u & (1 << 9)) >> 6)
    label = lambda u: u & ((1 << 31) | 0xFF)
    rules, stack = {}, [(0, b"")]
    while stack:
        pos, prefix = stack.pop()
        base = pos ^ offset(units[pos])
        for c in range(1, 256):
            child = base ^ c
            if child < len(units) and label(units[child]) == c:
                key, unit = prefix + bytes([c]), units[child]
                if (unit >> 8) & 1:
                    value = units[child ^ offset(unit)] & ((1 << 31) - 1)
                    rules[key] = strings[value:strings.index(b"\0", value)]
                stack.append((child, key))
    return rules


def kept(key):
    for ch in key.decode("utf-8"):
        cp = ord(ch)
        hangul = (0x1100 <= cp <= 0x11FF or 0x3130 <= cp <= 0x318F or 0x3200 <= cp <= 0x321E or 0x3260 <= cp <= 0x327E or 0xA960 <= cp <= 0xA97F
                  or 0xAC00 <= cp <= 0xD7FF or 0xFFA0 <= cp <= 0xFFDC)
        if hangul or 0xF900 <= cp <= 0xFAFF or (cp > 0xFFFF and not (0x1F100 <= cp <= 0x1F2FF or 0x1D400 <= cp <= 0x1D7FF)):
            return False
    return True


long_word = "pneumonoultramicroscopicsilicovolcanoconiosis" * 3
long_prompt = " ".join(
    f"a highly detailed photo {i} of a red cat riding a golden dragon over the ocean at night" for i in range(12))

PROMPTS = [
    "",
    " ",
    "   ",
    "a red circle on a blue background",
    "A Photo Of An Astronaut Riding A Horse",
    "  leading and trailing spaces  ",
    "double  spaces   and    more     spaces",
    "tabs\tand\nnewlines\r\nand\t\t runs \n\n of whitespace",
    "\ttab first",
    "trailing newline\n",
    "no\u00a0break\u2003em\u3000ideographic\u2009thin spaces",
    "zero\u200bwidth\u200cjoiners\u200d here",
    "café naïve résumé façade jalapeño",
    "cafe\u0301 (decomposed e + combining acute) and A\u030a",
    "Ångström Øresund ÆØÅ œuvre straße Zürich",
    "ﬁnancial ﬀ ligatures ﬃ and ĳ",
    "fullwidth ＡＢＣ ａｂｃ ０１２３ ！？ and halfwidth ｶﾀｶﾅ",
    "compatibility ① ② ⑩ ⒜ ㈱ ㎏ ㍿ ℃ № ™ ℡ Ⅻ ⅷ ½ ¼ x² y³ H₂O",
    "🄰🄱 enclosed 🅐 and 🈀",
    "Ελλάδα Σίσυφος ΟΔΟΣ and Москва Привет",
    "東京タワーの夜景、美しい",
    "中文提示词：一只可爱的猫",
    "한국어 not in the vocabulary",
    "emoji 😀🐱🌸 ✨ in a row",
    "heart ❤️ keycap 1️⃣ flag 🇫🇷 zwj 👨‍👩‍👧",
    "unknown ⚗ 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝕏 math letters",
    "numbers 3.14 and 1,000 and 1e-5 and 0xFF and 2024-01-01",
    "12345678901234567890",
    "punctuation!!! ??? ... ,,, ;;; ::: --- ___ '' \"\"",
    "(((brackets))) [[[square]]] {{{curly}}} <<<angle>>>",
    "mixed!?.,;:'\"`~@#$%^&*()-_=+[]{}\\|/<>",
    "quotes “curly” ‘single’ «guillemets» — dash – en … ellipsis",
    "it's don't we're they've I'm",
    "https://example.com/path?query=1&b=two#frag",
    "CamelCaseWords and snake_case_words and ALLCAPS",
    long_word,
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    "<extra_id_0>",
    "a <extra_id_0> b <extra_id_9>",
    "x<extra_id_1>y",
    "</s>",
    "a cat</s> and </s>",
    "<pad> <unk> <s>",
    "<EXTRA_ID_0> upper case is plain text",
    "<extra_id_10> is not a token here",
    "control\u0001chars\u001fhere\u007fdel",
    "weird\u2028line\u2029separators\u0085nel",
    "masterpiece, best quality, 8k, ultra-detailed, (sharp focus:1.2)",
    "▁ literal metaspace ▁▁ and ▁x",
    long_prompt,
]
FRAME_LENGTHS = [16, 64]
ENCODER_LENGTHS = [16, 48]

LEGACY_NORMALIZER = None  # filled from tokenizers objects below
LEGACY_PRE_TOKENIZER = None


def main():
    torch.manual_seed(SEED)
    work = tempfile.mkdtemp()
    with open(os.path.join(work, "corpus.txt"), "w", encoding="utf-8") as f:
        f.write(corpus())
    common = dict(input=os.path.join(work, "corpus.txt"), vocab_size=VOCAB_SIZE, model_type="unigram", pad_id=0,
                  eos_id=1, unk_id=2, bos_id=-1, byte_fallback=False, character_coverage=0.9995, minloglevel=2)
    spm.SentencePieceTrainer.train(model_prefix=os.path.join(work, "full"), normalization_rule_name="nmt_nfkc", **common)
    full = sentencepiece_model_pb2.ModelProto()
    full.ParseFromString(open(os.path.join(work, "full.model"), "rb").read())
    rules = decompile_charsmap(full.normalizer_spec.precompiled_charsmap)
    reduced = {k: v for k, v in rules.items() if kept(k)}
    with open(os.path.join(work, "rules.tsv"), "w") as f:
        for k, v in sorted(reduced.items()):
            src = " ".join("%X" % ord(c) for c in k.decode("utf-8"))
            f.write(src + "\t" + " ".join("%X" % ord(c) for c in v.decode("utf-8")) + "\n")
    spm_dir = os.path.join(work, "spm")
    os.makedirs(spm_dir)
    spm.SentencePieceTrainer.train(model_prefix=os.path.join(spm_dir, "spiece"),
                                   normalization_rule_tsv=os.path.join(work, "rules.tsv"), **common)

    # The reduced rules must normalize every prompt as nmt_nfkc does.
    full_processor = spm.SentencePieceProcessor(model_file=os.path.join(work, "full.model"))
    reduced_processor = spm.SentencePieceProcessor(model_file=os.path.join(spm_dir, "spiece.model"))
    for text in PROMPTS:
        assert full_processor.normalize(text) == reduced_processor.normalize(text), text

    tokenizer = T5TokenizerFast.from_pretrained(spm_dir, extra_ids=EXTRA_IDS)
    out_dir = os.path.join(work, "fast")
    tokenizer.save_pretrained(out_dir)
    tokenizer = T5TokenizerFast.from_pretrained(out_dir)  # what a diffusers folder loads
    tokenizer_json = json.load(open(os.path.join(out_dir, "tokenizer.json"), encoding="utf-8"))
    with open(f"{FIXTURES}/t5_tokenizer.json", "w", encoding="utf-8") as f:
        json.dump(tokenizer_json, f, ensure_ascii=False, separators=(",", ":"))

    # The 4.x flavour: the same model with the older normalizer and pre-tokenizer.
    def precompiled(normalizer):
        if normalizer["type"] == "Precompiled":
            return normalizer
        return next(n for n in normalizer["normalizers"] if n["type"] == "Precompiled")
    charsmap = precompiled(tokenizer_json["normalizer"])["precompiled_charsmap"]
    legacy_normalizer = {"type": "Sequence", "normalizers": [
        {"type": "Precompiled", "precompiled_charsmap": charsmap},
        {"type": "Strip", "strip_left": False, "strip_right": True},
        {"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": "\u2581"}]}
    legacy_pre_tokenizer = {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always", "split": True}
    legacy_json = dict(tokenizer_json, normalizer=legacy_normalizer, pre_tokenizer=legacy_pre_tokenizer)
    legacy = tokenizers.Tokenizer.from_str(json.dumps(legacy_json))

    cases = []
    for text in PROMPTS:
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        with_eos = tokenizer(text)["input_ids"]
        assert with_eos == ids + [1], text
        legacy_ids = legacy.encode(text, add_special_tokens=False).ids
        framed = {}
        for n in FRAME_LENGTHS:
            framed[str(n)] = tokenizer(text, padding="max_length", max_length=n, truncation=True)["input_ids"]
        cases.append(dict(text=text, ids=ids, legacy_ids=legacy_ids, framed=framed))
    meta = dict(script="Tests/Golden/generate_t5_goldens.py", seed=SEED, transformers=transformers.__version__,
                tokenizers=tokenizers.__version__, sentencepiece=spm.__version__,
                tokenizer_class=type(tokenizer).__name__, vocab_size=len(tokenizer),
                rules_kept=len(reduced), rules_total=len(rules))
    legacy_pipeline = dict(normalizer=dict(legacy_normalizer, normalizers=[{"type": "Precompiled", "precompiled_charsmap": "<same as t5_tokenizer.json>"}] + legacy_normalizer["normalizers"][1:]),
                           pre_tokenizer=legacy_pre_tokenizer)
    with open(f"{FIXTURES}/t5_tokenizer_goldens.json", "w", encoding="utf-8") as f:
        json.dump(dict(metadata=meta, legacy_pipeline=legacy_pipeline, cases=cases), f, ensure_ascii=True, indent=0)
    print(f"tokenizer: {len(tokenizer)} ids, {len(reduced)}/{len(rules)} rules, {len(cases)} prompts")

    encoder_golden(tokenizer, len(tokenizer))


def encoder_golden(tokenizer, vocab):
    config = T5Config(vocab_size=vocab, d_model=64, d_kv=16, num_heads=4, d_ff=128, num_layers=3,
                      feed_forward_proj="gated-gelu", relative_attention_num_buckets=32,
                      relative_attention_max_distance=128, dropout_rate=0.0, layer_norm_epsilon=1e-6,
                      is_encoder_decoder=False, use_cache=False)
    torch.manual_seed(SEED)
    model = T5EncoderModel(config).eval()
    g = torch.Generator().manual_seed(SEED + 1)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("layer_norm.weight"):
                value = 1 + 0.2 * torch.randn(p.shape, generator=g)
            elif name == "shared.weight" or "relative_attention_bias" in name:
                value = torch.randn(p.shape, generator=g)
            else:  # Linear [out, in]: unit-variance outputs; q also absorbs T5's missing 1/sqrt(d_kv)
                value = torch.randn(p.shape, generator=g) / p.shape[-1] ** 0.5
                if name.endswith("SelfAttention.q.weight"):
                    value = value / config.d_kv ** 0.5
            p.copy_(value.half().float())
    assert model.config.dense_act_fn == "gelu_new" and model.config.is_gated_act

    tensors = {}
    for name, p in model.state_dict().items():
        if name == "encoder.embed_tokens.weight":
            continue  # tied to shared.weight; real files hold one or both
        tensors[f"weights.{name}"] = p.detach().half().contiguous()
    prompts = [PROMPTS[3], PROMPTS[20], long_prompt]
    for n in ENCODER_LENGTHS:
        batch = tokenizer(prompts, padding="max_length", max_length=n, truncation=True, return_tensors="pt")
        with torch.no_grad():
            hidden = model(batch.input_ids)[0]
            masked = model(batch.input_ids, attention_mask=batch.attention_mask)[0]
        tensors[f"input.ids_{n}"] = batch.input_ids.float()
        tensors[f"output.hidden_{n}"] = hidden.float().contiguous()
        tensors[f"output.masked_{n}"] = masked.float().contiguous()
    relative = torch.arange(-300, 301)
    buckets = model.encoder.block[0].layer[0].SelfAttention._relative_position_bucket(
        relative, bidirectional=True, num_buckets=32, max_distance=128)
    tensors["output.buckets"] = buckets.float()
    metadata = dict(script="Tests/Golden/generate_t5_goldens.py", seed=str(SEED), torch=torch.__version__,
                    transformers=transformers.__version__, safetensors=safetensors.__version__,
                    numpy=np.__version__, prompts=json.dumps(prompts), config=config.to_json_string())
    save_file(tensors, f"{FIXTURES}/t5_encoder_tiny.safetensors", metadata=metadata)
    print("encoder:", {k: list(v.shape) for k, v in tensors.items() if not k.startswith("weights.")})


if __name__ == "__main__":
    main()
