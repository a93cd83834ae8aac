"""HFEncoder: faithful to sentence-transformers, order-preserving, safe on odd input."""

from __future__ import annotations

import random
import threading

import numpy as np
import pytest

from indexflow.encoders import tokenizer
from indexflow.encoders.base import Encoder
from indexflow.encoders.factory import clear_encoder_cache, get_encoder
from indexflow.encoders.hf import HFEncoder, cpu_has_fast_bf16, resolve_precision
from indexflow.encoders.models import DEFAULT_MODEL, model_max_tokens
from indexflow.errors import ConfigurationError, EncoderError
from tests.embedded.conftest import LONG, SENTENCES


def row_cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def test_given_the_default_model_then_it_implements_the_encoder_port(fp32_encoder):
    assert isinstance(fp32_encoder, Encoder)
    assert fp32_encoder.dimension == 384
    assert fp32_encoder.max_tokens == 256
    assert fp32_encoder.name == "sentence-transformers/all-MiniLM-L6-v2"


def test_given_fp32_when_encoding_then_vectors_match_sentence_transformers(fp32_encoder, reference):
    vectors = fp32_encoder.encode(SENTENCES)
    assert vectors.dtype == np.float32 and vectors.shape == (len(SENTENCES), 384)
    assert row_cosines(vectors, reference).min() >= 0.9999


def test_given_bf16_when_encoding_then_vectors_stay_within_fidelity(bf16_encoder, reference):
    vectors = bf16_encoder.encode(SENTENCES)
    assert vectors.dtype == np.float32
    assert row_cosines(vectors, reference).min() >= 0.9999


def test_given_auto_on_cpu_then_bf16_exactly_where_the_cpu_has_native_bf16():
    expected = "bf16" if cpu_has_fast_bf16() else "fp32"
    assert resolve_precision("auto", "cpu") == expected
    assert resolve_precision("auto", "cuda:0") == "fp16"
    assert resolve_precision("fp32", "cpu") == "fp32"


def test_given_cpuinfo_flags_then_native_bf16_is_detected(tmp_path):
    amx = tmp_path / "amx"
    amx.write_text("flags\t\t: fpu sse2 avx512f amx_bf16 amx_tile\n")
    plain = tmp_path / "plain"
    plain.write_text("flags\t\t: fpu sse2 avx2\n")
    assert cpu_has_fast_bf16(amx) and not cpu_has_fast_bf16(plain)
    assert not cpu_has_fast_bf16(tmp_path / "missing")


def test_when_encoding_then_rows_are_l2_normalised(bf16_encoder):
    norms = np.linalg.norm(bf16_encoder.encode(SENTENCES), axis=1)
    np.testing.assert_allclose(norms, 1.0, atol=1e-5)


def test_given_shuffled_input_then_each_text_keeps_its_vector(fp32_encoder, monkeypatch):
    # Tiny batches force many length buckets, so a wrong un-permute would show.
    monkeypatch.setattr(fp32_encoder, "batch_size", 3)
    base = fp32_encoder.encode(SENTENCES)
    order = list(range(len(SENTENCES)))
    random.Random(7).shuffle(order)
    shuffled = fp32_encoder.encode([SENTENCES[i] for i in order])
    assert row_cosines(shuffled, base[order]).min() >= 0.99999


def test_given_one_text_alone_or_in_a_batch_then_the_vector_is_the_same(fp32_encoder):
    batch = fp32_encoder.encode(SENTENCES)
    alone = np.vstack([fp32_encoder.encode([text]) for text in SENTENCES[:4]])
    assert row_cosines(alone, batch[:4]).min() >= 0.99999


def test_given_a_token_budget_then_no_batch_pads_past_it(fp32_encoder, monkeypatch):
    monkeypatch.setattr(fp32_encoder, "_batch_tokens", 600)
    lengths = np.array([256, 256, 250, 100, 90, 80, 10, 3])
    batches = fp32_encoder._batches(np.arange(len(lengths)), lengths)
    assert np.concatenate(batches).tolist() == list(range(len(lengths)))
    assert all(len(b) * lengths[b[0]] <= 600 for b in batches)


def test_given_text_past_max_tokens_then_the_tail_is_ignored(fp32_encoder):
    vectors = fp32_encoder.encode([LONG, LONG + " Completely different ending about volcanoes."])
    assert row_cosines(vectors[:1], vectors[1:])[0] >= 0.99999


def test_given_2000_words_then_encoding_does_not_raise(bf16_encoder):
    vectors = bf16_encoder.encode([" ".join(["sourdough"] * 1000 + ["starter"] * 1000)])
    assert vectors.shape == (1, 384) and np.isfinite(vectors).all()


def test_given_no_texts_then_an_empty_matrix(fp32_encoder):
    vectors = fp32_encoder.encode([])
    assert vectors.shape == (0, 384) and vectors.dtype == np.float32


@pytest.mark.parametrize("bad", ["one string", b"bytes", None, 42, ["ok", 3], [None], ["lone \ud800"]])
def test_given_inputs_that_are_not_strings_then_encoder_error(fp32_encoder, bad):
    with pytest.raises(EncoderError):
        fp32_encoder.encode(bad)


def test_given_two_threads_then_both_get_the_serial_results(bf16_encoder):
    expected = bf16_encoder.encode(SENTENCES)
    results: dict[int, np.ndarray] = {}
    errors: list[BaseException] = []

    def work(slot: int) -> None:
        try:
            results[slot] = bf16_encoder.encode(SENTENCES)
        except BaseException as exc:  # noqa: BLE001 - surfaced below; a thread's exception is otherwise lost
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(slot,)) for slot in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    for slot in range(2):
        np.testing.assert_allclose(results[slot], expected, atol=1e-6)


def test_given_an_unknown_model_then_configuration_error(tmp_path):
    with pytest.raises(ConfigurationError):
        HFEncoder("no-such-org/no-such-model")
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(ConfigurationError):
        HFEncoder(str(tmp_path))


@pytest.mark.parametrize(
    "kwargs",
    [{"precision": "int4"}, {"precision": "fp16", "device": "cpu"}, {"batch_size": 0}, {"max_tokens": 4096}],
)
def test_given_invalid_settings_then_configuration_error(kwargs):
    with pytest.raises(ConfigurationError):
        HFEncoder(**{"device": "cpu", **kwargs})


def test_given_the_same_settings_then_the_same_instance_is_returned():
    clear_encoder_cache()
    try:
        first = get_encoder("sentence-transformers/all-MiniLM-L6-v2", device="cpu")
        assert get_encoder("sentence-transformers/all-MiniLM-L6-v2", device="cpu") is first
        assert first.dimension == 384
    finally:
        clear_encoder_cache()


def test_the_encoder_truncates_at_the_same_limit(fp32_encoder) -> None:
    assert fp32_encoder.max_tokens == model_max_tokens(DEFAULT_MODEL) == 256
    # tokenizer.json ships with truncation and padding at 128: both are replaced.
    truncation = fp32_encoder._tokenizer.truncation
    assert truncation is not None and truncation["max_length"] == 256
    assert fp32_encoder._tokenizer.padding is None
    loaded = tokenizer.load_tokenizer(DEFAULT_MODEL)
    assert loaded.truncation is None and loaded.padding is None


def _passes(lengths: list[int], rows: int) -> list[list[int]]:
    """The documented cut (hf._batches): longest first, at most ``rows`` per pass, a new pass
    for a row under half its pass's longest."""
    passes: list[list[int]] = []
    for n in sorted(lengths, reverse=True):
        if passes and len(passes[-1]) < rows and n >= passes[-1][0] * 0.5:
            passes[-1].append(n)
        else:
            passes.append([n])
    return passes


def _padding(passes: list[list[int]]) -> int:
    """Padded minus real tokens, each pass padded to its longest rounded up to 16."""
    return sum(-(-p[0] // 16) * 16 * len(p) - sum(p) for p in passes)


def test_padding_is_counted_per_batch_and_length_bucketing_keeps_it_small(fp32_encoder):
    from indexflow.observability.metrics import ENCODER_TOKENS

    texts = ["short one", "a much longer sentence " * 12, "mid length text " * 4, "tiny", "also tiny"]
    lengths = [len(e.ids) for e in fp32_encoder._tokenizer.encode_batch(texts)]
    real0, pad0 = fp32_encoder.tokens_real, fp32_encoder.tokens_padding
    counted0 = ENCODER_TOKENS.labels(fp32_encoder.name, "padding")._value.get()
    fp32_encoder.encode(texts)
    # batch_size 64: the long row, the mid one, the short ones each in a pass of their own length
    passes = _passes(lengths, 64)
    assert len(passes) == 3
    assert fp32_encoder.tokens_real - real0 == sum(lengths)
    assert fp32_encoder.tokens_padding - pad0 == _padding(passes) > 0
    assert ENCODER_TOKENS.labels(fp32_encoder.name, "padding")._value.get() - counted0 == _padding(passes)
    # far less than padding every row to the longest in one pass
    assert _padding(passes) < -(-max(lengths) // 16) * 16 * len(texts) - sum(lengths)
    # two rows per pass at most: the cut follows the row limit too
    narrow = HFEncoder(DEFAULT_MODEL, device="cpu", precision="fp32", batch_size=2)
    narrow.encode(texts)
    expected = _padding(_passes(lengths, 2))
    assert narrow.tokens_padding == expected
    assert narrow.padding_ratio == pytest.approx(expected / sum(lengths))


def test_rounded_and_split_passes_give_the_vectors_of_one_text_at_a_time(fp32_encoder):
    texts = ["short one", "a much longer sentence " * 12, "mid length text " * 4, "tiny"]
    together = fp32_encoder.encode(texts)
    alone = np.vstack([fp32_encoder.encode([text]) for text in texts])
    np.testing.assert_allclose(together, alone, atol=1e-5)
