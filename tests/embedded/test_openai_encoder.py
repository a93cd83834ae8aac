"""openai:<model>: a real OpenAI-compatible server on 127.0.0.1 serving all-MiniLM-L6-v2's vectors,
with rate limits, timeouts and over-size rejections switched on where a test needs them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from pydantic import SecretStr

from indexflow.encoders.base import Encoder
from indexflow.encoders.estimate import ESTIMATE_TOKENIZER, EstimateTokenizer
from indexflow.encoders.factory import get_encoder
from indexflow.encoders.hf import HFEncoder
from indexflow.encoders.models import DEFAULT_MODEL
from indexflow.encoders.openai import OpenAIConfig, OpenAIEncoder
from indexflow.errors import EncoderError, EncoderUnavailable, TransientError
from indexflow.settings import Settings
from tests.embedded.conftest import LONG, SENTENCES
from tests.embedded.openai_server import EmbeddingsServer


def row_cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


@pytest.fixture(scope="module")
def local() -> HFEncoder:
    encoder = get_encoder(DEFAULT_MODEL, device="cpu", precision="fp32")
    assert isinstance(encoder, HFEncoder)
    return encoder


@pytest.fixture(scope="module")
def server(local: HFEncoder) -> Iterator[EmbeddingsServer]:
    srv = EmbeddingsServer(local)
    yield srv
    srv.close()


@pytest.fixture
def srv(server: EmbeddingsServer) -> EmbeddingsServer:
    server.reset()
    return server


def client(
    srv: EmbeddingsServer, model: str = "all-minilm", **limits: object
) -> tuple[OpenAIEncoder, list[float]]:
    """An encoder on the test server, and the waits it made (recorded, not slept)."""
    waits: list[float] = []
    config = OpenAIConfig(base_url=srv.url, api_key="sk-test", **limits)  # type: ignore[arg-type]
    return OpenAIEncoder(model, config=config, sleep=waits.append), waits


def test_given_a_server_when_encoding_then_the_vectors_are_the_local_models(srv, local):
    # given an OpenAI-compatible server serving MiniLM; when texts are encoded through it
    encoder, _ = client(srv)
    vectors = encoder.encode(SENTENCES)
    # then they are the local model's vectors, in order, normalised, as the port says
    assert isinstance(encoder, Encoder)
    assert vectors.shape == (len(SENTENCES), 384) and vectors.dtype == np.float32
    assert row_cosines(vectors, local.encode(SENTENCES)).min() > 0.9999
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert srv.record.models == ["all-minilm"]
    assert encoder.encode([]).shape == (0, 384)


def test_given_no_request_yet_when_asking_the_dimension_then_it_is_read_from_one_response(srv):
    encoder, _ = client(srv)
    assert encoder.dimension == 384
    assert len(srv.record.batches) == 1
    assert encoder.dimension == 384 and len(srv.record.batches) == 1  # asked once


def test_given_limits_when_encoding_many_texts_then_batches_stay_within_inputs_and_tokens(srv, local):
    # given at most 3 inputs and 60 (estimated) tokens per request
    encoder, _ = client(srv, max_inputs_per_request=3, max_tokens_per_request=60)
    texts = [f"sentence number {i} about bees, compost and tomatoes in the garden" for i in range(10)]
    # when encoding ten texts
    vectors = encoder.encode(texts)
    # then every request respected both limits, and the vectors are still the model's, in order
    counter = EstimateTokenizer()
    assert len(srv.record.batches) > 3
    for batch in srv.record.batches:
        assert len(batch) <= 3 and sum(counter.count(batch)) <= 60
    assert [t for batch in srv.record.batches for t in batch] == texts
    assert row_cosines(vectors, local.encode(texts)).min() > 0.9999


def test_given_rate_limits_when_encoding_then_retry_after_is_waited_and_the_result_is_whole(srv, local):
    # given a server that answers the next two requests with 429, Retry-After: 7
    srv.switches.rate_limited, srv.switches.retry_after = 2, "7"
    encoder, waits = client(srv)
    # when encoding
    vectors = encoder.encode(SENTENCES[:3])
    # then it waited what the server asked, twice, and got the right vectors
    assert waits == [7.0, 7.0]
    assert srv.record.statuses == [429, 429, 200]
    assert row_cosines(vectors, local.encode(SENTENCES[:3])).min() > 0.9999


def test_given_a_429_without_retry_after_then_the_waits_grow_exponentially(srv):
    srv.switches.rate_limited, srv.switches.retry_after = 3, None
    encoder, waits = client(srv)
    encoder.encode(["hi"])
    assert waits == [1.0, 2.0, 4.0]


def test_given_a_lasting_rate_limit_then_a_transient_error_not_a_permanent_one(srv):
    # given more 429s than retries, or a Retry-After longer than the encoder waits in place
    srv.switches.rate_limited = 100
    encoder, waits = client(srv, max_retries=2)
    with pytest.raises(EncoderUnavailable, match="429") as raised:
        encoder.encode(["hi"])
    assert isinstance(raised.value, TransientError) and len(waits) == 2
    srv.reset()
    srv.switches.rate_limited, srv.switches.retry_after = 1, "3600"
    encoder, waits = client(srv, max_retry_wait_seconds=60)
    with pytest.raises(EncoderUnavailable):
        encoder.encode(["hi"])
    assert waits == []  # the work unit backs off instead of a worker sleeping an hour


def test_given_slow_answers_when_the_request_times_out_then_it_is_retried(srv, local):
    # given a server that answers the first request after 1.5 s, and a 0.5 s client timeout
    srv.switches.slow, srv.switches.slow_seconds = 1, 1.5
    encoder, waits = client(srv, timeout_seconds=0.5)
    # when encoding, then the retry succeeds
    vectors = encoder.encode(["Bees communicate with a waggle dance."])
    assert waits == [1.0]
    assert row_cosines(vectors, local.encode(["Bees communicate with a waggle dance."])).min() > 0.9999
    # and a server that stays slow gives a transient error
    srv.switches.slow = 100
    encoder, _ = client(srv, timeout_seconds=0.3, max_retries=1)
    with pytest.raises(EncoderUnavailable, match="timed out"):
        encoder.encode(["hi"])
    srv.switches.slow = 0


def test_given_a_batch_too_large_for_the_provider_then_it_is_split_until_accepted(srv, local):
    # given a provider that refuses more than 4 inputs per request (HTTP 400, context length)
    srv.switches.max_inputs = 4
    encoder, _ = client(srv, max_inputs_per_request=64)
    texts = [f"text {i}: {s}" for i, s in enumerate(SENTENCES)]
    # when encoding 12 texts in what the encoder thinks is one batch
    vectors = encoder.encode(texts)
    # then the batch was halved until accepted, nothing lost, order kept
    assert 400 in srv.record.statuses
    assert all(len(b) <= 4 for b in srv.record.batches)
    assert [t for b in srv.record.batches for t in b] == texts
    assert row_cosines(vectors, local.encode(texts)).min() > 0.9999


def test_given_one_text_too_long_for_the_provider_then_it_is_shortened_not_failed(srv):
    srv.switches.max_chars = 400
    encoder, _ = client(srv)
    vectors = encoder.encode([LONG, "short"])
    assert vectors.shape == (2, 384)
    sent = [t for b in srv.record.batches for t in b]
    assert sent[-1] == "short" and LONG.startswith(sent[0]) and len(sent[0]) <= 400


def test_given_a_wrong_key_then_a_permanent_encoder_error_that_says_why(srv):
    srv.switches.api_key = "sk-right"
    encoder, waits = client(srv)
    with pytest.raises(EncoderError, match=r"401.*Incorrect API key"):
        encoder.encode(["hi"])
    assert waits == []


def test_given_prefix_options_then_queries_and_passages_get_their_own_prefix(srv):
    encoder, _ = client(srv, model="all-minilm?query=query:+&passage=passage:+&max_tokens=256")
    assert encoder.model == "all-minilm" and encoder.max_tokens == 256
    encoder.encode_queries(["how do bees talk"])
    encoder.encode_passages(["Bees dance."])
    encoder.encode(["Indexed."])  # encode is the indexing side
    assert srv.record.batches == [
        ["query: how do bees talk"],
        ["passage: Bees dance."],
        ["passage: Indexed."],
    ]
    assert srv.record.models == ["all-minilm", "all-minilm", "all-minilm"]


def write_corpus(folder: Path) -> Path:
    folder.mkdir()
    (folder / "compost.txt").write_text(
        "Composting turns kitchen scraps into soil. Turn the pile every week and keep it moist.\n\n"
        "Browns such as dry leaves bring carbon; greens such as grass clippings bring nitrogen.\n"
    )
    (folder / "bees.md").write_text(
        "# Bees\n\nHoney bees tell their sisters where flowers are with a waggle dance.\n\n"
        "## Hives\n\nA colony keeps its hive at about 35 degrees in winter by shivering.\n"
    )
    (folder / "bread.txt").write_text("Sourdough needs flour, water, salt and a lively starter.\n")
    return folder


def test_given_an_openai_profile_when_ingesting_under_rate_limits_then_nothing_fails_and_search_works(
    srv, local, tmp_path, make_ix
):
    # given a profile on the test server, with an encoder that retries no 429 in place, so every
    # rate limit reaches the work unit, which must back off and try again (never fail the plan)
    settings = Settings(
        home=tmp_path / "state",
        lease_seconds=60,
        openai_base_url=srv.url,
        openai_api_key=SecretStr("sk-test"),
        openai_max_retries=0,
    )
    srv.switches.api_key = "sk-test"
    with make_ix(settings) as ix:
        view = ix.profiles.create("remote", encoder="openai:all-minilm?passage=passage:+", lexical=False)
        # the dimension was read from the server, chunks are counted with the estimate
        assert view.dimension == 384 and view.tokenizer == ESTIMATE_TOKENIZER
        ix.profiles.activate("remote")
        srv.switches.rate_limited, srv.switches.retry_after = 2, "0"
        # when ingesting
        report = ix.ingest(str(write_corpus(tmp_path / "docs")), profiles=["remote"], timeout=120)
        # then every document is searchable, though the server said 429 twice
        assert report.ok, report
        assert srv.record.statuses.count(429) == 2
        passages = [t for b in srv.record.batches for t in b]
        assert passages and all(t.startswith("passage: ") for t in passages[1:])
        hits = ix.search("How do bees show where the flowers are?", profile="remote", k=3)
        assert hits and hits[0].document.source.endswith("bees.md")
        # and the query went to the server as is (no query prefix in this profile)
        assert srv.record.batches[-1] == ["How do bees show where the flowers are?"]


def test_given_a_tokenizer_option_then_the_profile_chunks_with_that_tokenizer(srv, tmp_path, make_ix):
    # given an openai: profile that names the model's Hugging Face tokenizer and its token limit
    settings = Settings(home=tmp_path / "state", openai_base_url=srv.url)
    name = f"openai:all-minilm?tokenizer={DEFAULT_MODEL}&max_tokens=256"
    with make_ix(settings) as ix:
        view = ix.profiles.create("counted", encoder=name)
    # then chunks are counted with it, and sized to the declared limit
    assert (view.tokenizer, view.max_tokens, view.dimension) == (DEFAULT_MODEL, 256, 384)
    assert view.chunk_size == 254
