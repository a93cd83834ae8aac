"""The encoder registry: name resolution and its precedence, toy backends, caching, clear errors."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence

import numpy as np
import pytest

from indexflow.encoders.base import Encoder
from indexflow.encoders.factory import clear_encoder_cache, get_encoder, parse_encoder_name
from indexflow.encoders.registry import EncoderRegistry, registry
from indexflow.errors import ConfigurationError
from indexflow.testing import HashEncoder


class ToyEncoder:
    """A backend's encoder: every text maps to the same unit vector of ``dimension``."""

    max_tokens = 16

    def __init__(self, model: str, device: str | None, precision: str, batch_size: int) -> None:
        self.name = model
        self.dimension = int(model.rsplit("-", 1)[-1]) if model[-1].isdigit() else 3
        self.settings = (device, precision, batch_size)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        out[:, 0] = 1.0
        return out


@pytest.fixture
def toy() -> Iterator[list[str]]:
    """A ``toy`` backend in the process-wide registry, claiming ``toy-models/…``; removed after."""
    built: list[str] = []

    def factory(model: str, device: str | None, precision: str, batch_size: int) -> Encoder:
        built.append(model)
        return ToyEncoder(model, device, precision, batch_size)

    registry.register("toy", factory, claims=lambda name: name.startswith("toy-models/"))
    clear_encoder_cache()
    yield built
    registry.unregister("toy")
    clear_encoder_cache()


def test_given_a_registered_backend_then_its_prefix_and_its_claimed_names_build_its_encoder(toy) -> None:
    by_prefix = get_encoder("toy:tiny-5", device="cpu", precision="fp32", batch_size=8)
    assert isinstance(by_prefix, ToyEncoder) and isinstance(by_prefix, Encoder)
    assert (by_prefix.name, by_prefix.dimension, by_prefix.settings) == ("tiny-5", 5, ("cpu", "fp32", 8))
    claimed = get_encoder("toy-models/small-7")
    assert isinstance(claimed, ToyEncoder) and claimed.dimension == 7
    assert parse_encoder_name("TOY:tiny-5") == ("toy", "tiny-5")
    assert parse_encoder_name("toy-models/small-7") == ("toy", "toy-models/small-7")
    assert toy == ["tiny-5", "toy-models/small-7"]


def test_given_the_same_name_and_settings_then_the_encoder_is_built_once(toy) -> None:
    first = get_encoder("toy:a", batch_size=4)
    assert get_encoder("toy:a", batch_size=4) is first
    assert get_encoder("toy:a", batch_size=8) is not first  # another configuration, another encoder
    clear_encoder_cache()
    assert get_encoder("toy:a", batch_size=4) is not first
    assert toy == ["a", "a", "a"]


def test_given_threads_asking_at_once_then_the_model_loads_once(toy) -> None:
    results: list[Encoder] = []
    barrier = threading.Barrier(4)

    def ask() -> None:
        barrier.wait()
        results.append(get_encoder("toy:concurrent"))

    threads = [threading.Thread(target=ask) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert toy == ["concurrent"] and len({id(e) for e in results}) == 1


def test_precedence_prefix_then_claims_in_registration_order_then_the_default() -> None:
    reg = EncoderRegistry(default="base")
    reg.register("base", ToyEncoder)
    reg.register("first", ToyEncoder, claims=lambda n: n.startswith("shared/"))
    reg.register("second", ToyEncoder, claims=lambda n: n.startswith("shared/") or n.startswith("own/"))
    assert reg.resolve("shared/x")[0].name == "first"  # both claim it: registered first wins
    assert reg.resolve("own/x")[0].name == "second"
    assert reg.resolve("second:shared/x")[0].name == "second"  # an explicit prefix beats any claim
    assert reg.resolve("anything/else") == (reg.backend("base"), "anything/else")
    assert reg.backends() == ("base", "first", "second")


def test_given_a_local_folder_with_a_colon_then_no_backend_prefix_is_read(tmp_path) -> None:
    folder = tmp_path / "toy:1"
    folder.mkdir()
    assert parse_encoder_name(str(folder)) == ("hf", str(folder))


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("cohere:embed-english-v3.0", "unknown encoder backend 'cohere'"),
        ("onnx:minilm", "known backends: hf, hash, openai"),
        ("hf:", "names no model"),
        ("", "non-empty"),
        ("   ", "non-empty"),
    ],
)
def test_given_an_unknown_backend_or_no_model_then_a_readable_configuration_error(name, message) -> None:
    with pytest.raises(ConfigurationError, match=message):
        get_encoder(name)


def test_given_a_bad_or_taken_backend_name_then_registration_is_refused() -> None:
    reg = EncoderRegistry()
    reg.register("hf", ToyEncoder)
    with pytest.raises(ConfigurationError, match="already registered"):
        reg.register("hf", ToyEncoder)
    for bad in ("x", "Upper", "has space", "9lives", ""):
        with pytest.raises(ConfigurationError):
            reg.register(bad, ToyEncoder)
    replaced = reg.register("hf", ToyEncoder, replace=True, description="again")
    assert reg.backend("hf") is replaced
    with pytest.raises(ConfigurationError, match="unknown encoder backend 'nope'"):
        reg.backend("nope")


def test_given_a_replaced_backend_then_its_cached_encoders_are_dropped() -> None:
    reg = EncoderRegistry(default="toy")
    reg.register("toy", ToyEncoder)
    first = reg.get("m-4")
    reg.register("toy", ToyEncoder, replace=True)
    assert reg.get("m-4") is not first


def test_the_hash_backend_serves_its_name_with_and_without_a_dimension() -> None:
    clear_encoder_cache()
    default = get_encoder("indexflow-testing/hash")
    assert isinstance(default, HashEncoder) and (default.dimension, default.max_tokens) == (384, 256)
    assert get_encoder("indexflow-testing/hash") is default
    assert get_encoder("indexflow-testing/hash-64").dimension == 64
    assert get_encoder("hash:32").dimension == 32
    assert parse_encoder_name("indexflow-testing/hash") == ("hash", "indexflow-testing/hash")
    # Not a hash name: the default backend gets it (and finds no such model).
    assert parse_encoder_name("indexflow-testing/hashish") == ("hf", "indexflow-testing/hashish")
    with pytest.raises(ConfigurationError, match="unknown hash encoder"):
        get_encoder("hash:big")
    clear_encoder_cache()
