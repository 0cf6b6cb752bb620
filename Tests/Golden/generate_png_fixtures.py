#!/usr/bin/env python3
"""PNG decoding fixtures: Tests/DiffusionTests/Fixtures/png_*.png and png_expected.json.

Run on a developer machine (never in CI): python Tests/Golden/generate_png_fixtures.py
(needs pillow and numpy). Each PNG is a 5x3 picture in another PNG colour type (RGB, grey, RGBA,
palette); the JSON holds the 8-bit RGB bytes a decoder must produce, with alpha composited on white.
"""
import json
import pathlib

import numpy as np
import PIL
from PIL import Image

out = pathlib.Path(__file__).resolve().parents[1] / "DiffusionTests" / "Fixtures"
rng = np.random.default_rng(7)
rgb = rng.integers(0, 256, (3, 5, 3), dtype=np.uint8)
expected = {"generator": "Tests/Golden/generate_png_fixtures.py", "pillow": PIL.__version__}

Image.fromarray(rgb, "RGB").save(out / "png_rgb.png")
expected["png_rgb.png"] = rgb.flatten().tolist()

grey = rng.integers(0, 256, (3, 5), dtype=np.uint8)
Image.fromarray(grey, "L").save(out / "png_grey.png")
expected["png_grey.png"] = np.repeat(grey[..., None], 3, axis=2).flatten().tolist()

alpha = np.array([[255, 0, 128, 64, 255]] * 3, dtype=np.uint8)
rgba = np.concatenate([rgb, alpha[..., None]], axis=2)
Image.fromarray(rgba, "RGBA").save(out / "png_rgba.png")
a = alpha[..., None].astype(np.float64) / 255
expected["png_rgba.png"] = np.rint(rgb * a + 255 * (1 - a)).astype(np.uint8).flatten().tolist()

palette = Image.fromarray(rgb, "RGB").quantize(colors=8)
palette.save(out / "png_palette.png")
expected["png_palette.png"] = np.asarray(palette.convert("RGB")).flatten().tolist()

(out / "png_expected.json").write_text(json.dumps(expected))
print("wrote", sorted(p.name for p in out.glob("png_*")))

# JPEG fixtures: an RGB and a greyscale 16x8 picture (baseline, quality 95), decoded by PIL
# (libjpeg-turbo too) for the expected bytes.
smooth = np.stack(np.meshgrid(np.arange(16) * 15, np.arange(8) * 30), axis=-1).astype(np.uint8)
rgb_j = np.concatenate([smooth, (255 - smooth[..., :1])], axis=2)
Image.fromarray(rgb_j, "RGB").save(out / "jpeg_rgb.jpg", quality=95)
Image.fromarray(smooth[..., 0], "L").save(out / "jpeg_grey.jpg", quality=95)
jexp = {"generator": "Tests/Golden/generate_png_fixtures.py", "pillow": PIL.__version__}
for name in ("jpeg_rgb.jpg", "jpeg_grey.jpg"):
    jexp[name] = np.asarray(Image.open(out / name).convert("RGB")).flatten().tolist()
(out / "jpeg_expected.json").write_text(json.dumps(jexp))
print("wrote jpeg fixtures")
