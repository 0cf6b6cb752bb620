#!/usr/bin/env python3
"""PyTorch reference for PipelineBenchmark: times diffusers' SD 1.5 UNet step with CFG (batch 2),
VAE decode and whole 20-step euler_a image on the CPU, on the same single-file LDM checkpoint,
and prints one JSON object as its last line.

    python Benchmarks/torch_reference.py --checkpoint model.safetensors --size 512 --runs 3 \
        --threads 2 --vocab Weights/tiny-shapes/vocab.json --merges Weights/tiny-shapes/merges.txt

Needs torch, diffusers, transformers and safetensors; nothing is downloaded: the SD 1.5 model
configs are written out here and the LDM names are converted with diffusers' own single-file
conversion functions, so `from_single_file` (which fetches configs from the Hub) is not needed.
Weights are loaded as float32 whatever the file stores (torch's CPU f16 kernels are not the
reference). GGUF files are not read.
"""

import argparse
import json
import resource
import sys
import time

import torch
from safetensors.torch import load_file

import diffusers
from diffusers import AutoencoderKL, EulerAncestralDiscreteScheduler, StableDiffusionPipeline, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

try:  # diffusers >= 0.26
    from diffusers.loaders.single_file_utils import convert_ldm_unet_checkpoint, convert_ldm_vae_checkpoint
except ImportError:  # older releases
    from diffusers.pipelines.stable_diffusion.convert_from_ckpt import (
        convert_ldm_unet_checkpoint,
        convert_ldm_vae_checkpoint,
    )


def build_models(path):
    """SD 1.5's UNet, VAE and CLIP text encoder with the checkpoint's weights, float32, eval mode."""
    state = {k: (v.float() if v.is_floating_point() else v) for k, v in load_file(path).items()}

    unet = UNet2DConditionModel(
        sample_size=64,
        in_channels=4,
        out_channels=4,
        down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
        up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
        block_out_channels=(320, 640, 1280, 1280),
        layers_per_block=2,
        cross_attention_dim=768,
        attention_head_dim=8,
    )
    unet.load_state_dict(convert_ldm_unet_checkpoint(state, dict(unet.config)), strict=True)

    vae = AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        block_out_channels=(128, 256, 512, 512),
        layers_per_block=2,
        latent_channels=4,
        sample_size=512,
        scaling_factor=0.18215,
    )
    vae.load_state_dict(convert_ldm_vae_checkpoint(state, dict(vae.config)), strict=True)

    text_config = CLIPTextConfig(
        vocab_size=49408,
        hidden_size=768,
        intermediate_size=3072,
        num_hidden_layers=12,
        num_attention_heads=12,
        max_position_embeddings=77,
        hidden_act="quick_gelu",
        projection_dim=768,
    )
    text_encoder = CLIPTextModel(text_config)
    prefix = "cond_stage_model.transformer."
    # LDM keeps the HF CLIPTextModel names under the prefix; position_ids is a buffer that recent
    # transformers versions do not persist, so it is left out either way.
    text_state = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix) and not k.endswith("position_ids")}
    text_encoder.load_state_dict(text_state, strict=False)
    return [m.eval() for m in (unet, vae, text_encoder)]


def timed(fn, runs, warmup):
    for _ in range(warmup):
        fn()
    seconds = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        seconds.append(time.perf_counter() - start)
    return seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--prompt", default="a photograph of an astronaut riding a horse on mars")
    parser.add_argument("--what", nargs="+", default=["unet", "vae", "image"], choices=["unet", "vae", "image"])
    parser.add_argument("--vocab", required=True, help="CLIP vocab.json")
    parser.add_argument("--merges", required=True, help="CLIP merges.txt")
    args = parser.parse_args()
    if args.checkpoint.endswith(".gguf"):
        sys.exit("torch_reference.py reads safetensors checkpoints only")

    torch.set_num_threads(args.threads)
    unet, vae, text_encoder = build_models(args.checkpoint)
    side = args.size // 8
    result = {"torch": torch.__version__, "diffusers": diffusers.__version__, "threads": args.threads, "size": args.size}
    generator = torch.Generator().manual_seed(0)

    with torch.inference_mode():
        if "unet" in args.what:
            x = torch.randn(2, 4, side, side, generator=generator)
            context = torch.randn(2, 77, 768, generator=generator)
            t = torch.tensor([500, 500])
            result["unet"] = timed(lambda: unet(x, t, encoder_hidden_states=context).sample, args.runs, args.warmup)
        if "vae" in args.what:
            latent = torch.randn(1, 4, side, side, generator=generator)
            result["vae"] = timed(lambda: vae.decode(latent / vae.config.scaling_factor).sample, args.runs, args.warmup)
        if "image" in args.what:
            pipe = StableDiffusionPipeline(
                vae=vae,
                text_encoder=text_encoder,
                tokenizer=CLIPTokenizer(args.vocab, args.merges, model_max_length=77),
                unet=unet,
                scheduler=EulerAncestralDiscreteScheduler(
                    beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", num_train_timesteps=1000
                ),
                safety_checker=None,
                feature_extractor=None,
                requires_safety_checker=False,
            )
            pipe.set_progress_bar_config(disable=True)
            result["image"] = timed(
                lambda: pipe(
                    args.prompt,
                    height=args.size,
                    width=args.size,
                    num_inference_steps=args.steps,
                    guidance_scale=7.0,
                    generator=torch.Generator().manual_seed(42),
                    output_type="np",
                ),
                args.runs,
                0,
            )

    # ru_maxrss is in kilobytes on Linux.
    result["peak_rss_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps(result))


if __name__ == "__main__":
    main()
