#!/usr/bin/env python3
"""Sampler and schedule goldens: Tests/SamplersTests/Fixtures/sampler_goldens.safetensors.

Run on a developer machine (never in CI), in a venv with torch, k-diffusion and safetensors:
    pip install torch k-diffusion safetensors 'setuptools<70'   # k-diffusion imports pkg_resources
    python Tests/Golden/generate_sampler_goldens.py

Trajectories: every sampler runs from the same x (sigma_max * N(0,1) noise) over the same sigmas
with an analytic, nonlinear denoiser (below), in float64, and `trajectory.<name>` holds x after
every step. Ancestral samplers get their step noise from a list stored as `noise.<name>` (drawn in
the order the sampler asks for it), which the Swift test feeds back in the same order.
k-diffusion's own functions give euler, euler_a, heun, dpm2, dpm++2s_a and dpm++2m; the samplers
only stable-diffusion.cpp has (dpm++2mv2, ipndm, ipndm_v, lcm) come from the transcriptions below
of its equations (docs: engine-reference.md sections 1.7-1.10).

The denoiser is the exact posterior mean for data drawn, per element, from the two-component
mixture 0.5 N(-1, s^2) + 0.5 N(+1, s^2) with s = 0.5:
    D(x, sigma) = sum_k w_k(x) (m_k + s^2 / (s^2 + sigma^2) (x - m_k)),  w_k ~ N(x; m_k, s^2 + sigma^2)

Schedules: `schedule.<name>.<n>` for karras and exponential (k-diffusion get_sigmas_*), discrete
(k-diffusion DiscreteSchedule over stable-diffusion.cpp's float32 scaled-linear table) and the
table itself (`table.sigmas`).
"""
import math
import pathlib

import k_diffusion
import numpy as np
import safetensors
import torch
from k_diffusion import external, sampling
from safetensors.torch import save_file

OUT = pathlib.Path(__file__).resolve().parents[1] / "SamplersTests" / "Fixtures" / "sampler_goldens.safetensors"
torch.set_default_dtype(torch.float64)
S = 0.5
MEANS = (-1.0, 1.0)


def denoise(x, sigma):
    sigma = float(sigma.reshape(-1)[0]) if torch.is_tensor(sigma) else float(sigma)
    var = S * S + sigma * sigma
    logw = torch.stack([-(x - m) ** 2 / (2 * var) for m in MEANS])
    w = torch.softmax(logw, dim=0)
    means = torch.stack([m + S * S / var * (x - m) for m in MEANS])
    return (w * means).sum(0)


def sd_table():
    """stable-diffusion.cpp's calculate_alphas_cumprod + sigma table, in float32 as it computes it."""
    ls, le = np.float32(math.sqrt(0.00085)), np.float32(math.sqrt(0.012))
    amount = le - ls
    product = np.float32(1.0)
    sigmas = []
    for i in range(1000):
        beta = ls + amount * (np.float32(i) / np.float32(999))
        product = np.float32(product * (np.float32(1.0) - beta * beta))
        sigmas.append(np.sqrt((np.float32(1.0) - product) / product))
    return np.array(sigmas, dtype=np.float32)


class RecordingNoise:
    """Serves fresh N(0,1) tensors and remembers them, in the order a sampler asks."""

    def __init__(self, shape, seed):
        self.gen = torch.Generator().manual_seed(seed)
        self.shape = shape
        self.drawn = []

    def __call__(self, *_):
        # Rounded to float32 first: the Swift side gets exactly these values back.
        z = torch.randn(self.shape, generator=self.gen).float().double()
        self.drawn.append(z)
        return z


def run_kdiffusion(fn, x, sigmas, **kwargs):
    states = []
    out = fn(lambda xx, s: denoise(xx, s), x.clone(), sigmas, disable=True,
             callback=lambda d: states.append(d["x"].clone()), **kwargs)
    # The callback sees x before each step; x after step i is the callback's x at step i+1.
    return torch.stack(states[1:] + [out])


# Transcriptions of stable-diffusion.cpp's own samplers (engine-reference.md 1.7-1.10).
def to_d(x, sigma, denoised):
    return (x - denoised) / sigma


def dpmpp_2mv2(x, sigmas, noise):
    out, old = [], None
    for i in range(len(sigmas) - 1):
        s, sn = float(sigmas[i]), float(sigmas[i + 1])
        d = denoise(x, s)
        if old is None or sn == 0:
            a = sn / s
            x = a * x + (1 - a) * d
        else:
            h = math.log(s / sn)
            h_last = math.log(float(sigmas[i - 1]) / s)
            h_min, h_max = min(h_last, h), max(h_last, h)
            r = h_max / h_min
            h_d = (h_max + h_min) / 2
            b = math.expm1(-h_d)
            dd = (1 + 1 / (2 * r)) * d - (1 / (2 * r)) * old
            x = (sn / s) * x - b * dd
        old = d
        out.append(x.clone())
    return torch.stack(out)


def ipndm(x, sigmas, noise, variable=False):
    out, hist = [], []
    for i in range(len(sigmas) - 1):
        s, sn = float(sigmas[i]), float(sigmas[i + 1])
        d = to_d(x, s, denoise(x, s))
        dt = sn - s
        order = min(4, i + 1)
        if order == 1:
            x = x + dt * d
        elif order == 2:
            if variable:
                hp = s - float(sigmas[i - 1])
                q = dt / hp
                x = x + dt * ((2 + q) * d - q * hist[-1]) / 2
            else:
                x = x + dt * (3 * d - hist[-1]) / 2
        elif order == 3:
            x = x + dt * (23 * d - 16 * hist[-1] + 5 * hist[-2]) / 12
        else:
            x = x + dt * (55 * d - 59 * hist[-1] + 37 * hist[-2] - 9 * hist[-3]) / 24
        hist = (hist + [d])[-3:]
        out.append(x.clone())
    return torch.stack(out)


def lcm(x, sigmas, noise):
    out = []
    for i in range(len(sigmas) - 1):
        d = denoise(x, float(sigmas[i]))
        x = d
        if float(sigmas[i + 1]) > 0:
            x = d + float(sigmas[i + 1]) * noise()
        out.append(x.clone())
    return torch.stack(out)


def main():
    tensors = {}
    table = sd_table()
    tensors["table.sigmas"] = torch.from_numpy(table.copy()).float()
    smin, smax = float(table[0]), float(table[-1])
    for n in (1, 2, 4, 10, 20, 50, 1000):
        tensors[f"schedule.karras.{n}"] = sampling.get_sigmas_karras(n, smin, smax).float()
        tensors[f"schedule.exponential.{n}"] = sampling.get_sigmas_exponential(n, smin, smax).float()
        # k-diffusion's DiscreteSchedule over the float32 table (quantize=False, as sd.cpp).
        ds = external.DiscreteSchedule(torch.from_numpy(table.astype(np.float64)), quantize=False)
        tensors[f"schedule.discrete.{n}"] = ds.get_sigmas(n).float()

    shape = (2, 4, 3, 5)
    gen = torch.Generator().manual_seed(20261125)
    sigma_sets = {
        "karras10": sampling.get_sigmas_karras(10, smin, smax).float().double(),
        "discrete7": external.DiscreteSchedule(torch.from_numpy(table.astype(np.float64)), quantize=False)
        .get_sigmas(7).float().double(),
    }
    for set_name, sigmas in sigma_sets.items():
        x0 = (torch.randn(shape, generator=gen) * sigmas[0]).float().double()
        tensors[f"{set_name}.sigmas"] = sigmas.float()
        tensors[f"{set_name}.x"] = x0.float()
        runs = {
            "euler": lambda x, s, n: run_kdiffusion(sampling.sample_euler, x, s),
            "euler_a": lambda x, s, n: run_kdiffusion(sampling.sample_euler_ancestral, x, s, noise_sampler=n),
            "heun": lambda x, s, n: run_kdiffusion(sampling.sample_heun, x, s),
            "dpm2": lambda x, s, n: run_kdiffusion(sampling.sample_dpm_2, x, s),
            "dpm++2s_a": lambda x, s, n: run_kdiffusion(sampling.sample_dpmpp_2s_ancestral, x, s, noise_sampler=n),
            "dpm++2m": lambda x, s, n: run_kdiffusion(sampling.sample_dpmpp_2m, x, s),
            "dpm++2mv2": dpmpp_2mv2,
            "ipndm": ipndm,
            "ipndm_v": lambda x, s, n: ipndm(x, s, n, variable=True),
            "lcm": lcm,
        }
        for i, (name, run) in enumerate(runs.items()):
            noise = RecordingNoise(shape, seed=1000 + i)
            trajectory = run(x0.clone(), sigmas, noise)
            tensors[f"{set_name}.trajectory.{name}"] = trajectory.float()
            if noise.drawn:
                tensors[f"{set_name}.noise.{name}"] = torch.stack(noise.drawn).float()

    metadata = {
        "generator": "Tests/Golden/generate_sampler_goldens.py",
        "torch": torch.__version__,
        "k-diffusion": getattr(k_diffusion, "__version__", "0.1.1.post1"),
        "safetensors": safetensors.__version__,
        "denoiser": "posterior mean of 0.5 N(-1, 0.25) + 0.5 N(1, 0.25), float64",
    }
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(OUT), metadata=metadata)
    print(OUT, OUT.stat().st_size, "bytes,", len(tensors), "tensors")


if __name__ == "__main__":
    main()
