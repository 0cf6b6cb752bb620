#!/usr/bin/env python3
"""Writes the PyTorch pickle fixtures (Tests/TensorTests/Fixtures/pickle_*, and
Tests/DiffusionTests/Fixtures/unet_sd1.ckpt) with torch.save, and their expected values.

Run on a developer machine (never in CI), in a venv with torch, numpy and safetensors:
    python Tests/Golden/generate_pickle_fixtures.py

Every tensor a fixture holds is also written, contiguous and in its own dtype, to
pickle_expected.safetensors under `<fixture file>/<flattened name>`; the Swift reader must give
the same dtype, shape and bytes. The hostile files are made from torch.save output by pickling
an object whose __reduce__ names os.system / eval (nothing here or in the tests calls them) and
by editing a valid archive's bytes. Seed 20261207.
"""
import collections
import io
import os
import pathlib
import struct
import sys
import types
import zipfile

import numpy as np
import safetensors
import torch
from safetensors.torch import load_file, save_file

root = pathlib.Path(__file__).resolve().parents[1]
tensor_fixtures = root / "TensorTests" / "Fixtures"
diffusion_fixtures = root / "DiffusionTests" / "Fixtures"
torch.manual_seed(20261207)
expected = {}


def save(name, obj, **kwargs):
    path = tensor_fixtures / name
    torch.save(obj, path, **kwargs)
    return path


def expect(fixture, tensors):
    """Records what the reader must give for each flattened tensor name."""
    for key, t in tensors.items():
        expected[f"{fixture}/{key}"] = t.detach().contiguous().clone()


# 1. Every storage dtype, views of shared storages, nesting, a Parameter, non-tensor values.
base = torch.arange(24, dtype=torch.float32).reshape(4, 6) * 0.5 - 3
halves = (torch.randn(3, 5) * 100).half()
values = {
    "f32": torch.randn(2, 3),
    "f16": halves,
    "bf16": torch.randn(7).bfloat16(),
    "f64": torch.randn(2, 2, dtype=torch.float64) * 1e3,
    "i64": torch.arange(77).reshape(1, 77),
    "i32": torch.randint(-(2**20), 2**20, (6,), dtype=torch.int32),
    "i16": torch.randint(-(2**15), 2**15, (5,), dtype=torch.int16),
    "i8": torch.randint(-128, 128, (4,), dtype=torch.int8),
    "u8": torch.randint(0, 256, (3,), dtype=torch.uint8),
    "bool": torch.tensor([True, False, True]),
    "scalar": torch.tensor(2.5),
    "empty": torch.zeros(0, 4),
    # One storage, four views: the whole, a row slice (storage offset 6), a transposed view and
    # a column-strided one (both copied by the reader), and a stride-0 broadcast.
    "view": collections.OrderedDict(
        base=base, rows=base[1:3], transposed=base.t(), columns=base[:, ::2], broadcast=base[0, :3].expand(2, 3)
    ),
    "nested": {"inner": collections.OrderedDict(w=torch.randn(3)), "list": [torch.randn(2), torch.ones(1, dtype=torch.float16)]},
    "param": torch.nn.Parameter(torch.randn(2, 2)),
    "count": 3,
    "ratio": 1.5,
    "title": "text",
    "flag": True,
}
save("pickle_dtypes.pt", values)
flat = {}
for k, v in values.items():
    if isinstance(v, torch.Tensor):
        flat[k] = v
for k, v in values["view"].items():
    flat[f"view.{k}"] = v
flat["nested.inner.w"] = values["nested"]["inner"]["w"]
flat["nested.list.0"], flat["nested.list.1"] = values["nested"]["list"]
expect("pickle_dtypes.pt", flat)

# 2. The same kind of dict at pickle protocol 4 (FRAME, SHORT_BINUNICODE, MEMOIZE, STACK_GLOBAL).
p4 = {"a": torch.randn(3, 2), "b": {"c": torch.randn(4).half()}, "n": 7}
save("pickle_protocol4.pt", p4, pickle_protocol=4)
expect("pickle_protocol4.pt", {"a": p4["a"], "b.c": p4["b"]["c"]})

# 3. Textual inversion as AUTOMATIC1111 saves it.
a1111 = {"string_to_token": {"*": 265}, "string_to_param": {"*": torch.randn(2, 32)}, "name": "x", "step": 10}
save("pickle_ti_a1111.pt", a1111)
expect("pickle_ti_a1111.pt", {"string_to_param.*": a1111["string_to_param"]["*"]})

# 4. Textual inversion as the original repository saves it: string_to_param is a ParameterDict.
old = {
    "string_to_token": {"*": torch.tensor(265)},
    "string_to_param": torch.nn.ParameterDict({"*": torch.nn.Parameter(torch.randn(1, 32))}),
}
save("pickle_ti_parameterdict.pt", old)
expect("pickle_ti_parameterdict.pt", {"string_to_token.*": old["string_to_token"]["*"], "string_to_param.*": old["string_to_param"]["*"]})

# 5. A diffusers textual-inversion learned_embeds.bin.
diffusers_ti = {"<tok>": torch.randn(32)}
save("pickle_learned_embeds.bin", diffusers_ti)
expect("pickle_learned_embeds.bin", diffusers_ti)

# 6. A PyTorch Lightning checkpoint, with the training state Lightning writes beside the
# weights: the checkpoint callback class as a dict key (a stand-in module with Lightning's name,
# so that pickle writes the same GLOBAL) and a numpy scalar in its state.
lightning = types.ModuleType("pytorch_lightning.callbacks.model_checkpoint")


class ModelCheckpoint:
    pass


ModelCheckpoint.__module__ = lightning.__name__
lightning.ModelCheckpoint = ModelCheckpoint
for parent in ("pytorch_lightning", "pytorch_lightning.callbacks"):
    sys.modules[parent] = types.ModuleType(parent)
sys.modules[lightning.__name__] = lightning
state = {"model.diffusion_model.out.2.weight": torch.randn(4, 8, 3, 3).half(), "first_stage_model.quant_conv.bias": torch.randn(8)}
ckpt = {
    "epoch": 1,
    "global_step": 5,
    "pytorch-lightning_version": "1.4.2",
    "state_dict": state,
    "callbacks": {ModelCheckpoint: {"monitor": None, "best_model_score": np.float64(0.25), "best_model_path": ""}},
}
save("pickle_lightning.ckpt", ckpt)
expect("pickle_lightning.ckpt", {f"state_dict.{k}": v for k, v in state.items()})

# 7. The legacy format (torch < 1.6), refused.
save("pickle_legacy.pt", {"w": torch.ones(2)}, _use_new_zipfile_serialization=False)


# 8. Hostile files. Each __reduce__ names a function; pickling only writes its name.
class System:
    def __reduce__(self):
        return (os.system, ("echo hostile pickle fixture",))


class Eval:
    def __reduce__(self):
        return (eval, ("1 + 1",))


save("pickle_hostile_system.pt", {"w": torch.ones(2), "x": System()})
save("pickle_hostile_eval.pt", {"x": Eval(), "w": torch.ones(2)})

valid = (tensor_fixtures / "pickle_ti_a1111.pt").read_bytes()
(tensor_fixtures / "pickle_truncated.pt").write_bytes(valid[: len(valid) // 2])

# A central directory entry (the first storage's) whose local header offset lies past the end.
archive = zipfile.ZipFile(io.BytesIO(valid))
names = [i.filename for i in archive.infolist()]
target = next(n for n in names if n.endswith("/data/0"))
patched = bytearray(valid)
offset = 0
while True:
    offset = patched.index(b"PK\x01\x02", offset)
    name_length = struct.unpack_from("<H", patched, offset + 28)[0]
    if patched[offset + 46 : offset + 46 + name_length].decode() == target:
        struct.pack_into("<I", patched, offset + 42, len(valid) + 4096)
        break
    offset += 4
(tensor_fixtures / "pickle_entry_outside.pt").write_bytes(bytes(patched))

# The same archive with every entry deflated (torch.save never does this).
compressed = io.BytesIO()
with zipfile.ZipFile(compressed, "w", zipfile.ZIP_DEFLATED) as out:
    for info in archive.infolist():
        out.writestr(info.filename, archive.read(info.filename))
(tensor_fixtures / "pickle_compressed.pt").write_bytes(compressed.getvalue())

# Expected values.
save_file(
    expected,
    tensor_fixtures / "pickle_expected.safetensors",
    metadata={
        "generator": "Tests/Golden/generate_pickle_fixtures.py",
        "torch": torch.__version__,
        "numpy": np.__version__,
        "safetensors": safetensors.__version__,
        "seed": "20261207",
    },
)

# 9. The SD1-like golden UNet's weights as a Lightning .ckpt, for loading end to end.
golden = load_file(diffusion_fixtures / "unet_sd1.safetensors")
weights = {k[len("weights.") :]: v for k, v in golden.items() if k.startswith("weights.")}
torch.save({"state_dict": weights, "global_step": 0}, diffusion_fixtures / "unet_sd1.ckpt")

for path in sorted(list(tensor_fixtures.glob("pickle_*")) + [diffusion_fixtures / "unet_sd1.ckpt"]):
    print(f"{path.relative_to(root)}: {path.stat().st_size} bytes")
