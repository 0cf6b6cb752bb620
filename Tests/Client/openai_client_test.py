#!/usr/bin/env python3
"""The official `openai` Python client against `sd serve` over a real socket on 127.0.0.1.

Run by scripts/test (and so by CI) after the Swift tests: it starts the release `sd serve` binary
with the built-in model and an API key, then calls `client.images.generate` and
`client.images.edit` with both response formats and checks what comes back (counts, seeds,
picture sizes, downloads, WebP output), scrapes `/metrics` without the key, and runs
`sd generate -o x.webp`. Needs `pip install openai`. Prints 'N passed, N failed' last.
"""
import base64
import io
import json
import os
import socket
import struct
import subprocess
import sys
import time
import traceback
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BINARY = os.path.join(ROOT, ".build", "release", "sd")
KEY = "test-key-123"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def png_size(data: bytes):
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    return struct.unpack(">II", data[16:24])


def webp_size(data: bytes):
    """Width and height of a WebP: lossy (VP8), lossless (VP8L) or extended (VP8X) container."""
    assert data[:4] == b"RIFF" and data[8:12] == b"WEBP", "not a WebP"
    kind = data[12:16]
    if kind == b"VP8X":
        return (int.from_bytes(data[24:27], "little") + 1, int.from_bytes(data[27:30], "little") + 1)
    if kind == b"VP8L":
        bits = int.from_bytes(data[21:25], "little")
        return ((bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1)
    assert kind == b"VP8 ", kind
    return struct.unpack("<HH", data[26:30])


def solid_png(width, height, rgb):
    """A minimal RGB PNG written with zlib (no PIL needed)."""
    import zlib

    raw = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def main():
    from openai import OpenAI

    import tempfile

    port = free_port()
    env = dict(os.environ, API_KEY=KEY)
    outputs = tempfile.mkdtemp(prefix="sd-client-test-")
    server = subprocess.Popen(
        [BINARY, "serve", "--socket-addr", f"127.0.0.1:{port}", "--model-name", "tiny-shapes", "--output-dir", outputs],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            if server.poll() is not None:
                raise RuntimeError("server exited: " + server.stderr.read().decode(errors="replace")[-2000:])
            try:
                with urllib.request.urlopen(base + "/health", timeout=1) as r:
                    if r.status == 200:
                        break
            except Exception:
                time.sleep(0.1)
        else:
            raise RuntimeError("server did not start: " + server.stderr.read().decode(errors="replace")[-2000:])

        client = OpenAI(base_url=base + "/v1", api_key=KEY)
        small = {"steps": 2, "cfg_scale": 6.0}
        results = []

        def check(name, fn):
            try:
                fn()
                results.append((name, None))
                print(f"ok   {name}")
            except Exception as e:  # report every failure, keep going
                results.append((name, e))
                print(f"FAIL {name}: {e}")
                traceback.print_exc()

        def generate_b64():
            r = client.images.generate(model="tiny-shapes", prompt="a red circle on a blue background", n=2,
                                       size="64x64", response_format="b64_json", extra_body=dict(small, seed=7))
            assert len(r.data) == 2, f"{len(r.data)} images"
            for i, item in enumerate(r.data):
                assert png_size(base64.b64decode(item.b64_json)) == (64, 64)
                assert item.model_extra.get("seed") == 7 + i, item.model_extra
                assert item.model_extra.get("prompt") == "a red circle on a blue background"

        def generate_url():
            r = client.images.generate(model="tiny-shapes", prompt="a green star", size="64x48",
                                       response_format="url", extra_body=small)
            assert len(r.data) == 1 and r.data[0].url, r
            req = urllib.request.Request(r.data[0].url, headers={"Authorization": f"Bearer {KEY}"})
            with urllib.request.urlopen(req, timeout=30) as resp:
                assert png_size(resp.read()) == (64, 48)

        def edit_b64():
            image = io.BytesIO(solid_png(64, 64, (30, 60, 220)))
            image.name = "input.png"
            r = client.images.edit(model="tiny-shapes", image=image, prompt="a yellow square", n=1, size="64x64",
                                   response_format="b64_json", extra_body=dict(small, strength=0.6))
            assert len(r.data) == 1 and png_size(base64.b64decode(r.data[0].b64_json)) == (64, 64)

        def edit_url_with_mask():
            image = io.BytesIO(solid_png(64, 64, (30, 60, 220)))
            image.name = "input.png"
            mask = io.BytesIO(solid_png(64, 64, (255, 255, 255)))
            mask.name = "mask.png"
            r = client.images.edit(model="tiny-shapes", image=image, mask=mask, prompt="a white circle",
                                   size="64x64", response_format="url", extra_body=small)
            req = urllib.request.Request(r.data[0].url, headers={"Authorization": f"Bearer {KEY}"})
            with urllib.request.urlopen(req, timeout=30) as resp:
                assert png_size(resp.read()) == (64, 64)

        def generate_webp():
            r = client.images.generate(model="tiny-shapes", prompt="a red circle", size="64x48", output_format="webp",
                                       output_compression=80, response_format="b64_json", extra_body=small)
            assert r.output_format == "webp", r
            assert webp_size(base64.b64decode(r.data[0].b64_json)) == (64, 48)

        def metrics_need_no_key():
            with urllib.request.urlopen(base + "/metrics", timeout=30) as resp:
                assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4"), resp.headers
                text = resp.read().decode()
            succeeded = [line for line in text.splitlines() if line.startswith('sd_jobs_finished_total{state="succeeded"}')]
            assert succeeded and float(succeeded[0].split()[-1]) >= 1, succeeded

        def cli_writes_webp():
            path = os.path.join(outputs, "cli.webp")
            subprocess.run([BINARY, "generate", "-p", "a red circle", "--steps", "2", "--width", "64", "--height", "64",
                            "-o", path], check=True, stdout=subprocess.DEVNULL, timeout=120)
            with open(path, "rb") as f:
                data = f.read()
            assert webp_size(data) == (64, 64) and data[20] & 0x08, data[:40]  # VP8X flag: an EXIF chunk

        def wrong_key_is_rejected():
            from openai import AuthenticationError

            bad = OpenAI(base_url=base + "/v1", api_key="wrong")
            try:
                bad.images.generate(model="tiny-shapes", prompt="x", size="64x64", extra_body=small)
            except AuthenticationError as e:
                assert e.status_code == 401
                return
            raise AssertionError("a wrong key was accepted")

        def bad_field_is_an_openai_error():
            from openai import BadRequestError

            try:
                client.images.generate(model="tiny-shapes", prompt="x", size="65x64", extra_body=small)
            except BadRequestError as e:
                body = e.body if isinstance(e.body, dict) else json.loads(e.body)
                assert "message" in body and body.get("param") in ("size", "width"), body
                return
            raise AssertionError("size 65x64 was accepted")

        for name, fn in [("images.generate b64_json n=2", generate_b64), ("images.generate url + download", generate_url),
                         ("images.edit b64_json", edit_b64), ("images.edit url with mask", edit_url_with_mask),
                         ("wrong key -> 401", wrong_key_is_rejected), ("bad size -> 400 OpenAI error", bad_field_is_an_openai_error),
                         ("images.generate webp", generate_webp), ("/metrics without the key", metrics_need_no_key),
                         ("sd generate -o x.webp", cli_writes_webp)]:
            check(name, fn)
        failed = sum(1 for _, e in results if e is not None)
        print(f"{len(results) - failed} passed, {failed} failed")
        return 1 if failed else 0
    finally:
        import shutil

        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        shutil.rmtree(outputs, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
