import pytest

from lookalike.errors import LookalikeError, UnknownNameError
from lookalike.registry import Registry


def _reg() -> Registry[str]:
    r: Registry[str] = Registry("widget")

    @r.register("triplet")
    def _triplet(margin: float = 0.1) -> str:
        return f"triplet({margin})"

    @r.register("timm", takes_argument=True)
    def _timm(model: str, pretrained: bool = False) -> str:
        return f"timm({model},{pretrained})"

    return r


def test_create_by_name_and_argument() -> None:
    r = _reg()
    assert r.create("triplet", margin=0.2) == "triplet(0.2)"
    assert r.create("TIMM:resnet18", pretrained=True) == "timm(resnet18,True)"
    assert r.names() == ["timm:<arg>", "triplet"]
    assert "triplet" in r and "nope" not in r


def test_unknown_name_lists_known_and_suggests() -> None:
    r = _reg()
    with pytest.raises(UnknownNameError) as exc:
        r.create("triplt")
    msg = str(exc.value)
    assert "did you mean 'triplet'" in msg.lower()
    assert "timm:<arg>" in msg and "triplet" in msg
    assert isinstance(exc.value, KeyError) and isinstance(exc.value, LookalikeError)


def test_argument_required_and_forbidden() -> None:
    r = _reg()
    with pytest.raises(UnknownNameError, match="needs an argument"):
        r.create("timm")
    with pytest.raises(UnknownNameError, match="takes no argument"):
        r.create("triplet:x")


def test_double_registration_is_an_error() -> None:
    r = _reg()
    with pytest.raises(ValueError, match="registered twice"):
        r.register("triplet")(lambda: "x")
