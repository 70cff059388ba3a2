"""The report's figures, drawn with matplotlib's Agg backend (imported here only, inside the functions).

Each function draws one PNG and returns its path. Retrieval grids show each query with its top-k neighbours
(image thumbnails, or the strings for text), green frames for the query's class and red for another class.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from lookalike.data.types import LabeledDataset
    from lookalike.evaluation.result import EvaluationResult

GREEN, RED, GREY = "#1a9850", "#d73027", "#555555"


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> Path:
    fig.savefig(path, dpi=110, bbox_inches="tight")
    _plt().close(fig)
    return path


def _thumb(dataset: LabeledDataset, index: int, size: int = 112) -> np.ndarray | None:
    """A square-padded RGB thumbnail of image item ``index`` (None if it cannot be read)."""
    from PIL import Image

    try:
        img = dataset.load(index)
    except Exception:  # a report must not fail on one unreadable thumbnail
        return None
    scale = size / max(img.width, img.height)  # fit the cell, enlarging small crops too
    img = img.resize((max(1, round(img.width * scale)), max(1, round(img.height * scale))), Image.Resampling.BICUBIC)
    canvas = Image.new("RGB", (size, size), (255, 255, 255))
    canvas.paste(img, ((size - img.width) // 2, (size - img.height) // 2))
    return np.asarray(canvas)


def _cell(ax: Any, dataset: LabeledDataset | None, index: int, caption: str, color: str, width: int) -> None:
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_edgecolor(color)
        spine.set_linewidth(4)
    if dataset is not None and dataset.kind == "image":
        thumb = _thumb(dataset, index)
        if thumb is not None:
            ax.imshow(thumb)
        ax.set_xlabel(caption, fontsize=7, color=color)
        return
    text = str(dataset.load(index)) if dataset is not None and dataset.kind == "text" else f"item {index}"
    ax.text(
        0.5,
        0.55,
        textwrap.fill(textwrap.shorten(text, 120), width),
        ha="center",
        va="center",
        fontsize=7,
        transform=ax.transAxes,
        wrap=True,
    )
    ax.set_xlabel(caption, fontsize=7, color=color)


def retrieval_grid(
    path: Path,
    result: EvaluationResult,
    rows: Sequence[int],
    *,
    k: int = 6,
    title: str,
    row_notes: Sequence[str] | None = None,
) -> Path:
    """Queries ``rows`` (indices into the known items) with their top-``k`` neighbours."""
    plt = _plt()
    det = result.details
    assert det is not None
    ds = det.dataset
    k = min(k, det.knn.k)
    is_text = ds is not None and ds.kind == "text"
    cw, ch = (2.3, 1.25) if is_text else (1.35, 1.55)
    fig, axes = plt.subplots(len(rows), k + 1, figsize=(cw * (k + 1), ch * len(rows) + 0.6), squeeze=False)
    names = det.class_names
    for r, q in enumerate(rows):
        item = int(det.known_index[q])
        label = int(det.labels[item])
        note = f"\n{row_notes[r]}" if row_notes else ""
        _cell(axes[r, 0], ds, item, f"QUERY: {names[label]}{note}", GREY, 28)
        axes[r, 0].set_facecolor("#eeeeee")
        for j in range(k):
            nb = int(det.known_index[det.knn.indices[q, j]])
            nb_label = int(det.labels[nb])
            ok = nb_label == label
            caption = f"{j + 1}. {names[nb_label]}\n{det.knn.scores[q, j]:.3f}"
            _cell(axes[r, j + 1], ds, nb, caption, GREEN if ok else RED, 24)
    fig.suptitle(f"{title}  (frame: green = same class as the query, red = another class; number = score)", fontsize=10)
    fig.tight_layout()
    return _save(fig, path)


def roc_det(path: Path, genuine: np.ndarray, impostor: np.ndarray, eer: float) -> Path:
    """ROC (true vs false accept rate, log FAR) and DET (miss vs false alarm on normal-deviate axes)."""
    from scipy.stats import norm

    from lookalike.evaluation.verification import roc_points

    plt = _plt()
    fpr, tpr = roc_points(genuine, impostor)
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4.4))
    lo = max(1.0 / max(len(impostor), 1), 1e-6)
    keep = fpr >= lo
    a.plot(fpr[keep], tpr[keep], color="#2166ac", lw=2)
    a.set_xscale("log")
    a.set_xlim(lo, 1)
    a.set_ylim(0, 1.01)
    a.set_xlabel("false accept rate (FAR, log scale)")
    a.set_ylabel("true accept rate (TAR)")
    a.set_title(f"ROC ({len(genuine):,} same-class / {len(impostor):,} different-class pairs)", fontsize=10)
    a.grid(True, which="both", alpha=0.3)
    eps = 1e-4
    fnr = 1 - tpr
    b.plot(norm.ppf(np.clip(fpr, eps, 1 - eps)), norm.ppf(np.clip(fnr, eps, 1 - eps)), color="#b2182b", lw=2)
    ticks = np.array([0.001, 0.01, 0.05, 0.2, 0.5, 0.8, 0.95])
    b.set_xticks(norm.ppf(ticks), [f"{t:g}" for t in ticks])
    b.set_yticks(norm.ppf(ticks), [f"{t:g}" for t in ticks])
    b.plot(norm.ppf([eps, 1 - eps]), norm.ppf([eps, 1 - eps]), ls=":", color=GREY)
    b.plot([norm.ppf(max(eer, eps))], [norm.ppf(max(eer, eps))], "o", color="black", label=f"EER = {eer:.3f}")
    b.set_xlim(norm.ppf(0.0005), norm.ppf(0.98))
    b.set_ylim(norm.ppf(0.0005), norm.ppf(0.98))
    b.set_xlabel("false accept rate (normal deviate scale)")
    b.set_ylabel("false reject rate (normal deviate scale)")
    b.set_title("DET curve", fontsize=10)
    b.legend(loc="upper right")
    b.grid(True, alpha=0.3)
    fig.tight_layout()
    return _save(fig, path)


def score_histograms(path: Path, genuine: np.ndarray, impostor: np.ndarray, threshold: float | None) -> Path:
    """Same-class vs different-class score distributions (densities, so both are visible)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 4))
    lo, hi = float(min(genuine.min(), impostor.min())), float(max(genuine.max(), impostor.max()))
    bins = np.linspace(lo, hi, 60)
    ax.hist(impostor, bins=bins, density=True, alpha=0.55, color=RED, label=f"different class ({len(impostor):,})")
    ax.hist(genuine, bins=bins, density=True, alpha=0.55, color=GREEN, label=f"same class ({len(genuine):,})")
    if threshold is not None and np.isfinite(threshold):
        ax.axvline(threshold, color="black", ls="--", lw=1, label=f"EER threshold {threshold:.3f}")
    ax.set_xlabel("similarity score (higher = closer)")
    ax.set_ylabel("density")
    ax.set_title("Pair scores: same class vs different class", fontsize=10)
    ax.legend()
    fig.tight_layout()
    return _save(fig, path)


def embedding_map(
    path: Path, embeddings: np.ndarray, labels: np.ndarray, names: Sequence[str], *, seed: int = 0
) -> Path:
    """A 2-D map of the embeddings coloured by class: t-SNE up to 3,000 points, else PCA."""
    plt = _plt()
    from sklearn.decomposition import PCA

    rng = np.random.default_rng(seed)
    idx = np.arange(len(labels)) if len(labels) <= 3000 else np.sort(rng.choice(len(labels), 3000, replace=False))
    x, y = embeddings[idx], labels[idx]
    if len(idx) >= 30:
        from sklearn.manifold import TSNE

        xy = TSNE(
            n_components=2, perplexity=min(30.0, (len(idx) - 1) / 3), init="pca", random_state=seed
        ).fit_transform(x)
        method = "t-SNE"
    else:
        xy = PCA(n_components=2, random_state=seed).fit_transform(x)
        method = "PCA"
    fig, ax = plt.subplots(figsize=(8.5, 6.5))
    classes = [c for c in np.unique(y) if c >= 0]
    cmap = plt.get_cmap("tab20" if len(classes) > 10 else "tab10")
    for i, c in enumerate(classes):
        m = y == c
        ax.scatter(xy[m, 0], xy[m, 1], s=14, color=cmap(i % cmap.N), label=names[c] if c < len(names) else str(c))
    if (y < 0).any():
        ax.scatter(xy[y < 0, 0], xy[y < 0, 1], s=14, marker="x", color="#999999", label="unknown")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(f"Embeddings in 2-D ({method}), coloured by class", fontsize=10)
    if len(classes) <= 25:
        ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5), markerscale=1.5)
    fig.tight_layout()
    return _save(fig, path)


__all__ = ["embedding_map", "retrieval_grid", "roc_det", "score_histograms"]
