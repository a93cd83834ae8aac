"""Every parser on every sample and on hostile input: valid trees or readable errors, no crashes."""

from __future__ import annotations

import json
import random
import warnings

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from indexflow.errors import IndexflowError, ParseError
from indexflow.parsers import parse
from indexflow.parsers.base import Limits, TreeBuilder

GOOD = [
    "composting.txt",
    "recettes_cp1252.txt",
    "git_guide.md",
    "lisbon_history.html",
    "tomato_guide.pdf",
    "beekeeping.pdf",
    "sourdough.docx",
    "physics_exam.json",
]


@pytest.mark.parametrize("name", GOOD)
def test_every_sample_parses_to_a_valid_tree_with_a_title_and_no_warnings(read_doc, check_tree, name):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        parsed = parse(read_doc(name), name)

    check_tree(parsed)
    assert parsed.title


@pytest.mark.parametrize("name", GOOD)
def test_section_paths_are_short_and_readable(read_doc, name):
    parsed = parse(read_doc(name), name)

    for comp in parsed.components:
        assert all(0 < len(label) <= 61 for label in comp.path.split(" / "))


def test_fixture_folder_stays_small(docs):
    assert sum(p.stat().st_size for p in docs.iterdir()) < 1_000_000


@pytest.mark.parametrize(
    ("name", "error"),
    [
        ("truncated.pdf", "could not parse PDF"),
        ("scanned.pdf", "no extractable text"),
        ("encrypted.pdf", "needs a password"),
        ("not_a_zip.docx", "not a valid .docx file"),
        ("random.bin", "binary content"),
        ("exam_with_cycle.json", "parent cycle"),
    ],
)
def test_malformed_samples_raise_readable_errors_that_name_the_file(read_doc, name, error):
    with pytest.raises(IndexflowError) as caught:
        parse(read_doc(name), name)

    assert str(caught.value).startswith(f"{name}: ")
    assert error in str(caught.value)


@pytest.mark.parametrize(
    ("name", "payload"),
    [
        ("nul.txt", b"first\x00 para\n\nsecond\x00"),
        ("nul.md", b"# Head\x00ing\n\nbody\x00 text\n\n```\ncode\x00\n```"),
        ("nul.html", b"<html><title>T\x00</title><body><h1>H\x00</h1><p>p\x00ara</p></body></html>"),
        (
            "nul.json",
            b'[{"id": "a\\u0000", "parent_id": null, "position": 0, "kind": "q", "text": "t\\u0000x"}]',
        ),
    ],
)
def test_nul_bytes_never_reach_the_components(check_tree, name, payload):
    parsed = parse(payload, name)

    check_tree(parsed)
    assert all("\x00" not in c.id for c in parsed.components)
    assert "\x00" not in (parsed.title or "")


def test_lone_surrogates_from_json_escapes_are_made_encodable():
    parsed = parse(
        b'[{"id": "a", "parent_id": null, "position": 0, "kind": "q", "text": "x\\ud800y"}]', "s.json"
    )

    parsed.components[0].text.encode("utf-8")  # would raise on a lone surrogate


def test_deeply_nested_json_arrays_are_a_parse_error_not_a_crash():
    with pytest.raises(IndexflowError):
        parse(b"[" * 100_000 + b"]" * 100_000, "deep.json")


def test_deeply_nested_html_divs_parse_without_recursion_error(check_tree):
    depth = 20_000
    html = "<html><body>" + "<div>" * depth + "<p>deep text</p>" + "</div>" * depth + "</body></html>"

    parsed = parse(html.encode(), "divs.html")

    check_tree(parsed)
    assert parsed.components[-1].text == "deep text"


def test_html_tree_over_max_depth_is_a_parse_error():
    html = "<html><body>" + "<ul><li>x" * 60 + "</li></ul>" * 60 + "</body></html>"

    with pytest.raises(ParseError, match="deeper than 50 levels"):
        parse(html.encode(), "deep.html", max_depth=50)


def test_builder_prunes_empty_containers_and_renumbers_positions(check_tree):
    builder = TreeBuilder("text", Limits(), "t.txt")
    root = builder.add(None, "section", "Root", label="Root")
    builder.add(root, "list")  # empty: dropped
    builder.add(root, "paragraph", "one")
    empty = builder.add(root, "blockquote")
    builder.add(empty, "paragraph", "   ")  # whitespace only: dropped with its parent
    builder.add(root, "paragraph", "two")

    parsed = builder.finish()

    check_tree(parsed)
    assert [(c.kind, c.position, c.path) for c in parsed.components] == [
        ("section", 0, "Root"),
        ("paragraph", 0, "Root / p1"),
        ("paragraph", 1, "Root / p2"),
    ]


def test_builder_elides_the_middle_of_very_deep_paths():
    builder = TreeBuilder("json", Limits(), "t.json")
    handle = None
    for level in range(30):
        handle = builder.add(handle, "node", f"text {level}", label=f"L{level}")

    path = builder.finish().components[-1].path

    assert path == "L0 / L1 / L2 / L3 / … / " + " / ".join(f"L{n}" for n in range(22, 30))


NAMES = ["x.txt", "x.md", "x.html", "x.pdf", "x.docx", "x.json", None]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=2000), st.sampled_from(NAMES))
def test_arbitrary_bytes_give_a_valid_tree_or_an_indexflow_error(check_tree, data, name):
    try:
        parsed = parse(data, name)
    except IndexflowError as exc:
        assert str(exc)
    else:
        check_tree(parsed)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.integers(0, 2**32 - 1), st.sampled_from(GOOD))
def test_corrupted_samples_give_a_valid_tree_or_an_indexflow_error(check_tree, docs, seed, name):
    data = bytearray((docs / name).read_bytes())
    rng = random.Random(seed)
    for _ in range(rng.randint(1, 20)):
        data[rng.randrange(len(data))] = rng.randrange(256)
    if rng.random() < 0.3:
        data = data[: rng.randrange(1, len(data))]
    try:
        parsed = parse(bytes(data), name)
    except IndexflowError as exc:
        assert str(exc).startswith(name)
    else:
        check_tree(parsed)


def test_json_sample_round_trips_through_json_module(read_doc):
    # The sample is plain JSON a lead can edit by hand (no comments, no trailing commas).
    assert json.loads(read_doc("physics_exam.json"))["components"]
