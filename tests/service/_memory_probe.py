"""Run in a fresh process by test_request_memory.py: serve a tiny image model in-process, send one request,
print one JSON line per request with its status and how far the process's peak resident memory rose above its
memory just before it: the peak is ``VmHWM``, reset before each request by writing 5 to
``/proc/self/clear_refs`` (where that is refused, it is the peak since start: an upper bound). ``ru_maxrss``
is not used: Linux carries the parent's peak into it across fork + exec, so under pytest it reports pytest's.

    python _memory_probe.py MODEL_DIR GALLERY_DIR N_IMAGESxSIDE...
"""

from __future__ import annotations

import io
import json
import sys


def status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field + ":"))


def reset_peak() -> None:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # resets VmHWM to the current RSS (Linux >= 4.0)
    except OSError:
        pass


def png(side: int, seed: int) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (side, side), (seed * 37 % 256, 90, 160)).save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def main() -> None:
    model_dir, gallery_dir = sys.argv[1], sys.argv[2]
    cases = [tuple(int(x) for x in c.split("x")) for c in sys.argv[3:]]
    import torch
    from fastapi.testclient import TestClient

    from lookalike.gallery import Gallery
    from lookalike.models import load_model
    from lookalike.service import ServiceSettings, create_app

    torch.set_num_threads(1)
    key = "read-key-0001"
    settings = ServiceSettings.model_validate(
        {"read_keys": [key], "max_image_pixels": 4_000_000, "max_request_pixels": 8_000_000,
         "max_upload_bytes": 10 * 1024 * 1024, "max_items_per_request": 64}
    )  # fmt: skip
    gallery = Gallery.create(gallery_dir, load_model(model_dir), threshold=0.9)
    with TestClient(create_app(settings, gallery=gallery)) as client:
        warm = client.post(
            "/v1/identify", files=[("images", ("w.png", png(64, 0), "image/png"))], headers={"X-API-Key": key}
        )
        assert warm.status_code == 200, warm.text
        for n, side in cases:
            files = [("images", (f"{i}.png", png(side, i), "image/png")) for i in range(n)]
            reset_peak()
            before = status_kib("VmRSS")
            r = client.post("/v1/identify", files=files, headers={"X-API-Key": key})
            peak = status_kib("VmHWM")
            upload = sum(len(f[1][1]) for f in files)
            rise = max(0, peak - before) / 1024
            print(
                json.dumps(
                    {"case": f"{n}x{side}", "status": r.status_code, "peak_rise_mib": rise, "upload_bytes": upload}
                )
            )
            del files


if __name__ == "__main__":
    main()
