#!/usr/bin/env python3
"""The SD3 / FLUX VAE layout on a tiny model: Tests/DiffusionTests/Fixtures/vae_tiny_flux16.safetensors.

Run from the repository root on a developer machine (never in CI):
    python Tests/Golden/generate_vae16_goldens.py

diffusers `AutoencoderKL` with 16 latent channels and no quant_conv / post_quant_conv (SD3's and
FLUX's `ae.safetensors`: `use_quant_conv=False, use_post_quant_conv=False`), block_out_channels
(8, 16), layers_per_block 1, norm_num_groups 4, seeded random weights as generate_vae_goldens.py,
stored under FLUX's `ae.safetensors` names (LDM names with no `first_stage_model.` prefix, the
mid-block attention as 1x1 convolutions), plus the latent transform of FLUX's VAE config (scaling_factor 0.3611,
shift_factor 0.1159): `output.latent` = (mean - shift) * scale, which the pipelines feed the
transformer, and `output.image` = decode(input.latent / scale + shift).
"""
import pathlib
import sys

import torch
from diffusers import AutoencoderKL

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import generate_vae_goldens as base  # noqa: E402

SCALE, SHIFT = 0.3611, 0.1159


def main():
    seed = base.SEED + 10
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    channels, lpb = (8, 16), 1
    vae = AutoencoderKL(in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * 2,
                        up_block_types=("UpDecoderBlock2D",) * 2, block_out_channels=channels, layers_per_block=lpb,
                        latent_channels=16, norm_num_groups=4, use_quant_conv=False, use_post_quant_conv=False,
                        scaling_factor=SCALE, shift_factor=SHIFT).eval()
    base.randomize(vae, gen)
    image = torch.rand((1, 3, 16, 24), generator=gen) * 2 - 1
    latent = torch.randn((1, 16, 4, 6), generator=gen)
    with torch.no_grad():
        dist = vae.encode(image).latent_dist
        decoded = vae.decode(latent / SCALE + SHIFT).sample
    tensors = {k.replace("weights.first_stage_model.", "weights."): v
               for k, v in base.to_ldm(vae, 2, lpb, conv_attention=True).items()}
    assert not any("quant_conv" in k for k in tensors)
    tensors.update({"input.image": image, "input.latent": latent, "output.mean": dist.mean, "output.logvar": dist.logvar,
                    "output.latent": (dist.mean - SHIFT) * SCALE, "output.image": decoded})
    base.write("vae_tiny_flux16", tensors, base.metadata(
        seed, config=f"latent_channels=16 no quant convs block_out_channels={channels} layers_per_block={lpb} "
                     f"norm_num_groups=4 scaling_factor={SCALE} shift_factor={SHIFT}; FLUX ae.safetensors names"))


if __name__ == "__main__":
    main()
