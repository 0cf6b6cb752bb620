#!/usr/bin/env python3
"""Canny edge detector fixture: Tests/DiffusionTests/Fixtures/canny_cases.safetensors.

Run on a developer machine (never in CI): python Tests/Golden/generate_canny_fixtures.py
(needs numpy, opencv-python-headless and safetensors).

Each case is a small synthetic RGB picture and what OpenCV makes of it, stage by stage, all uint8
[H, W] (the input [H, W, 3]):

  <case>.rgb             the input picture
  <case>.grey            cv2.cvtColor(rgb, COLOR_RGB2GRAY)
  <case>.blurred         cv2.GaussianBlur(grey, (5, 5), 1.4)
  <case>.canny_relative  cv2.Canny(blurred, low, high, apertureSize=3, L2gradient=True) with
                         low, high = RELATIVE_LOW, RELATIVE_HIGH times the largest L2 magnitude of
                         the 3x3 Sobel gradient of `blurred` (BORDER_REPLICATE), as
                         CannyEdgeDetector's relative thresholds resolve them
  <case>.canny_absolute  the same with ABSOLUTE_LOW, ABSOLUTE_HIGH (lllyasviel's annotator's 100, 200)

OpenCV's edge maps are 0/255. `__metadata__` records the generator, library versions, the
threshold parameters and, per case, the largest squared magnitude and the absolute thresholds the
relative ones gave (Python reprs, so the Swift side can compare them exactly). Every OpenCV result
is checked to be the same on one thread (where OpenCV may hand Canny to IPP) and with OpenCV's
optimizations off, so the fixture does not depend on the machine that made it.
"""
import math
import pathlib

import cv2
import numpy as np
import safetensors
from safetensors.numpy import save_file

OUT = pathlib.Path(__file__).resolve().parents[1] / "DiffusionTests" / "Fixtures" / "canny_cases.safetensors"
RELATIVE_LOW, RELATIVE_HIGH = 0.0064, 0.08  # CannyEdgeDetector.defaultThresholds
ABSOLUTE_LOW, ABSOLUTE_HIGH = 100.0, 200.0
SEED = 20240611


def shapes(rng, h, w):
    """Filled rectangle, disc and triangle in different colours over a diagonal gradient, with noise."""
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.stack([xx * 255 / w, yy * 255 / h, (xx + yy) * 127 / (w + h) + 64], axis=-1)
    img[(xx >= 6) & (xx < 26) & (yy >= 5) & (yy < 20)] = (220, 40, 40)
    img[(xx - 44) ** 2 + (yy - 16) ** 2 < 11 ** 2] = (30, 200, 60)
    img[(yy > 26) & (yy < 44) & (np.abs(xx - 20) < (yy - 26))] = (40, 60, 230)
    img[(xx > 36) & (xx < 60) & (yy > 30) & (yy < 42)] = (128, 128, 128)  # low contrast on the gradient
    return img + rng.normal(0, 6, img.shape)


def lines(rng, h, w):
    """A diagonal step, thin (1 and 2 pixel) lines at several angles, a faint square, light noise."""
    yy, xx = np.mgrid[0:h, 0:w]
    grey = np.full((h, w), 40.0)
    grey[yy > xx * 0.5 + 10] = 200  # shallow diagonal step
    grey[(xx + yy) % 23 == 0] = 255  # thin anti-diagonal lines
    grey[np.abs(yy - 2 * xx + 60) < 1.0] = 0  # steep dotted line (one pixel every other row)
    grey[(yy >= 60) & (yy < 62)] = 255  # horizontal 2-pixel line
    grey[:, 80] = 0  # vertical 1-pixel line
    grey[8:20, 60:72] = 120  # a faint square, edges below the absolute thresholds
    img = np.stack([grey, grey * 0.8 + 20, 255 - grey], axis=-1)
    return img + rng.normal(0, 3, img.shape)


def odd(rng, h, w):
    """Odd sizes: random blobs of colour (smoothed noise), with edges touching the border."""
    coarse = rng.uniform(0, 255, (h // 4 + 2, w // 4 + 2, 3)).astype(np.float32)
    img = cv2.resize(coarse, (w, h), interpolation=cv2.INTER_NEAREST).astype(np.float64)
    return img + rng.normal(0, 10, img.shape)


def clean(rng, h, w):
    """No noise: axis-aligned and 45-degree edges between flat levels, where neighbouring
    magnitudes tie and OpenCV's tie rules decide which pixel of a pair is the edge."""
    yy, xx = np.mgrid[0:h, 0:w]
    grey = np.full((h, w), 30.0)
    grey[4:14, 5:17] = 200  # axis-aligned rectangle
    grey[(yy >= 18) & (xx - 4 > yy - 18) & (xx < 20)] = 150  # 45-degree step
    grey[:, 26] = 255  # one-pixel vertical line
    grey[22, 24:] = 255  # one-pixel horizontal line
    grey[4:12, 30:38] = np.where((xx[4:12, 30:38] // 2 + yy[4:12, 30:38] // 2) % 2 == 0, 220, 60)  # 2x2 checks
    return np.stack([grey, grey, grey * 0.5], axis=-1)


def tiny(rng, h, w):
    """Smaller than the 5x5 blur, where the reflected border folds over itself."""
    return rng.uniform(0, 255, (h, w, 3))


CASES = [
    ("shapes", shapes, 48, 64),
    ("lines", lines, 80, 96),
    ("odd", odd, 29, 37),
    ("clean", clean, 32, 40),
    ("tiny", tiny, 4, 5),
]


def canny(blurred, low, high):
    return cv2.Canny(blurred, low, high, apertureSize=3, L2gradient=True)


def largest_squared_magnitude(blurred):
    dx = cv2.Sobel(blurred, cv2.CV_16S, 1, 0, ksize=3, borderType=cv2.BORDER_REPLICATE).astype(np.int64)
    dy = cv2.Sobel(blurred, cv2.CV_16S, 0, 1, ksize=3, borderType=cv2.BORDER_REPLICATE).astype(np.int64)
    return int((dx * dx + dy * dy).max())


def stages(rgb):
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    blurred = cv2.GaussianBlur(grey, (5, 5), 1.4)
    largest = largest_squared_magnitude(blurred)
    magnitude = math.sqrt(float(largest))
    relative = (RELATIVE_LOW * magnitude, RELATIVE_HIGH * magnitude)
    return {
        "grey": grey,
        "blurred": blurred,
        "canny_relative": canny(blurred, *relative),
        "canny_absolute": canny(blurred, ABSOLUTE_LOW, ABSOLUTE_HIGH),
    }, largest, relative


def main():
    rng = np.random.default_rng(SEED)
    tensors, meta = {}, {
        "generator": "Tests/Golden/generate_canny_fixtures.py",
        "opencv": cv2.__version__,
        "numpy": np.__version__,
        "safetensors": safetensors.__version__,
        "seed": str(SEED),
        "grey": "cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)",
        "blur": "cv2.GaussianBlur(grey, (5, 5), 1.4)",
        "canny": "cv2.Canny(blurred, low, high, apertureSize=3, L2gradient=True)",
        "relative_low": repr(RELATIVE_LOW),
        "relative_high": repr(RELATIVE_HIGH),
        "relative_of": "sqrt(max(dx*dx + dy*dy)), dx, dy = cv2.Sobel(blurred, CV_16S, ksize=3, BORDER_REPLICATE)",
        "absolute_low": repr(ABSOLUTE_LOW),
        "absolute_high": repr(ABSOLUTE_HIGH),
        "cases": ",".join(name for name, *_ in CASES),
    }
    for name, make, h, w in CASES:
        rgb = np.ascontiguousarray(make(rng, h, w).clip(0, 255).round().astype(np.uint8))
        result, largest, relative = stages(rgb)
        # OpenCV takes other paths on one thread (IPP's Canny) and with its optimizations off.
        optimized, threads = cv2.useOptimized(), cv2.getNumThreads()
        for use_optimized in (True, False):
            cv2.setUseOptimized(use_optimized)
            cv2.setNumThreads(1)
            other, *_ = stages(rgb)
            for key in result:
                assert np.array_equal(result[key], other[key]), f"{name}.{key} depends on OpenCV's code path"
        cv2.setUseOptimized(optimized)
        cv2.setNumThreads(threads)
        # The grey formula the Swift side uses (15-bit BT.601 weights).
        c = rgb.astype(np.int64)
        assert np.array_equal(result["grey"], (c[..., 0] * 9798 + c[..., 1] * 19235 + c[..., 2] * 3735 + (1 << 14)) >> 15)
        tensors[f"{name}.rgb"] = rgb
        for key, value in result.items():
            tensors[f"{name}.{key}"] = np.ascontiguousarray(value)
        meta[f"{name}.max_squared_magnitude"] = str(largest)
        meta[f"{name}.relative_thresholds"] = f"{relative[0]!r},{relative[1]!r}"
        print(f"{name} {w}x{h}: max |grad|^2 {largest}, relative thresholds {relative[0]:.3f}, "
              f"edges {int((result['canny_relative'] > 0).sum())} relative, "
              f"{int((result['canny_absolute'] > 0).sum())} absolute")
    save_file(tensors, str(OUT), metadata=meta)
    print("wrote", OUT.name, OUT.stat().st_size, "bytes")


if __name__ == "__main__":
    main()
