"""A tiny CLINC150-format intent data set for text tests (training and ``fit``)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import yaml

WORDS = [
    "apple",
    "banana",
    "cherry",
    "grape",
    "lemon",
    "mango",
    "melon",
    "orange",
    "peach",
    "pear",
    "plum",
    "berry",
    "river",
    "ocean",
    "lake",
    "mountain",
    "forest",
    "desert",
    "island",
    "valley",
    "train",
    "plane",
    "ship",
    "truck",
    "bike",
    "bus",
    "car",
    "boat",
    "doctor",
    "nurse",
    "teacher",
    "farmer",
    "pilot",
    "singer",
    "dancer",
    "painter",
    "red",
    "green",
    "blue",
    "yellow",
    "purple",
    "black",
    "white",
    "brown",
    "piano",
    "guitar",
    "violin",
    "drum",
    "flute",
    "trumpet",
    "harp",
    "organ",
]
FILLER = [
    "the",
    "a",
    "is",
    "of",
    "and",
    "to",
    "in",
    "for",
    "on",
    "with",
    "please",
    "could",
    "you",
    "tell",
    "me",
    "about",
    "what",
    "my",
]


def write_text_protocol(root: Path, classes: int = 12, per_class: int = 12) -> Path:
    """CLINC150-format intents: each utterance has 2 of its intent's 4 keywords among 5 shared filler words."""
    rng = random.Random(0)
    rows = []
    for c in range(classes):
        keys = WORDS[4 * c : 4 * c + 4]
        for _ in range(per_class):
            words = rng.sample(keys, 2) + rng.sample(FILLER, 5)
            rng.shuffle(words)
            rows.append([" ".join(words), f"intent{c:02d}"])
    (root / "intents.json").write_text(json.dumps({"train": rows}))
    source = {"kind": "clinc150", "path": "intents.json", "parts": ["train"]}
    protocol = {
        "name": "tinytext",
        "data_root": str(root),
        "train": {"source": source, "classes": {"first": 8}},
        "val": {"fraction": 0.375, "seed": 0},
        "test": {"source": source, "classes": {"last": 4}},
    }
    path = root / "protocol.yaml"
    path.write_text(yaml.safe_dump(protocol))
    return path
