"""Fixtures for the service: galleries with a vector model or a tiny image model, in-process clients, and a
real uvicorn server process on 127.0.0.1. Load-test counts are printed in pytest's terminal summary."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from service_helpers import READ_KEY, SUMMARY, WRITE_KEY, Server, start_server, stop_server


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if SUMMARY:
        terminalreporter.section("service hardening counts")
        for line in SUMMARY:
            terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def image_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny untrained timm model (random but fixed weights), exported so server processes can load it."""
    import torch

    from lookalike.models import load_model, save_model

    torch.manual_seed(0)
    model = load_model("timm:test_efficientnet", pretrained=False, input_size=64)
    return save_model(model, tmp_path_factory.mktemp("models") / "tiny")


@pytest.fixture(scope="session")
def image_model(image_model_dir: Path):
    import torch

    from lookalike.models import load_model

    torch.set_num_threads(1)
    return load_model(image_model_dir)


@pytest.fixture
def vector_gallery(tmp_path: Path) -> Iterator[object]:
    """An empty 4-d cosine gallery with threshold 0.9."""
    from lookalike.gallery import Gallery
    from lookalike.models import EmbeddingModel

    gallery = Gallery.create(tmp_path / "vectors", EmbeddingModel.for_vectors(4), threshold=0.9)
    yield gallery
    gallery.close()


@pytest.fixture
def image_gallery(tmp_path: Path, image_model: object, image_model_dir: Path) -> Iterator[object]:
    """An empty gallery of the tiny image model with threshold 0.9."""
    from lookalike.gallery import Gallery

    gallery = Gallery.create(tmp_path / "images", image_model, threshold=0.9, model_source=str(image_model_dir))
    yield gallery
    gallery.close()


@pytest.fixture
def make_client() -> Iterator[Callable[..., object]]:
    """``make_client(gallery, **settings)`` → a started ``TestClient`` (lifespan run, closed after the test)."""
    from fastapi.testclient import TestClient

    from lookalike.service import ServiceSettings, create_app

    clients: list[TestClient] = []

    def make(gallery: object, *, raise_server_exceptions: bool = True, **overrides: object) -> TestClient:
        values: dict[str, object] = {"read_keys": [READ_KEY], "write_keys": [WRITE_KEY], **overrides}
        app = create_app(ServiceSettings.model_validate(values), gallery=gallery)
        client = TestClient(app, raise_server_exceptions=raise_server_exceptions)
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for c in clients:
        c.__exit__(None, None, None)


@pytest.fixture
def image_server(tmp_path: Path, image_model: object, image_model_dir: Path) -> Iterator[Server]:
    """A real server process over a fresh gallery of the tiny image model (threshold 0.9)."""
    from lookalike.gallery import Gallery

    gallery_dir = tmp_path / "served-images"
    Gallery.create(gallery_dir, image_model, threshold=0.9, model_source=str(image_model_dir)).close()
    server = start_server(gallery_dir, None, tmp_path / "server.log")
    yield server
    stop_server(server)
