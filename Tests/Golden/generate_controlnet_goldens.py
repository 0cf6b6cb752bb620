#!/usr/bin/env python3
"""ControlNet goldens: Tests/DiffusionTests/Fixtures/controlnet_sd1_tiny_shapes.safetensors and
controlnet_sdxl_tiny.safetensors.

Run from the repository root on a developer machine (never in CI), in a venv with torch, diffusers
and transformers:
    python Tests/Golden/generate_controlnet_goldens.py [path/to/shared/weights/tiny-shapes]

The references are diffusers' own ControlNet pipelines, with `EulerDiscreteScheduler`
(timestep_spacing "linspace"), whose sigmas at 4 steps are the discrete schedule's (timesteps 999,
666, 333, 0 fall on integers, so diffusers' linear and k-diffusion's log-linear interpolation agree),
and initial latents `torch.manual_seed(seed); torch.randn(...)` (the engine's `--rng cpu`), which
the pipelines multiply by sigma_max as the engine does. `output_type="latent"` gives the final
latent. Every weight is rounded to fp16 (what the fixture stores) before the reference runs in fp32.

1. controlnet_sd1_tiny_shapes: `StableDiffusionControlNetPipeline` over the built-in model (loaded
   from the shipped fp16 single file, as generate_pipeline_golden.py does) and a ControlNet made by
   `ControlNetModel.from_unet` (the way ControlNets are initialised): the encoder copies the UNet's
   weights, four of its tensors are then perturbed (so a ControlNet that read the UNet's weights
   instead of its own would fail), the hint encoder (widths 8, 16, 32, 32) and the zero
   convolutions get seeded random weights. Only what differs from the UNet is stored, in ControlLDM
   names (`weights.control_model.*`); the Swift test builds the ControlNet file from the shipped
   UNet's `input_blocks`, `middle_block` and `time_embed` plus these. Cases (256x256, euler, 4 steps,
   cfg 5): strength 0.8 over every step; strength 1.2 over steps 1 and 2 only (control_guidance_start
   0.25, end 0.75). The control picture (uint8 HWC, white shapes on black, like an edge map) is
   `input.control`; outputs `<case>.output.latent`. `residuals.*`: the ControlNet's outputs for one
   evaluation (`input.x` 16x16, `input.t`, `input.context`, `input.control_128`), at conditioning
   scale 1.
2. controlnet_sdxl_tiny: a tiny random SDXL-like UNet and ControlNet (addition_embed_type
   "text_time", no attention at level 0, transformer depth 2, linear projections, head width 4),
   stored whole in diffusers names (`weights.unet.*` and `weights.controlnet.*`, the names of SDXL
   ControlNet releases); `StableDiffusionXLControlNetPipeline` driven by given prompt embeddings
   (`input.context`, `input.pooled`, `input.uncond_context`, `input.uncond_pooled`: no text encoders),
   64x64, 4 steps, cfg 4, strength 0.7. Stored: the added vectors the UNet sees (`input.added`,
   `input.uncond_added`, [pooled | add_time_proj([h, w, 0, 0, h, w])]), `residuals.*` for one
   evaluation, `unet.output` (the UNet given those residuals times 0.7) and `output.latent`.
"""
import json
import pathlib
import sys

import diffusers
import numpy as np
import safetensors
import torch
from diffusers import (AutoencoderKL, ControlNetModel, EulerDiscreteScheduler, StableDiffusionControlNetPipeline,
                       StableDiffusionPipeline, StableDiffusionXLControlNetPipeline, UNet2DConditionModel)
from safetensors.torch import save_file

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import generate_unet_goldens as unet_goldens  # noqa: E402  (diffusers -> LDM UNet names)

ROOT = pathlib.Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "Tests" / "DiffusionTests" / "Fixtures"
MODEL = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent / "shared" / "weights" / "tiny-shapes"
SCRIPT = "Tests/Golden/generate_controlnet_goldens.py"
HINT_CHANNELS = (8, 16, 32, 32)


def metadata(**extra):
    meta = {"generator": SCRIPT, "torch": torch.__version__, "diffusers": diffusers.__version__,
            "safetensors": safetensors.__version__, "numpy": np.__version__,
            "scheduler": "EulerDiscreteScheduler(timestep_spacing=linspace), 4 steps",
            "rng": "torch CPU: manual_seed(seed); randn(latent shape)"}
    meta.update({k: json.dumps(v) if not isinstance(v, str) else v for k, v in extra.items()})
    return meta


def fp16(t):
    return t.half().float()


def randomize(module, generator, scale=1.0):
    """Seeded random weights (norms near 1), fp16-rounded; `scale` shrinks the last layers' output."""
    with torch.no_grad():
        for name, p in module.named_parameters():
            if "norm" in name:
                p.copy_((1 + 0.2 * torch.randn(p.shape, generator=generator)) if name.endswith("weight")
                        else 0.1 * torch.randn(p.shape, generator=generator))
            elif name.endswith("bias"):
                p.copy_(0.1 * scale * torch.randn(p.shape, generator=generator))
            else:
                p.copy_(scale * torch.randn(p.shape, generator=generator) / p[0].numel() ** 0.5)
            p.copy_(fp16(p))


def control_picture(width, height):
    """White shapes on black: a ring, a bar and a diagonal line (an edge map's look)."""
    y, x = np.mgrid[0:height, 0:width]
    cx, cy, r = width * 0.4, height * 0.45, min(width, height) * 0.25
    ring = np.abs(np.hypot(x - cx, y - cy) - r) < max(1.5, width / 128)
    bar = (np.abs(y - height * 0.8) < height / 40) & (x > width * 0.2) & (x < width * 0.9)
    diagonal = np.abs((x - width * 0.6) - (y - height * 0.1)) < 1.5
    mask = ring | bar | (diagonal & (y < height * 0.6))
    picture = np.zeros((height, width, 3), dtype=np.uint8)
    picture[mask] = 255
    return picture


def residual_tensors(controlnet, x, t, context, hint, added=None):
    with torch.no_grad():
        down, mid = controlnet(x, t, encoder_hidden_states=context, controlnet_cond=hint, conditioning_scale=1.0,
                               added_cond_kwargs=added, return_dict=False)
    out = {f"residuals.skip.{i}": r.contiguous() for i, r in enumerate(down)}
    out["residuals.middle"] = mid.contiguous()
    return out


def hint_tensor(picture):
    return torch.from_numpy(picture).permute(2, 0, 1)[None].float() / 255


# MARK: SD 1.x on the built-in model

def hint_and_zero_convs_to_ldm(key):
    """The ControlNet-only names (hint encoder, zero convs) in ControlLDM form, or None."""
    parts = key.split(".")
    if key.startswith("controlnet_cond_embedding.conv_in."):
        return "input_hint_block.0." + parts[-1]
    if key.startswith("controlnet_cond_embedding.blocks."):
        return f"input_hint_block.{2 * (int(parts[2]) + 1)}.{parts[-1]}"
    if key.startswith("controlnet_cond_embedding.conv_out."):
        return f"input_hint_block.{2 * (2 * (len(HINT_CHANNELS) - 1) + 1)}.{parts[-1]}"
    if key.startswith("controlnet_down_blocks."):
        return f"zero_convs.{parts[1]}.0.{parts[-1]}"
    if key.startswith("controlnet_mid_block."):
        return "middle_block_out.0." + parts[-1]
    return None


PERTURBED = [
    "time_embedding.linear_1.weight",
    "down_blocks.0.resnets.0.conv1.weight",
    "down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_k.weight",
    "mid_block.resnets.1.conv2.weight",
]


def sd1_case():
    base = StableDiffusionPipeline.from_single_file(
        str(MODEL / "tiny-shapes.safetensors"), config=str(MODEL), safety_checker=None,
        requires_safety_checker=False, torch_dtype=torch.float32)
    g = torch.Generator().manual_seed(11)
    controlnet = ControlNetModel.from_unet(base.unet, conditioning_embedding_out_channels=HINT_CHANNELS).eval()
    randomize(controlnet.controlnet_cond_embedding, g)
    for block in list(controlnet.controlnet_down_blocks) + [controlnet.controlnet_mid_block]:
        randomize(block, g, scale=0.3)
    params = dict(controlnet.named_parameters())
    with torch.no_grad():
        for name in PERTURBED:
            p = params[name]
            p.copy_(fp16(p + 0.05 * p.std() * torch.randn(p.shape, generator=g)))

    prefixes = unet_goldens.unet_prefixes(base.unet.config)
    tensors = {}
    for key, value in controlnet.state_dict().items():
        ldm = hint_and_zero_convs_to_ldm(key)
        if ldm is None and key in PERTURBED:
            ldm = unet_goldens.map_key(key, prefixes)
        if ldm is not None:
            tensors["weights.control_model." + ldm] = value.half().contiguous()

    scheduler = EulerDiscreteScheduler.from_config(base.scheduler.config, timestep_spacing="linspace")
    pipe = StableDiffusionControlNetPipeline(
        vae=base.vae, text_encoder=base.text_encoder, tokenizer=base.tokenizer, unet=base.unet, controlnet=controlnet,
        scheduler=scheduler, safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    from PIL import Image
    picture = control_picture(256, 256)
    tensors["input.control"] = torch.from_numpy(picture)
    cases = [
        # name, prompt, seed, strength, start, end
        ("full", "a red circle on a blue background", 3, 0.8, 0.0, 1.0),
        ("window", "a green star on a yellow background", 5, 1.2, 0.25, 0.75),
    ]
    settings = {}
    for name, prompt, seed, strength, start, end in cases:
        torch.manual_seed(seed)
        noise = torch.randn(1, 4, 32, 32)
        with torch.no_grad():
            latent = pipe(prompt, negative_prompt="", image=Image.fromarray(picture), height=256, width=256,
                          num_inference_steps=4, guidance_scale=5.0, controlnet_conditioning_scale=strength,
                          control_guidance_start=start, control_guidance_end=end, latents=noise.clone(),
                          output_type="latent").images
        tensors[f"{name}.output.latent"] = latent.contiguous()
        settings[name] = {"prompt": prompt, "negative": "", "seed": seed, "steps": 4, "cfg": 5.0, "sampler": "euler",
                          "control_strength": strength, "control_start": start, "control_end": end}

    # One evaluation's residuals at 128x128, for a direct check of the ControlNet alone.
    g = torch.Generator().manual_seed(12)
    x = torch.randn(1, 4, 16, 16, generator=g)
    t = torch.tensor([640.0])
    with torch.no_grad():
        ids = base.tokenizer("a red circle", padding="max_length", max_length=77, return_tensors="pt").input_ids
        context = base.text_encoder(ids).last_hidden_state
    small = control_picture(128, 128)
    tensors.update({"input.x": x, "input.t": t, "input.context": context.contiguous(), "input.control_128": torch.from_numpy(small)})
    tensors.update(residual_tensors(controlnet, x, t, context, hint_tensor(small)))
    out = FIXTURES / "controlnet_sd1_tiny_shapes.safetensors"
    save_file(tensors, str(out), metadata=metadata(cases=settings, hint_channels=list(HINT_CHANNELS),
                                                   perturbed=PERTURBED, size="256x256"))
    print(out, out.stat().st_size, "bytes")


# MARK: SDXL, tiny random

SDXL_UNET = dict(
    sample_size=8, in_channels=4, out_channels=4, layers_per_block=1, block_out_channels=(8, 16),
    down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
    transformer_layers_per_block=(1, 2), cross_attention_dim=32, attention_head_dim=(2, 4),
    use_linear_projection=True, addition_embed_type="text_time", addition_time_embed_dim=8,
    projection_class_embeddings_input_dim=16 + 6 * 8, norm_num_groups=4)


def sdxl_case():
    g = torch.Generator().manual_seed(21)
    unet = UNet2DConditionModel(**SDXL_UNET).eval()
    randomize(unet, g)
    controlnet = ControlNetModel.from_unet(unet, conditioning_embedding_out_channels=HINT_CHANNELS).eval()
    randomize(controlnet, g)  # its own weights throughout (a trained ControlNet drifts from its UNet)
    for block in list(controlnet.controlnet_down_blocks) + [controlnet.controlnet_mid_block]:
        randomize(block, g, scale=0.3)
    vae = AutoencoderKL(block_out_channels=(4, 4, 4, 4), norm_num_groups=2, layers_per_block=1,
                        down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4).eval()
    scheduler = EulerDiscreteScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                                       num_train_timesteps=1000, timestep_spacing="linspace", steps_offset=1)
    pipe = StableDiffusionXLControlNetPipeline(
        vae=vae, text_encoder=None, text_encoder_2=None, tokenizer=None, tokenizer_2=None, unet=unet,
        controlnet=controlnet, scheduler=scheduler, force_zeros_for_empty_prompt=False)
    pipe.set_progress_bar_config(disable=True)

    size, seed, cfg, strength = 64, 7, 4.0, 0.7
    context = fp16(torch.randn(1, 77, 32, generator=g))
    pooled = fp16(torch.randn(1, 16, generator=g))
    uncond_context = fp16(torch.randn(1, 77, 32, generator=g))
    uncond_pooled = fp16(torch.randn(1, 16, generator=g))
    picture = control_picture(size, size)
    from PIL import Image
    torch.manual_seed(seed)
    noise = torch.randn(1, 4, size // 8, size // 8)
    with torch.no_grad():
        latent = pipe(prompt_embeds=context, pooled_prompt_embeds=pooled, negative_prompt_embeds=uncond_context,
                      negative_pooled_prompt_embeds=uncond_pooled, image=Image.fromarray(picture), height=size,
                      width=size, num_inference_steps=4, guidance_scale=cfg, controlnet_conditioning_scale=strength,
                      latents=noise.clone(), output_type="latent").images

    time_ids = torch.tensor([[size, size, 0, 0, size, size]], dtype=torch.float32)
    with torch.no_grad():
        time_embeds = unet.add_time_proj(time_ids.flatten()).reshape(1, -1)
    added = torch.cat([pooled, time_embeds], dim=1)
    uncond_added = torch.cat([uncond_pooled, time_embeds], dim=1)

    tensors = {"weights.unet." + k: v.half().contiguous() for k, v in unet.state_dict().items()}
    tensors.update({"weights.controlnet." + k: v.half().contiguous() for k, v in controlnet.state_dict().items()})
    tensors.update({"input.context": context, "input.pooled": pooled, "input.uncond_context": uncond_context,
                    "input.uncond_pooled": uncond_pooled, "input.added": added.contiguous(),
                    "input.uncond_added": uncond_added.contiguous(), "input.control": torch.from_numpy(picture),
                    "output.latent": latent.contiguous()})

    x = torch.randn(1, 4, size // 8, size // 8, generator=g)
    t = torch.tensor([480.0])
    cond_kwargs = {"text_embeds": pooled, "time_ids": time_ids}
    residuals = residual_tensors(controlnet, x, t, context, hint_tensor(picture), added=cond_kwargs)
    with torch.no_grad():
        down = [residuals[f"residuals.skip.{i}"] * strength for i in range(len(residuals) - 1)]
        out = unet(x, t, encoder_hidden_states=context, added_cond_kwargs=cond_kwargs,
                   down_block_additional_residuals=down,
                   mid_block_additional_residual=residuals["residuals.middle"] * strength).sample
    tensors.update({"input.x": x, "input.t": t, "unet.output": out.contiguous()})
    tensors.update(residuals)
    path = FIXTURES / "controlnet_sdxl_tiny.safetensors"
    save_file(tensors, str(path), metadata=metadata(
        unet_config=SDXL_UNET, hint_channels=list(HINT_CHANNELS), size=f"{size}x{size}", seed=seed, steps=4, cfg=cfg,
        control_strength=strength, attention="head width 4", norm_groups=4, sampler="euler"))
    print(path, path.stat().st_size, "bytes")


def main():
    torch.set_num_threads(2)
    sd1_case()
    sdxl_case()


if __name__ == "__main__":
    main()
