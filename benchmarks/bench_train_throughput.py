"""Training images/s for EfficientNet-Lite0 at 224 px, three ways in one run, with the ratios:

(a) the limit: the backbone's own forward+backward on a batch already on the device (bf16 autocast and
    channels_last on CUDA; fp32 on CPU);
(b) ours, end to end: ``lookalike.training.train`` (Lightning) with its data module, m-per-class sampler,
    augmentation (random resized crop + colour jitter, as recipe:fl27), multi-similarity loss and miner,
    AdamW, the whole backbone trained (bf16-mixed + channels_last on CUDA, fp32 on CPU);
(c) the plain PML recipe: torchvision ImageFolder (PIL) DataLoader, RandomResizedCrop + flip, PML
    MPerClassSampler (m=4, batch 32), TripletMarginLoss(0.1) + semi-hard TripletMarginMiner, Adam, fp32.

The data is a compact copy of FlickrLogos-27 (JPEG crops, longer side <= 256 px; about 15 MB), so the benchmark
runs on a machine that has only the repository:

    python benchmarks/bench_train_throughput.py --make-pack .data/fl27_pack     # once, from ../shared/data
    python benchmarks/bench_train_throughput.py --pack .data/fl27_pack           # GPU: batch 256, 8 workers
    python benchmarks/bench_train_throughput.py --pack .data/fl27_pack --batch 16 --steps 4 --warmup 1 \
        --workers 0 --threads 2                                                          # CPU, tiny steps

Throughput is timed over ``--steps`` optimizer steps after ``--warmup`` steps (CUDA synchronised at both ends).
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from pathlib import Path
from typing import Any

MODEL = "tf_efficientnet_lite0"
SIZE = 224
PACK_LIMIT = 64 * 2**20
REPO = Path(__file__).resolve().parents[1]
SHARED_CROPS = REPO.parent / "shared" / "data" / "flickr_logos_27" / "crops"


def make_pack(src: Path, dst: Path, *, max_side: int = 256, quality: int = 90) -> None:
    """Re-encode every crop (class-per-folder) at most ``max_side`` px as JPEG, plus a protocol YAML."""
    from PIL import Image

    if not src.is_dir():
        raise SystemExit(f"error: {src} is not a folder of class folders; pass --source (FlickrLogos-27 crops)")
    total = 0
    for cls in sorted(p for p in src.iterdir() if p.is_dir()):
        (dst / "crops" / cls.name).mkdir(parents=True, exist_ok=True)
        for f in sorted(cls.iterdir()):
            if f.suffix.lower() not in (".jpg", ".jpeg", ".png"):
                continue
            im = Image.open(f).convert("RGB")
            im.thumbnail((max_side, max_side))
            out = dst / "crops" / cls.name / f"{f.stem}.jpg"
            im.save(out, quality=quality)
            total += out.stat().st_size
    if total > PACK_LIMIT:
        raise SystemExit(f"error: the pack is {total / 2**20:.0f} MiB (> 64 MiB); lower --max-side")
    (dst / "protocol.yaml").write_text(
        "# compact FlickrLogos-27 copy for the throughput benchmark (every brand trains; not an accuracy protocol)\n"
        "name: fl27_pack\ndata_root: .\nsource: {kind: folder, path: crops}\n"
        "train: {classes: {all: true}}\ntest: {classes: {last: 1}}\n",
        encoding="utf-8",
    )
    n = sum(1 for _ in (dst / "crops").rglob("*.jpg"))
    print(f"wrote {n} crops ({total / 2**20:.1f} MiB) and protocol.yaml to {dst}")


def _sync(device: str) -> None:
    import torch

    if device == "cuda":
        torch.cuda.synchronize()


def limit(batch: int, steps: int, warmup: int, device: str) -> float:
    """(a) images/s of forward+backward on a batch already on the device."""
    import timm
    import torch

    model = timm.create_model(MODEL, pretrained=False, num_classes=0).to(device).train()
    x = torch.randn(batch, 3, SIZE, SIZE, device=device)
    if device == "cuda":
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    t0 = 0.0
    for i in range(warmup + steps):
        if i == warmup:
            _sync(device)
            t0 = time.perf_counter()
        with torch.autocast(device, dtype=torch.bfloat16, enabled=device == "cuda"):
            out = model(x)
        out.float().mean().backward()
        model.zero_grad(set_to_none=True)
    _sync(device)
    return batch * steps / (time.perf_counter() - t0)


def ours(pack: Path, batch: int, m: int, steps: int, warmup: int, workers: int, threads: int, device: str) -> float:
    """(b) images/s of ``lookalike.training.train`` on the pack (timed by a Lightning callback)."""
    import lightning as L

    from lookalike.training import TrainConfig, train

    class Timer(L.Callback):
        def __init__(self) -> None:
            self.seen, self.t0, self.seconds = 0, 0.0, math.nan

        def on_train_batch_end(self, trainer: Any, *args: Any) -> None:
            self.seen += 1
            if self.seen == warmup:
                _sync(device)
                self.t0 = time.perf_counter()
            elif self.seen == warmup + steps:
                _sync(device)
                self.seconds = time.perf_counter() - self.t0
                trainer.should_stop = True

    cuda = device == "cuda"
    with tempfile.TemporaryDirectory() as tmp:
        cfg = TrainConfig.model_validate(
            {
                "name": "throughput",
                "data": {
                    "protocol": str(pack / "protocol.yaml"),
                    "train_classes": "all",
                    "batch_size": batch,
                    "m_per_class": m,
                    "num_workers": workers,
                    "augment": {"random_resized_crop": 0.5, "color_jitter": 0.3},
                },
                "model": {
                    "encoder": f"timm:{MODEL}",
                    "encoder_kwargs": {"pretrained": False, "input_size": SIZE, "resize": "squash"},
                    "head": {"type": "none"},
                    "backbone": "finetune",
                    "freeze_bn": False,
                },
                "loss": {"name": "multi_similarity", "miner": "multi_similarity"},
                "optim": {"optimizer": "adamw", "lr_backbone": 1e-4, "warmup_epochs": 0},
                "trainer": {
                    "max_epochs": 10_000,  # the timer stops the run after warmup + steps batches
                    "precision": "bf16-mixed" if cuda else "32",
                    "channels_last": cuda,
                    "accelerator": "gpu" if cuda else "cpu",
                    "progress_bar": False,
                    "threads": threads,
                },
                "output_dir": str(Path(tmp) / "run"),
            }
        )
        timer = Timer()
        train(cfg, resume=False, extra_callbacks=[timer])
    return batch * steps / timer.seconds


def pml_recipe(pack: Path, batch: int, steps: int, warmup: int, workers: int, device: str) -> float:
    """(c) images/s of the plain PML recipe (PIL DataLoader, triplet + semi-hard miner, Adam, fp32)."""
    import timm
    import torch
    from pytorch_metric_learning import losses, miners, samplers
    from torch.utils.data import DataLoader
    from torchvision import datasets
    from torchvision import transforms as T

    tf = T.Compose(
        [
            T.RandomResizedCrop(SIZE),
            T.RandomHorizontalFlip(),
            T.ToTensor(),
            T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]),
        ]
    )
    data = datasets.ImageFolder(str(pack / "crops"), transform=tf)
    sampler = samplers.MPerClassSampler(data.targets, 4, batch_size=batch, length_before_new_iter=len(data))
    loader = DataLoader(data, batch_size=batch, sampler=sampler, num_workers=workers, drop_last=True)
    trunk = timm.create_model(MODEL, pretrained=False, num_classes=0).to(device).train()
    embedder = torch.nn.Linear(int(getattr(trunk, "num_features")), 128).to(device)  # noqa: B009 (timm attribute)
    opt = torch.optim.Adam([*trunk.parameters(), *embedder.parameters()], lr=1e-5)
    loss_fn = losses.TripletMarginLoss(margin=0.1)
    miner = miners.TripletMarginMiner(margin=0.1, type_of_triplets="semihard")
    done, t0 = 0, 0.0
    while done < warmup + steps:
        for x, y in loader:
            if done == warmup:
                _sync(device)
                t0 = time.perf_counter()
            x, y = x.to(device), y.to(device)
            emb = embedder(trunk(x))
            loss = loss_fn(emb, y, miner(emb, y))
            opt.zero_grad()
            loss.backward()
            opt.step()
            done += 1
            if done == warmup + steps:
                break
    _sync(device)
    return batch * steps / (time.perf_counter() - t0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--make-pack", type=Path, default=None, help="write the compact data copy here and exit")
    parser.add_argument("--source", type=Path, default=SHARED_CROPS, help="FlickrLogos-27 crops for --make-pack")
    parser.add_argument("--max-side", type=int, default=256)
    parser.add_argument("--pack", type=Path, default=REPO / ".data" / "fl27_pack")
    parser.add_argument("--device", default=None, help="cuda or cpu (default: cuda when available)")
    parser.add_argument("--batch", type=int, default=None, help="(a) and (b) batch (default: 256 on CUDA, 16 on CPU)")
    parser.add_argument("--m", type=int, default=None, help="(b) images per class in a batch (default: batch/16)")
    parser.add_argument("--pml-batch", type=int, default=32, help="(c) batch: the recipe's 32")
    parser.add_argument("--steps", type=int, default=None, help="timed steps (default: 30 on CUDA, 4 on CPU)")
    parser.add_argument("--warmup", type=int, default=None, help="untimed steps first (default: 10 on CUDA, 1 on CPU)")
    parser.add_argument("--workers", type=int, default=None, help="DataLoader workers (default: 8 on CUDA, 0 on CPU)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = parser.parse_args()
    if args.make_pack is not None:
        make_pack(args.source, args.make_pack, max_side=args.max_side)
        return
    import platform

    import torch

    if not (args.pack / "protocol.yaml").is_file():
        raise SystemExit(f"error: no pack at {args.pack}; make one with --make-pack {args.pack} (needs ../shared/data)")
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    cuda = device == "cuda"
    batch = args.batch or (256 if cuda else 16)
    m = args.m or max(2, batch // 16)
    steps = args.steps or (30 if cuda else 4)
    warmup = args.warmup if args.warmup is not None else (10 if cuda else 1)
    workers = args.workers if args.workers is not None else (8 if cuda else 0)
    if args.threads:
        torch.set_num_threads(args.threads)
    where = torch.cuda.get_device_name() if cuda else f"CPU ({platform.processor() or platform.machine()})"
    print(f"device: {where}; torch threads {torch.get_num_threads()}; {MODEL} {SIZE} px; timed {steps} steps")
    a = limit(batch, steps, warmup, device)
    print(f"(a) limit, fwd+bwd on device, batch {batch}{' bf16 channels_last' if cuda else ' fp32'}: {a:.1f} img/s")
    b = ours(args.pack, batch, m, steps, warmup, workers, torch.get_num_threads(), device)
    print(f"(b) ours end to end (lookalike train), batch {batch} m {m}, {workers} workers: {b:.1f} img/s")
    c = pml_recipe(args.pack, args.pml_batch, steps, warmup, workers, device)
    print(f"(c) plain PML recipe, batch {args.pml_batch} fp32, {workers} workers: {c:.1f} img/s")
    print(f"(b)/(a) = {b / a:.2f}   (b)/(c) = {b / c:.2f}{'' if cuda else '   [CPU figures]'}")


if __name__ == "__main__":
    main()
