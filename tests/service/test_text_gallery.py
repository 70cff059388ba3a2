"""A text gallery end to end with the offline MiniLM sentence encoder: enroll, identify and verify typed
sentences through the HTTP service (JSON ``texts``) and through the CLI (one text per file)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from service_helpers import READ, WRITE
from typer.testing import CliRunner

INTENTS = {
    "weather": ["what is the weather like today", "will it rain tomorrow", "how hot is it going to be outside"],
    "balance": ["how much money is in my checking account", "what is my account balance", "show my bank balance"],
}


@pytest.fixture(scope="module")
def minilm():  # type: ignore[no-untyped-def]
    import torch

    from lookalike.models import load_model

    torch.set_num_threads(1)
    return load_model("hf:all-minilm-l6-v2", max_length=32)


@pytest.fixture
def text_gallery(tmp_path: Path, minilm: object) -> Iterator[object]:
    from lookalike.gallery import Gallery

    gallery = Gallery.create(tmp_path / "texts", minilm, threshold=0.5, model_source="hf:all-minilm-l6-v2")
    yield gallery
    gallery.close()


def test_text_gallery_through_the_service(text_gallery, make_client) -> None:  # type: ignore[no-untyped-def]
    client = make_client(text_gallery)
    assert client.get("/v1/health").json()["model_kind"] == "text"
    for identity, texts in INTENTS.items():
        r = client.post("/v1/enroll", json={"identity": identity, "texts": texts}, headers=WRITE)
        assert r.status_code == 200 and len(r.json()["item_ids"]) == 3
    probes = ["is it going to be sunny this weekend", "tell me how much is in my bank account", "play some jazz"]
    r = client.post("/v1/identify", json={"texts": probes, "k": 2}, headers=READ)
    assert r.status_code == 200
    weather, balance, music = r.json()["results"]
    assert weather["decision"] == "known" and weather["identity"] == "weather"
    assert balance["decision"] == "known" and balance["identity"] == "balance"
    assert music["decision"] == "unknown" and music["score"] < 0.5
    same = client.post("/v1/verify", json={"a": "will it snow today", "b": "is it snowing now"}, headers=READ).json()
    different = client.post("/v1/verify", json={"a": "will it snow today", "b": "transfer fifty dollars"}, headers=READ)
    assert same["same"] is True and different.json()["same"] is False
    # images are refused with a message saying what to send instead
    bad = client.post("/v1/identify", files={"images": ("x.png", b"\x89PNG", "image/png")}, headers=READ)
    assert bad.status_code == 422 and '"texts"' in bad.json()["error"]["message"]
    # a lone surrogate (a broken \\u escape) is a clear 400, not the tokenizer's 500, and stores nothing
    body = b'{"identity": "broken", "texts": ["caf\\ud800"]}'
    r = client.post("/v1/enroll", content=body, headers={**WRITE, "content-type": "application/json"})
    assert r.status_code == 400 and "lone surrogate U+D800" in r.json()["error"]["message"], r.text
    assert {i["identity"] for i in client.get("/v1/identities", headers=READ).json()["identities"]} == set(INTENTS)


def test_text_gallery_through_the_cli(tmp_path: Path) -> None:
    from lookalike.cli.app import app

    runner = CliRunner()

    def run(*args: str) -> str:
        result = runner.invoke(app, list(args))
        assert result.exit_code == 0, result.output
        return result.output

    def write(name: str, text: str) -> str:
        path = tmp_path / name
        path.write_text(text + "\n", encoding="utf-8")
        return str(path)

    gallery = str(tmp_path / "g")
    run("gallery", "create", gallery, "--model", "hf:all-minilm-l6-v2", "--threshold", "0.5")
    for identity, texts in INTENTS.items():
        run("gallery", "enroll", gallery, identity, *[write(f"{identity}{i}.txt", t) for i, t in enumerate(texts)])
    out = run("identify", gallery, write("q1.txt", "do I need an umbrella today"), write("q2.txt", "play some jazz"))
    lines = out.strip().splitlines()
    assert "KNOWN weather" in lines[-2] and "UNKNOWN" in lines[-1]
    out = run(
        "verify",
        "hf:all-minilm-l6-v2",
        write("a.txt", "what is my account balance"),
        write("b.txt", "show me the balance of my account"),
        "--threshold",
        "0.5",
    )
    assert "SAME: score" in out
    # text files that are not UTF-8, or blank, are refused in one line naming the file; nothing is enrolled
    (tmp_path / "latin1.txt").write_bytes("café au lait".encode("latin-1"))
    (tmp_path / "blank.txt").write_text("  \n", encoding="utf-8")
    for name, message in (("latin1.txt", "is not UTF-8 text (byte 0xe9 at offset 3)"), ("blank.txt", "empty or blank")):
        result = runner.invoke(app, ["gallery", "enroll", gallery, "drinks", str(tmp_path / name)])
        assert result.exit_code != 0 and message in str(result.exception), result.output
    assert "drinks" not in run("gallery", "list", gallery)
