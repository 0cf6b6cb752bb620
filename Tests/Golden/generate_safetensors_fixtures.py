#!/usr/bin/env python3
"""Writes Tests/TensorTests/Fixtures/safetensors_dtypes.safetensors with the `safetensors` package.

Run on a developer machine (never in CI):
    python3 -m venv /tmp/venv && /tmp/venv/bin/pip install numpy safetensors
    /tmp/venv/bin/python Tests/Golden/generate_safetensors_fixtures.py

The file holds one tensor of every dtype the engine reads (F32, F16, BF16, F64, I64, I32, I16, I8,
U8, BOOL) under `value.<dtype>`, and for each the float32 value the engine must decode it to under
`expected.<dtype>` (computed by numpy from the same bits). `__metadata__` records how it was made.
"""
import pathlib

import numpy as np
import safetensors
from safetensors._safetensors_rust import TensorSpec, serialize_file

rng = np.random.default_rng(20261125)
out = pathlib.Path(__file__).resolve().parents[1] / "TensorTests" / "Fixtures" / "safetensors_dtypes.safetensors"

entries = {}
keep_alive = []  # TensorSpec holds raw pointers: the buffers must outlive serialize_file
SPEC_NAMES = {"F32": "float32", "F16": "float16", "BF16": "bfloat16", "F64": "float64", "I64": "int64",
              "I32": "int32", "I16": "int16", "I8": "int8", "U8": "uint8", "BOOL": "bool"}


def spec(dtype, shape, raw: bytes):
    buf = np.frombuffer(raw, dtype=np.uint8).copy() if raw else np.zeros(1, dtype=np.uint8)
    keep_alive.append(buf)
    return TensorSpec(dtype=SPEC_NAMES[dtype], shape=list(shape), data_ptr=buf.ctypes.data, data_len=len(raw))


def add(dtype, shape, raw: bytes, expected: np.ndarray):
    entries[f"value.{dtype}"] = spec(dtype, shape, raw)
    e = expected.astype(np.float32).reshape(shape)
    entries[f"expected.{dtype}"] = spec("F32", shape, e.tobytes())


f32 = (rng.standard_normal((3, 5)) * 10).astype(np.float32)
f32.flat[0], f32.flat[1] = np.float32(np.inf), np.float32(-0.0)
add("F32", (3, 5), f32.tobytes(), f32)

# Half values cover normals, subnormals, infinity and the largest finite value.
f16 = (rng.standard_normal((2, 3, 4)) * 100).astype(np.float16)
f16.flat[:4] = np.array([6e-8, -6.1e-5, np.inf, 65504], dtype=np.float16)
add("F16", (2, 3, 4), f16.tobytes(), f16.astype(np.float32))

# bfloat16 is the top half of a float32: take random float32 bits and keep the upper 16.
bits = (rng.standard_normal(17).astype(np.float32).view(np.uint32) >> 16).astype(np.uint16)
add("BF16", (17,), bits.tobytes(), (bits.astype(np.uint32) << 16).view(np.float32))

f64 = rng.standard_normal((2, 2)) * 1e3
add("F64", (2, 2), f64.tobytes(), f64.astype(np.float32))

i64 = np.arange(77, dtype=np.int64).reshape(1, 77)  # like CLIP's position_ids
add("I64", (1, 77), i64.tobytes(), i64)
i32 = rng.integers(-(2**20), 2**20, 6, dtype=np.int32)
add("I32", (6,), i32.tobytes(), i32)
i16 = rng.integers(-(2**15), 2**15, 5, dtype=np.int16)
add("I16", (5,), i16.tobytes(), i16)
i8 = rng.integers(-128, 128, 7, dtype=np.int8)
add("I8", (7,), i8.tobytes(), i8)
u8 = rng.integers(0, 256, 9, dtype=np.uint8)
add("U8", (9,), u8.tobytes(), u8)
b = np.array([True, False, True], dtype=np.bool_)
add("BOOL", (3,), b.tobytes(), b)
entries["value.scalar"] = spec("F32", [], np.float32(2.5).tobytes())
entries["value.empty"] = spec("F16", [0, 4], b"")

metadata = {
    "generator": "Tests/Golden/generate_safetensors_fixtures.py",
    "safetensors": safetensors.__version__,
    "numpy": np.__version__,
    "seed": "20261125",
}
serialize_file(entries, str(out), metadata=metadata)
print(out, out.stat().st_size, "bytes")
