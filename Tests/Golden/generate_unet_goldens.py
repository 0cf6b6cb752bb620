"""Writes the UNet golden fixtures Tests/DiffusionTests/Fixtures/unet_*.safetensors.

Run from the repository root on a developer machine (never in CI):
    python Tests/Golden/generate_unet_goldens.py [path/to/tiny-shapes diffusers folder]

Cases (batch 2, as classifier-free guidance runs it; fractional timesteps):
- unet_sd1: SD1-like. Conv 1x1 proj_in/proj_out, attention at both levels, attention_head_dim
  meaning a head *count* (2), widths (8, 16) so the head width differs per level, 2 res blocks per
  level as in SD1.
- unet_sd2: SD2-like. use_linear_projection, 3 levels with the deepest one without attention
  (so up_blocks.0 is a plain UpBlock2D and its upsampler is output_blocks.N.1), head width 4,
  context length 154 (two 77-token chunks).
- unet_sdxl: SDXL-like. addition_embed_type "text_time" (label_emb), no attention at level 0,
  transformer depth 2 at level 1 and in the middle block, linear projections, head width 4;
  up_blocks.0 has attention, so its upsampler is output_blocks.1.2 (SDXL's output_blocks.2.2 rule).
- unet_tiny_shapes: the shipped tiny-shapes UNet (fp32 diffusers folder) on one input. Only the
  input and two outputs are stored: `output.out` from the fp32 weights and `output.out_f16_weights`
  from the same weights rounded to fp16 (what Weights/tiny-shapes/tiny-shapes.safetensors holds).

Weights are seeded random (norm weights and biases too, so they are tested), rounded to fp16 and
stored as fp16 under `weights.model.diffusion_model.<LDM name>`; the reference runs in fp32 with
exactly those values. The diffusers -> LDM key conversion below follows the project's
training/convert_diffusers_to_ldm.py, extended for SDXL (add_embedding -> label_emb, levels without
attention, the upsampler index rule).

For the SDXL case `input.y` is the vector LDM's UNet takes: [text_embeds | add_time_proj(time_ids)],
computed with the model's own add_time_proj; diffusers gets text_embeds and time_ids.
"""
import os
import sys

import diffusers
import numpy as np
import safetensors
import torch
from diffusers import UNet2DConditionModel
from safetensors.torch import save_file

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURES = os.path.join(ROOT, "Tests", "DiffusionTests", "Fixtures")
TINY_SHAPES = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    os.path.dirname(ROOT), "shared", "weights", "tiny-shapes")
SCRIPT = "Tests/Golden/generate_unet_goldens.py"

RESNET = [("norm1.", "in_layers.0."), ("conv1.", "in_layers.2."), ("time_emb_proj.", "emb_layers.1."),
          ("norm2.", "out_layers.0."), ("conv2.", "out_layers.3."), ("conv_shortcut.", "skip_connection.")]


def unet_prefixes(cfg):
    """[(diffusers prefix, LDM prefix, renames inside)] for UNet2DConditionModel (LDM numbering:
    input block k = 1 + level * (lpb + 1) + j, downsampler after the lpb res blocks of a level;
    output block k = level * (lpb + 1) + j; the upsampler sits after the res block and, when the
    level has attention, after the transformer too)."""
    lpb = cfg["layers_per_block"]
    nb = len(cfg["block_out_channels"])
    down, up = cfg["down_block_types"], cfg["up_block_types"]
    m = [("time_embedding.linear_1.", "time_embed.0.", []), ("time_embedding.linear_2.", "time_embed.2.", []),
         ("add_embedding.linear_1.", "label_emb.0.0.", []), ("add_embedding.linear_2.", "label_emb.0.2.", []),
         ("conv_in.", "input_blocks.0.0.", []), ("conv_norm_out.", "out.0.", []), ("conv_out.", "out.2.", [])]
    for i in range(nb):
        for j in range(lpb):
            k = 1 + i * (lpb + 1) + j
            m.append((f"down_blocks.{i}.resnets.{j}.", f"input_blocks.{k}.0.", RESNET))
            if "CrossAttn" in down[i]:
                m.append((f"down_blocks.{i}.attentions.{j}.", f"input_blocks.{k}.1.", []))
        if i < nb - 1:
            m.append((f"down_blocks.{i}.downsamplers.0.conv.", f"input_blocks.{1 + i * (lpb + 1) + lpb}.0.op.", []))
    m.append(("mid_block.resnets.0.", "middle_block.0.", RESNET))
    m.append(("mid_block.attentions.0.", "middle_block.1.", []))
    m.append(("mid_block.resnets.1.", "middle_block.2.", RESNET))
    for i in range(nb):
        for j in range(lpb + 1):
            k = i * (lpb + 1) + j
            m.append((f"up_blocks.{i}.resnets.{j}.", f"output_blocks.{k}.0.", RESNET))
            if "CrossAttn" in up[i]:
                m.append((f"up_blocks.{i}.attentions.{j}.", f"output_blocks.{k}.1.", []))
        if i < nb - 1:
            pos = 2 if "CrossAttn" in up[i] else 1
            m.append((f"up_blocks.{i}.upsamplers.0.conv.", f"output_blocks.{i * (lpb + 1) + lpb}.{pos}.conv.", []))
    return m


def map_key(key, prefixes):
    best = None
    for src, dst, inner in prefixes:
        if key.startswith(src) and (best is None or len(src) > len(best[0])):
            best = (src, dst, inner)
    if best is None:
        raise KeyError(f"no mapping for {key}")
    src, dst, inner = best
    rest = key[len(src):]
    for a, b in inner:
        if rest.startswith(a):
            rest = b + rest[len(a):]
            break
    return dst + rest


def to_ldm(model):
    prefixes = unet_prefixes(model.config)
    sd = model.state_dict()
    out = {"model.diffusion_model." + map_key(k, prefixes): v for k, v in sd.items()}
    assert len(out) == len(sd), "name collision in the mapping"
    return out


def randomize(model, seed):
    """Seeded random weights, norms included, rounded to fp16 (the fixture stores fp16)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name:
                p.copy_((1 + 0.2 * torch.randn(p.shape, generator=g)) if name.endswith("weight")
                        else 0.1 * torch.randn(p.shape, generator=g))
            elif name.endswith("bias"):
                p.copy_(0.1 * torch.randn(p.shape, generator=g))
            else:
                fan_in = p[0].numel()
                p.copy_(torch.randn(p.shape, generator=g) / fan_in ** 0.5)
            p.copy_(p.half().float())


def metadata(seed, case):
    return {"generator": SCRIPT, "case": case, "seed": str(seed), "torch": torch.__version__,
            "diffusers": diffusers.__version__, "safetensors": safetensors.__version__, "numpy": np.__version__}


def inputs(seed, channels, size, context_length, context_dim):
    g = torch.Generator().manual_seed(seed + 1000)
    x = torch.randn(2, channels, size, size, generator=g)
    context = torch.randn(2, context_length, context_dim, generator=g)
    timesteps = torch.tensor([999.0, 250.5])
    return x, timesteps, context


def write(name, tensors, meta):
    path = os.path.join(FIXTURES, f"{name}.safetensors")
    save_file({k: v.contiguous() for k, v in sorted(tensors.items())}, path, metadata=meta)
    print(f"wrote {path}: {len(tensors)} tensors, {os.path.getsize(path)} bytes")


def random_case(name, seed, config, size, context_length, pooled_dim=None):
    torch.manual_seed(seed)
    model = UNet2DConditionModel(**config).eval()
    randomize(model, seed)
    x, timesteps, context = inputs(seed, config["in_channels"], size, context_length, config["cross_attention_dim"])
    tensors = {}
    added = None
    if pooled_dim is not None:
        g = torch.Generator().manual_seed(seed + 2000)
        text_embeds = torch.randn(2, pooled_dim, generator=g)
        # original size, crop top-left, target size: two different rows
        time_ids = torch.tensor([[64.0, 48.0, 0.0, 8.0, 64.0, 48.0], [32.0, 32.0, 4.0, 0.0, 40.0, 40.0]])
        added = {"text_embeds": text_embeds, "time_ids": time_ids}
        with torch.no_grad():
            time_embeds = model.add_time_proj(time_ids.flatten()).reshape(2, -1)
        tensors["input.y"] = torch.cat([text_embeds, time_embeds], dim=-1)
    with torch.no_grad():
        out = model(x, timesteps, encoder_hidden_states=context, added_cond_kwargs=added).sample
    tensors.update({"weights." + k: v.half() for k, v in to_ldm(model).items()})
    tensors.update({"input.x": x, "input.timesteps": timesteps, "input.context": context, "output.out": out})
    write(name, tensors, metadata(seed, name))


def tiny_shapes_case():
    model = UNet2DConditionModel.from_pretrained(os.path.join(TINY_SHAPES, "unet")).eval()
    seed = 4
    x, timesteps, context = inputs(seed, 4, 16, 77, model.config.cross_attention_dim)
    with torch.no_grad():
        out = model(x, timesteps, encoder_hidden_states=context).sample
        for p in model.parameters():
            p.copy_(p.half().float())
        out16 = model(x, timesteps, encoder_hidden_states=context).sample
    tensors = {"input.x": x, "input.timesteps": timesteps, "input.context": context,
               "output.out": out, "output.out_f16_weights": out16}
    write("unet_tiny_shapes", tensors, metadata(seed, "tiny-shapes unet/ (fp32 diffusers folder)"))


# Sizes: SD's GroupNorm(32) would force >= 32 channels, and a 2-level UNet at widths (32, 64) is
# already 2.2 MB at fp16, so the cases use norm_num_groups 4 and widths 8/16 (UNetConfig's
# normGroups says 4 for them). Everything else keeps the structure of the real models.
SD1 = dict(
    sample_size=8, in_channels=4, out_channels=4, layers_per_block=2, block_out_channels=(8, 16),
    down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
    up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
    cross_attention_dim=12, attention_head_dim=2, norm_num_groups=4)

# diffusers' attention_head_dim is really the head count (SD2's config says [5, 10, 20, 20]);
# the counts below give a head width of 4 at every level.
SD2 = dict(
    sample_size=8, in_channels=4, out_channels=4, layers_per_block=1, block_out_channels=(8, 16, 16),
    down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
    up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
    cross_attention_dim=8, attention_head_dim=(2, 4, 4), use_linear_projection=True, norm_num_groups=4)

SDXL_POOLED = 8
SDXL = dict(
    sample_size=8, in_channels=4, out_channels=4, layers_per_block=1, block_out_channels=(8, 16),
    down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
    up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
    transformer_layers_per_block=(1, 2), cross_attention_dim=20, attention_head_dim=(2, 4),
    use_linear_projection=True, addition_embed_type="text_time", addition_time_embed_dim=8,
    projection_class_embeddings_input_dim=SDXL_POOLED + 6 * 8, norm_num_groups=4)


def main():
    random_case("unet_sd1", 1, SD1, size=8, context_length=77)
    random_case("unet_sd2", 2, SD2, size=8, context_length=154)
    random_case("unet_sdxl", 3, SDXL, size=8, context_length=77, pooled_dim=SDXL_POOLED)
    tiny_shapes_case()


if __name__ == "__main__":
    main()
