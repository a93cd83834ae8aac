"""Encoder runtimes without a model: the setting, the registry's engine hook, the fidelity measure,
the cached decision's format (the real runtimes: tests/embedded/test_encoder_backends.py)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from indexflow.encoders.base import Encoder
from indexflow.encoders.engines import EngineDecision, Trial, build_hf_encoder, check_fidelity, cosines
from indexflow.encoders.factory import clear_encoder_cache, get_encoder
from indexflow.encoders.registry import registry
from indexflow.errors import ConfigurationError
from indexflow.settings import Settings
from indexflow.testing import HashEncoder


class Built:
    """An encoder that remembers how it was built."""

    max_tokens = 16
    dimension = 2

    def __init__(self, how: tuple[object, ...]) -> None:
        self.name = "toy"
        self.how = how

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        return np.tile(np.array([[1.0, 0.0]], dtype=np.float32), (len(texts), 1))


@pytest.fixture
def engines() -> Iterator[None]:
    """Two toy backends: ``toyengine`` takes an engine factory, ``toyplain`` does not."""

    def plain(model: str, device: str | None, precision: str, batch_size: int) -> Encoder:
        return Built(("plain", model))

    def by_engine(
        model: str, device: str | None, precision: str, batch_size: int, engine: str, cache_dir: Path | None
    ) -> Encoder:
        return Built(("engine", model, engine, cache_dir))

    registry.register("toyengine", plain, engine_factory=by_engine)
    registry.register("toyplain", plain)
    clear_encoder_cache()
    yield
    registry.unregister("toyengine")
    registry.unregister("toyplain")
    clear_encoder_cache()


def test_given_no_setting_then_the_backend_is_auto_and_the_cache_is_the_users(monkeypatch, tmp_path) -> None:
    monkeypatch.delenv("INDEXFLOW_ENCODER_BACKEND", raising=False)
    monkeypatch.delenv("INDEXFLOW_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    settings = Settings(home=tmp_path / "home")
    assert settings.encoder_backend == "auto"
    # one cache per machine user, shared by every home: measured and converted once
    assert settings.effective_cache_dir == tmp_path / "xdg" / "indexflow"
    assert (tmp_path / "xdg" / "indexflow").is_dir()
    assert Settings(home=tmp_path / "other").effective_cache_dir == settings.effective_cache_dir


def test_given_no_writable_user_cache_then_the_cache_lives_in_home(monkeypatch, tmp_path) -> None:
    monkeypatch.delenv("INDEXFLOW_CACHE_DIR", raising=False)
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    assert Settings(home=tmp_path / "home").effective_cache_dir == tmp_path / "home" / "cache"


def test_given_the_environment_then_the_backend_and_cache_dir_are_read(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("INDEXFLOW_ENCODER_BACKEND", "openvino")
    monkeypatch.setenv("INDEXFLOW_CACHE_DIR", str(tmp_path / "elsewhere"))
    settings = Settings()
    assert settings.encoder_backend == "openvino"
    assert settings.effective_cache_dir == tmp_path / "elsewhere"
    monkeypatch.setenv("INDEXFLOW_ENCODER_BACKEND", "tensorrt")
    with pytest.raises(ValidationError):
        Settings()


def test_given_an_engine_then_only_backends_with_an_engine_factory_use_it(engines, tmp_path) -> None:
    # torch (the default) takes the backend's ordinary factory
    assert get_encoder("toyengine:m").how == ("plain", "m")  # type: ignore[attr-defined]
    # another engine takes its engine factory, with the cache folder; one encoder per engine
    openvino = get_encoder("toyengine:m", engine="openvino", cache_dir=tmp_path)
    assert openvino.how == ("engine", "m", "openvino", tmp_path)  # type: ignore[attr-defined]
    assert get_encoder("toyengine:m", engine="openvino", cache_dir=tmp_path) is openvino
    assert get_encoder("toyengine:m", engine="auto", cache_dir=tmp_path) is not openvino
    # a backend that runs no local model ignores the engine: the same encoder as for torch
    plain = get_encoder("toyplain:m")
    assert get_encoder("toyplain:m", engine="openvino", cache_dir=tmp_path) is plain


def test_given_an_unknown_engine_then_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="torch"):
        build_hf_encoder("sentence-transformers/all-MiniLM-L6-v2", engine="tensorrt")


def test_the_fidelity_measure_is_the_least_and_the_mean_row_cosine() -> None:
    a = np.array([[1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
    b = np.array([[1.0, 0.0], [1.0, 1.0]], dtype=np.float32)
    low, mean = cosines(a, b)
    assert low == pytest.approx(np.sqrt(0.5)) and mean == pytest.approx((1 + np.sqrt(0.5)) / 2)
    with pytest.raises(ValueError):
        cosines(a, b[:1])
    hashed = HashEncoder(dimension=16)
    assert check_fidelity(hashed, hashed, ["bees", "tomatoes"]) == pytest.approx((1.0, 1.0))


def test_a_decision_survives_its_json_and_refuses_another_format() -> None:
    decision = EngineDecision(
        "openvino",
        "bf16",
        "fastest faithful",
        [Trial("openvino", "bf16", 1234.5, 0.99995, 0.99999, True)],
        {"k": 1},
    )
    again = EngineDecision.from_json(decision.to_json())
    assert again.cached and not decision.cached
    assert (again.engine, again.precision, again.trials, again.key) == (
        "openvino",
        "bf16",
        decision.trials,
        {"k": 1},
    )
    with pytest.raises(ValueError):
        EngineDecision.from_json(decision.to_json().replace('"version": 1', '"version": 0'))


def test_given_a_device_then_the_rows_per_pass_suit_it(monkeypatch) -> None:
    from indexflow.encoders import engines

    assert engines.default_batch_size("cpu") == engines.CPU_BATCH_ROWS == 64
    assert engines.default_batch_size("cuda") == engines.default_batch_size("cuda:1") == 512
    # No device named: the one default_device picks (no NVIDIA driver here: the CPU)
    monkeypatch.setattr(engines, "default_device", lambda: "cuda")
    assert engines.default_batch_size(None) == 512
    monkeypatch.setattr(engines, "default_device", lambda: "cpu")
    assert engines.default_batch_size(None) == 64
