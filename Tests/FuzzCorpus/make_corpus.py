"""Writes the fuzz seeds (all but image/16x8.jpg, a copy of a DiffusionTests fixture).

Run from this folder: python3 make_corpus.py
"""
import json
import struct
import zlib


def safetensors(tensors, metadata=None):
    header, data = {}, b""
    for name, (dtype, shape, raw) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    if metadata:
        header["__metadata__"] = metadata
    text = json.dumps(header, separators=(",", ":")).encode()
    while (len(text) + 8) % 8:
        text += b" "
    return struct.pack("<Q", len(text)) + text + data


def gguf_string(s):
    b = s.encode()
    return struct.pack("<Q", len(b)) + b


def gguf(kvs, tensors, alignment=32):
    out = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kvs))
    for key, tag, value in kvs:
        out += gguf_string(key) + struct.pack("<I", tag) + value
    offset, data = 0, b""
    for name, ne, ggml_type, raw in tensors:
        out += gguf_string(name) + struct.pack("<I", len(ne)) + b"".join(struct.pack("<Q", n) for n in ne)
        out += struct.pack("<IQ", ggml_type, offset)
        padding = (-len(raw)) % alignment
        data += raw + b"\0" * padding
        offset += len(raw) + padding
    out += b"\0" * ((-len(out)) % alignment)
    return out + data


def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def main():
    with open("safetensors/two-tensors.safetensors", "wb") as f:
        f.write(safetensors({
            "w": ("F16", [2, 3], struct.pack("<6e", 1, -2, 0.5, 3, 0, -0.25)),
            "b": ("F32", [3], struct.pack("<3f", 1.5, 2.5, -1)),
        }, {"format": "pt"}))
    with open("safetensors/scalar-and-int.safetensors", "wb") as f:
        f.write(safetensors({
            "s": ("BF16", [], b"\x80\x3f"),
            "ids": ("I64", [2], struct.pack("<2q", 0, 76)),
            "e": ("U8", [0, 4], b""),
        }))
    q8_0_block = struct.pack("<e", 0.1) + bytes(range(32))
    with open("gguf/two-tensors.gguf", "wb") as f:
        f.write(gguf(
            [("general.alignment", 4, struct.pack("<I", 32)), ("general.name", 8, gguf_string("fuzz")),
             ("list", 9, struct.pack("<IQ", 5, 3) + struct.pack("<3i", 1, -2, 3))],
            [("w", [32, 2], 8, q8_0_block * 2), ("b", [3], 0, struct.pack("<3f", 1, 2, 3))]))
    rows = b"".join(b"\0" + b"".join(bytes([x * 80, y * 120, 200]) for x in range(3)) for y in range(2))
    png = (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", 3, 2, 8, 2, 0, 0, 0))
           + png_chunk(b"tEXt", b"parameters\0fuzz") + png_chunk(b"IDAT", zlib.compress(rows)) + png_chunk(b"IEND", b""))
    with open("image/3x2.png", "wb") as f:
        f.write(png)
    with open("json/generation.json", "w") as f:
        f.write(json.dumps({
            "prompt": "a (red:1.2) circle", "negative_prompt": "blurry", "n": 1, "size": "256x256", "steps": 4,
            "cfg_scale": 7.5, "seed": 42, "sample_method": "euler_a", "scheduler": "karras",
            "response_format": "b64_json", "control_image": {"id": "file-1", "filename": "c.png"},
            "extra": [1, [2, {"x": None}]]}))
    with open("json/minimal.json", "w") as f:
        f.write('{"prompt":"x"}')
    b = "FUZZB"
    form = (f'--{b}\r\nContent-Disposition: form-data; name="prompt"\r\n\r\na blue square\r\n'
            f'--{b}\r\nContent-Disposition: form-data; name="steps"\r\n\r\n3\r\n'
            f'--{b}\r\nContent-Disposition: form-data; name="image"; filename="i.png"\r\n'
            'Content-Type: image/png\r\n\r\n').encode() + png + f"\r\n--{b}--\r\n".encode()
    with open("multipart/edit.multipart", "wb") as f:
        f.write(form)
    with open("prompt/attention.txt", "w") as f:
        f.write("a (((house:1.3)) [small] \\(escaped\\) (nested (twice:0.5)) BREAK <lora:name:0.8> end")
    with open("prompt/unicode.txt", "w") as f:
        f.write("日本 (猫:1.1) ça, ünïcödé BREAKBREAK BREAK [[x]] (y:1.2.3")


if __name__ == "__main__":
    main()
