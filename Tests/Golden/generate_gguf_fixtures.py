"""Writes the GGUF fixtures used by Tests/TensorTests/{GGUFTests,QuantizationTests}.swift.

Run on a developer machine, never in CI (CI reads the committed files):

    python Tests/Golden/generate_gguf_fixtures.py

Needs numpy and the `gguf` PyPI package (0.19.0 when the committed files were made).

Files written to Tests/TensorTests/Fixtures/:
  gguf_types.gguf           metadata of every GGUF value type (and nested arrays); tensors of
                            F32, F16, BF16 and of every block type Q4_0..Q6_K and Q8_K; the
                            Q8_0 quantizer case (input floats + gguf.quants.quantize bytes).
  gguf_types_expected.gguf  F32 tensors with the same names: the values gguf.quants.dequantize
                            gives for each tensor of gguf_types.gguf (Q8_K: numpy d * qs, since
                            gguf-py has no Q8_K class; it is ggml's dequantize_row_q8_K formula).
  gguf_v2.gguf              a small file with general.alignment = 64, version field patched to 2
                            (gguf-py only writes v3; v2 and v3 share one little-endian layout).
"""

import os
import struct
import sys
from importlib.metadata import version

import numpy as np
import gguf
from gguf import GGMLQuantizationType as QT, GGUFValueType as VT

SEED = 20240611
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "TensorTests", "Fixtures")
SCRIPT = "Tests/Golden/generate_gguf_fixtures.py"

rng = np.random.default_rng(SEED)


def provenance(w: gguf.GGUFWriter, what: str) -> None:
    w.add_string("fixture.generator", SCRIPT)
    w.add_string("fixture.description", what)
    w.add_string("fixture.gguf_version", version("gguf"))
    w.add_string("fixture.numpy_version", np.__version__)
    w.add_uint64("fixture.seed", SEED)


def finite_f16(n: int) -> np.ndarray:
    """Random fp16 scales, finite and of either sign (magnitudes 2^-10 .. 2^3)."""
    mag = 2.0 ** rng.uniform(-10, 3, size=n)
    sign = rng.choice([-1.0, 1.0], size=n)
    return (mag * sign).astype(np.float16)


def random_blocks(qtype: QT, n_blocks: int) -> np.ndarray:
    """Random block bytes (every bit pattern possible) with finite scales patched in."""
    block_size, type_size = gguf.GGML_QUANT_SIZES[qtype]
    raw = rng.integers(0, 256, size=(n_blocks, type_size), dtype=np.uint8)
    # Byte offsets of the fp16 scale fields (d, and m/dmin where present) inside one block.
    f16_fields = {
        QT.Q4_0: [0], QT.Q4_1: [0, 2], QT.Q5_0: [0], QT.Q5_1: [0, 2], QT.Q8_0: [0],
        QT.Q2_K: [80, 82], QT.Q3_K: [108], QT.Q4_K: [0, 2], QT.Q5_K: [0, 2], QT.Q6_K: [208],
    }
    if qtype == QT.Q8_K:
        d = (2.0 ** rng.uniform(-12, 2, size=n_blocks)).astype(np.float32)
        raw[:, 0:4] = d.view(np.uint8).reshape(n_blocks, 4)
    else:
        for off in f16_fields[qtype]:
            raw[:, off:off + 2] = finite_f16(n_blocks).view(np.uint8).reshape(n_blocks, 2)
    return raw


def dequantize(raw: np.ndarray, qtype: QT) -> np.ndarray:
    if qtype == QT.Q8_K:
        # gguf-py has no Q8_K class; ggml dequantize_row_q8_K: y[j] = d * qs[j] in float32.
        d = raw[:, 0:4].copy().view(np.float32)
        qs = raw[:, 4:260].copy().view(np.int8).astype(np.float32)
        return (d * qs).astype(np.float32)
    return gguf.quants.dequantize(raw, qtype)


def types_file() -> None:
    w = gguf.GGUFWriter(os.path.join(OUT, "gguf_types.gguf"), arch="fixture")
    e = gguf.GGUFWriter(os.path.join(OUT, "gguf_types_expected.gguf"), arch="fixture")
    provenance(w, "every GGUF value type and tensor type")
    provenance(e, "expected dequantized values of gguf_types.gguf (gguf.quants.dequantize)")

    # One key per value type (general.architecture = "fixture" is added by the writer).
    w.add_uint8("v.u8", 200)
    w.add_int8("v.i8", -100)
    w.add_uint16("v.u16", 60000)
    w.add_int16("v.i16", -30000)
    w.add_uint32("v.u32", 4000000000)
    w.add_int32("v.i32", -2000000000)
    w.add_float32("v.f32", 1.5)
    w.add_bool("v.bool", True)
    w.add_string("v.string", "héllo, gguf")
    w.add_uint64("v.u64", 18000000000000000000)
    w.add_int64("v.i64", -9000000000000000000)
    w.add_float64("v.f64", -2.25)
    w.add_key_value("v.array_u8", [1, 2, 255], VT.ARRAY, sub_type=VT.UINT8)
    w.add_array("v.array_i32", [-1, 0, 7])
    w.add_array("v.array_string", ["a", "", "ccc"])
    w.add_key_value("v.array_f64", [0.5, -1.0], VT.ARRAY, sub_type=VT.FLOAT64)
    w.add_key_value("v.array_bool", [True, False], VT.ARRAY, sub_type=VT.BOOL)
    w.add_key_value("v.array_nested", [[1, 2], [3], ["x", "y"]], VT.ARRAY, sub_type=VT.ARRAY)

    # Plain types; shapes are numpy (PyTorch) order, written reversed by gguf-py.
    f32 = np.arange(6, dtype=np.float32).reshape(2, 3)
    w.add_tensor("f32", f32)
    e.add_tensor("f32", f32)
    f16 = rng.standard_normal((2, 3, 4)).astype(np.float16)
    w.add_tensor("f16", f16)
    e.add_tensor("f16", f16.astype(np.float32))
    bf16 = gguf.quants.quantize(rng.standard_normal(5).astype(np.float32), QT.BF16)
    w.add_tensor("bf16", bf16, raw_dtype=QT.BF16)
    e.add_tensor("bf16", gguf.quants.dequantize(bf16, QT.BF16))

    # Every block type: random bits with sane scales, two rows.
    for qtype in [QT.Q4_0, QT.Q4_1, QT.Q5_0, QT.Q5_1, QT.Q8_0,
                  QT.Q2_K, QT.Q3_K, QT.Q4_K, QT.Q5_K, QT.Q6_K, QT.Q8_K]:
        block_size, type_size = gguf.GGML_QUANT_SIZES[qtype]
        blocks_per_row = 2 if block_size == 32 else 1
        raw = random_blocks(qtype, 2 * blocks_per_row)
        raw = raw.reshape(2, blocks_per_row * type_size)
        name = qtype.name.lower()
        w.add_tensor(name, raw, raw_dtype=qtype)
        expected = dequantize(raw.reshape(-1, type_size), qtype).reshape(2, blocks_per_row * block_size)
        e.add_tensor(name, expected.astype(np.float32))

    # Q8_0 quantizer case. Block 0: exact .5 ties (d = 1, so x * id = x) pin round-half-away-from-zero;
    # block 1: zeros (d = 0); blocks 2..7: random data of different scales.
    ties = (np.arange(32, dtype=np.float32) - 16) + 0.5
    ties[0] = -127.0
    data = np.concatenate([
        ties, np.zeros(32, dtype=np.float32),
        (rng.standard_normal(6 * 32) * np.repeat(10.0 ** rng.uniform(-4, 3, size=6), 32)).astype(np.float32),
    ]).reshape(2, 128)
    w.add_tensor("q8_0_quantize.input", data)
    q = gguf.quants.quantize(data, QT.Q8_0)
    w.add_tensor("q8_0_quantize.expected", q, raw_dtype=QT.Q8_0)
    e.add_tensor("q8_0_quantize.expected", gguf.quants.dequantize(q, QT.Q8_0))

    for writer in (w, e):
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()


def v2_file() -> None:
    path = os.path.join(OUT, "gguf_v2.gguf")
    w = gguf.GGUFWriter(path, arch="fixture")
    provenance(w, "version field patched from 3 to 2; general.alignment 64")
    w.add_custom_alignment(64)
    w.add_tensor("a", np.array([[1, 2, 3, 4], [5, 6, 7, 8]], dtype=np.float32))
    w.add_tensor("b", np.array([-1, 0.5, 2], dtype=np.float16))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    with open(path, "r+b") as f:
        f.seek(4)
        assert struct.unpack("<I", f.read(4))[0] == 3
        f.seek(4)
        f.write(struct.pack("<I", 2))


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    types_file()
    v2_file()
    for name in ("gguf_types.gguf", "gguf_types_expected.gguf", "gguf_v2.gguf"):
        print(name, os.path.getsize(os.path.join(OUT, name)), "bytes", file=sys.stderr)
