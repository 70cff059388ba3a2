"""Peak memory of the worst request the limits allow (measured in a fresh process: VmHWM above VmRSS).

Test limits: 4 Mpx per image, 8 Mpx per request, 64 images, 10 MiB body. The worst allowed request is two
2000x2000 images (8 Mpx, 24 MB of RGB if decoded together); 64 such images (256 Mpx: 768 MB of RGB, in a
~1 MB upload) used to be decoded all at once. docs/service.md states the bound.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

PROBE = Path(__file__).with_name("_memory_probe.py")
#: the stated bound for any request allowed under the limits above (docs/service.md)
PEAK_RISE_MIB = 64


def test_request_memory_is_bounded(image_model_dir: Path, tmp_path: Path) -> None:
    """Regression: each image was checked alone and all were decoded before anything else, so 64 images at the
    per-image limit (a 1 MB upload) took ~770 MB. Now: refused (413) from the headers, before decoding; and the
    worst allowed request stays under the stated peak."""
    cases = ["64x2000", "16x700", "2x2000"]  # over the request's pixels; many allowed; the worst allowed
    out = subprocess.run(
        [sys.executable, str(PROBE), str(image_model_dir), str(tmp_path / "g"), *cases],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    got = {r["case"]: r for r in map(json.loads, out.stdout.strip().splitlines())}
    for r in got.values():
        print(f"{r['case']} ({r['upload_bytes']} bytes): status {r['status']}, peak rise {r['peak_rise_mib']:.1f} MiB")
    assert got["64x2000"]["status"] == 413
    assert got["16x700"]["status"] == 200 and got["2x2000"]["status"] == 200
    assert all(r["peak_rise_mib"] < PEAK_RISE_MIB for r in got.values()), got
