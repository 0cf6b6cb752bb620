"""Writes the header-only key lists of SD 1.5, SD 2.1 and SDXL used by
Tests/DiffusionTests/KeyListTests.swift.

Run on a developer machine, never in CI (CI reads the committed files):

    python Tests/Golden/generate_key_lists.py

Needs torch, diffusers and transformers (diffusers 0.42.1, transformers 5.24, torch 2.15 when the
committed files were made). No weights are downloaded: each model is built from its published
config (typed in below, as in the Hugging Face repos' config.json files) on the `meta` device, so
only names and shapes exist, and its state_dict gives key -> shape.

For every model two lists are written:
  key_list_<model>_diffusers.json  the diffusers folder layout: keys qualified by part
                                   ("unet/conv_in.weight", "text_encoder/text_model....").
  key_list_<model>_ldm.json        the original single-file layout, converted here from the diffusers
                                   names: LDM UNet/VAE names (VAE attention as 1x1 convs), the text
                                   encoder in the file's own naming (SD 1.5: HF CLIP under
                                   cond_stage_model.transformer.; SD 2.1: OpenCLIP under
                                   cond_stage_model.model., 24 blocks with fused in_proj,
                                   text_projection [D, P] and logit_scale; SDXL: SGM
                                   conditioner.embedders.0.transformer. (CLIP-L) and
                                   conditioner.embedders.1.model. (OpenCLIP bigG)), plus the
                                   non-weight buffers real SD 1.x/2.x files carry (betas,
                                   alphas_cumprod, ..., model_ema.decay, position_ids).

File format (compact, because Swift has no gzip in Foundation on Linux): a JSON object
  {"__metadata__": {...provenance...}, "keys": [[shared, "suffix", [shape...]], ...]}
with keys sorted; each row's name is the first `shared` characters of the previous row's name
followed by `suffix` (front coding).
"""

import json
import os
from importlib.metadata import version

import torch
from diffusers import AutoencoderKL, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "DiffusionTests", "Fixtures")
SCRIPT = "Tests/Golden/generate_key_lists.py"

# --- Published configs (runwayml/stable-diffusion-v1-5, stabilityai/stable-diffusion-2-1,
# --- stabilityai/stable-diffusion-xl-base-1.0), only the fields that change names or shapes.

SD15_UNET = dict(
    sample_size=64, in_channels=4, out_channels=4, layers_per_block=2,
    block_out_channels=(320, 640, 1280, 1280),
    down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
    up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
    cross_attention_dim=768, attention_head_dim=8, use_linear_projection=False)
SD21_UNET = dict(SD15_UNET, sample_size=96, cross_attention_dim=1024, attention_head_dim=(5, 10, 20, 20),
                 use_linear_projection=True)
SDXL_UNET = dict(
    sample_size=128, in_channels=4, out_channels=4, layers_per_block=2,
    block_out_channels=(320, 640, 1280),
    down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
    up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
    transformer_layers_per_block=(1, 2, 10), attention_head_dim=(5, 10, 20), cross_attention_dim=2048,
    use_linear_projection=True, addition_embed_type="text_time", addition_time_embed_dim=256,
    projection_class_embeddings_input_dim=2816)

VAE = dict(
    in_channels=3, out_channels=3, latent_channels=4, layers_per_block=2,
    block_out_channels=(128, 256, 512, 512),
    down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4)

CLIP_L = dict(vocab_size=49408, hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
              num_attention_heads=12, max_position_embeddings=77, hidden_act="quick_gelu", projection_dim=768)
# diffusers' SD 2.x text encoder keeps 23 of OpenCLIP-H's 24 blocks (SD 2 uses the penultimate layer).
OPENCLIP_H = dict(vocab_size=49408, hidden_size=1024, intermediate_size=4096, num_hidden_layers=23,
                  num_attention_heads=16, max_position_embeddings=77, hidden_act="gelu", projection_dim=512)
OPENCLIP_BIGG = dict(vocab_size=49408, hidden_size=1280, intermediate_size=5120, num_hidden_layers=32,
                     num_attention_heads=20, max_position_embeddings=77, hidden_act="gelu", projection_dim=1280)

# Buffers of ldm's DDPM wrapper that real SD 1.x/2.x single files carry (all [1000]) and EMA scalars.
DDPM_BUFFERS = ["betas", "alphas_cumprod", "alphas_cumprod_prev", "sqrt_alphas_cumprod",
                "sqrt_one_minus_alphas_cumprod", "log_one_minus_alphas_cumprod", "sqrt_recip_alphas_cumprod",
                "sqrt_recipm1_alphas_cumprod", "posterior_variance", "posterior_log_variance_clipped",
                "posterior_mean_coef1", "posterior_mean_coef2"]


def shapes(module):
    return {k: list(v.shape) for k, v in module.state_dict().items()}


def text_model_keys(sd):
    # transformers may or may not keep the "text_model." prefix in state_dict(); files always have it.
    return {(k if k.startswith(("text_model.", "text_projection")) else "text_model." + k): v for k, v in sd.items()}


def build(unet_cfg, text_cfgs, with_projection_last):
    with torch.device("meta"):
        unet = shapes(UNet2DConditionModel(**unet_cfg))
        vae = shapes(AutoencoderKL(**VAE))
        encoders = []
        for i, cfg in enumerate(text_cfgs):
            cls = CLIPTextModelWithProjection if (with_projection_last and i == len(text_cfgs) - 1) else CLIPTextModel
            encoders.append(text_model_keys(shapes(cls(CLIPTextConfig(**cfg)))))
    return unet, vae, encoders


# --- diffusers -> LDM (block arithmetic as in diffusers' convert_diffusers_to_original_stable_diffusion.py,
# --- written from the block counts so SDXL's 3-level layout comes out too).

UNET_RESNET = [("norm1.", "in_layers.0."), ("conv1.", "in_layers.2."), ("time_emb_proj.", "emb_layers.1."),
               ("norm2.", "out_layers.0."), ("conv2.", "out_layers.3."), ("conv_shortcut.", "skip_connection.")]
VAE_RESNET = [("conv_shortcut.", "nin_shortcut.")]
VAE_ATTN = [("group_norm.", "norm."), ("to_q.", "q."), ("to_k.", "k."), ("to_v.", "v."), ("to_out.0.", "proj_out.")]


def unet_prefixes(cfg):
    lpb = cfg["layers_per_block"]
    nb = len(cfg["block_out_channels"])
    down, up = cfg["down_block_types"], cfg["up_block_types"]
    m = [("time_embedding.linear_1.", "time_embed.0.", []), ("time_embedding.linear_2.", "time_embed.2.", []),
         ("add_embedding.linear_1.", "label_emb.0.0.", []), ("add_embedding.linear_2.", "label_emb.0.2.", []),
         ("conv_in.", "input_blocks.0.0.", []), ("conv_norm_out.", "out.0.", []), ("conv_out.", "out.2.", []),
         ("mid_block.resnets.0.", "middle_block.0.", UNET_RESNET), ("mid_block.attentions.0.", "middle_block.1.", []),
         ("mid_block.resnets.1.", "middle_block.2.", UNET_RESNET)]
    for i in range(nb):
        for j in range(lpb):
            k = 1 + i * (lpb + 1) + j
            m.append((f"down_blocks.{i}.resnets.{j}.", f"input_blocks.{k}.0.", UNET_RESNET))
            if "CrossAttn" in down[i]:
                m.append((f"down_blocks.{i}.attentions.{j}.", f"input_blocks.{k}.1.", []))
        if i < nb - 1:
            m.append((f"down_blocks.{i}.downsamplers.0.conv.", f"input_blocks.{(i + 1) * (lpb + 1)}.0.op.", []))
        for j in range(lpb + 1):
            k = i * (lpb + 1) + j
            m.append((f"up_blocks.{i}.resnets.{j}.", f"output_blocks.{k}.0.", UNET_RESNET))
            if "CrossAttn" in up[i]:
                m.append((f"up_blocks.{i}.attentions.{j}.", f"output_blocks.{k}.1.", []))
        if i < nb - 1:
            pos = 2 if "CrossAttn" in up[i] else 1
            m.append((f"up_blocks.{i}.upsamplers.0.conv.", f"output_blocks.{i * (lpb + 1) + lpb}.{pos}.conv.", []))
    return m


def vae_prefixes():
    nb, lpb = len(VAE["block_out_channels"]), VAE["layers_per_block"]
    m = [("quant_conv.", "quant_conv.", []), ("post_quant_conv.", "post_quant_conv.", [])]
    for part in ("encoder", "decoder"):
        m += [(f"{part}.conv_in.", f"{part}.conv_in.", []), (f"{part}.conv_out.", f"{part}.conv_out.", []),
              (f"{part}.conv_norm_out.", f"{part}.norm_out.", []),
              (f"{part}.mid_block.resnets.0.", f"{part}.mid.block_1.", VAE_RESNET),
              (f"{part}.mid_block.resnets.1.", f"{part}.mid.block_2.", VAE_RESNET),
              (f"{part}.mid_block.attentions.0.", f"{part}.mid.attn_1.", VAE_ATTN)]
    for i in range(nb):
        for j in range(lpb):
            m.append((f"encoder.down_blocks.{i}.resnets.{j}.", f"encoder.down.{i}.block.{j}.", VAE_RESNET))
        if i < nb - 1:
            m.append((f"encoder.down_blocks.{i}.downsamplers.0.conv.", f"encoder.down.{i}.downsample.conv.", []))
        for j in range(lpb + 1):
            m.append((f"decoder.up_blocks.{i}.resnets.{j}.", f"decoder.up.{nb - 1 - i}.block.{j}.", VAE_RESNET))
        if i < nb - 1:
            m.append((f"decoder.up_blocks.{i}.upsamplers.0.conv.", f"decoder.up.{nb - 1 - i}.upsample.conv.", []))
    return m


def map_key(key, prefixes):
    src, dst, inner = max(((s, d, i) for s, d, i in prefixes if key.startswith(s)), key=lambda t: len(t[0]))
    rest = key[len(src):]
    for a, b in inner:
        if rest.startswith(a):
            rest = b + rest[len(a):]
            break
    return dst + rest


def ldm_unet_vae(unet, vae, unet_cfg):
    out = {}
    up, vp = unet_prefixes(unet_cfg), vae_prefixes()
    for k, s in unet.items():
        out["model.diffusion_model." + map_key(k, up)] = s
    for k, s in vae.items():
        nk = map_key(k, vp)
        if ".mid.attn_1." in nk and nk.endswith(".weight") and len(s) == 2:
            s = s + [1, 1]  # LDM stores the VAE attention projections as 1x1 convolutions
        out["first_stage_model." + nk] = s
    assert len(out) == len(unet) + len(vae), "name collision"
    return out


def hf_clip_ldm(te, prefix):
    out = {prefix + k: s for k, s in te.items()}
    out[prefix + "text_model.embeddings.position_ids"] = [1, 77]
    return out


def openclip_ldm(te, prefix, layers, projection_dim):
    """OpenCLIP text tower names (open_clip.model.CLIP without `visual`), as SD 2.x/SDXL files hold it."""
    d = te["text_model.embeddings.token_embedding.weight"][1]
    ff = te["text_model.encoder.layers.0.mlp.fc1.weight"][0]
    out = {prefix + "token_embedding.weight": [49408, d], prefix + "positional_embedding": [77, d],
           prefix + "ln_final.weight": [d], prefix + "ln_final.bias": [d],
           prefix + "text_projection": [d, projection_dim], prefix + "logit_scale": []}
    for layer in range(layers):
        b = f"{prefix}transformer.resblocks.{layer}."
        out.update({b + "ln_1.weight": [d], b + "ln_1.bias": [d], b + "ln_2.weight": [d], b + "ln_2.bias": [d],
                    b + "attn.in_proj_weight": [3 * d, d], b + "attn.in_proj_bias": [3 * d],
                    b + "attn.out_proj.weight": [d, d], b + "attn.out_proj.bias": [d],
                    b + "mlp.c_fc.weight": [ff, d], b + "mlp.c_fc.bias": [ff],
                    b + "mlp.c_proj.weight": [d, ff], b + "mlp.c_proj.bias": [d]})
    return out


def front_coded(keys):
    rows, prev = [], ""
    for k in sorted(keys):
        n = 0
        while n < min(len(k), len(prev)) and k[n] == prev[n]:
            n += 1
        rows.append([n, k[n:], keys[k]])
        prev = k
    return rows


def write(name, keys, description):
    meta = {"generator": SCRIPT, "description": description, "torch": torch.__version__,
            "diffusers": version("diffusers"), "transformers": version("transformers"),
            "seed": "none (meta device: names and shapes only)"}
    path = os.path.join(OUT, f"key_list_{name}.json")
    with open(path, "w") as f:
        json.dump({"__metadata__": meta, "keys": front_coded(keys)}, f, separators=(",", ":"))
        f.write("\n")
    print(f"{path}: {len(keys)} keys, {os.path.getsize(path)} bytes")


def diffusers_keys(parts):
    return {f"{part}/{k}": s for part, sd in parts.items() for k, s in sd.items()}


def main():
    buffers = {k: [1000] for k in DDPM_BUFFERS} | {"model_ema.decay": [], "model_ema.num_updates": []}

    unet, vae, (te,) = build(SD15_UNET, [CLIP_L], False)
    write("sd15_diffusers", diffusers_keys({"unet": unet, "vae": vae, "text_encoder": te}),
          "SD 1.5 (runwayml/stable-diffusion-v1-5 configs), diffusers folder layout")
    write("sd15_ldm", ldm_unet_vae(unet, vae, SD15_UNET) | hf_clip_ldm(te, "cond_stage_model.transformer.") | buffers,
          "SD 1.5, original LDM single-file layout")

    unet, vae, (te,) = build(SD21_UNET, [OPENCLIP_H], False)
    write("sd21_diffusers", diffusers_keys({"unet": unet, "vae": vae, "text_encoder": te}),
          "SD 2.1 (stabilityai/stable-diffusion-2-1 configs), diffusers folder layout (23-layer text encoder)")
    write("sd21_ldm", ldm_unet_vae(unet, vae, SD21_UNET) | openclip_ldm(te, "cond_stage_model.model.", 24, 1024)
          | buffers, "SD 2.1, original LDM single-file layout (OpenCLIP-H text tower, 24 blocks)")

    unet, vae, (te1, te2) = build(SDXL_UNET, [CLIP_L, OPENCLIP_BIGG], True)
    write("sdxl_diffusers", diffusers_keys({"unet": unet, "vae": vae, "text_encoder": te1, "text_encoder_2": te2}),
          "SDXL base 1.0 (stabilityai/stable-diffusion-xl-base-1.0 configs), diffusers folder layout")
    write("sdxl_ldm", ldm_unet_vae(unet, vae, SDXL_UNET)
          | hf_clip_ldm(te1, "conditioner.embedders.0.transformer.")
          | openclip_ldm(te2, "conditioner.embedders.1.model.", 32, 1280),
          "SDXL base 1.0, SGM single-file layout (conditioner.embedders.0 CLIP-L, .1 OpenCLIP bigG)")


if __name__ == "__main__":
    main()
