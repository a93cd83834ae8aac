"""The embedded tier: the real model (all-MiniLM-L6-v2), Qdrant Edge, SQLite, in-process worker.

The root ``ix`` fixture is the real stack; the lifecycle fixtures are shared with the unit
tier, which runs the same flows on the shipped test doubles. Encoders are loaded once per
session: loading weights once keeps the tier fast.
"""

from __future__ import annotations

import pytest

from indexflow.encoders.hf import HFEncoder
from indexflow.encoders.models import DEFAULT_MODEL, resolve_model_dir
from tests.lifecycle_support import docs_dir, encoder_calls  # noqa: F401 (fixtures)

# Real sentences of every shape the pipeline sends: short, long (> 256 tokens, truncated),
# multilingual, code, punctuation, empty and blank.
LONG = (
    "Composting turns kitchen scraps and garden waste into a dark, crumbly soil amendment. "
    "Microbes need a balance of carbon-rich browns and nitrogen-rich greens, steady moisture, "
    "and air; turning the pile every week or two keeps it from going anaerobic and smelly. "
) * 12
SENTENCES = [
    "Bees communicate the location of flowers with a waggle dance.",
    "hi",
    "",
    "   ",
    LONG,
    "Lisboa foi reconstruída depois do terramoto de 1755 sob a direção do Marquês de Pombal.",
    "Le levain naturel demande du temps, de la farine et de l'eau tiède.",
    "東京は日本の首都であり、世界最大級の都市圏を持つ。",
    "Квантовая механика описывает поведение частиц на атомном уровне.",
    "def add(a: int, b: int) -> int:\n    return a + b  # type-hinted",
    "Q: What is 2 + 2?  A: 4!!! ✅ 🐝",
    "The tomato (Solanum lycopersicum) is a berry, botanically speaking, and thrives in full sun.",
]


@pytest.fixture(scope="session")
def model_dir():
    return resolve_model_dir(DEFAULT_MODEL)


@pytest.fixture(scope="session")
def fp32_encoder() -> HFEncoder:
    return HFEncoder(DEFAULT_MODEL, device="cpu", precision="fp32")


@pytest.fixture(scope="session")
def bf16_encoder() -> HFEncoder:
    return HFEncoder(DEFAULT_MODEL, device="cpu", precision="bf16")


@pytest.fixture(scope="session")
def reference(model_dir):
    """sentence-transformers' own vectors for SENTENCES: the behaviour we must reproduce."""
    st = pytest.importorskip("sentence_transformers")
    model = st.SentenceTransformer(str(model_dir), device="cpu")
    return model.encode(SENTENCES, normalize_embeddings=True, convert_to_numpy=True)
