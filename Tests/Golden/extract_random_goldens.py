"""Builds Tests/TensorTests/Fixtures/random_goldens.json, the small fixture of RandomTests.

Run by hand (never in CI), from the repository root:
    python Tests/Golden/extract_random_goldens.py [path/to/shared/goldens]

Sources of the values (each case names its own):
- "torch-cuda", "torch-cpu": excerpts of shared/goldens/torch_{cuda,cpu}_randn.safetensors
  (torch.manual_seed(seed); torch.randn(shape[, device="cuda"]) twice; see its README).
- "sdcpp-philox": this file's transcription of stable-diffusion.cpp's PhiloxRNG (Philox 4x32-10,
  box_muller with u, v in float32 and log/sqrt/sin in double, as its code compiles with g++),
  for seeds and offsets the torch file lacks (a seed above 2^32, a third draw).
- "gxx-std-default": Tests/Golden/std_default_randn.cpp compiled with g++ -O2 (libstdc++),
  i.e. stable-diffusion.cpp's STDDefaultRNG.
Values are float32 bit patterns. Per case: the first 16 elements (all when fewer), index 9999
when present, and the last element.
"""
import json
import math
import os
import subprocess
import sys
import tempfile

import numpy as np
from safetensors.numpy import load_file

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GOLDENS = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(ROOT), "shared", "goldens")
OUTPUT = os.path.join(ROOT, "Tests", "TensorTests", "Fixtures", "random_goldens.json")
TORCH_SEEDS = [0, 1, 42, 1234, 4294967295]


def selected_indices(n):
    return sorted(set(list(range(min(n, 16))) + ([9999] if n > 9999 else []) + [n - 1]))


def bits_of(values):
    return [int(b) for b in np.asarray(values, dtype=np.float32).view(np.uint32)]


def torch_cases(file_name, generator, shapes):
    tensors = load_file(os.path.join(GOLDENS, file_name))
    cases = []
    for seed in TORCH_SEEDS:
        for shape in shapes:
            name = "x".join(str(d) for d in shape)
            for draw, which in enumerate(["first", "second"]):
                flat = tensors[f"seed{seed}_{name}_{which}"].reshape(-1)
                indices = selected_indices(flat.size)
                cases.append({"generator": generator, "source": f"torch-{generator}", "seed": seed,
                              "shape": shape, "draw": draw, "indices": indices,
                              "bits": bits_of(flat[indices])})
    return cases


# --- stable-diffusion.cpp PhiloxRNG, transcribed -------------------------------------------
M0, M1 = 0xD2511F53, 0xCD9E8D57
W0, W1 = 0x9E3779B9, 0xBB67AE85
F32 = np.float32
TWO_POW32_INV = F32(2.3283064e-10)
TWO_POW32_INV_2PI = F32(TWO_POW32_INV * F32(6.2831855))


def philox_words(seed, offset, index):
    c = [offset, 0, index, 0]
    k0, k1 = seed & 0xFFFFFFFF, seed >> 32
    for r in range(10):
        p = c[0] * M0
        q = c[2] * M1
        c = [((q >> 32) ^ c[1] ^ k0) & 0xFFFFFFFF, q & 0xFFFFFFFF,
             ((p >> 32) ^ c[3] ^ k1) & 0xFFFFFFFF, p & 0xFFFFFFFF]
        k0, k1 = (k0 + W0) & 0xFFFFFFFF, (k1 + W1) & 0xFFFFFFFF
    return c[0], c[1]


def sdcpp_box_muller(g0, g1):
    u = F32(F32(g0) * TWO_POW32_INV) + F32(TWO_POW32_INV / F32(2))
    v = F32(F32(g1) * TWO_POW32_INV_2PI) + F32(TWO_POW32_INV_2PI / F32(2))
    s = F32(math.sqrt(-2.0 * math.log(float(F32(u)))))
    return F32(float(s) * math.sin(float(F32(v))))


def philox_cases():
    cases = []
    shape = [1, 4, 64, 64]
    for seed in [0, 42, 4294967296 + 42, 0xFFFFFFFFFFFFFFFF]:
        for draw in range(3):
            indices = selected_indices(16384)
            values = [sdcpp_box_muller(*philox_words(seed, draw, i)) for i in indices]
            cases.append({"generator": "cuda", "source": "sdcpp-philox", "seed": seed, "shape": shape,
                          "draw": draw, "indices": indices, "bits": bits_of(values)})
    return cases


def std_default_cases():
    source = os.path.join(ROOT, "Tests", "Golden", "std_default_randn.cpp")
    with tempfile.TemporaryDirectory() as tmp:
        binary = os.path.join(tmp, "std_default_randn")
        subprocess.run(["g++", "-O2", "-std=c++17", source, "-o", binary], check=True)
        lines = subprocess.run([binary], check=True, capture_output=True, text=True).stdout.split("\n")
    grouped = {}
    for line in filter(None, lines):
        seed, n, draw, index, bits = line.split()
        key = (int(seed), int(n), int(draw))
        grouped.setdefault(key, []).append((int(index), int(bits, 16)))
    return [{"generator": "std_default", "source": "gxx-std-default", "seed": seed, "shape": [n],
             "draw": draw, "indices": [i for i, _ in items], "bits": [b for _, b in items]}
            for (seed, n, draw), items in grouped.items()]


def main():
    gxx = subprocess.run(["g++", "--version"], check=True, capture_output=True, text=True).stdout.split("\n")[0]
    cases = (torch_cases("torch_cuda_randn.safetensors", "cuda", [[1, 4, 64, 64], [2, 4, 8, 8], [3]])
             + philox_cases()
             + torch_cases("torch_cpu_randn.safetensors", "cpu", [[1, 4, 64, 64], [2, 4, 8, 8], [17], [3]])
             + std_default_cases())
    fixture = {
        "madeBy": "Tests/Golden/extract_random_goldens.py",
        "sources": {
            "torch-cuda": "shared/goldens/torch_cuda_randn.safetensors (torch 2.11, H100)",
            "torch-cpu": "shared/goldens/torch_cpu_randn.safetensors (torch 2.15, x86-64 AVX512 CPU)",
            "sdcpp-philox": "Philox transcription of stable-diffusion.cpp rng_philox.hpp in the script",
            "gxx-std-default": "Tests/Golden/std_default_randn.cpp built with " + gxx,
        },
        "cases": cases,
    }
    with open(OUTPUT, "w") as f:
        json.dump(fixture, f, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {len(cases)} cases to {OUTPUT} ({os.path.getsize(OUTPUT)} bytes)")


if __name__ == "__main__":
    main()
