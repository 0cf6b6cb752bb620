#!/usr/bin/env python3
"""LoRA goldens: Tests/DiffusionTests/Fixtures/lora_tiny_shapes.safetensors.

Run from the repository root on a developer machine (never in CI), in a venv with torch,
diffusers, transformers and peft:
    python Tests/Golden/generate_lora_goldens.py [path/to/shared/weights/tiny-shapes]

The model is the built-in one (`StableDiffusionPipeline.from_single_file` of the shipped fp16
file, as generate_pipeline_golden.py loads it). Seeded random LoRAs, every tensor rounded to fp16
(what the fixture stores), in the formats people download:
- `kohya`: kohya-ss names (`lora_unet_<diffusers path with _>`, `lora_te_<CLIP path>`), rank 4,
  `alpha` 2 (scale 0.5), over the attention projections (q, k, v, out), the GEGLU feed-forward,
  proj_in / proj_out (1x1 convolutions here, so [r, in, 1, 1] / [out, r, 1, 1]) and, as LoCon,
  the res blocks' 3x3 convolutions ([r, in, 3, 3] / [out, r, 1, 1]), time_emb_proj and
  conv_shortcut; the text encoder's q/k/v/out_proj and fc1/fc2.
- `peft`: diffusers / PEFT names (`unet.<path>.lora_A.weight`, `lora_B`; `text_encoder.<path>`),
  rank 8, no alpha (scale 1), attention projections and feed-forward of the UNet, q/k/v/out of
  the text encoder.

References, per format: diffusers `pipe.load_lora_weights(state_dict, adapter_name=...)` with
`set_adapters(weights=[multiplier])`, then the same 4-step euler, cfg 5 run as
generate_controlnet_goldens.py (`EulerDiscreteScheduler` "linspace", whose 4-step sigmas are the
discrete schedule's; torch CPU randn latents). Stored: the LoRA tensors under `lora.<format>.*`,
`<case>.output.latent`, and for each format one UNet evaluation with the LoRA (`input.x`,
`input.t`, `input.context`, `<format>.unet.output`) and the text encoder's output for the prompt
(`<format>.text.output`). As a cross-check of diffusers' kohya conversion, the kohya UNet output is
also computed with the deltas merged into a copy of the weights by hand (W + scale up down), and
the script stops if the two differ.
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
from diffusers import EulerDiscreteScheduler, StableDiffusionPipeline
from safetensors.torch import save_file

ROOT = pathlib.Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "Tests" / "DiffusionTests" / "Fixtures"
MODEL = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent / "shared" / "weights" / "tiny-shapes"
SCRIPT = "Tests/Golden/generate_lora_goldens.py"
PROMPT = "a red circle on a blue background"


def fp16(t):
    return t.half().float()


def lora_pair(g, out_features, in_features, rank, kernel=None, scale=0.5):
    """(down, up) with fp16 values; up non-zero (a trained LoRA's is)."""
    down_shape = (rank, in_features) + ((kernel, kernel) if kernel else ())
    fan_in = in_features * (kernel * kernel if kernel else 1)
    down = fp16(torch.randn(down_shape, generator=g) / fan_in ** 0.5)
    up = fp16(scale * torch.randn((out_features, rank) + ((1, 1) if kernel else ()), generator=g) / rank ** 0.5)
    return down, up


def kohya_lora(pipe, g):
    """kohya-ss names over diffusers module paths: Linear and 1x1/3x3 conv modules."""
    tensors, modules = {}, []
    for name, module in pipe.unet.named_modules():
        leaf = name.split(".")[-1]
        is_attention = ".attn1." in name or ".attn2." in name
        wanted = (is_attention and leaf in ("to_q", "to_k", "to_v") or name.endswith("to_out.0")
                  or name.endswith("ff.net.0.proj") or name.endswith("ff.net.2") or leaf in ("proj_in", "proj_out")
                  or (".resnets." in name and leaf in ("conv1", "conv2", "time_emb_proj", "conv_shortcut")))
        if not wanted:
            continue
        modules.append(("lora_unet_" + name.replace(".", "_"), module))
    for name, module in pipe.text_encoder.named_modules():
        if name.split(".")[-1] in ("q_proj", "k_proj", "v_proj", "out_proj", "fc1", "fc2"):
            modules.append(("lora_te_" + name.replace(".", "_"), module))
    for key, module in modules:
        if isinstance(module, torch.nn.Conv2d):
            k = module.kernel_size[0]
            down, up = lora_pair(g, module.out_channels, module.in_channels, 4, kernel=k)
        else:
            down, up = lora_pair(g, module.out_features, module.in_features, 4)
        tensors[f"{key}.lora_down.weight"] = down
        tensors[f"{key}.lora_up.weight"] = up
        tensors[f"{key}.alpha"] = torch.tensor(2.0)
    return tensors, modules


def peft_lora(pipe, g):
    tensors = {}
    for prefix, model, leaves in (("unet", pipe.unet, ("to_q", "to_k", "to_v", "0", "proj", "2")),
                                  ("text_encoder", pipe.text_encoder, ("q_proj", "k_proj", "v_proj", "out_proj"))):
        for name, module in model.named_modules():
            leaf = name.split(".")[-1]
            if not isinstance(module, torch.nn.Linear) or leaf not in leaves:
                continue
            if prefix == "unet" and not (".attn" in name or ".ff." in name):
                continue
            down, up = lora_pair(g, module.out_features, module.in_features, 8, scale=0.3)
            tensors[f"{prefix}.{name}.lora_A.weight"] = down
            tensors[f"{prefix}.{name}.lora_B.weight"] = up
    return tensors


def merged_unet(unet, kohya, multiplier):
    """The UNet with every kohya delta merged into a copy of its weights: W + m·(alpha/r)·up·down."""
    merged = copy.deepcopy(unet)
    modules = dict(merged.named_modules())
    with torch.no_grad():
        for key in kohya:
            if not key.startswith("lora_unet_") or not key.endswith(".lora_down.weight"):
                continue
            module_key = key[: -len(".lora_down.weight")]
            path = next(n for n in modules if "lora_unet_" + n.replace(".", "_") == module_key)
            down, up = kohya[key], kohya[module_key + ".lora_up.weight"]
            scale = multiplier * float(kohya[module_key + ".alpha"]) / down.shape[0]
            w = modules[path].weight
            if w.dim() == 4:
                delta = torch.einsum("or,rikl->oikl", up.flatten(1), down)
            else:
                delta = up @ down
            w.add_(scale * delta.reshape(w.shape))
    return merged


def run(pipe, seed):
    torch.manual_seed(seed)
    noise = torch.randn(1, 4, 32, 32)
    with torch.no_grad():
        return pipe(PROMPT, negative_prompt="", height=256, width=256, num_inference_steps=4, guidance_scale=5.0,
                    latents=noise.clone(), output_type="latent").images


def main():
    torch.set_num_threads(2)
    pipe = StableDiffusionPipeline.from_single_file(
        str(MODEL / "tiny-shapes.safetensors"), config=str(MODEL), safety_checker=None,
        requires_safety_checker=False, torch_dtype=torch.float32)
    pipe.scheduler = EulerDiscreteScheduler.from_config(pipe.scheduler.config, timestep_spacing="linspace")
    pipe.set_progress_bar_config(disable=True)
    g = torch.Generator().manual_seed(31)
    kohya, _ = kohya_lora(pipe, g)
    peft_tensors = peft_lora(pipe, g)
    base = copy.deepcopy(pipe.unet)  # PEFT wraps modules in place; the merge check needs the plain one

    x = torch.randn(1, 4, 32, 32, generator=torch.Generator().manual_seed(32))
    t = torch.tensor([500.0])
    with torch.no_grad():
        ids = pipe.tokenizer(PROMPT, padding="max_length", max_length=77, return_tensors="pt").input_ids
        context = pipe.text_encoder(ids).last_hidden_state
        plain_unet = pipe.unet(x, t, encoder_hidden_states=context).sample
    out = {"input.x": x, "input.t": t, "input.context": context.contiguous(), "plain.unet.output": plain_unet.contiguous()}
    out.update({"lora.kohya." + k: v.half().contiguous() for k, v in kohya.items()})
    out.update({"lora.peft." + k: v.half().contiguous() for k, v in peft_tensors.items()})
    cases = {}
    for fmt, tensors, multiplier, seed in (("kohya", kohya, 0.8, 3), ("peft", peft_tensors, 1.0, 5)):
        pipe.load_lora_weights({k: v.clone() for k, v in tensors.items()}, adapter_name=fmt)
        pipe.set_adapters([fmt], adapter_weights=[multiplier])
        with torch.no_grad():
            unet_out = pipe.unet(x, t, encoder_hidden_states=context).sample
            text_out = pipe.text_encoder(ids).last_hidden_state
        if fmt == "kohya":
            with torch.no_grad():
                by_hand = merged_unet(base, kohya, multiplier)(x, t, encoder_hidden_states=context).sample
            err = ((unet_out - by_hand) ** 2).mean() / (by_hand ** 2).mean()
            print(f"kohya: diffusers vs merged-by-hand UNet NMSE {err:.3e}")
            if err > 1e-10:
                raise SystemExit("diffusers' kohya conversion disagrees with the merged weights")
        out[f"{fmt}.unet.output"] = unet_out.contiguous()
        out[f"{fmt}.text.output"] = text_out.contiguous()
        out[f"{fmt}.output.latent"] = run(pipe, seed).contiguous()
        cases[fmt] = {"prompt": PROMPT, "negative": "", "seed": seed, "steps": 4, "cfg": 5.0, "sampler": "euler",
                      "multiplier": multiplier, "modules": sum(1 for k in tensors if k.endswith(("lora_down.weight", "lora_A.weight")))}
        pipe.delete_adapters(fmt)
    meta = {"generator": SCRIPT, "torch": torch.__version__, "diffusers": diffusers.__version__, "peft": peft.__version__,
            "safetensors": safetensors.__version__, "numpy": np.__version__, "cases": json.dumps(cases),
            "scheduler": "EulerDiscreteScheduler(timestep_spacing=linspace), 4 steps", "size": "256x256"}
    path = FIXTURES / "lora_tiny_shapes.safetensors"
    save_file(out, str(path), metadata=meta)
    print(path, path.stat().st_size, "bytes", cases)


if __name__ == "__main__":
    main()
