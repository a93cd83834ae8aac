"""get_encoder: one shared encoder per configuration, lazy heavy imports, clear errors."""

from __future__ import annotations

import subprocess
import sys

import pytest

from indexflow.encoders.factory import clear_encoder_cache, get_encoder, parse_encoder_name
from indexflow.errors import ConfigurationError


@pytest.fixture(autouse=True)
def fresh_cache():
    clear_encoder_cache()
    yield
    clear_encoder_cache()


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("hf:sentence-transformers/all-MiniLM-L6-v2", ("hf", "sentence-transformers/all-MiniLM-L6-v2")),
        ("all-MiniLM-L6-v2", ("hf", "all-MiniLM-L6-v2")),
        ("HF:all-MiniLM-L6-v2", ("hf", "all-MiniLM-L6-v2")),
        ("/models/minilm", ("hf", "/models/minilm")),
        ("C:/models/minilm", ("hf", "C:/models/minilm")),
    ],
)
def test_given_a_name_then_backend_and_model_are_split(name, expected):
    assert parse_encoder_name(name) == expected


def test_given_a_local_folder_with_a_colon_then_it_stays_a_folder(tmp_path):
    folder = tmp_path / "run:1"
    folder.mkdir()
    assert parse_encoder_name(str(folder)) == ("hf", str(folder))


@pytest.mark.parametrize("name", ["cohere:embed-english-v3.0", "onnx:minilm", "hf:", "openai:", "", "   "])
def test_given_an_unknown_backend_or_empty_name_then_configuration_error(name):
    with pytest.raises(ConfigurationError):
        get_encoder(name)


def test_given_a_missing_model_then_configuration_error():
    with pytest.raises(ConfigurationError):
        get_encoder("hf:no-such-org/no-such-model", device="cpu")


def test_when_importing_the_factory_then_torch_is_not_imported():
    code = (
        "import sys, indexflow.encoders.factory; "
        "sys.exit('torch' in sys.modules or 'transformers' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
