"""The conservative token estimate (chunking for HTTP encoders), encoder-name options, and the
openai backend's settings: no model, no server."""

from __future__ import annotations

import pytest

from indexflow.domain.chunker import split_texts
from indexflow.encoders.estimate import ESTIMATE_TOKENIZER, EstimateTokenizer
from indexflow.encoders.factory import parse_encoder_name
from indexflow.encoders.options import split_options
from indexflow.encoders.tokenizer import load_token_counter, load_tokenizer
from indexflow.errors import ConfigurationError
from indexflow.settings import Settings


def test_given_english_prose_then_the_estimate_over_counts_minilms_wordpieces():
    # given prose, code and non-Latin text; when counted by the estimate and by a real tokenizer
    texts = [
        "Composting turns kitchen scraps and garden waste into a dark, crumbly soil amendment.",
        "def add(a: int, b: int) -> int: return a + b",
        "東京は日本の首都であり、世界最大級の都市圏を持つ。",
        "Numbers like 1234567 and 3.14159 count in groups of three digits.",
    ]
    real = load_tokenizer("sentence-transformers/all-MiniLM-L6-v2")
    estimate = EstimateTokenizer().count(texts)
    actual = [len(e) for e in real.encode_batch(texts, add_special_tokens=False)]
    # then the estimate is never below the real count
    assert all(e >= a for e, a in zip(estimate, actual, strict=True)), (estimate, actual)


def test_given_the_estimate_name_then_the_profiles_counter_is_the_estimate_and_the_chunker_uses_it():
    tokenizer = load_token_counter(ESTIMATE_TOKENIZER)
    assert isinstance(tokenizer, EstimateTokenizer)
    text = " ".join(f"word{i} alpha, beta." for i in range(60))
    chunks = split_texts([text], tokenizer, 40, 8)[0]
    assert len(chunks) > 1
    for chunk in chunks:
        assert chunk.text == text[chunk.char_start : chunk.char_end]
        assert chunk.token_count <= 40 and EstimateTokenizer().count([chunk.text]) == [chunk.token_count]
    assert chunks[0].text.startswith("word0") and chunks[-1].text.endswith("beta.")


def test_given_offsets_then_each_estimated_token_maps_to_its_characters_and_word():
    enc = EstimateTokenizer().encode("Hello, café!")
    assert [enc.token_to_chars(i) for i in range(len(enc))] == [
        (0, 3),
        (3, 5),
        (5, 6),
        (7, 10),
        (10, 11),
        (11, 12),
    ]
    assert [enc.token_to_word(i) for i in range(len(enc))] == [0, 0, 1, 2, 3, 4]
    assert enc.word_to_tokens(0) == (0, 2) and enc.token_to_chars(99) is None


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("e5-base", ("e5-base", {})),
        (
            "e5-base?query=query:+&passage=passage:%20",
            ("e5-base", {"query": "query: ", "passage": "passage: "}),
        ),
        ("m?query=", ("m", {"query": ""})),
    ],
)
def test_given_options_in_an_encoder_name_then_they_are_split_off(model, expected):
    assert split_options(model, ("query", "passage")) == expected


@pytest.mark.parametrize("model", ["m?colour=red", "m?query=a&query=b", "?query=a", "m?query"])
def test_given_bad_options_then_a_configuration_error(model):
    with pytest.raises(ConfigurationError):
        split_options(model, ("query", "passage"))


def test_given_a_folder_with_a_question_mark_then_it_stays_a_folder(tmp_path):
    folder = tmp_path / "what?query=x"
    folder.mkdir()
    assert split_options(str(folder), ("query",)) == (str(folder), {})


def test_given_an_openai_name_then_the_openai_backend_serves_it():
    assert parse_encoder_name("openai:text-embedding-3-small") == ("openai", "text-embedding-3-small")


def test_given_the_standard_openai_variables_then_settings_read_them(monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-standard")
    s = Settings()
    assert s.openai_base_url == "http://127.0.0.1:9/v1"
    assert s.openai_api_key is not None and s.openai_api_key.get_secret_value() == "sk-standard"
    assert s.masked()["openai_api_key"] == "********"
    # indexflow's own names win
    monkeypatch.setenv("INDEXFLOW_OPENAI_BASE_URL", "http://127.0.0.1:10/v1")
    monkeypatch.setenv("INDEXFLOW_OPENAI_MAX_INPUTS_PER_REQUEST", "16")
    s = Settings()
    assert s.openai_base_url == "http://127.0.0.1:10/v1" and s.openai_max_inputs_per_request == 16


def test_given_the_estimate_name_then_preview_cuts_with_the_estimate_as_the_profile_would():
    from indexflow.query.preview import preview

    text = " ".join(f"Sentence {i} talks about compost, worms and 1234567 numbers." for i in range(80))
    shown = preview(
        text.encode(), "notes.txt", tokenizer_name=ESTIMATE_TOKENIZER, chunk_size=40, chunk_overlap=8
    )
    assert shown["settings"]["tokenizer"] == ESTIMATE_TOKENIZER
    estimate = EstimateTokenizer()
    # the component counts and every chunk's count are the estimate's, not MiniLM's
    assert [c["token_count"] for c in shown["components"]] == estimate.count([text])
    minilm = load_tokenizer("sentence-transformers/all-MiniLM-L6-v2")
    assert shown["components"][0]["token_count"] > len(minilm.encode(text, add_special_tokens=False))
    chunks = [ch for b in shown["bundles"] for ch in b["chunks"]]
    assert len(chunks) > 5
    for bundle in shown["bundles"]:
        assert bundle["token_count"] <= shown["settings"]["target_bundle_tokens"]
        for ch in bundle["chunks"]:
            assert ch["text"] == bundle["text"][ch["char_start"] : ch["char_end"]]
            assert ch["token_count"] <= 40 and estimate.count([ch["text"]]) == [ch["token_count"]]


def test_given_an_unknown_tokenizer_name_then_preview_and_the_profile_counter_say_so():
    import pytest

    from indexflow.errors import ConfigurationError
    from indexflow.query.preview import preview

    for call in (
        lambda: preview(b"some words", "a.txt", tokenizer_name="nope/no-such-model"),
        lambda: load_token_counter("indexflow-estimat"),
    ):
        with pytest.raises(ConfigurationError, match=r"unknown tokenizer '[^']+': .*'indexflow-estimate'"):
            call()
