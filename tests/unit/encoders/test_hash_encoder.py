"""HashEncoder: the model-free double is deterministic across processes, normalised and lexical."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from indexflow.encoders.base import Encoder
from indexflow.errors import ConfigurationError, EncoderError
from indexflow.testing import HashEncoder

TEXTS = [
    "Bees communicate the location of flowers with a waggle dance.",
    "Composting turns kitchen scraps into a dark, crumbly soil amendment.",
    "",
    "   ",
    "Lisboa foi reconstruída depois do terramoto de 1755.",
    "東京は日本の首都",
    "def add(a: int, b: int) -> int: return a + b",
]
DOCS = {
    "bees": "Honey bees forage for nectar and pollen; a waggle dance tells the hive where flowers are.",
    "compost": "A compost pile needs browns and greens, moisture and air; turn the heap to avoid ammonia.",
    "git": "Git stores snapshots of a repository; a commit records a tree, and branches point to commits.",
    "bread": "Sourdough bread rises with a starter of wild yeast; feed the starter flour and water daily.",
}


def test_it_implements_the_encoder_port_with_the_default_profile_shape() -> None:
    encoder = HashEncoder()
    assert isinstance(encoder, Encoder)
    assert (encoder.name, encoder.dimension, encoder.max_tokens) == ("indexflow-testing/hash", 384, 256)
    assert HashEncoder(64).name == "indexflow-testing/hash-64"


def test_rows_are_float32_l2_normalised_in_input_order() -> None:
    encoder = HashEncoder()
    vectors = encoder.encode(TEXTS)
    assert vectors.dtype == np.float32 and vectors.shape == (len(TEXTS), 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-6)
    reversed_rows = encoder.encode(TEXTS[::-1])
    np.testing.assert_array_equal(reversed_rows, vectors[::-1])
    assert encoder.encode([]).shape == (0, 384)


def test_the_same_text_gives_the_same_vector_and_case_does_not_matter() -> None:
    a, b, c = HashEncoder().encode([TEXTS[0], TEXTS[0].upper(), TEXTS[1]])
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_another_process_with_another_hash_seed_gives_the_same_vectors() -> None:
    code = (
        "import json, sys; from indexflow.testing import HashEncoder; "
        "print(json.dumps(HashEncoder().encode(json.loads(sys.argv[1])).tolist()))"
    )
    here = HashEncoder().encode(TEXTS)
    for seed in ("1", "12345"):
        out = subprocess.run(
            [sys.executable, "-c", code, json.dumps(TEXTS)],
            check=True,
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "PYTHONHASHSEED": seed},
        ).stdout
        np.testing.assert_array_equal(np.asarray(json.loads(out), dtype=np.float32), here)


def test_a_query_ranks_the_document_sharing_its_words_first() -> None:
    encoder = HashEncoder()
    names = list(DOCS)
    docs = encoder.encode([DOCS[n] for n in names])
    for query, expected in [
        ("where are the flowers? ask the bees", "bees"),
        ("my compost heap smells of ammonia", "compost"),
        ("what does a git commit record", "git"),
        ("how often to feed a sourdough starter", "bread"),
    ]:
        scores = docs @ encoder.encode([query])[0]
        assert names[int(np.argmax(scores))] == expected, dict(zip(names, scores.tolist(), strict=True))


def test_shared_bigrams_score_higher_than_the_same_words_reordered() -> None:
    encoder = HashEncoder()
    query, same_order, shuffled = encoder.encode(["waggle dance", "the waggle dance", "dance the waggle"])
    assert query @ same_order > query @ shuffled


def test_words_past_max_tokens_are_ignored() -> None:
    encoder = HashEncoder(max_tokens=8)
    head = " ".join(f"w{i}" for i in range(8))
    a, b = encoder.encode([head, head + " completely different tail about volcanoes"])
    np.testing.assert_array_equal(a, b)


def test_texts_without_words_get_one_fixed_unit_vector() -> None:
    empty, blank, punct = HashEncoder().encode(["", "  \n", "!!! ..."])
    np.testing.assert_array_equal(empty, blank)
    np.testing.assert_array_equal(empty, punct)
    assert np.count_nonzero(empty) == 1


@pytest.mark.parametrize("bad", ["one string", b"bytes", None, 42, ["ok", 3], [None]])
def test_inputs_that_are_not_strings_are_an_encoder_error(bad) -> None:
    with pytest.raises(EncoderError):
        HashEncoder().encode(bad)


@pytest.mark.parametrize("kwargs", [{"dimension": 1}, {"max_tokens": 2}])
def test_invalid_settings_are_a_configuration_error(kwargs) -> None:
    with pytest.raises(ConfigurationError):
        HashEncoder(**kwargs)
