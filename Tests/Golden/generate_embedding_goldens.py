#!/usr/bin/env python3
"""Textual-inversion goldens: Tests/DiffusionTests/Fixtures/embedding_goldens.safetensors.

Run from the repository root on a developer machine (never in CI), in a venv with torch, diffusers,
transformers and k-diffusion (the SDXL / SD 2.x golden script, whose models are rebuilt here, imports it):
    python Tests/Golden/generate_embedding_goldens.py [path/to/shared/weights/tiny-shapes]

Embeddings: seeded random vectors with the spread of the encoder's own token rows, rounded to fp16.
- SD 1.x, the built-in model (`StableDiffusionPipeline.from_single_file` of the shipped fp16 file,
  as generate_lora_goldens.py loads it): `shapetok` (3 vectors, stored as kohya's `emb_params`
  [3, 64]) in the prompt, `badshape` (1 vector, stored as diffusers' `{token: [64]}`) in the
  negative prompt.
- SD 2.x v and SDXL: the tiny random models of generate_pipeline_xl_sd2_goldens.py, rebuilt from
  their seeds (checked against the committed pipeline_*_tiny fixtures' tensors): `h2tok`
  (2 vectors [2, 16]) for the OpenCLIP-H-like encoder; `xltok` with SDXL's two tables `clip_l`
  [2, 16] and `clip_g` [2, 16].

References: diffusers `load_textual_inversion` (SDXL: once per tower, with `text_encoder_2` /
`tokenizer_2`), then the pipeline's own `encode_prompt` (which turns a multi-vector token into
`tok tok_1 ...`): prompt and negative-prompt embeddings, and for SDXL the pooled embeddings; SD 2.x
as `encode_prompt(clip_skip=1)` computes it (the penultimate layer + final LN, as the family uses),
written out step by step because that path of diffusers 0.42 fails on transformers 5. For SD 1.x also a whole
4-step euler, cfg 5 run at 256x256 (`EulerDiscreteScheduler` "linspace", torch CPU randn latents) as
generate_lora_goldens.py. The prompts only use words whose token rows the tiny models hold.

Stored: `embedding.<name>.<table>` (the vectors as the test writes them into an embedding folder),
`<case>.output.{context, uncond_context}` ([1, 77, D]), SDXL `<case>.output.{pooled, uncond_pooled}`,
SD 1.x `sd1.output.latent`; the case settings in metadata `cases` (JSON).
"""
import json
import pathlib
import sys

import diffusers
import numpy as np
import safetensors
import torch
import transformers
from diffusers import (EulerDiscreteScheduler, StableDiffusionPipeline, StableDiffusionXLPipeline)
from safetensors import safe_open
from safetensors.torch import save_file
from transformers import CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import generate_pipeline_xl_sd2_goldens as tiny  # noqa: E402  (the tiny SDXL / SD 2.x models)

ROOT = pathlib.Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "Tests" / "DiffusionTests" / "Fixtures"
MODEL = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent / "shared" / "weights" / "tiny-shapes"
SCRIPT = "Tests/Golden/generate_embedding_goldens.py"

CASES = {
    "sd1": dict(prompt="a shapetok on a blue background", negative="badshape, blurry", seed=7, steps=4, cfg=5.0,
                width=256, height=256),
    "sd2": dict(prompt="a blue h2tok square on a white background", negative="h2tok, blurry", width=32, height=32),
    "sdxl": dict(prompt="a red xltok circle on a blue background", negative="blurry, xltok", width=64, height=64),
}


def vectors(encoder, count, seed):
    """[count, D] fp16-rounded, with the spread of the encoder's non-zero token rows."""
    table = encoder.get_input_embeddings().weight.detach()
    rows = table[table.abs().sum(1) > 0]
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(count, table.shape[1], generator=g) * rows.std()).half().float()


def check_same_weights(model, fixture, key, name):
    """The rebuilt tiny model is the committed fixture's (one tensor compared, exactly)."""
    with safe_open(str(FIXTURES / fixture), "pt") as f:
        stored = f.get_tensor(key)
    mine = next(p for n, p in model.named_parameters() if n == name or name.endswith("." + n)).detach()
    if not torch.equal(stored.float(), mine.float()):
        raise SystemExit(f"rebuilt model differs from {fixture}: {key}")


def sd1(out, cases):
    pipe = StableDiffusionPipeline.from_single_file(
        str(MODEL / "tiny-shapes.safetensors"), config=str(MODEL), safety_checker=None,
        requires_safety_checker=False, torch_dtype=torch.float32)
    pipe.scheduler = EulerDiscreteScheduler.from_config(pipe.scheduler.config, timestep_spacing="linspace")
    pipe.set_progress_bar_config(disable=True)
    shapetok, badshape = vectors(pipe.text_encoder, 3, 41), vectors(pipe.text_encoder, 1, 42)[0]
    pipe.load_textual_inversion({"emb_params": shapetok.clone()}, token="shapetok")
    pipe.load_textual_inversion({"badshape": badshape.clone()}, token="badshape")
    c = CASES["sd1"]
    with torch.no_grad():
        cond, uncond = pipe.encode_prompt(c["prompt"], "cpu", 1, True, negative_prompt=c["negative"])
        torch.manual_seed(c["seed"])
        noise = torch.randn(1, 4, c["height"] // 8, c["width"] // 8)
        latent = pipe(c["prompt"], negative_prompt=c["negative"], height=c["height"], width=c["width"],
                      num_inference_steps=c["steps"], guidance_scale=c["cfg"], latents=noise.clone(),
                      output_type="latent").images
    out.update({"embedding.shapetok.emb_params": shapetok, "embedding.badshape.badshape": badshape,
                "sd1.output.context": cond, "sd1.output.uncond_context": uncond, "sd1.output.latent": latent})
    cases["sd1"] = c


def sd2(out, cases, tokenizer):
    used = tiny.used_ids_of(tokenizer, tiny.SD2_CASES)
    clip_h = tiny.text_encoder(CLIPTextModel, 201, used, "gelu", 0)
    check_same_weights(clip_h, "pipeline_sd2v_tiny.safetensors",
                       "checkpoint.cond_stage_model.model.ln_final.weight", "text_model.final_layer_norm.weight")
    tokenizer_h = CLIPTokenizer.from_pretrained(str(tiny.TOKENIZER), model_max_length=tiny.CONTEXT, pad_token="!")
    pipe = StableDiffusionPipeline(
        vae=tiny.vae_model(204, 0.18215), text_encoder=clip_h, tokenizer=tokenizer_h, unet=tiny.unet_model(tiny.SD2_UNET, 203),
        scheduler=tiny.scheduler("v_prediction"), safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    h2tok = vectors(clip_h, 2, 43)
    pipe.load_textual_inversion({"h2tok": h2tok.clone()}, token="h2tok")
    c = CASES["sd2"]

    def encode(text):
        # diffusers' `encode_prompt(clip_skip=1)` step by step (it reaches for `text_model`, which
        # transformers 5's CLIPTextModel no longer has): its prompt conversion and tokenizer, the
        # penultimate hidden state, the final LayerNorm.
        text = pipe.maybe_convert_prompt(text, tokenizer_h)
        ids = tokenizer_h(text, padding="max_length", max_length=tiny.CONTEXT, truncation=True, return_tensors="pt").input_ids
        with torch.no_grad():
            return tiny.final_norm(clip_h)(clip_h(ids, output_hidden_states=True).hidden_states[-2])

    cond, uncond = encode(c["prompt"]), encode(c["negative"])
    out.update({"embedding.h2tok.h2tok": h2tok, "sd2.output.context": cond, "sd2.output.uncond_context": uncond})
    cases["sd2"] = c


def sdxl(out, cases, tokenizer):
    used = tiny.used_ids_of(tokenizer, tiny.SDXL_CASES)
    clip_l = tiny.text_encoder(CLIPTextModel, 101, used, "quick_gelu", tiny.EOS)
    clip_g = tiny.text_encoder(CLIPTextModelWithProjection, 102, used, "gelu", 0, projection=16)
    check_same_weights(clip_l, "pipeline_sdxl_tiny.safetensors",
                       "checkpoint.conditioner.embedders.0.transformer.text_model.final_layer_norm.weight",
                       "text_model.final_layer_norm.weight")
    check_same_weights(clip_g, "pipeline_sdxl_tiny.safetensors",
                       "checkpoint.conditioner.embedders.1.model.ln_final.weight", "text_model.final_layer_norm.weight")
    tokenizer_2 = CLIPTokenizer.from_pretrained(str(tiny.TOKENIZER), model_max_length=tiny.CONTEXT, pad_token="!")
    pipe = StableDiffusionXLPipeline(
        vae=tiny.vae_model(104, 0.13025), text_encoder=clip_l, text_encoder_2=clip_g, tokenizer=tokenizer,
        tokenizer_2=tokenizer_2, unet=tiny.unet_model(tiny.SDXL_UNET, 103), scheduler=tiny.scheduler("epsilon"))
    table_l, table_g = vectors(clip_l, 2, 44), vectors(clip_g, 2, 45)
    pipe.load_textual_inversion(table_l.clone(), token="xltok", text_encoder=pipe.text_encoder, tokenizer=pipe.tokenizer)
    pipe.load_textual_inversion(table_g.clone(), token="xltok", text_encoder=pipe.text_encoder_2, tokenizer=pipe.tokenizer_2)
    c = CASES["sdxl"]
    with torch.no_grad():
        cond, uncond, pooled, uncond_pooled = pipe.encode_prompt(
            c["prompt"], device="cpu", num_images_per_prompt=1, do_classifier_free_guidance=True, negative_prompt=c["negative"])
    out.update({"embedding.xltok.clip_l": table_l, "embedding.xltok.clip_g": table_g,
                "sdxl.output.context": cond, "sdxl.output.uncond_context": uncond,
                "sdxl.output.pooled": pooled, "sdxl.output.uncond_pooled": uncond_pooled})
    cases["sdxl"] = c


def main():
    torch.set_num_threads(2)
    out, cases = {}, {}
    sd1(out, cases)
    tokenizer = CLIPTokenizer.from_pretrained(str(tiny.TOKENIZER), model_max_length=tiny.CONTEXT)
    sd2(out, cases, tokenizer)
    sdxl(out, cases, tokenizer)
    out = {k: v.contiguous().float() for k, v in out.items()}
    meta = {"generator": SCRIPT, "torch": torch.__version__, "diffusers": diffusers.__version__,
            "transformers": transformers.__version__, "safetensors": safetensors.__version__, "numpy": np.__version__,
            "cases": json.dumps(cases), "scheduler": "sd1: EulerDiscreteScheduler(timestep_spacing=linspace)"}
    path = FIXTURES / "embedding_goldens.safetensors"
    save_file(out, str(path), metadata=meta)
    print(path, path.stat().st_size, "bytes")
    for k, v in sorted(out.items()):
        print(f"  {k} {list(v.shape)} std {float(v.std()):.4f}")


if __name__ == "__main__":
    main()
