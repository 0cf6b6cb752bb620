#!/usr/bin/env python3
"""Rectified-flow goldens: Tests/SamplersTests/Fixtures/flow_goldens.safetensors.

Run on a developer machine (never in CI), in a venv with torch, diffusers, k-diffusion and safetensors:
    python Tests/Golden/generate_flow_goldens.py

Schedules (`schedule.<name>.<n>`): diffusers `FlowMatchEulerDiscreteScheduler(shift=3.0)` (SD3,
SD3.5) `set_timesteps(n)` sigmas, and with `use_dynamic_shifting=True` the FLUX pipeline's
`set_timesteps(sigmas=linspace(1, 1/n, n), mu=calculate_shift(tokens))` for 1024x1024 (4096 tokens)
and 512x512 (1024 tokens); `<...>.timesteps` the scheduler's timesteps (what the network is fed).

Trajectories over the shift-3 schedule of 8 steps, from x = N(0,1) noise (sigma_max = 1), with the
exact rectified-flow denoiser of the sampler goldens' data: x = (1 - sigma) x0 + sigma n with x0
per element from 0.5 N(-1, s^2) + 0.5 N(1, s^2), s = 0.5, so component k has
x ~ N((1 - sigma) m_k, (1 - sigma)^2 s^2 + sigma^2) and E[x0 | x, k] = m_k + (1 - sigma) s^2 / var_k (x - (1 - sigma) m_k).
- `euler`: diffusers' own loop, `scheduler.step(v, t, x)` with the velocity v = (x - D) / sigma
  (in float32, as the scheduler computes);
- `heun`, `dpm++2m`: k-diffusion's samplers over D (they need nothing of the noise model), float64;
- `euler_a`, `dpm++2s_a`, `lcm` (eta 1): transcriptions of stable-diffusion.cpp's flow variants
  (`get_ancestral_step_flow`, `sample_euler_ancestral` with `is_flow_denoiser`,
  `sample_dpmpp_2s_ancestral_flow`, `sample_lcm`), float64, with the noise they draw recorded as in
  the sampler goldens. The flow split is cross-checked against ComfyUI's form of it
  (`sample_euler_ancestral_RF`: renoise = sqrt(s_next^2 - s_down^2 alpha_next^2 / alpha_down^2)).
"""
import math
import pathlib

import diffusers
import k_diffusion
import numpy as np
import safetensors
import torch
from diffusers import FlowMatchEulerDiscreteScheduler
from k_diffusion import sampling
from safetensors.torch import save_file

OUT = pathlib.Path(__file__).resolve().parents[1] / "SamplersTests" / "Fixtures" / "flow_goldens.safetensors"
S = 0.5
MEANS = (-1.0, 1.0)


def denoise(x, sigma):
    sigma = float(sigma.reshape(-1)[0]) if torch.is_tensor(sigma) else float(sigma)
    a = 1 - sigma
    var = a * a * S * S + sigma * sigma
    logw = torch.stack([-(x - a * m) ** 2 / (2 * var) for m in MEANS])
    w = torch.softmax(logw, dim=0)
    means = torch.stack([m + a * S * S / var * (x - a * m) for m in MEANS])
    return (w * means).sum(0)


class RecordingNoise:
    def __init__(self, shape, seed):
        self.gen = torch.Generator().manual_seed(seed)
        self.shape = shape
        self.drawn = []

    def __call__(self, *_):
        z = torch.randn(self.shape, generator=self.gen).float().double()
        self.drawn.append(z)
        return z


def flow_split(sigma, sigma_next, eta):
    """stable-diffusion.cpp get_ancestral_step_flow: (down, up, alpha)."""
    if eta <= 0 or sigma <= 0 or sigma_next <= 0:
        return sigma_next, 0.0, 1.0
    eta = min(eta, 1.0)
    down = max(0.0, min(sigma_next, sigma_next * (1 + (sigma_next / sigma - 1) * eta)))
    if 1 - down <= 0:
        return sigma_next, 0.0, 1.0
    alpha = (1 - sigma_next) / (1 - down)
    term = max(-1.0, min(1.0, down / sigma_next * alpha))
    up = sigma_next * math.sqrt(max(1 - term * term, 0.0))
    # ComfyUI's form of the same split.
    renoise = math.sqrt(max(sigma_next ** 2 - down ** 2 * (1 - sigma_next) ** 2 / (1 - down) ** 2, 0.0))
    assert abs(renoise - up) < 1e-12, (renoise, up)
    return down, up, alpha


def euler_a(x, sigmas, noise, eta=1.0):
    out = []
    for i in range(len(sigmas) - 1):
        s, sn = float(sigmas[i]), float(sigmas[i + 1])
        d = denoise(x, s)
        if sn == 0:
            x = d
        else:
            down, up, alpha = flow_split(s, sn, eta)
            r = down / s
            x = r * x + (1 - r) * d
            if up > 0:
                x = alpha * x + up * noise()
        out.append(x.clone())
    return torch.stack(out)


def dpmpp_2s_a(x, sigmas, noise, eta=1.0):
    out = []
    for i in range(len(sigmas) - 1):
        s, sn = float(sigmas[i]), float(sigmas[i + 1])
        d = denoise(x, s)
        if sn == 0:
            x = d
        else:
            down, up, alpha = flow_split(s, sn, eta)
            if 1 - s < 1e-6:
                d_mid = d
            else:
                exp_mid = math.sqrt((1 - s) / s * (1 - down) / down)
                s_mid = 1 / (exp_mid + 1)
                r = s_mid / s
                d_mid = denoise(r * x + (1 - r) * d, s_mid)
            r = down / s
            x = r * x + (1 - r) * d_mid
            if eta > 0 and up > 0:
                x = alpha * x + up * noise()
        out.append(x.clone())
    return torch.stack(out)


def lcm(x, sigmas, noise):
    out = []
    for i in range(len(sigmas) - 1):
        sn = float(sigmas[i + 1])
        x = denoise(x, float(sigmas[i]))
        if sn > 0:
            x = (1 - sn) * x + sn * noise()
        out.append(x.clone())
    return torch.stack(out)


def run_kdiffusion(fn, x, sigmas):
    states = []
    out = fn(lambda xx, s: denoise(xx, s), x.clone(), sigmas, disable=True, callback=lambda d: states.append(d["x"].clone()))
    return torch.stack(states[1:] + [out])


def diffusers_euler(x, scheduler):
    """diffusers' own loop, in float32 (the scheduler upcasts to float32 and back)."""
    x = x.float()
    out = []
    for t in scheduler.timesteps:
        sigma = float(scheduler.sigmas[scheduler.index_for_timestep(t)])
        v = ((x.double() - denoise(x.double(), sigma)) / sigma).float()
        x = scheduler.step(v, t, x).prev_sample
        out.append(x.clone())
    return torch.stack(out)


def main():
    tensors = {}
    for n in (1, 4, 8, 28):
        sd3 = FlowMatchEulerDiscreteScheduler(shift=3.0)
        sd3.set_timesteps(n)
        tensors[f"schedule.sd3.{n}"] = sd3.sigmas.float()
        tensors[f"schedule.sd3.{n}.timesteps"] = sd3.timesteps.float()
        for name, tokens in (("flux1024", 4096), ("flux512", 1024)):
            flux = FlowMatchEulerDiscreteScheduler(shift=3.0, use_dynamic_shifting=True, base_shift=0.5, max_shift=1.15,
                                                   base_image_seq_len=256, max_image_seq_len=4096)
            mu = diffusers.pipelines.flux.pipeline_flux.calculate_shift(tokens, 256, 4096, 0.5, 1.15)
            flux.set_timesteps(sigmas=np.linspace(1.0, 1 / n, n), mu=mu)
            tensors[f"schedule.{name}.{n}"] = flux.sigmas.float()
            tensors[f"schedule.{name}.{n}.timesteps"] = flux.timesteps.float()
    # The shift-3 training table (sd.cpp's DiscreteFlowDenoiser, diffusers' scheduler.sigmas before set_timesteps).
    train = FlowMatchEulerDiscreteScheduler(shift=3.0)
    tensors["table.sd3"] = train.sigmas.flip(0).float()

    shape = (2, 4, 3, 5)
    gen = torch.Generator().manual_seed(20261207)
    scheduler = FlowMatchEulerDiscreteScheduler(shift=3.0)
    scheduler.set_timesteps(8)
    sigmas = scheduler.sigmas.double()
    x0 = torch.randn(shape, generator=gen).float().double()  # sigma_max = 1
    tensors["sd3_8.sigmas"] = sigmas.float()
    tensors["sd3_8.x"] = x0.float()
    tensors["sd3_8.trajectory.euler"] = diffusers_euler(x0, scheduler)
    torch.set_default_dtype(torch.float64)
    tensors["sd3_8.trajectory.heun"] = run_kdiffusion(sampling.sample_heun, x0, sigmas).float()
    tensors["sd3_8.trajectory.dpm++2m"] = run_kdiffusion(sampling.sample_dpmpp_2m, x0, sigmas).float()
    for i, (name, fn) in enumerate((("euler_a", euler_a), ("dpm++2s_a", dpmpp_2s_a), ("lcm", lcm))):
        noise = RecordingNoise(shape, seed=2000 + i)
        tensors[f"sd3_8.trajectory.{name}"] = fn(x0.clone(), sigmas, noise).float()
        tensors[f"sd3_8.noise.{name}"] = torch.stack(noise.drawn).float()

    metadata = {
        "generator": "Tests/Golden/generate_flow_goldens.py", "torch": torch.__version__,
        "diffusers": diffusers.__version__, "k-diffusion": getattr(k_diffusion, "__version__", "0.1.1.post1"),
        "safetensors": safetensors.__version__,
        "denoiser": "rectified-flow posterior mean of 0.5 N(-1, 0.25) + 0.5 N(1, 0.25)",
    }
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(OUT), metadata=metadata)
    print(OUT, OUT.stat().st_size, "bytes,", len(tensors), "tensors")
    print("sd3 4:", tensors["schedule.sd3.4"].tolist())
    print("flux1024 4:", tensors["schedule.flux1024.4"].tolist())


if __name__ == "__main__":
    main()
