"""An enroll that returned has survived: SIGKILL the writer at random moments, reopen, find every ack."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

from lookalike.gallery.stores.sqlite import SQLiteStore
from lookalike.models.distances import get_distance

TRIALS = 20


def test_sigkill_during_writes_loses_no_acknowledged_item(tmp_path: Path) -> None:
    path = tmp_path / "g"
    SQLiteStore.create(path, dim=8, distance=get_distance("cosine"), meta={}).close()
    zygote = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("_crash_writer.py")), str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        bufsize=1,
    )
    rng = random.Random(1234)
    acked: dict[int, str] = {}
    deleted: set[int] = set()
    attempted: set[int] = set()  # removals that started; killed before returning, either outcome is fine
    try:
        for trial in range(TRIALS):
            assert zygote.stdin is not None and zygote.stdout is not None
            zygote.stdin.write(f"fork {trial}\n")
            zygote.stdin.flush()
            pid = int(zygote.stdout.readline().split()[1])
            delay = rng.uniform(0.05, 0.5)
            threading.Timer(delay, os.kill, (pid, signal.SIGKILL)).start()
            for line in zygote.stdout:
                kind, *rest = line.split()
                if kind == "dead":
                    break
                if kind == "ack":
                    for i in range(int(rest[0]), int(rest[1]) + 1):
                        acked[i] = rest[2]
                elif kind == "deleting":
                    attempted.add(int(rest[0]))
                elif kind == "del":
                    deleted.add(int(rest[0]))
            time.sleep(0.01)
            store = SQLiteStore.open(path)
            try:
                records = {r.id: r.identity for r in store.items()}
                lost = {i for i in acked if i not in attempted and i not in records}
                assert not lost, f"trial {trial}: acknowledged items lost after SIGKILL: {sorted(lost)[:10]}"
                assert not (deleted & set(records)), f"trial {trial}: acknowledged removals came back"
                assert all(records[i] == acked[i] for i in acked if i in records)
                index_ids = np.sort(store.mirror.index.ids())  # the derived index agrees with SQLite exactly
                assert index_ids.tolist() == sorted(records), f"trial {trial}: index out of step with SQLite"
                table = store.vectors()
                sample = np.random.default_rng(trial).choice(len(table.ids), min(20, len(table.ids)), replace=False)
                hits = store.search(table.vectors[sample], k=1)
                assert [h[0].id for h in hits] == table.ids[sample].tolist()
            finally:
                store.close()
    finally:
        if zygote.stdin:
            zygote.stdin.close()
        zygote.wait(timeout=30)
    assert len(acked) > 100, "the writer barely wrote; the test would prove little"
