"""CLINC150 held-out intents, side by side in one run: untrained MiniLM, a whitening head, the fine-tuned recipe.

    PYTHONPATH=src python benchmarks/text_heldout.py --config recipe:clinc150_finetune --out runs/text_heldout

Protocol ``protocol:clinc150``: training intents are the first 100 (sorted), the last 50 are
held out, ``oos_test`` is the unknown split. The fine-tuned recipe trains on the 100 training intents minus 20
validation intents carved from them and keeps the epoch with the best *validation* MAP@R; the whitening head
is fitted in closed form on all 100 training intents. Held-out figures per model: MAP@R, Precision@1, and for
1- and 5-shot galleries of the held-out intents the out-of-scope AUROC / FPR@95%TPR of the max-similarity
score and DIR at FPIR 10 % / 1 %. Training wall time and the load average (os.getloadavg) are printed too.
Report each figure once per final recipe: the held-out intents are for reporting, never for choosing.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load {one:.2f}/{five:.2f}/{fifteen:.2f}"


def _row(name: str, result: Any, train_s: float | None) -> dict[str, Any]:
    d = result.to_dict()
    row: dict[str, Any] = {
        "model": name,
        "map_at_r": result.retrieval.map_at_r,
        "precision_at_1": result.retrieval.precision_at_1,
        "train_seconds": train_s,
        "embed_seconds": result.info.get("embed_seconds"),
    }
    for shot, det in (d["unknown_detection"] or {}).items():
        row[f"{shot}_oos_auroc"] = det["auroc"]
        row[f"{shot}_oos_fpr95"] = det["fpr_at_95_tpr"]
    for shot, m in result.open_set.items():
        for f in (0.1, 0.01):
            row[f"{shot}_dir@fpir{f:g}"] = m.dir_at_fpir.get(f)
    return row


def _fmt(v: Any) -> str:
    return "n/a" if v is None else f"{v:.4f}" if isinstance(v, float) else str(v)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--config", default="src/lookalike/recipes/clinc150_finetune.yaml", help="the fine-tuning recipe"
    )
    parser.add_argument("--set", action="append", default=[], help="override for the recipe, key.path=value")
    parser.add_argument("--out", default="runs/text_heldout", help="folder for the runs and results.json")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    import torch

    from lookalike.evaluation.evaluate import evaluate_model
    from lookalike.evaluation.inputs import load_evaluation_data
    from lookalike.models import load_model
    from lookalike.training.config import load_train_config
    from lookalike.training.train import train

    torch.set_num_threads(args.threads)
    out = Path(args.out)
    recipe = load_train_config(args.config, [*args.set, f"output_dir={out / 'finetune'}"])
    ev = load_evaluation_data(recipe.data.protocol)
    print(f"start: {_load()}; {len(ev.dataset)} held-out items (unknown included), shots {ev.shots}", flush=True)
    rows = []

    def run(name: str, model: Any, train_s: float | None) -> None:
        res = evaluate_model(model, ev.dataset, shots=ev.shots, seed=ev.seed, batch_size=64, verification=False)
        rows.append(_row(name, res, train_s))
        print("  ".join(f"{k} {_fmt(v)}" for k, v in rows[-1].items()) + f"  ({_load()})", flush=True)

    max_length = int(recipe.model.encoder_kwargs.kwargs().get("max_length", 128))
    run("untrained", load_model(recipe.model.encoder, max_length=max_length), None)

    whiten = load_train_config(
        args.config,
        [
            *args.set,
            "name=whiten",
            f"output_dir={out / 'whiten'}",
            "model.backbone=frozen",
            "model.trainable_blocks=null",
            "model.head.type=linear",
            "model.head.init=whiten",
            "data.train_classes=all",
            "trainer.max_epochs=0",
        ],
    )
    t0 = time.perf_counter()
    res_w = train(whiten, resume=False)
    run("whitening head", load_model(res_w.model_dir), time.perf_counter() - t0)

    t0, cpu0 = time.perf_counter(), time.process_time()
    res_f = train(recipe, resume=False)
    train_s, cpu_s = time.perf_counter() - t0, time.process_time() - cpu0
    print(
        f"fine-tuned: best validation MAP@R {_fmt(res_f.best_val_map_at_r)} at epoch {res_f.best_epoch} "
        f"of {res_f.epochs_run}; training {train_s:.0f} s wall, {cpu_s:.0f} s CPU time of this process "
        f"({_load()})",
        flush=True,
    )
    run(f"fine-tuned ({recipe.loss.name})", load_model(res_f.model_dir), train_s)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(rows, indent=2), encoding="utf-8")
    print(f"end: {_load()}; wrote {out / 'results.json'}")


if __name__ == "__main__":
    main()
