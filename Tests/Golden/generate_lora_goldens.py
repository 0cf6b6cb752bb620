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
- `loha`, `lokr`: LyCORIS LoHa (4 modules: Linear, 1x1 and 3x3 conv) and LoKr (2 modules: a
  whole Kronecker factor on a Linear, a decomposed one on a 3x3 conv); their reference is the UNet
  with LyCORIS's delta merged into copies of the weights at multiplier 0.7 (diffusers does not
  load LyCORIS files), one evaluation only (`<format>.unet.output`).
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


def lycoris(pipe, g):
    """LoHa and LoKr modules (LyCORIS names under kohya's lora_unet_ prefix) and their dense deltas."""
    modules = dict(pipe.unet.named_modules())
    def linear_or_conv(path):
        m = modules[path]
        return (m.out_channels, m.in_channels, m.kernel_size[0]) if isinstance(m, torch.nn.Conv2d) else (m.out_features, m.in_features, None)
    loha, lokr, deltas = {}, {}, {"loha": {}, "lokr": {}}
    for path in ("down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q", "up_blocks.1.attentions.0.proj_in",
                 "down_blocks.1.resnets.0.conv1", "mid_block.attentions.0.transformer_blocks.0.ff.net.2"):
        out, inp, k = linear_or_conv(path)
        cols = inp * (k * k if k else 1)
        r = 4
        w1a, w1b = fp16(torch.randn(out, r, generator=g) / r ** 0.5), fp16(torch.randn(r, cols, generator=g) / cols ** 0.5)
        w2a, w2b = fp16(torch.randn(out, r, generator=g) / r ** 0.5), fp16(torch.randn(r, cols, generator=g) / cols ** 0.5)
        key = "lora_unet_" + path.replace(".", "_")
        loha.update({f"{key}.hada_w1_a": w1a, f"{key}.hada_w1_b": w1b, f"{key}.hada_w2_a": w2a, f"{key}.hada_w2_b": w2b,
                     f"{key}.alpha": torch.tensor(2.0)})
        deltas["loha"][path] = (2.0 / r) * ((w1a @ w1b) * (w2a @ w2b))
    for path, decompose in (("down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_v", False),
                            ("up_blocks.2.resnets.0.conv2", True)):
        out, inp, k = linear_or_conv(path)
        w1 = fp16(torch.randn(4, 4, generator=g) * 0.5)
        key = "lora_unet_" + path.replace(".", "_")
        lokr[f"{key}.lokr_w1"] = w1
        if decompose:
            r = 4
            w2a = fp16(torch.randn(out // 4, r, generator=g) / r ** 0.5)
            w2b = fp16(torch.randn(r, inp // 4, k, k, generator=g) / (inp // 4 * k * k) ** 0.5)
            lokr.update({f"{key}.lokr_w2_a": w2a, f"{key}.lokr_w2_b": w2b, f"{key}.alpha": torch.tensor(2.0)})
            w2 = (w2a @ w2b.flatten(1)).reshape(out // 4, inp // 4, k, k)
            scale = 2.0 / r
        else:
            w2 = fp16(torch.randn(out // 4, inp // 4, generator=g) / (inp // 4) ** 0.5)
            lokr[f"{key}.lokr_w2"] = w2
            scale = 1.0
        w1k = w1.reshape(4, 4, 1, 1) if k else w1
        deltas["lokr"][path] = scale * torch.kron(w1k, w2)
    return loha, lokr, deltas


def merged_with(unet, deltas, multiplier):
    """The UNet with dense deltas added to copies of its weights."""
    merged = copy.deepcopy(unet)
    modules = dict(merged.named_modules())
    with torch.no_grad():
        for path, delta in deltas.items():
            w = modules[path].weight
            w.add_(multiplier * delta.reshape(w.shape))
    return merged


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
    loha, lokr, lycoris_deltas = lycoris(pipe, g)

    x = torch.randn(1, 4, 32, 32, generator=torch.Generator().manual_seed(32))
    t = torch.tensor([500.0])
    with torch.no_grad():
        ids = pipe.tokenizer(PROMPT, padding="max_length", max_length=77, return_tensors="pt").input_ids
        context = pipe.text_encoder(ids).last_hidden_state
        plain_unet = pipe.unet(x, t, encoder_hidden_states=context).sample
    out = {"input.x": x, "input.t": t, "input.context": context.contiguous(), "plain.unet.output": plain_unet.contiguous()}
    out.update({"lora.kohya." + k: v.half().contiguous() for k, v in kohya.items()})
    out.update({"lora.peft." + k: v.half().contiguous() for k, v in peft_tensors.items()})
    # LoHa / LoKr: diffusers does not load LyCORIS files; the reference is LyCORIS's definition of
    # the delta (Hadamard / Kronecker product, scale alpha / rank) merged into the weights.
    for fmt, tensors in (("loha", loha), ("lokr", lokr)):
        out.update({f"lora.{fmt}." + k: v.half().contiguous() for k, v in tensors.items()})
        with torch.no_grad():
            out[f"{fmt}.unet.output"] = merged_with(base, lycoris_deltas[fmt], 0.7)(x, t, encoder_hidden_states=context).sample.contiguous()
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
