"""Writes Tests/DiffusionTests/Fixtures/clip_tokenizer_goldens.json: token ids from Hugging Face's
CLIPTokenizer for a list of hard prompts.

Run from the repository root on a developer machine (never in CI):
    python Tests/Golden/generate_tokenizer_goldens.py [path/to/tokenizer-folder]
The folder defaults to Weights/tiny-shapes (vocab.json + merges.txt; the same files as the
tiny-shapes diffusers folder's tokenizer/). In transformers 5.x `CLIPTokenizer` is the
`tokenizers`-backed one (NFC, whitespace runs -> " ", lowercase; ftfy is not used even when
installed). The ids are written without BOS/EOS (`add_special_tokens=False`).
"""
import json
import sys

import tokenizers
import transformers
from transformers import CLIPTokenizer

folder = sys.argv[1] if len(sys.argv) > 1 else "Weights/tiny-shapes"
tokenizer = CLIPTokenizer.from_pretrained(folder)

long_prompt = ", ".join(
    f"masterpiece {i}, best quality, ultra-detailed photo of a (red:1.2) circle on a blue background"
    for i in range(30))

PROMPTS = [
    "",
    " ",
    "a red circle on a blue background",
    "A RED Circle On A BLUE Background",
    "  leading and trailing spaces  ",
    "tabs\tand\nnewlines\r\nand   runs   of\t\t spaces",
    "no\u00a0break\u2003em\u3000ideographic spaces",
    "zero\u200bwidth\u200cjoiners\u200d",
    "café naïve résumé façade jalapeño",
    "cafe\u0301 (decomposed e + combining acute)",
    "Ångström Øresund ÆØÅ œuvre straße",
    "İstanbul ΟΔΟΣ Σίσυφος ﬁnancial ﬀ",
    "Привет, мир! Москва",
    "東京タワーの夜景、美しい",
    "中文提示词：一只可爱的猫",
    "한국어 프롬프트 테스트",
    "مرحبا بالعالم",
    "שלום עולם",
    "नमस्ते दुनिया",
    "ภาษาไทย",
    "emoji 😀😃😄 in a row",
    "family 👨‍👩‍👧‍👦 zwj sequence",
    "flags 🇫🇷🇯🇵 and skin tones 👍🏽👋🏿",
    "keycaps 1️⃣ #️⃣ and ❤️ hearts",
    "symbols ©®™ ° ± × ÷ € £ ¥ § ¶ • … — –",
    "math ∑∫√∞≈≠≤≥ and arrows →←↑↓",
    "punctuation!!! ??? ... ,,, ;;; ::: --- ___",
    "(((brackets))) [[[square]]] {{{curly}}} <<<angle>>>",
    "mixed!?.,;:'\"`~@#$%^&*()-_=+[]{}\\|/<>",
    "numbers 3.14 and 1,000 and 1e-5 and 0xFF and 2024-01-01",
    "12345678901234567890",
    "fractions ½ ¾ and superscripts x² y³ and roman Ⅻ",
    "arabic-indic digits ١٢٣ and fullwidth ０１２ ＡＢＣ",
    "it's don't we're they've I'm you'll he'd",
    "IT'S DON'T WE'RE",
    "'s 't 're alone and ''quoted'' and 'single'",
    "rock'n'roll o'clock",
    "https://example.com/path?query=1&b=two#frag",
    "user@example.com and C:\\path\\to\\file.txt",
    "hyphen-ated under_scored dot.ted slash/ed",
    "camelCaseWords and snake_case_words",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    "supercalifragilisticexpialidocious antidisestablishmentarianism",
    "a (red:1.3) circle, ((blue)) [background] \\(escaped\\)",
    "a red circle BREAK a blue background",
    "<lora:my_lora:0.8> a red circle",
    "<|startoftext|>",
    "<|endoftext|>",
    "a <|endoftext|> b",
    "x<|startoftext|>y<|endoftext|>z",
    "<|ENDOFTEXT|> upper-case special string",
    "!<|endoftext|>",
    "</w> literal end-of-word marker",
    "control\u0001chars\u001fhere\u007fdel",
    "masterpiece, best quality, 8k, ultra-detailed, photorealistic, (sharp focus:1.2)",
    "a photo of an astronaut riding a horse on mars",
    "Ünïcödé ÜBER ſ long s",
    "weird\u2028line\u2029separators\u0085nel",
    "tilde~caret^backtick` pipe| and \\ backslash",
    long_prompt,
]

cases = []
for text in PROMPTS:
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    cases.append(dict(text=text, ids=ids))

meta = dict(script="Tests/Golden/generate_tokenizer_goldens.py", transformers=transformers.__version__,
            tokenizers=tokenizers.__version__, tokenizer_class=type(tokenizer).__name__,
            vocab_size=len(tokenizer))
with open("Tests/DiffusionTests/Fixtures/clip_tokenizer_goldens.json", "w", encoding="utf-8") as f:
    json.dump(dict(metadata=meta, cases=cases), f, ensure_ascii=True, indent=0)
print(f"{len(cases)} prompts; longest {max(len(c['ids']) for c in cases)} tokens")
