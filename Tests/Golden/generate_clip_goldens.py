"""Writes the CLIP text-encoder goldens, Tests/DiffusionTests/Fixtures/clip_*.safetensors.

Run from the repository root on a developer machine (never in CI):
    python Tests/Golden/generate_clip_goldens.py TINY_SHAPES_DIFFUSERS_FOLDER
where the folder is the fp32 diffusers form of the built-in model (tokenizer/, text_encoder/).

Reference: transformers `CLIPTextModel` / `CLIPTextModelWithProjection` (eager attention, fp32 on
CPU). Each tiny case builds a seeded random model, re-initialises every parameter with O(1) values
(the default init of std 0.02 would leave the outputs dominated by the embeddings) and stores:
  weights.<canonical key>   the checkpoint as the engine sees it after the loader's KeyMap
  input.ids                 token ids, float32 [chunks, 77]
  output.<name>             reference outputs (see each case)
Output names: `skip<c>` is the hidden state after the first n - c + 1 of n layers (A1111 /
stable-diffusion.cpp clip_skip convention; HF `hidden_states[n - c + 1]`), `_ln` adds
the encoder's `final_layer_norm`; `pooled` is `pooler_output` (CLIPTextModel) or `text_embeds`
(CLIPTextModelWithProjection).

Cases:
  clip_l_tiny          CLIP-L-like, quick_gelu, pad = EOS, 2 chunks, plus an ignored position_ids.
  clip_openclip_h_tiny OpenCLIP-H-like, gelu, pad 0, attention stored as fused
                       `self_attn.in_proj.{weight,bias}` (rows q; k; v).
  clip_bigg_tiny       bigG-like with projection, `text_projection` in OpenCLIP orientation [D, P]
                       (the HF weight transposed), fused in_proj, an ignored `logit_scale`; ids
                       zeroed after the first EOS as SDXL's second tower does.
  clip_bigg_hf_tiny    the same family with `text_projection.weight` in HF orientation [P, D] and
                       separate q/k/v (diffusers `text_encoder_2` layout), 2 layers.
  clip_tiny_shapes     no weights: the built-in model's ids for "a red circle on a blue background"
                       (HF CLIPTokenizer) and the outputs of the fp32 diffusers text encoder in
                       TINY_SHAPES_DIFFUSERS_FOLDER/text_encoder, and the same model run with the
                       fp16 weights of Weights/tiny-shapes/tiny-shapes.safetensors (upcast);
                       the Swift test runs Weights/tiny-shapes/tiny-shapes.safetensors (fp16).
"""
import sys

import numpy as np
import safetensors
import torch
import transformers
from safetensors.torch import load_file, save_file
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer

FIXTURES = "Tests/DiffusionTests/Fixtures"
SEED = 20240611
VOCAB, BOS, EOS = 128, 126, 127
CONTEXT = 77


def metadata(case, seed):
    return {
        "script": "Tests/Golden/generate_clip_goldens.py",
        "case": case,
        "seed": str(seed),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "safetensors": safetensors.__version__,
        "numpy": np.__version__,
    }


def frame(tokens, pad):
    """[BOS] tokens [EOS] then `pad` up to 77, as the CLIP tokenizer frames a chunk."""
    ids = [BOS] + tokens + [EOS]
    return ids + [pad] * (CONTEXT - len(ids))


def randomize(model, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("layer_norm1.weight") or name.endswith("layer_norm2.weight") or "final_layer_norm.weight" in name:
                p.copy_(1 + 0.2 * torch.randn(p.shape, generator=g))
            elif name.endswith(".bias"):
                p.copy_(0.2 * torch.randn(p.shape, generator=g))
            elif "embedding" in name:
                p.copy_(torch.randn(p.shape, generator=g))
            else:  # Linear weights [out, in]: unit-variance outputs
                p.copy_(torch.randn(p.shape, generator=g) / p.shape[-1] ** 0.5)


def build(cls, seed, **config):
    torch.manual_seed(seed)
    cfg = CLIPTextConfig(vocab_size=VOCAB, max_position_embeddings=CONTEXT, bos_token_id=BOS, eos_token_id=EOS,
                         layer_norm_eps=1e-5, attn_implementation="eager", **config)
    model = cls(cfg).eval()
    randomize(model, seed)
    return model


def run(model, ids):
    with torch.no_grad():
        out = model(input_ids=torch.tensor(ids, dtype=torch.int64), output_hidden_states=True)
    n = model.config.num_hidden_layers
    # transformers 5: CLIPTextModel is the text transformer itself; the projection model wraps it.
    ln = (model.text_model if hasattr(model, "text_model") else model).final_layer_norm
    hs = out.hidden_states
    assert len(hs) == n + 1
    assert torch.equal(ln(hs[n]), out.last_hidden_state)
    skip = lambda c, with_ln: (ln(hs[n - c + 1]) if with_ln else hs[n - c + 1]).contiguous()
    pooled = out.text_embeds if hasattr(out, "text_embeds") else out.pooler_output
    return skip, pooled.contiguous()


def canonical(model, root, fused=False, openclip_projection=False):
    """State dict under `root` (e.g. cond_stage_model.transformer.), optionally in the fused /
    OpenCLIP forms that the encoder itself must accept."""
    sd = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items() if not k.endswith("position_ids")}
    # transformers 5's CLIPTextModel state dict has no `text_model.` prefix; checkpoints do.
    sd = {(k if k.startswith(("text_model.", "text_projection")) else "text_model." + k): v for k, v in sd.items()}
    if fused:
        for layer in range(model.config.num_hidden_layers):
            a = f"text_model.encoder.layers.{layer}.self_attn."
            for kind in ("weight", "bias"):
                parts = [sd.pop(f"{a}{p}_proj.{kind}") for p in ("q", "k", "v")]
                sd[f"{a}in_proj.{kind}"] = torch.cat(parts, dim=0).contiguous()  # rows q; k; v
    if openclip_projection:
        sd["text_projection"] = sd.pop("text_projection.weight").t().contiguous()  # [P, D] -> [D, P]
    return {"weights." + root + k: v for k, v in sd.items()}


def save(case, seed, tensors):
    path = f"{FIXTURES}/{case}.safetensors"
    save_file({k: v.contiguous() for k, v in tensors.items()}, path, metadata=metadata(case, seed))
    size = sum(v.numel() * v.element_size() for v in tensors.values())
    print(f"{path}: {len(tensors)} tensors, {size} bytes of data")


def ids_tensor(ids):
    return torch.tensor(ids, dtype=torch.float32)


def clip_l():
    seed = SEED + 1
    model = build(CLIPTextModel, seed, hidden_size=32, intermediate_size=64, num_hidden_layers=3,
                  num_attention_heads=4, hidden_act="quick_gelu", pad_token_id=EOS)
    ids = [frame([5, 17, 42, 99, 3], EOS), frame(list(range(7, 7 + 60)), EOS)]
    skip, pooled = run(model, ids)
    t = canonical(model, "cond_stage_model.transformer.")
    # Present in many SD1 files and ignored by the encoder.
    t["weights.cond_stage_model.transformer.text_model.embeddings.position_ids"] = torch.arange(CONTEXT)[None]
    t.update({"input.ids": ids_tensor(ids), "output.skip1_ln": skip(1, True), "output.skip2_ln": skip(2, True),
              "output.skip2": skip(2, False), "output.pooled": pooled})
    save("clip_l_tiny", seed, t)


def openclip_h():
    seed = SEED + 2
    model = build(CLIPTextModel, seed, hidden_size=32, intermediate_size=64, num_hidden_layers=3,
                  num_attention_heads=4, hidden_act="gelu", pad_token_id=0)
    ids = [frame([12, 50, 7, 81, 33, 2, 64], 0)]
    skip, _ = run(model, ids)
    t = canonical(model, "cond_stage_model.transformer.", fused=True)
    t.update({"input.ids": ids_tensor(ids), "output.skip1_ln": skip(1, True), "output.skip2_ln": skip(2, True)})
    save("clip_openclip_h_tiny", seed, t)


def bigg_openclip():
    seed = SEED + 3
    model = build(CLIPTextModelWithProjection, seed, hidden_size=32, intermediate_size=64, num_hidden_layers=3,
                  num_attention_heads=4, hidden_act="gelu", projection_dim=24, pad_token_id=0)
    ids = [frame([9, 100, 45, 8, 71, 3, 19, 60], 0)]
    skip, pooled = run(model, ids)
    t = canonical(model, "cond_stage_model.1.transformer.", fused=True, openclip_projection=True)
    t["weights.cond_stage_model.1.transformer.logit_scale"] = torch.tensor(4.6052)  # ignored
    t.update({"input.ids": ids_tensor(ids), "output.skip2": skip(2, False), "output.pooled": pooled})
    save("clip_bigg_tiny", seed, t)


def bigg_hf():
    seed = SEED + 4
    model = build(CLIPTextModelWithProjection, seed, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                  num_attention_heads=4, hidden_act="gelu", projection_dim=24, pad_token_id=0)
    ids = [frame([30, 31, 90, 4], 0)]
    skip, pooled = run(model, ids)
    t = canonical(model, "cond_stage_model.1.transformer.")
    t.update({"input.ids": ids_tensor(ids), "output.skip2": skip(2, False), "output.pooled": pooled})
    save("clip_bigg_hf_tiny", seed, t)


def tiny_shapes(folder):
    tokenizer = CLIPTokenizer.from_pretrained(f"{folder}/tokenizer")
    ids = tokenizer(["a red circle on a blue background"], padding="max_length", max_length=CONTEXT,
                    truncation=True).input_ids
    print("tiny-shapes ids:", ids[0][:10])
    model = CLIPTextModel.from_pretrained(f"{folder}/text_encoder", attn_implementation="eager").eval()
    skip, pooled = run(model, ids)
    t = {"input.ids": ids_tensor(ids), "output.skip1_ln": skip(1, True), "output.skip2_ln": skip(2, True),
         "output.pooled": pooled}
    # The same model with the single file's fp16 weights (upcast): what the Swift encoder computes,
    # so the fp16 rounding is separated from any error of the implementation.
    single = load_file("Weights/tiny-shapes/tiny-shapes.safetensors")
    root = "cond_stage_model.transformer.text_model."
    fp16 = {k[len(root):]: v.float() for k, v in single.items() if k.startswith(root) and not k.endswith("position_ids")}
    model.load_state_dict(fp16, strict=True)
    skip16, _ = run(model, ids)
    t["output.fp16_weights_skip1_ln"] = skip16(1, True)
    save("clip_tiny_shapes", 0, t)


if __name__ == "__main__":
    torch.set_num_threads(1)
    clip_l()
    openclip_h()
    bigg_openclip()
    bigg_hf()
    if len(sys.argv) != 2:
        sys.exit("usage: python Tests/Golden/generate_clip_goldens.py TINY_SHAPES_DIFFUSERS_FOLDER")
    tiny_shapes(sys.argv[1])
