"""Loader throughput on the FlickrLogos-27 crops: decode every epoch vs the decoded uint8 cache (same run).

Both paths deliver the same thing to the model: normalised float batches (B, 3, S, S) with timm's eval
geometry (resize to S / crop_pct, centre crop). Without the cache each epoch opens, decodes and resizes every
JPEG; with it, the first build decodes once into a memory-mapped uint8 array and every epoch only reads rows.

    python benchmarks/bench_loader.py [--data ../shared/data/flickr_logos_27/crops] [--size 224] [--epochs 3]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset

from lookalike.data.cache import DecodedCache
from lookalike.data.sources import from_folder
from lookalike.data.transforms import BatchNormalize, Preprocess, eval_transform, resize_uint8
from lookalike.data.types import LabeledDataset

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = Path(os.environ.get("LOOKALIKE_SHARED_DATA", REPO.parent / "shared" / "data")) / "flickr_logos_27/crops"


class DecodingDataset(Dataset):
    """The no-cache baseline: decode + resize every item, every epoch.

    ``float_output=False`` yields uint8 tensors with exactly the cache's geometry (the like-for-like
    comparison: normalisation then runs on the batch, on the GPU in training); ``True`` runs timm's full eval
    transform per item (decode, resize, crop, to float, normalise), the usual torchvision-style pipeline.
    """

    def __init__(self, ds: LabeledDataset, pre: Preprocess, *, float_output: bool) -> None:
        self.ds, self.pre, self.float_output = ds, pre, float_output
        self.tf = eval_transform(pre) if float_output else None

    def __len__(self) -> int:
        return len(self.ds)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        image = self.ds.load(i)
        x = self.tf(image) if self.tf is not None else torch.from_numpy(resize_uint8(image, self.pre))
        return x, int(self.ds.labels[i])


def epoch_rate(loader: DataLoader, normalize: torch.nn.Module | None) -> float:
    """Images per second for one pass over ``loader`` (batches normalised when ``normalize`` is given)."""
    n, start = 0, time.perf_counter()
    for x, _ in loader:
        if normalize is not None:
            x = normalize(x)
        n += x.shape[0]
    return n / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--workers", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)

    ds = from_folder(args.data)
    pre = Preprocess(input_size=args.size)
    print(f"data: {ds.describe()} ({args.data})")
    print(f"geometry: {pre.input_size}px, crop_pct {pre.crop_pct}, {pre.interpolation}; batch {args.batch_size}, "
          f"workers {args.workers}, torch threads 1")  # fmt: skip
    kw = {"batch_size": args.batch_size, "num_workers": args.workers, "shuffle": True}

    def rates(dataset: Dataset, normalize: torch.nn.Module | None = None) -> list[float]:
        return [epoch_rate(DataLoader(dataset, **kw), normalize) for _ in range(args.epochs)]

    decode_u8 = rates(DecodingDataset(ds, pre, float_output=False))
    decode_timm = rates(DecodingDataset(ds, pre, float_output=True))
    with tempfile.TemporaryDirectory(prefix="lookalike-cache-") as root:
        t0 = time.perf_counter()
        cached = DecodedCache(root=root, preprocess=pre).build(ds)
        build_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        DecodedCache(root=root, preprocess=pre).build(ds)
        reopen_s = time.perf_counter() - t0
        cache_u8 = rates(cached)
        cache_norm = rates(cached, BatchNormalize(mean=pre.mean, std=pre.std))
        size_mb = Path(cached.path).stat().st_size / 1e6

    def show(label: str, values: list[float], note: str) -> None:
        print(f"{label:<27}: {' '.join(f'{r:8.0f}' for r in values)} images/s per epoch ({note})")

    show("no cache, uint8", decode_u8, "decode + resize every epoch")
    show("no cache, timm transform", decode_timm, "decode + resize + float + normalise per item")
    print(f"{'cache build':<27}: {build_s:6.2f} s once ({len(ds) / build_s:.0f} images/s, {size_mb:.0f} MB memmap); "
          f"re-open {reopen_s:.2f} s (content hashes memoised)")  # fmt: skip
    show("cache, uint8", cache_u8, "memmap rows; normalise later on the GPU")
    show("cache + CPU normalise", cache_norm, "memmap rows + BatchNormalize on 1 CPU thread")
    print(f"ratio (uint8 vs uint8)     : {max(cache_u8) / max(decode_u8):.1f}x faster per epoch with the cache")
    print(f"ratio (normalised, on CPU) : {max(cache_norm) / max(decode_timm):.1f}x faster per epoch with the cache")


if __name__ == "__main__":
    main()
