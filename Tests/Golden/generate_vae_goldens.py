"""Writes the VAE golden fixtures Tests/DiffusionTests/Fixtures/vae_*.safetensors and taesd_tiny.safetensors.

Run from the repository root on a developer machine (never in CI):
    TINY_SHAPES=<tiny-shapes diffusers folder> python Tests/Golden/generate_vae_goldens.py

Cases (each file holds `weights.<canonical key>`, `input.*`, `output.*`; `__metadata__` records this
script, the library versions and the seed):
- vae_tiny_2level: diffusers AutoencoderKL, block_out_channels (8, 16), layers_per_block 1,
  norm_num_groups 4, batch 2; mid-attention q/k/v/proj_out stored as LDM 1x1 convs [C, C, 1, 1].
- vae_tiny_3level: block_out_channels (8, 8, 16), layers_per_block 2, norm_num_groups 4,
  non-square inputs; attention stored as Linear [C, C] (what a diffusers->LDM conversion keeps).
  Both: seeded random weights, norm affine parameters included; outputs the posterior mean and
  (clamped) log-variance of `encode(image)` and `decode(latent)`.
- vae_tiny_shapes: the built-in tiny-shapes VAE (its fp32 diffusers folder `vae/`, found through
  TINY_SHAPES). No weights stored: the Swift test reads the fp16 single file
  Weights/tiny-shapes/tiny-shapes.safetensors. input.latent [1,4,16,16] is the posterior mean of a
  drawn 128x128 shape picture; output.image its fp32 decode, stored as float16 to keep the file small
  (relative rounding 2^-11, far below the fp16-weights error being measured). input.image
  [1,3,64,64] with output.mean/output.logvar checks the encoder.
- taesd_tiny: diffusers AutoencoderTiny (TAESD) with 4-channel stages, blocks (1,2,1,2) / (2,1,2,1),
  under the diffusers names `encoder.layers.N.*` / `decoder.layers.N.*` (madebyollin/taesd
  diffusion_pytorch_model.safetensors uses the same names).

VAE names are converted to LDM names with the mapping of the tiny-shapes converter
(training/convert_diffusers_to_ldm.py in the tiny-shapes folder), copied below.
"""
import math
import os

import diffusers
import numpy as np
import safetensors
import torch
from diffusers import AutoencoderKL, AutoencoderTiny
from safetensors.torch import save_file

SEED = 1234
FIXTURES = "Tests/DiffusionTests/Fixtures"
SCRIPT = "Tests/Golden/generate_vae_goldens.py"

VAE_RESNET = [("conv_shortcut.", "nin_shortcut.")]
VAE_ATTN = [("group_norm.", "norm."), ("to_q.", "q."), ("to_k.", "k."), ("to_v.", "v."), ("to_out.0.", "proj_out.")]


def vae_prefixes(levels, lpb):
    m = [("quant_conv.", "quant_conv.", []), ("post_quant_conv.", "post_quant_conv.", [])]
    for part in ("encoder", "decoder"):
        m += [(f"{part}.conv_in.", f"{part}.conv_in.", []), (f"{part}.conv_out.", f"{part}.conv_out.", []),
              (f"{part}.conv_norm_out.", f"{part}.norm_out.", []),
              (f"{part}.mid_block.resnets.0.", f"{part}.mid.block_1.", VAE_RESNET),
              (f"{part}.mid_block.resnets.1.", f"{part}.mid.block_2.", VAE_RESNET),
              (f"{part}.mid_block.attentions.0.", f"{part}.mid.attn_1.", VAE_ATTN)]
    for i in range(levels):
        for j in range(lpb):
            m.append((f"encoder.down_blocks.{i}.resnets.{j}.", f"encoder.down.{i}.block.{j}.", VAE_RESNET))
        if i < levels - 1:
            m.append((f"encoder.down_blocks.{i}.downsamplers.0.conv.", f"encoder.down.{i}.downsample.conv.", []))
    for i in range(levels):
        li = levels - 1 - i  # diffusers up_blocks run deepest first; LDM up.I is indexed like down.I
        for j in range(lpb + 1):
            m.append((f"decoder.up_blocks.{i}.resnets.{j}.", f"decoder.up.{li}.block.{j}.", VAE_RESNET))
        if i < levels - 1:
            m.append((f"decoder.up_blocks.{i}.upsamplers.0.conv.", f"decoder.up.{li}.upsample.conv.", []))
    return m


def map_key(key, prefixes):
    best = None
    for src, dst, inner in prefixes:
        if key.startswith(src) and (best is None or len(src) > len(best[0])):
            best = (src, dst, inner)
    if best is None:
        raise KeyError(key)
    src, dst, inner = best
    rest = key[len(src):]
    for a, b in inner:
        if rest.startswith(a):
            rest = b + rest[len(a):]
            break
    return dst + rest


def to_ldm(vae, levels, lpb, conv_attention):
    out = {}
    for k, v in vae.state_dict().items():
        nk = map_key(k, vae_prefixes(levels, lpb))
        if conv_attention and ".mid.attn_1." in nk and nk.endswith(".weight") and v.ndim == 2:
            v = v.reshape(*v.shape, 1, 1)  # Linear -> 1x1 conv, as in original LDM checkpoints
        out["weights.first_stage_model." + nk] = v.detach().clone()
    assert len(out) == len(vae.state_dict())
    return out


def randomize(module, gen):
    """Default init for convs/linears (well-scaled), random affine for every norm, random biases."""
    for name, p in module.named_parameters():
        with torch.no_grad():
            if "norm" in name and name.endswith("weight"):
                p.copy_(1 + 0.2 * torch.randn(p.shape, generator=gen))
            elif name.endswith("bias"):
                p.copy_(0.1 * torch.randn(p.shape, generator=gen))
            else:
                bound = 1 / math.sqrt(p[0].numel()) if p.ndim > 1 else 1.0
                p.copy_((torch.rand(p.shape, generator=gen) * 2 - 1) * bound * math.sqrt(3))


def metadata(seed, **extra):
    return dict(script=SCRIPT, torch=torch.__version__, diffusers=diffusers.__version__,
                safetensors=safetensors.__version__, numpy=np.__version__, seed=str(seed), **extra)


def write(name, tensors, meta):
    path = os.path.join(FIXTURES, name + ".safetensors")
    save_file({k: v.contiguous() for k, v in sorted(tensors.items())}, path, metadata=meta)
    print(f"wrote {path}: {os.path.getsize(path)} bytes")


def kl_case(name, channels, lpb, groups, conv_attention, image_shape, latent_shape, seed):
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    levels = len(channels)
    vae = AutoencoderKL(in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * levels,
                        up_block_types=("UpDecoderBlock2D",) * levels, block_out_channels=channels,
                        layers_per_block=lpb, latent_channels=4, norm_num_groups=groups).eval()
    randomize(vae, gen)
    image = torch.rand(image_shape, generator=gen) * 2 - 1
    latent = torch.randn(latent_shape, generator=gen)
    with torch.no_grad():
        dist = vae.encode(image).latent_dist
        decoded = vae.decode(latent).sample
    tensors = to_ldm(vae, levels, lpb, conv_attention)
    tensors.update({"input.image": image, "input.latent": latent, "output.mean": dist.mean,
                    "output.logvar": dist.logvar, "output.image": decoded})
    write(name, tensors, metadata(seed, config=f"block_out_channels={channels} layers_per_block={lpb} "
                                  f"norm_num_groups={groups} attention={'conv1x1' if conv_attention else 'linear'}"))


def shape_picture(size):
    """A yellow disc on a purple background in [-1, 1], like tiny-shapes' training pictures."""
    ys, xs = torch.meshgrid(torch.arange(size) + 0.5, torch.arange(size) + 0.5, indexing="ij")
    inside = ((xs - 0.45 * size) ** 2 + (ys - 0.55 * size) ** 2) < (0.3 * size) ** 2
    fg, bg = torch.tensor([240., 220., 40.]), torch.tensor([120., 40., 160.])
    img = torch.where(inside[None], fg[:, None, None], bg[:, None, None]) / 255 * 2 - 1
    return img[None].float()


def tiny_shapes_case(seed):
    folder = os.environ.get("TINY_SHAPES")
    if folder is None:
        raise SystemExit("set TINY_SHAPES to the tiny-shapes diffusers folder (the one holding vae/)")
    vae = AutoencoderKL.from_pretrained(os.path.join(folder, "vae")).eval()
    with torch.no_grad():
        latent = vae.encode(shape_picture(128)).latent_dist.mean
        image = vae.decode(latent).sample
        small = shape_picture(64)
        dist = vae.encode(small).latent_dist
    write("vae_tiny_shapes", {"input.latent": latent, "output.image": image.half(), "input.image": small,
                              "output.mean": dist.mean, "output.logvar": dist.logvar},
          metadata(seed, reference="tiny-shapes/vae (diffusers fp32 folder)"))


def taesd_case(seed):
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    tae = AutoencoderTiny(encoder_block_out_channels=(4, 4, 4, 4), decoder_block_out_channels=(4, 4, 4, 4),
                          num_encoder_blocks=(1, 2, 1, 2), num_decoder_blocks=(2, 1, 2, 1)).eval()
    randomize(tae, gen)
    image = torch.rand((1, 3, 32, 24), generator=gen) * 2 - 1
    latent = torch.randn((1, 4, 4, 3), generator=gen) * 2
    with torch.no_grad():
        encoded = tae.encode(image).latents
        decoded = tae.decode(latent).sample
    tensors = {"weights." + k: v.detach().clone() for k, v in tae.state_dict().items()}
    tensors.update({"input.image": image, "input.latent": latent, "output.latent": encoded, "output.image": decoded})
    write("taesd_tiny", tensors, metadata(seed, config="block_out_channels=4 encoder_blocks=(1,2,1,2) "
                                          "decoder_blocks=(2,1,2,1)"))


if __name__ == "__main__":
    kl_case("vae_tiny_2level", (8, 16), 1, 4, True, (2, 3, 16, 16), (2, 4, 4, 4), SEED)
    kl_case("vae_tiny_3level", (8, 8, 16), 2, 4, False, (1, 3, 24, 32), (1, 4, 6, 5), SEED + 1)
    tiny_shapes_case(SEED + 2)
    taesd_case(SEED + 3)
