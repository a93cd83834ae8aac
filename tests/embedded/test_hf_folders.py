"""HFEncoder on local sentence-transformers folders: the folder's pooling, its prompts, and the
query / passage prefixes of the encoder name."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from indexflow.encoders.factory import get_encoder
from indexflow.encoders.hf import HFEncoder
from indexflow.errors import ConfigurationError
from tests.embedded.conftest import SENTENCES


def variant(model_dir: Path, target: Path, pooling: dict[str, object] | None = None) -> Path:
    """A copy of the MiniLM folder (weights linked, not copied) with another pooling config."""
    target.mkdir()
    for item in model_dir.iterdir():
        if item.name == "model.safetensors":
            (target / item.name).symlink_to(item)
        elif item.is_dir():
            shutil.copytree(item, target / item.name)
        else:
            shutil.copy(item, target / item.name)
    if pooling is not None:
        (target / "1_Pooling" / "config.json").write_text(json.dumps(pooling))
    return target


CLS: dict[str, object] = {
    "word_embedding_dimension": 384,
    "pooling_mode_cls_token": True,
    "pooling_mode_mean_tokens": False,
    "pooling_mode_max_tokens": False,
    "pooling_mode_mean_sqrt_len_tokens": False,
}


def manual_cls(folder: Path, texts: list[str]) -> np.ndarray:
    """[CLS]'s last hidden state, L2-normalised, computed with transformers directly."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(folder))
    model = AutoModel.from_pretrained(str(folder)).eval()
    batch = tok(texts, padding=True, truncation=True, max_length=256, return_tensors="pt")
    with torch.inference_mode():
        cls = model(**batch).last_hidden_state[:, 0]
    result: np.ndarray = torch.nn.functional.normalize(cls, dim=1).numpy()
    return result


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def test_given_a_cls_pooling_folder_then_vectors_are_cls_not_mean(model_dir, tmp_path, fp32_encoder):
    # given a copy of MiniLM whose 1_Pooling/config.json says CLS
    folder = variant(model_dir, tmp_path / "minilm-cls", CLS)
    texts = [s for s in SENTENCES if s.strip()]
    # when it is loaded by folder name
    encoder = get_encoder(str(folder), device="cpu", precision="fp32")
    assert isinstance(encoder, HFEncoder) and encoder.pooling == "cls"
    vectors = encoder.encode(texts)
    # then the vectors are [CLS]'s, not the mean the original folder gives
    assert cosines(vectors, manual_cls(folder, texts)).min() > 0.9999
    assert cosines(vectors, fp32_encoder.encode(texts)).max() < 0.99
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_given_the_new_pooling_mode_key_then_it_is_read_as_well(model_dir, tmp_path):
    folder = variant(model_dir, tmp_path / "minilm-max", {"embedding_dimension": 384, "pooling_mode": "max"})
    assert HFEncoder(str(folder), device="cpu", precision="fp32").pooling == "max"


@pytest.mark.parametrize(
    ("pooling", "message"),
    [
        ({"pooling_mode": "weightedmean"}, "weightedmean"),
        ({"pooling_mode_cls_token": True, "pooling_mode_mean_tokens": True}, "exactly one"),
    ],
)
def test_given_a_pooling_it_cannot_reproduce_then_a_configuration_error(
    model_dir, tmp_path, pooling, message
):
    folder = variant(model_dir, tmp_path / "odd", pooling)
    with pytest.raises(ConfigurationError, match=message):
        HFEncoder(str(folder), device="cpu", precision="fp32")


def test_given_a_dense_module_then_the_folder_is_refused(model_dir, tmp_path):
    folder = variant(model_dir, tmp_path / "dense")
    modules = json.loads((folder / "modules.json").read_text())
    modules.append({"idx": 3, "name": "3", "path": "3_Dense", "type": "sentence_transformers.models.Dense"})
    (folder / "modules.json").write_text(json.dumps(modules))
    with pytest.raises(ConfigurationError, match="Dense"):
        HFEncoder(str(folder), device="cpu", precision="fp32")


def test_given_prefix_options_then_queries_and_passages_are_prefixed(model_dir, tmp_path, fp32_encoder):
    # given the encoder name "<folder>?query=query:+&passage=passage:+" (e5 style)
    folder = variant(model_dir, tmp_path / "e5-style")
    encoder = get_encoder(f"hf:{folder}?query=query:+&passage=passage:+", device="cpu", precision="fp32")
    assert isinstance(encoder, HFEncoder)
    assert (encoder.query_prefix, encoder.passage_prefix) == ("query: ", "passage: ")
    texts = ["how do bees talk", "Bees dance to show where flowers are."]
    # then a query is embedded after "query: ", a passage after "passage: "
    queries = encoder.encode_queries(texts)
    assert cosines(queries, fp32_encoder.encode([f"query: {t}" for t in texts])).min() > 0.9999
    # encode is the indexing side: the passage prefix
    indexed = encoder.encode(texts)
    assert cosines(indexed, fp32_encoder.encode([f"passage: {t}" for t in texts])).min() > 0.9999
    passages = encoder.encode_passages(texts)
    assert cosines(passages, fp32_encoder.encode([f"passage: {t}" for t in texts])).min() > 0.9999
    assert cosines(passages, fp32_encoder.encode(texts)).max() < 0.9999
    # and the room the prefix takes is kept free of chunk text: "passage: " is 2 tokens
    assert encoder.max_tokens == fp32_encoder.max_tokens - 2


def test_given_a_folder_with_prompts_then_they_are_the_default_prefixes(model_dir, tmp_path, fp32_encoder):
    # given sentence-transformers' prompts in config_sentence_transformers.json
    folder = variant(model_dir, tmp_path / "prompted")
    config = json.loads((folder / "config_sentence_transformers.json").read_text())
    config["prompts"] = {"query": "query: ", "document": "passage: "}
    (folder / "config_sentence_transformers.json").write_text(json.dumps(config))
    encoder = HFEncoder(str(folder), device="cpu", precision="fp32")
    assert (encoder.query_prefix, encoder.passage_prefix) == ("query: ", "passage: ")
    vector = encoder.encode_passages(["Bees dance."])
    assert cosines(vector, fp32_encoder.encode(["passage: Bees dance."])).min() > 0.9999
    # an option in the name wins over the folder's prompt
    plain = get_encoder(f"{folder}?query=&passage=", device="cpu", precision="fp32")
    assert isinstance(plain, HFEncoder) and (plain.query_prefix, plain.passage_prefix) == ("", "")
