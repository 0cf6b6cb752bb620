#!/usr/bin/env python3
"""End-to-end goldens of the SDXL and SD 2.x (v-prediction) paths on tiny random models:
Tests/DiffusionTests/Fixtures/pipeline_sdxl_tiny.safetensors and pipeline_sd2v_tiny.safetensors.

Run from the repository root on a developer machine (never in CI), in a venv with torch, diffusers,
transformers and k-diffusion:
    python Tests/Golden/generate_pipeline_xl_sd2_goldens.py

Models (seeded random weights, norms and biases included, rounded to fp16; the reference runs in
fp32 on exactly those values):
- SDXL-like: transformers `CLIPTextModel` (CLIP-L-like: width 16, 3 layers, quick_gelu) and
  `CLIPTextModelWithProjection` (bigG-like: width 16, 3 layers, gelu, projection 16), diffusers
  `UNet2DConditionModel` with addition_embed_type "text_time" (addition_time_embed_dim 256, as
  SDXL, so the added vector is [pooled 16 | 6 x 256]), no attention at level 0, transformer depth 2,
  linear projections, head width 4, GroupNorm 4 groups; `AutoencoderKL` with 4 levels (8 pixels per
  latent cell, as every SD VAE) of width 8 and GroupNorm 2 groups, scaling factor 0.13025.
- SD 2.x-v-like: `CLIPTextModel` (OpenCLIP-H-like: width 16, 3 layers, gelu), a UNet with linear
  projections and head width 4, the same kind of VAE with scaling factor 0.18215, and a scheduler
  config with prediction_type v_prediction.

Each model is written as ONE single file in the names a real checkpoint has, prefixed `checkpoint.`:
SDXL in SGM names (`model.diffusion_model.*`, `first_stage_model.*` with 1x1-conv attention,
`conditioner.embedders.0.transformer.text_model.*` in Hugging Face form with a `position_ids`
buffer, `conditioner.embedders.1.model.*` in OpenCLIP form: fused `attn.in_proj_weight`,
`text_projection` [D, P], `logit_scale`), SD 2.x in LDM names (`cond_stage_model.model.*` OpenCLIP
form with its unused `text_projection`). Two things are not stored as they are:
- the token embeddings [49408, 16] (the real CLIP vocabulary, so the engine's tokenizer ids are
  valid) are zero except the rows the prompts use; only those rows are stored, as
  `sparse.<name>.rows` (fp16 [n, 16]) and `sparse.<name>.ids` (float32 [n]), and the Swift test
  scatters them into the full table when it writes the checkpoint (a full fp16 table is 1.5 MB);
- the diffusers configs a single file needs beside it are metadata entries `config/<file name>`
  (`unet_config.json`, `vae_config.json`, `scheduler_config.json`, `text_encoder_config.json`,
  `text_encoder_2_config.json`), which the test writes next to the temporary checkpoint.

Reference run per case: prompts framed as the engine reference (section 5) says: [BOS] tokens [EOS]
padded to 77 with EOS (CLIP-L) or 0 (OpenCLIP-H); the bigG tower gets the CLIP-L ids with every
position after the first EOS set to 0; A1111 weights applied per chunk with the mean restored (on the
concatenated 32-wide states for SDXL). SDXL: both towers' penultimate hidden states without final LN,
concatenated; pooled = bigG `text_embeds` (last layer + final LN at the first EOS, times the
projection); added vector = [pooled | add_time_proj([h, w, 0, 0, h, w])]; an empty negative prompt
gets a zero context but keeps its pooled vector (stable-diffusion.cpp; SGM and diffusers'
`force_zeros_for_empty_prompt` zero the pooled vector too: see the check below). SD 2.x: the
penultimate hidden state + final LN. The models are driven by k-diffusion `sample_euler` around
`DiscreteEpsDDPMDenoiser` (SDXL) / `DiscreteVDDPMDenoiser` (SD 2.x) with classifier-free guidance in
one batch, the scaled-linear schedule, initial noise `torch.manual_seed(seed);
torch.randn(1, 4, h/8, w/8) * sigmas[0]` (the engine's `--rng cpu`), and the VAE decode of
latent / scaling_factor, rounded to uint8 as the engine does.

As a cross-check, the SDXL conditioning of the unweighted prompt is compared with diffusers'
`StableDiffusionXLPipeline.encode_prompt` on the same models (prompt embeds, pooled embeds, the
zeroed negative context), and the script stops if they differ.

Stored per case `<case>.output.{latent, image (uint8 HWC), context, uncond_context}` plus, for
SDXL, `<case>.output.{added, uncond_added}`; `<case>.input.ids` (float32 [77], the first tower's
ids) for diagnosis; the case settings in metadata `case.<case>` (JSON).
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
from diffusers import AutoencoderKL, EulerDiscreteScheduler, StableDiffusionXLPipeline, UNet2DConditionModel
from k_diffusion import external, sampling
from safetensors.torch import save_file
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import generate_unet_goldens as unet_goldens  # noqa: E402  (diffusers -> LDM UNet names)
import generate_vae_goldens as vae_goldens  # noqa: E402  (diffusers -> LDM VAE names)

ROOT = pathlib.Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "Tests" / "DiffusionTests" / "Fixtures"
TOKENIZER = ROOT / "Weights" / "tiny-shapes"
SCRIPT = "Tests/Golden/generate_pipeline_xl_sd2_goldens.py"
VOCAB, BOS, EOS, CONTEXT = 49408, 49406, 49407, 77

# The prompts as the engine's A1111 parser splits them: (text, weight) fragments, each tokenized on
# its own. "[yellow]" is 1 / 1.1, "(green star:1.3)" 1.3.
SDXL_CASES = [
    dict(name="xl_red_circle", prompt="a red circle on a blue background", negative="",
         fragments=[("a red circle on a blue background", 1.0)], negative_fragments=[],
         seed=11, steps=5, cfg=5.0, width=64, height=64),
    dict(name="xl_weighted_wide", prompt="a (green star:1.3) on a [yellow] background", negative="blurry, red",
         fragments=[("a ", 1.0), ("green star", 1.3), (" on a ", 1.0), ("yellow", 1 / 1.1), (" background", 1.0)],
         negative_fragments=[("blurry, red", 1.0)],
         seed=12, steps=4, cfg=7.0, width=64, height=32),
]
SD2_CASES = [
    dict(name="sd2v_blue_square", prompt="a blue square on a white background", negative="",
         fragments=[("a blue square on a white background", 1.0)], negative_fragments=[],
         seed=21, steps=5, cfg=6.0, width=32, height=32),
    dict(name="sd2v_negative", prompt="an orange triangle on a black background", negative="(purple:1.2), blurry",
         fragments=[("an orange triangle on a black background", 1.0)],
         negative_fragments=[("purple", 1.2), (", blurry", 1.0)],
         seed=22, steps=6, cfg=4.0, width=48, height=64),
]


def fp16_round(module):
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(p.half().float())


# MARK: text encoders

def text_encoder(cls, seed, used_ids, act, pad, projection=None):
    torch.manual_seed(seed)
    config = CLIPTextConfig(
        vocab_size=VOCAB, hidden_size=16, intermediate_size=32, num_hidden_layers=3, num_attention_heads=2,
        max_position_embeddings=CONTEXT, hidden_act=act, layer_norm_eps=1e-5, bos_token_id=BOS, eos_token_id=EOS,
        pad_token_id=pad, projection_dim=projection or 16, attn_implementation="eager")
    model = cls(config).eval()
    g = torch.Generator().manual_seed(seed)
    mask = torch.zeros(VOCAB, 1)
    mask[sorted(used_ids)] = 1
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "layer_norm" in name and name.endswith("weight"):
                p.copy_(1 + 0.2 * torch.randn(p.shape, generator=g))
            elif name.endswith(".bias"):
                p.copy_(0.2 * torch.randn(p.shape, generator=g))
            elif "token_embedding" in name:
                p.copy_(torch.randn(p.shape, generator=g) * mask)  # only the rows the prompts use
            elif "embedding" in name:
                p.copy_(torch.randn(p.shape, generator=g))
            else:  # Linear weights [out, in]: unit-variance outputs
                p.copy_(torch.randn(p.shape, generator=g) / p.shape[-1] ** 0.5)
    fp16_round(model)
    return model


def hf_state(model):
    """The HF state dict under `text_model.*` (transformers 5 drops that prefix for CLIPTextModel)."""
    sd = {k: v.detach().clone() for k, v in model.state_dict().items() if not k.endswith("position_ids")}
    return {(k if k.startswith(("text_model.", "text_projection")) else "text_model." + k): v for k, v in sd.items()}


def openclip_state(model, projection=None):
    """An HF CLIP text model in OpenCLIP names (what LDM/SGM single files hold): fused in_proj
    (rows q; k; v), `text_projection` [D, P] (the HF Linear weight transposed), `logit_scale`."""
    sd = hf_state(model)
    out = {
        "token_embedding.weight": sd.pop("text_model.embeddings.token_embedding.weight"),
        "positional_embedding": sd.pop("text_model.embeddings.position_embedding.weight"),
        "ln_final.weight": sd.pop("text_model.final_layer_norm.weight"),
        "ln_final.bias": sd.pop("text_model.final_layer_norm.bias"),
    }
    for layer in range(model.config.num_hidden_layers):
        a, b = f"text_model.encoder.layers.{layer}.", f"transformer.resblocks.{layer}."
        for kind in ("weight", "bias"):
            out[f"{b}attn.in_proj_{kind}"] = torch.cat([sd.pop(f"{a}self_attn.{p}_proj.{kind}") for p in "qkv"])
            out[f"{b}attn.out_proj.{kind}"] = sd.pop(f"{a}self_attn.out_proj.{kind}")
            out[f"{b}ln_1.{kind}"] = sd.pop(f"{a}layer_norm1.{kind}")
            out[f"{b}ln_2.{kind}"] = sd.pop(f"{a}layer_norm2.{kind}")
            out[f"{b}mlp.c_fc.{kind}"] = sd.pop(f"{a}mlp.fc1.{kind}")
            out[f"{b}mlp.c_proj.{kind}"] = sd.pop(f"{a}mlp.fc2.{kind}")
    if "text_projection.weight" in sd:
        out["text_projection"] = sd.pop("text_projection.weight").t()  # [P, D] -> [D, P]
    elif projection is not None:
        out["text_projection"] = projection  # SD 2.x files carry one; nothing uses it
    out["logit_scale"] = torch.tensor(4.6052)
    assert not sd, f"unconverted: {sorted(sd)}"
    return out


def final_norm(model):
    return (model.text_model if hasattr(model, "text_model") else model).final_layer_norm


# MARK: prompts

def tokens_of(tokenizer, fragments):
    ids, weights = [], []
    for text, weight in fragments:
        t = tokenizer(text, add_special_tokens=False).input_ids
        ids += t
        weights += [weight] * len(t)
    assert len(ids) <= 75, "one chunk only"
    return ids, weights


def frame(ids, weights, pad):
    """[BOS] ids [EOS] padded to 77 with `pad`; weights 1 for BOS, EOS and padding."""
    row = [BOS] + ids + [EOS]
    w = [1.0] + weights + [1.0]
    return row + [pad] * (CONTEXT - len(row)), w + [1.0] * (CONTEXT - len(w))


def zero_after_end(row):
    end = row.index(EOS)
    return row[:end + 1] + [0] * (CONTEXT - end - 1)


def apply_weights(h, weights):
    """A1111 / sd.cpp: scale each token's state by its weight, then restore the chunk's mean."""
    w = torch.tensor(weights, dtype=torch.float32)
    if bool((w == 1).all()):
        return h
    mean0 = h.mean()
    h = h * w[None, :, None]
    return h * (mean0 / h.mean())


def hidden(model, ids):
    with torch.no_grad():
        return model(input_ids=torch.tensor([ids]), output_hidden_states=True)


# MARK: models

def unet_model(config, seed):
    torch.manual_seed(seed)
    model = UNet2DConditionModel(**config).eval()
    unet_goldens.randomize(model, seed)  # fp16-rounded
    return model


def vae_model(seed, scaling_factor):
    torch.manual_seed(seed)
    vae = AutoencoderKL(
        in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4, block_out_channels=(8, 8, 8, 8), layers_per_block=1,
        latent_channels=4, norm_num_groups=2, scaling_factor=scaling_factor).eval()
    vae_goldens.randomize(vae, torch.Generator().manual_seed(seed))
    fp16_round(vae)
    return vae


def vae_state(vae):
    ldm = vae_goldens.to_ldm(vae, 4, 1, conv_attention=True)  # "weights.first_stage_model.*"
    return {k[len("weights."):]: v for k, v in ldm.items()}


def scheduler(prediction_type):
    return EulerDiscreteScheduler(
        num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
        prediction_type=prediction_type)


class GuidedUNet(torch.nn.Module):
    """diffusers' UNet as k-diffusion's inner model, cond and uncond in one batch, guidance on the
    raw output (eps or v)."""

    def __init__(self, unet, cfg):
        super().__init__()
        self.unet, self.cfg = unet, cfg

    def forward(self, x, t, cond, uncond, pooled=None, uncond_pooled=None, time_ids=None):
        kwargs = {}
        if pooled is not None:
            kwargs["added_cond_kwargs"] = {"text_embeds": torch.cat([pooled, uncond_pooled]),
                                           "time_ids": torch.cat([time_ids, time_ids])}
        out = self.unet(torch.cat([x, x]), torch.cat([t, t]), encoder_hidden_states=torch.cat([cond, uncond]),
                        **kwargs).sample
        c, u = out.chunk(2)
        return u + self.cfg * (c - u)


def sample(denoiser_class, unet, sched, case, extra):
    model = denoiser_class(GuidedUNet(unet, case["cfg"]), sched.alphas_cumprod, quantize=False)
    sigmas = model.get_sigmas(case["steps"])
    torch.manual_seed(case["seed"])
    x = torch.randn(1, 4, case["height"] // 8, case["width"] // 8) * sigmas[0]
    with torch.no_grad():
        return sampling.sample_euler(model, x, sigmas, extra_args=extra, disable=True)


def decode(vae, latent):
    with torch.no_grad():
        image = vae.decode(latent / vae.config.scaling_factor).sample[0]
    image = ((image + 1) / 2).clamp(0, 1)
    return torch.floor(image * 255 + 0.5).to(torch.uint8).permute(1, 2, 0).contiguous()


# MARK: fixture writing

def sparse_embeddings(checkpoint, used_ids):
    """Moves every [49408, D] token table out of `checkpoint` into rows + ids."""
    ids = sorted(used_ids)
    out = {}
    for name in [k for k in checkpoint if k.endswith("token_embedding.weight")]:
        table = checkpoint.pop(name)
        kept = torch.zeros(VOCAB, dtype=torch.bool)
        kept[ids] = True
        assert not bool(table[~kept].any()), "rows outside the used ids must be zero"
        out[f"sparse.{name}.rows"] = table[ids].half()
        out[f"sparse.{name}.ids"] = torch.tensor(ids, dtype=torch.float32)
    return out


def write(path, checkpoint, used_ids, outputs, configs, cases, extra_meta):
    tensors = sparse_embeddings(checkpoint, used_ids)
    for name, value in checkpoint.items():
        value = value.detach()
        tensors["checkpoint." + name] = value.half() if value.is_floating_point() and value.ndim > 0 else value
    tensors.update(outputs)
    meta = {
        "generator": SCRIPT, "torch": torch.__version__, "diffusers": diffusers.__version__,
        "transformers": transformers.__version__, "safetensors": safetensors.__version__, "numpy": np.__version__,
        "k-diffusion": getattr(k_diffusion, "__version__", "0.1.1.post1"),
        "sampler": "k_diffusion.sampling.sample_euler", "schedule": "DiscreteSchedule.get_sigmas (discrete)",
        "rng": "torch CPU: manual_seed(seed); randn(1, 4, h/8, w/8)", "vocabulary": str(VOCAB),
        "cases": json.dumps([c["name"] for c in cases]), **extra_meta,
    }
    for file, text in configs.items():
        meta["config/" + file] = text
    for c in cases:
        meta["case." + c["name"]] = json.dumps({k: c[k] for k in ("prompt", "negative", "seed", "steps", "cfg", "width", "height")})
    save_file({k: v.contiguous() for k, v in sorted(tensors.items())}, str(path), metadata=meta)
    print(f"wrote {path}: {len(tensors)} tensors, {path.stat().st_size} bytes")


def used_ids_of(tokenizer, cases):
    used = {BOS, EOS, 0}
    for c in cases:
        for fragments in (c["fragments"], c["negative_fragments"]):
            used.update(tokens_of(tokenizer, fragments)[0])
    return used


# MARK: SDXL

SDXL_UNET = dict(
    sample_size=8, in_channels=4, out_channels=4, layers_per_block=1, block_out_channels=(8, 16),
    down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
    transformer_layers_per_block=(1, 2), cross_attention_dim=32, attention_head_dim=(2, 4),
    use_linear_projection=True, addition_embed_type="text_time", addition_time_embed_dim=256,
    projection_class_embeddings_input_dim=16 + 6 * 256, time_embedding_dim=16, norm_num_groups=4)


def sdxl(tokenizer):
    used = used_ids_of(tokenizer, SDXL_CASES)
    clip_l = text_encoder(CLIPTextModel, 101, used, "quick_gelu", EOS)
    clip_g = text_encoder(CLIPTextModelWithProjection, 102, used, "gelu", 0, projection=16)
    unet = unet_model(SDXL_UNET, 103)
    vae = vae_model(104, 0.13025)
    sched = scheduler("epsilon")

    def encode(fragments, case, negative):
        ids, weights = tokens_of(tokenizer, fragments)
        ids_l, w = frame(ids, weights, EOS)
        ids_g = zero_after_end(ids_l)
        out_l, out_g = hidden(clip_l, ids_l), hidden(clip_g, ids_g)
        context = torch.cat([out_l.hidden_states[-2], out_g.hidden_states[-2]], dim=-1)  # [1, 77, 16 + 16]
        context = apply_weights(context, w)
        if negative and not fragments:
            context = torch.zeros_like(context)  # empty negative prompt: zero context, pooled kept
        pooled = out_g.text_embeds  # [1, 16]
        time_ids = torch.tensor([[case["height"], case["width"], 0, 0, case["height"], case["width"]]], dtype=torch.float32)
        with torch.no_grad():
            added = torch.cat([pooled, unet.add_time_proj(time_ids.flatten()).reshape(1, -1)], dim=-1)
        return context, pooled, time_ids, added, ids_l

    cross_check_diffusers(tokenizer, clip_l, clip_g, unet, vae, sched, encode)

    outputs = {}
    for case in SDXL_CASES:
        cond, pooled, time_ids, added, ids = encode(case["fragments"], case, False)
        uncond, uncond_pooled, _, uncond_added, _ = encode(case["negative_fragments"], case, True)
        extra = dict(cond=cond, uncond=uncond, pooled=pooled, uncond_pooled=uncond_pooled, time_ids=time_ids)
        latent = sample(external.DiscreteEpsDDPMDenoiser, unet, sched, case, extra)
        n = case["name"]
        outputs.update({
            f"{n}.output.latent": latent, f"{n}.output.image": decode(vae, latent),
            f"{n}.output.context": cond, f"{n}.output.uncond_context": uncond,
            f"{n}.output.added": added, f"{n}.output.uncond_added": uncond_added,
            f"{n}.input.ids": torch.tensor(ids, dtype=torch.float32)})
        print(n, "latent std", float(latent.std()), "image mean", float(outputs[f"{n}.output.image"].float().mean()))

    checkpoint = {}
    checkpoint.update(unet_goldens.to_ldm(unet))
    checkpoint.update(vae_state(vae))
    checkpoint.update({"conditioner.embedders.0.transformer." + k: v for k, v in hf_state(clip_l).items()})
    checkpoint["conditioner.embedders.0.transformer.text_model.embeddings.position_ids"] = torch.arange(CONTEXT)[None]
    checkpoint.update({"conditioner.embedders.1.model." + k: v for k, v in openclip_state(clip_g).items()})
    configs = {
        "unet_config.json": unet.to_json_string(), "vae_config.json": vae.to_json_string(),
        "scheduler_config.json": sched.to_json_string(),
        "text_encoder_config.json": clip_l.config.to_json_string(),
        "text_encoder_2_config.json": clip_g.config.to_json_string(),
    }
    write(FIXTURES / "pipeline_sdxl_tiny.safetensors", checkpoint, used, outputs, configs, SDXL_CASES,
          {"family": "SDXL", "seeds": "text encoders 101, 102; unet 103; vae 104"})


def cross_check_diffusers(tokenizer, clip_l, clip_g, unet, vae, sched, encode):
    """diffusers' own SDXL prompt encoding on the same models agrees with `encode` for an unweighted
    prompt; for an empty negative prompt it zeroes the context as here, and the pooled vector too
    (which stable-diffusion.cpp and the engine keep)."""
    tokenizer_2 = CLIPTokenizer.from_pretrained(str(TOKENIZER), model_max_length=CONTEXT, pad_token="!")
    pipe = StableDiffusionXLPipeline(vae=vae, text_encoder=clip_l, text_encoder_2=clip_g, tokenizer=tokenizer,
                                     tokenizer_2=tokenizer_2, unet=unet, scheduler=sched)
    case = SDXL_CASES[0]
    with torch.no_grad():
        embeds, negative_embeds, pooled, negative_pooled = pipe.encode_prompt(
            case["prompt"], device="cpu", num_images_per_prompt=1, do_classifier_free_guidance=True, negative_prompt=None)
    context, mine_pooled, _, _, _ = encode(case["fragments"], case, False)
    assert torch.allclose(embeds, context, atol=1e-6), float((embeds - context).abs().max())
    assert torch.allclose(pooled, mine_pooled, atol=1e-6), float((pooled - mine_pooled).abs().max())
    assert not bool(negative_embeds.any()), "diffusers zeroes the empty negative prompt's context"
    print("diffusers encode_prompt agrees: context max diff", float((embeds - context).abs().max()),
          "pooled", float((pooled - mine_pooled).abs().max()), "| diffusers negative pooled all zero:",
          not bool(negative_pooled.any()))


# MARK: SD 2.x

SD2_UNET = dict(
    sample_size=8, in_channels=4, out_channels=4, layers_per_block=1, block_out_channels=(8, 16),
    down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
    cross_attention_dim=16, attention_head_dim=(2, 4), use_linear_projection=True, norm_num_groups=4)


def sd2(tokenizer):
    used = used_ids_of(tokenizer, SD2_CASES)
    clip_h = text_encoder(CLIPTextModel, 201, used, "gelu", 0)
    unet = unet_model(SD2_UNET, 203)
    vae = vae_model(204, 0.18215)
    sched = scheduler("v_prediction")

    def encode(fragments):
        ids, weights = tokens_of(tokenizer, fragments)
        row, w = frame(ids, weights, 0)
        out = hidden(clip_h, row)
        with torch.no_grad():
            context = final_norm(clip_h)(out.hidden_states[-2])  # penultimate + final LN
        return apply_weights(context, w), row

    outputs = {}
    for case in SD2_CASES:
        cond, ids = encode(case["fragments"])
        uncond, _ = encode(case["negative_fragments"])
        latent = sample(external.DiscreteVDDPMDenoiser, unet, sched, case, dict(cond=cond, uncond=uncond))
        n = case["name"]
        outputs.update({
            f"{n}.output.latent": latent, f"{n}.output.image": decode(vae, latent),
            f"{n}.output.context": cond, f"{n}.output.uncond_context": uncond,
            f"{n}.input.ids": torch.tensor(ids, dtype=torch.float32)})
        print(n, "latent std", float(latent.std()), "image mean", float(outputs[f"{n}.output.image"].float().mean()))

    g = torch.Generator().manual_seed(205)
    projection = (torch.randn(16, 16, generator=g) / 4).half().float()
    checkpoint = {}
    checkpoint.update(unet_goldens.to_ldm(unet))
    checkpoint.update(vae_state(vae))
    checkpoint.update({"cond_stage_model.model." + k: v for k, v in openclip_state(clip_h, projection).items()})
    configs = {
        "unet_config.json": unet.to_json_string(), "vae_config.json": vae.to_json_string(),
        "scheduler_config.json": sched.to_json_string(), "text_encoder_config.json": clip_h.config.to_json_string(),
    }
    write(FIXTURES / "pipeline_sd2v_tiny.safetensors", checkpoint, used, outputs, configs, SD2_CASES,
          {"family": "SD 2.x v-prediction", "seeds": "text encoder 201; unet 203; vae 204; text_projection 205"})


def main():
    torch.set_num_threads(1)
    # vocab.json + merges.txt of the built-in model, the files the engine's tokenizer reads.
    tokenizer = CLIPTokenizer.from_pretrained(str(TOKENIZER), model_max_length=CONTEXT)
    sdxl(tokenizer)
    sd2(tokenizer)


if __name__ == "__main__":
    main()
