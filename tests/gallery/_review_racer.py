"""One reviewer process for the review race test: opens the gallery and its pool, waits for GO on stdin, then
tries ``discover accept``/``reject`` of one proposal and prints ``ok ITEMS`` or ``refused STATUS MESSAGE``."""

from __future__ import annotations

import sys

from lookalike.errors import LookalikeError
from lookalike.gallery import Gallery
from lookalike.gallery import discover as dsc


def main(folder: str, proposal: str, action: str, name: str) -> None:
    with Gallery.open(folder) as g, g.unknown_pool() as pool:
        g.identities()  # everything opened and read before the start
        print("ready", flush=True)
        sys.stdin.readline()
        try:
            if action == "reject":
                done = dsc.reject(pool, proposal, actor=name)
            else:
                done = dsc.accept(g, pool, proposal, "carol", actor=name)
            print(f"ok {len(done.item_ids)}", flush=True)
        except LookalikeError as err:
            print(f"refused {err.http_status} {err}", flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:5])
