#!/usr/bin/env python3
"""End-to-end golden of the built-in model: Tests/DiffusionTests/Fixtures/pipeline_tiny_shapes.safetensors.

Run on a developer machine (never in CI), in a venv with torch, diffusers, transformers, k-diffusion:
    python Tests/Golden/generate_pipeline_golden.py [path/to/shared/weights/tiny-shapes]

The reference is diffusers' UNet, VAE and CLIP loaded from the shipped fp16 single file
(`StableDiffusionPipeline.from_single_file(tiny-shapes.safetensors, config=<fp32 folder>)`, which
upcasts to fp32, so the reference sees exactly the weights the engine sees), driven by k-diffusion's
`sample_euler` through `DiscreteEpsDDPMDenoiser` (the denoiser stable-diffusion.cpp implements: eps
prediction, fractional timesteps, the discrete schedule) with classifier-free guidance, and initial
noise from torch's CPU generator (`torch.manual_seed(seed); torch.randn(1, 4, 32, 32) * sigma_max`),
which the engine's `--rng cpu` reproduces bit for bit.

Stored: `output.latent` (the final latent before decoding) and `output.image` (uint8 HWC RGB) for
each case, `input.context`/`input.uncond` (the text-encoder outputs), and the settings in metadata.
"""
import json
import pathlib
import sys

import diffusers
import k_diffusion
import numpy as np
import safetensors
import torch
import transformers
from diffusers import StableDiffusionPipeline
from k_diffusion import external, sampling
from safetensors.torch import save_file

ROOT = pathlib.Path(__file__).resolve().parents[2]
MODEL = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent / "shared" / "weights" / "tiny-shapes"
OUT = ROOT / "Tests" / "DiffusionTests" / "Fixtures" / "pipeline_tiny_shapes.safetensors"
CASES = [
    # name, prompt, negative, seed, steps, cfg
    ("red_circle", "a red circle on a blue background", "", 0, 20, 6.0),
    ("green_star", "a green star on a yellow background", "", 7, 12, 4.0),
]


class UNetEps(torch.nn.Module):
    """diffusers' UNet as k-diffusion's inner model, with classifier-free guidance in one batch."""

    def __init__(self, unet, cfg):
        super().__init__()
        self.unet, self.cfg = unet, cfg

    def forward(self, x, t, cond=None, uncond=None):
        x2, t2 = torch.cat([x, x]), torch.cat([t, t])
        eps = self.unet(x2, t2, encoder_hidden_states=torch.cat([cond, uncond])).sample
        c, u = eps.chunk(2)
        return u + self.cfg * (c - u)


def main():
    torch.set_num_threads(2)
    pipe = StableDiffusionPipeline.from_single_file(
        str(MODEL / "tiny-shapes.safetensors"), config=str(MODEL), safety_checker=None,
        requires_safety_checker=False, torch_dtype=torch.float32)
    tensors = {}
    meta = {
        "generator": "Tests/Golden/generate_pipeline_golden.py",
        "torch": torch.__version__, "diffusers": diffusers.__version__, "transformers": transformers.__version__,
        "k-diffusion": "0.1.1.post1", "safetensors": safetensors.__version__,
        "sampler": "k_diffusion.sampling.sample_euler", "schedule": "DiscreteEpsDDPMDenoiser.get_sigmas (discrete)",
        "rng": "torch CPU: manual_seed(seed); randn(1, 4, 32, 32)", "size": "256x256",
    }
    for name, prompt, negative, seed, steps, cfg in CASES:
        with torch.no_grad():
            def encode(text):
                ids = pipe.tokenizer(text, padding="max_length", max_length=77, return_tensors="pt").input_ids
                return pipe.text_encoder(ids).last_hidden_state  # SD 1.x: last layer after final LN
            cond, uncond = encode(prompt), encode(negative)
            model = external.DiscreteEpsDDPMDenoiser(UNetEps(pipe.unet, cfg), pipe.scheduler.alphas_cumprod, quantize=False)
            sigmas = model.get_sigmas(steps)
            torch.manual_seed(seed)
            x = torch.randn(1, 4, 32, 32) * sigmas[0]
            latent = sampling.sample_euler(model, x, sigmas, extra_args={"cond": cond, "uncond": uncond}, disable=True)
            image = pipe.vae.decode(latent / pipe.vae.config.scaling_factor).sample[0]
            image = ((image + 1) / 2).clamp(0, 1)
            u8 = torch.floor(image * 255 + 0.5).to(torch.uint8).permute(1, 2, 0).contiguous()
        tensors[f"{name}.output.latent"] = latent.contiguous()
        tensors[f"{name}.output.image"] = u8
        tensors[f"{name}.input.context"] = cond.contiguous()
        tensors[f"{name}.input.uncond"] = uncond.contiguous()
        meta[f"{name}"] = json.dumps({"prompt": prompt, "negative": negative, "seed": seed, "steps": steps, "cfg": cfg})
    save_file(tensors, str(OUT), metadata=meta)
    print(OUT, OUT.stat().st_size, "bytes")


if __name__ == "__main__":
    main()
