"""Encoder runtimes (INDEXFLOW_ENCODER_BACKEND): each one faithful to sentence-transformers fp32 on
2,000 real chunks, the OpenVINO IR converted once, ``auto`` measured once, and a missing openvino
refused clearly (``openvino``) or skipped (``auto``)."""

from __future__ import annotations

import glob
import logging
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from indexflow.encoders.engines import FIDELITY_GATE, build_hf_encoder, check_fidelity, choose_engine, cosines
from indexflow.encoders.factory import clear_encoder_cache, get_encoder
from indexflow.encoders.hf import HFEncoder, cpu_has_fast_bf16
from indexflow.encoders.models import DEFAULT_MODEL
from indexflow.encoders.openvino import OpenVINOEncoder
from indexflow.errors import ConfigurationError
from tests.embedded.conftest import SENTENCES

# Real prose and code that ship with this image (Debian's licences, CMake's manual, Python's stdlib).
CORPUS_GLOBS = (
    "/usr/share/common-licenses/*",
    "/usr/share/cmake-*/Help/**/*.rst",
    os.path.join(os.path.dirname(os.__file__), "*.py"),
)
CHUNKS = 2000
# Chunk lengths in tokens, cycled: mostly short and medium, one in eight 128 tokens long. The
# test's CPU time grows with the tokens (~85k here, encoded three times); bench/encoder.py
# measures full-length chunks.
WIDTHS = (6, 10, 16, 24, 32, 48, 64, 128)


def real_chunks(tokenizer, n: int) -> list[str]:
    """``n`` chunks of real text of the lengths in ``WIDTHS``, cut at token boundaries."""
    chunks: list[str] = []
    for pattern in CORPUS_GLOBS:
        for path in sorted(glob.glob(pattern, recursive=True)):
            try:
                text = " ".join(Path(path).read_text(encoding="utf-8", errors="ignore").split())
            except OSError:
                continue
            offsets = [
                span for span in tokenizer.encode(text, add_special_tokens=False).offsets if span[1] > span[0]
            ]
            start = 0
            while start < len(offsets):
                width = WIDTHS[len(chunks) % len(WIDTHS)]
                window = offsets[start : start + width]
                chunks.append(text[window[0][0] : window[-1][1]])
                start += width
                if len(chunks) >= n:
                    return chunks
    return chunks


@pytest.fixture(scope="module")
def chunks(model_dir) -> list[str]:
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    found = real_chunks(tokenizer, CHUNKS)
    assert len(found) == CHUNKS, f"only {len(found)} chunks of real text on this machine"
    return found


@pytest.fixture(scope="module")
def st_vectors(model_dir, chunks) -> np.ndarray:
    """sentence-transformers fp32: the vectors every runtime must reproduce."""
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(model_dir), device="cpu")
    return model.encode(chunks, batch_size=32, normalize_embeddings=True, convert_to_numpy=True)


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("indexflow-cache")


@pytest.fixture(scope="module")
def ov_bf16(cache_dir) -> OpenVINOEncoder:
    return OpenVINOEncoder(DEFAULT_MODEL, precision="bf16", cache_dir=cache_dir)


@pytest.fixture(scope="module")
def ov_fp32(ov_bf16, cache_dir) -> OpenVINOEncoder:
    return OpenVINOEncoder(DEFAULT_MODEL, precision="fp32", cache_dir=cache_dir)


@pytest.mark.parametrize("runtime", ["ov_fp32", "ov_bf16"])
def test_given_openvino_then_2000_real_chunks_stay_within_the_fidelity_gate(
    request, runtime, chunks, st_vectors
) -> None:
    encoder = request.getfixturevalue(runtime)
    vectors = encoder.encode(chunks)
    assert vectors.dtype == np.float32 and vectors.shape == (CHUNKS, 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    min_cos, mean_cos = cosines(vectors, st_vectors)
    logging.getLogger(__name__).info("%s: min cosine %.6f, mean %.7f", runtime, min_cos, mean_cos)
    assert min_cos >= FIDELITY_GATE, f"{runtime}: min cosine {min_cos:.6f} (mean {mean_cos:.7f})"


def test_given_a_converted_model_then_a_second_construction_reuses_the_ir(ov_bf16, cache_dir) -> None:
    # Given the IR the first construction converted
    assert ov_bf16.converted
    files = sorted(ov_bf16.ir_dir.iterdir())
    assert {path.name for path in files} >= {"model.xml", "model.bin", "key.json"}
    stamps = [path.stat().st_mtime_ns for path in files]
    # When another encoder of the same model is built on the same cache
    again = OpenVINOEncoder(DEFAULT_MODEL, precision="fp32", cache_dir=cache_dir)
    # Then it converts nothing: the same folder, the same files, untouched
    assert not again.converted and again.ir_dir == ov_bf16.ir_dir
    assert [path.stat().st_mtime_ns for path in sorted(again.ir_dir.iterdir())] == stamps
    assert [path for path in (cache_dir / "openvino").iterdir() if path.is_dir()] == [ov_bf16.ir_dir]


def test_given_openvino_then_it_is_the_same_encoder_as_torch_in_every_other_respect(ov_bf16) -> None:
    torch_encoder = HFEncoder(DEFAULT_MODEL, device="cpu", precision="fp32")
    assert (ov_bf16.dimension, ov_bf16.max_tokens, ov_bf16.name) == (384, 256, DEFAULT_MODEL)
    assert ov_bf16.encode([]).shape == (0, 384)
    min_cos, _ = check_fidelity(ov_bf16, torch_encoder, SENTENCES)
    assert min_cos >= FIDELITY_GATE


def test_given_two_threads_then_openvino_gives_both_the_serial_results(ov_fp32) -> None:
    expected = ov_fp32.encode(SENTENCES)
    results: dict[int, np.ndarray] = {}
    errors: list[BaseException] = []

    def work(slot: int) -> None:
        try:
            results[slot] = ov_fp32.encode(SENTENCES)
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


def test_given_auto_then_a_faithful_backend_is_chosen_once_and_cached(
    ov_bf16, cache_dir, chunks, caplog
) -> None:
    sample = chunks[:24]
    caplog.set_level(logging.INFO, logger="indexflow.encoders.engines")
    # When auto measures the candidates on this machine
    first = choose_engine(DEFAULT_MODEL, device="cpu", precision="auto", cache_dir=cache_dir, texts=sample)
    # Then every candidate was measured, and the chosen one is the fastest that passed the gate
    assert not first.cached
    expected = {("torch", "fp32"), ("openvino", "fp32")}
    if cpu_has_fast_bf16():
        expected |= {("torch", "bf16"), ("openvino", "bf16")}
    assert {(t.engine, t.precision) for t in first.trials} == expected
    faithful = [t for t in first.trials if t.faithful]
    assert faithful and all(t.min_cos >= FIDELITY_GATE for t in faithful)
    best = max(faithful, key=lambda t: t.tokens_per_s)
    assert (first.engine, first.precision) == (best.engine, best.precision)
    assert any("encoder backend auto:" in message for message in caplog.messages)
    decisions = list((cache_dir / "engines").glob("*.json"))
    assert len(decisions) == 1
    # And a second call reads the decision instead of measuring again
    stamp = decisions[0].stat().st_mtime_ns
    again = choose_engine(DEFAULT_MODEL, device="cpu", precision="auto", cache_dir=cache_dir, texts=sample)
    assert again.cached and (again.engine, again.precision) == (first.engine, first.precision)
    assert decisions[0].stat().st_mtime_ns == stamp


def test_given_openvino_through_the_registry_then_it_is_built_once_and_encodes_faithfully(
    ov_bf16, cache_dir
) -> None:
    clear_encoder_cache()
    try:
        encoder = get_encoder(
            DEFAULT_MODEL, device="cpu", precision="fp32", engine="openvino", cache_dir=cache_dir
        )
        assert isinstance(encoder, OpenVINOEncoder) and encoder.precision == "fp32"
        assert (
            get_encoder(DEFAULT_MODEL, device="cpu", precision="fp32", engine="openvino", cache_dir=cache_dir)
            is encoder
        )
        torch_encoder = get_encoder(DEFAULT_MODEL, device="cpu", precision="fp32")
        assert type(torch_encoder) is HFEncoder
        assert check_fidelity(encoder, torch_encoder, SENTENCES)[0] >= FIDELITY_GATE
    finally:
        clear_encoder_cache()


def test_given_openvino_not_importable_then_openvino_is_refused_and_auto_falls_back_to_torch(
    monkeypatch, tmp_path, caplog
) -> None:
    # Given an environment where `import openvino` fails (None in sys.modules makes it raise)
    monkeypatch.setitem(sys.modules, "openvino", None)
    # When openvino is asked for, then a configuration error names the extra that installs it
    with pytest.raises(ConfigurationError, match=r"pip install 'indexflow\[openvino\]'"):
        build_hf_encoder(DEFAULT_MODEL, engine="openvino", device="cpu", cache_dir=tmp_path)
    clear_encoder_cache()
    try:
        with pytest.raises(ConfigurationError, match=r"indexflow\[openvino\]"):
            get_encoder(DEFAULT_MODEL, device="cpu", engine="openvino", cache_dir=tmp_path)
    finally:
        clear_encoder_cache()
    # And auto, left with torch alone, uses torch and says why
    caplog.set_level(logging.INFO, logger="indexflow.encoders.engines")
    encoder = build_hf_encoder(
        DEFAULT_MODEL, engine="auto", device="cpu", precision="fp32", cache_dir=tmp_path
    )
    assert type(encoder) is HFEncoder and encoder.precision == "fp32"
    assert any("openvino not installed" in message for message in caplog.messages)
    assert not (tmp_path / "openvino").exists()


@pytest.mark.parametrize(
    "kwargs", [{"device": "cuda"}, {"precision": "fp16"}, {"performance_hint": "FASTEST"}, {"batch_size": 0}]
)
def test_given_settings_openvino_cannot_run_then_configuration_error(kwargs, tmp_path) -> None:
    with pytest.raises(ConfigurationError):
        OpenVINOEncoder(DEFAULT_MODEL, cache_dir=tmp_path, **kwargs)


def test_given_a_cached_ir_then_openvino_starts_without_torch_or_transformers(ov_bf16, cache_dir) -> None:
    # Given the IR converted by the first construction; when a fresh process builds the encoder
    # on that cache and embeds a text
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from indexflow.encoders.openvino import OpenVINOEncoder\n"
        f"e = OpenVINOEncoder(precision='bf16', cache_dir=Path({str(cache_dir)!r}))\n"
        "v = e.encode(['borrowing rules in Rust'])\n"
        "print(e.converted, v.shape, 'torch' in sys.modules, 'transformers' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    # Then it converted nothing and imported neither torch nor transformers
    assert done.stdout.split() == ["False", "(1,", "384)", "False", "False"]


@pytest.mark.parametrize("pooling", ["mean", "cls", "max", "mean_sqrt_len_tokens", "lasttoken"])
def test_given_any_pooling_then_the_numpy_pooling_matches_torch(pooling) -> None:
    import torch

    encoder = HFEncoder(DEFAULT_MODEL, device="cpu", precision="fp32")
    encoder.pooling = pooling
    rng = np.random.default_rng(7)
    hidden = rng.standard_normal((5, 9, 16)).astype(np.float32)
    lengths = [9, 1, 4, 7, 2]
    mask = np.array([[1] * n + [0] * (9 - n) for n in lengths], dtype=np.int64)
    expected = torch.nn.functional.normalize(
        encoder._pool(torch.from_numpy(hidden), torch.from_numpy(mask)), p=2, dim=1
    ).numpy()
    np.testing.assert_allclose(encoder._pool_numpy(hidden, mask), expected, rtol=1e-5, atol=1e-6)


def test_given_the_default_sample_then_auto_measures_in_a_child_process(tmp_path, caplog) -> None:
    import indexflow.encoders.engines as engines

    caplog.set_level(logging.INFO, logger="indexflow.encoders.engines")
    measured_here: list[str] = []
    original = engines._measure

    def spy(*args, **kwargs):  # the in-process fallback must not run
        measured_here.append("here")
        return original(*args, **kwargs)

    engines._measure = spy
    try:
        # When auto measures on its own sample (no texts given), fp32 only: two candidates
        decision = choose_engine(DEFAULT_MODEL, device="cpu", precision="fp32", cache_dir=tmp_path)
    finally:
        engines._measure = original
    # Then a child process measured both and wrote the decision this process read back
    assert measured_here == [] and not decision.cached
    assert {(t.engine, t.precision) for t in decision.trials} == {("torch", "fp32"), ("openvino", "fp32")}
    faithful = [t for t in decision.trials if t.faithful]
    assert faithful and max(faithful, key=lambda t: t.tokens_per_s).engine == decision.engine
    assert len(list((tmp_path / "engines").glob("*.json"))) == 1
    assert any("measuring torch fp32, openvino fp32" in m for m in caplog.messages)
