"""Writes Tests/TensorTests/Fixtures/timestep_embedding.json from diffusers' get_timestep_embedding.

Run from the repository root on a developer machine (never in CI):
    python Tests/Golden/generate_timestep_embedding.py
Each case records the arguments and the float32 output, row-major; values are written with
repr(float) of the float32, which round-trips exactly.
"""
import json

import diffusers
import torch
from diffusers.models.embeddings import get_timestep_embedding

TIMESTEPS = [0.0, 1.0, 10.0, 250.5, 999.0]
CASES = [
    # Stable Diffusion's UNet (diffusers config flip_sin_to_cos=True, freq_shift=0) == LDM.
    dict(dimension=32, flip_sin_to_cos=True, downscale_freq_shift=0.0, scale=1.0, max_period=10000),
    # The function's own defaults.
    dict(dimension=32, flip_sin_to_cos=False, downscale_freq_shift=1.0, scale=1.0, max_period=10000),
    # Odd dimension (zero pad) and a non-unit scale.
    dict(dimension=7, flip_sin_to_cos=True, downscale_freq_shift=0.0, scale=2.0, max_period=10000),
]

cases = []
for case in CASES:
    t = torch.tensor(TIMESTEPS, dtype=torch.float32)
    out = get_timestep_embedding(
        t, case["dimension"], flip_sin_to_cos=case["flip_sin_to_cos"],
        downscale_freq_shift=case["downscale_freq_shift"], scale=case["scale"],
        max_period=case["max_period"])
    cases.append(dict(case, timesteps=TIMESTEPS, shape=list(out.shape),
                      values=[float(v) for v in out.flatten().tolist()]))

meta = dict(script="Tests/Golden/generate_timestep_embedding.py", torch=torch.__version__,
            diffusers=diffusers.__version__)
with open("Tests/TensorTests/Fixtures/timestep_embedding.json", "w") as f:
    json.dump(dict(metadata=meta, cases=cases), f, indent=1)
