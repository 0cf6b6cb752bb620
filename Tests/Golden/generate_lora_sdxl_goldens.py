#!/usr/bin/env python3
"""SDXL LoRA golden: Tests/DiffusionTests/Fixtures/lora_sdxl_tiny.safetensors.

Run from the repository root on a developer machine (never in CI), in a venv with torch, diffusers,
transformers, peft and k-diffusion:
    python Tests/Golden/generate_lora_sdxl_goldens.py

The model is the tiny random SDXL of generate_pipeline_xl_sd2_goldens.py, rebuilt from its seeds
(checked against the committed pipeline_sdxl_tiny fixture). The LoRA: seeded, fp16-rounded, in
kohya-ss names over diffusers module paths, rank 4, alpha 2: `lora_unet_*` over the attention
projections, the feed-forward, proj_in / proj_out and, as LoCon, the res blocks' convolutions and
time_emb_proj; `lora_te1_*` (CLIP-L) and `lora_te2_*` (bigG) over q/k/v/out_proj and fc1/fc2.

Reference: diffusers `StableDiffusionXLPipeline.load_lora_weights` with `set_adapters(weights=[0.8])`
(the script stops if the UNet's or either text encoder's output is unchanged, i.e. a part was not
loaded, or differs from the same deltas merged into copies of the weights by hand), then the conditioning and k-diffusion `sample_euler` run of the SDXL golden script's
"xl_weighted_wide" case on the modules diffusers adapted.

Stored: `lora.sdxl.*` (the LoRA), `sdxl.output.{latent, context, uncond_context, added,
uncond_added}`, the case in metadata `case` (JSON).
"""
import copy
import json
import pathlib
import sys

import diffusers
import numpy as np
import peft
import safetensors
import torch
from diffusers import StableDiffusionXLPipeline
from k_diffusion import external
from safetensors import safe_open
from safetensors.torch import save_file
from transformers import CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import generate_pipeline_xl_sd2_goldens as tiny  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "Tests" / "DiffusionTests" / "Fixtures"
SCRIPT = "Tests/Golden/generate_lora_sdxl_goldens.py"
MULTIPLIER = 0.8


def lora_pair(g, out_features, in_features, rank, kernel=None):
    down_shape = (rank, in_features) + ((kernel, kernel) if kernel else ())
    fan_in = in_features * (kernel * kernel if kernel else 1)
    down = (torch.randn(down_shape, generator=g) / fan_in ** 0.5).half().float()
    up = (0.5 * torch.randn((out_features, rank) + ((1, 1) if kernel else ()), generator=g) / rank ** 0.5).half().float()
    return down, up


def kohya_lora(unet, clip_l, clip_g, g):
    modules = []
    for name, module in unet.named_modules():
        leaf = name.split(".")[-1]
        wanted = (((".attn1." in name or ".attn2." in name) and leaf in ("to_q", "to_k", "to_v")) or name.endswith("to_out.0")
                  or name.endswith("ff.net.0.proj") or name.endswith("ff.net.2") or leaf in ("proj_in", "proj_out")
                  or (".resnets." in name and leaf in ("conv1", "conv2", "time_emb_proj")))
        if wanted:
            modules.append(("lora_unet_" + name.replace(".", "_"), module))
    for prefix, model in (("lora_te1_", clip_l), ("lora_te2_", clip_g)):
        for name, module in model.named_modules():
            if name.split(".")[-1] in ("q_proj", "k_proj", "v_proj", "out_proj", "fc1", "fc2"):
                modules.append((prefix + name.replace(".", "_"), module))
    tensors = {}
    for key, module in modules:
        if isinstance(module, torch.nn.Conv2d):
            down, up = lora_pair(g, module.out_channels, module.in_channels, 4, kernel=module.kernel_size[0])
        else:
            down, up = lora_pair(g, module.out_features, module.in_features, 4)
        tensors[f"{key}.lora_down.weight"] = down
        tensors[f"{key}.lora_up.weight"] = up
        tensors[f"{key}.alpha"] = torch.tensor(2.0)
    return tensors, len(modules)


def merged(model, lora, prefix):
    """A copy of `model` with its kohya deltas (`prefix` + path) merged: W + m·(alpha/r)·up·down."""
    merged = copy.deepcopy(model)
    with torch.no_grad():
        for name, module in merged.named_modules():
            key = prefix + name.replace(".", "_")
            if key + ".lora_down.weight" not in lora:
                continue
            down, up = lora[key + ".lora_down.weight"], lora[key + ".lora_up.weight"]
            scale = MULTIPLIER * float(lora[key + ".alpha"]) / down.shape[0]
            delta = torch.einsum("or,rikl->oikl", up.flatten(1), down) if down.dim() == 4 else up @ down
            module.weight.add_(scale * delta.reshape(module.weight.shape))
    return merged


def main():
    torch.set_num_threads(2)
    tokenizer = CLIPTokenizer.from_pretrained(str(tiny.TOKENIZER), model_max_length=tiny.CONTEXT)
    used = tiny.used_ids_of(tokenizer, tiny.SDXL_CASES)
    clip_l = tiny.text_encoder(CLIPTextModel, 101, used, "quick_gelu", tiny.EOS)
    clip_g = tiny.text_encoder(CLIPTextModelWithProjection, 102, used, "gelu", 0, projection=16)
    unet = tiny.unet_model(tiny.SDXL_UNET, 103)
    with safe_open(str(FIXTURES / "pipeline_sdxl_tiny.safetensors"), "pt") as f:
        key = "checkpoint.conditioner.embedders.1.model.ln_final.weight"
        mine = next(p for n, p in clip_g.named_parameters() if n.endswith("final_layer_norm.weight"))
        if not torch.equal(f.get_tensor(key).float(), mine.detach().float()):
            raise SystemExit("the rebuilt SDXL differs from pipeline_sdxl_tiny.safetensors")
    sched = tiny.scheduler("epsilon")
    tokenizer_2 = CLIPTokenizer.from_pretrained(str(tiny.TOKENIZER), model_max_length=tiny.CONTEXT, pad_token="!")
    pipe = StableDiffusionXLPipeline(vae=tiny.vae_model(104, 0.13025), text_encoder=clip_l, text_encoder_2=clip_g,
                                     tokenizer=tokenizer, tokenizer_2=tokenizer_2, unet=unet, scheduler=sched)
    g = torch.Generator().manual_seed(51)
    lora, module_count = kohya_lora(unet, clip_l, clip_g, g)

    case = next(c for c in tiny.SDXL_CASES if c["name"] == "xl_weighted_wide")
    probe_ids = torch.tensor([tiny.frame(tiny.tokens_of(tokenizer, case["fragments"])[0], [1.0] * 77, tiny.EOS)[0][:77]])
    x = torch.randn(1, 4, 4, 8, generator=torch.Generator().manual_seed(52))

    def probes():
        with torch.no_grad():
            context = torch.randn(1, 77, 32, generator=torch.Generator().manual_seed(53))
            added = {"text_embeds": torch.zeros(1, 16), "time_ids": torch.tensor([[32.0, 64, 0, 0, 32, 64]])}
            return (clip_l(probe_ids).last_hidden_state, clip_g(probe_ids).last_hidden_state,
                    unet(x, torch.tensor([500.0]), encoder_hidden_states=context, added_cond_kwargs=added).sample)

    before = probes()
    by_hand = (merged(clip_l, lora, "lora_te1_"), merged(clip_g, lora, "lora_te2_"), merged(unet, lora, "lora_unet_"))
    pipe.load_lora_weights({k: v.clone() for k, v in lora.items()}, adapter_name="sdxl")
    pipe.set_adapters(["sdxl"], adapter_weights=[MULTIPLIER])
    after = probes()
    for part, a, b in zip(("text_encoder", "text_encoder_2", "unet"), before, after):
        change = float(((a - b) ** 2).mean() / (a ** 2).mean())
        print(f"{part}: LoRA changes the output by NMSE {change:.3e}")
        if change < 1e-6:
            raise SystemExit(f"diffusers did not apply the LoRA to {part}")
    # Every module applied as kohya-ss defines it: diffusers' outputs equal the merged copies'.
    with torch.no_grad():
        context = torch.randn(1, 77, 32, generator=torch.Generator().manual_seed(53))
        added = {"text_embeds": torch.zeros(1, 16), "time_ids": torch.tensor([[32.0, 64, 0, 0, 32, 64]])}
        merged_out = (by_hand[0](probe_ids).last_hidden_state, by_hand[1](probe_ids).last_hidden_state,
                      by_hand[2](x, torch.tensor([500.0]), encoder_hidden_states=context, added_cond_kwargs=added).sample)
    for part, a, b in zip(("text_encoder", "text_encoder_2", "unet"), after, merged_out):
        err = float(((a - b) ** 2).mean() / (b ** 2).mean())
        print(f"{part}: diffusers vs merged by hand NMSE {err:.3e}")
        if err > 1e-10:
            raise SystemExit(f"diffusers' kohya conversion disagrees with the merged weights in {part}")

    def encode(fragments, negative):
        ids, weights = tiny.tokens_of(tokenizer, fragments)
        ids_l, w = tiny.frame(ids, weights, tiny.EOS)
        out_l, out_g = tiny.hidden(clip_l, ids_l), tiny.hidden(clip_g, tiny.zero_after_end(ids_l))
        context = tiny.apply_weights(torch.cat([out_l.hidden_states[-2], out_g.hidden_states[-2]], dim=-1), w)
        if negative and not fragments:
            context = torch.zeros_like(context)
        pooled = out_g.text_embeds
        time_ids = torch.tensor([[case["height"], case["width"], 0, 0, case["height"], case["width"]]], dtype=torch.float32)
        with torch.no_grad():
            added = torch.cat([pooled, unet.add_time_proj(time_ids.flatten()).reshape(1, -1)], dim=-1)
        return context, pooled, time_ids, added

    cond, pooled, time_ids, added = encode(case["fragments"], False)
    uncond, uncond_pooled, _, uncond_added = encode(case["negative_fragments"], True)
    extra = dict(cond=cond, uncond=uncond, pooled=pooled, uncond_pooled=uncond_pooled, time_ids=time_ids)
    latent = tiny.sample(external.DiscreteEpsDDPMDenoiser, unet, sched, case, extra)

    out = {"lora.sdxl." + k: v.half().contiguous() for k, v in lora.items()}
    out.update({"sdxl.output.latent": latent, "sdxl.output.context": cond, "sdxl.output.uncond_context": uncond,
                "sdxl.output.added": added, "sdxl.output.uncond_added": uncond_added})
    out = {k: v.contiguous() for k, v in out.items()}
    settings = {k: case[k] for k in ("prompt", "negative", "seed", "steps", "cfg", "width", "height")}
    settings.update(multiplier=MULTIPLIER, modules=module_count)
    meta = {"generator": SCRIPT, "torch": torch.__version__, "diffusers": diffusers.__version__, "peft": peft.__version__,
            "safetensors": safetensors.__version__, "numpy": np.__version__, "case": json.dumps(settings)}
    path = FIXTURES / "lora_sdxl_tiny.safetensors"
    save_file(out, str(path), metadata=meta)
    print(path, path.stat().st_size, "bytes,", module_count, "modules; latent std", float(latent.std()))


if __name__ == "__main__":
    main()
