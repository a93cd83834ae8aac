"""JSON component trees (exam papers): validation, preorder sorting, ids and paths."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from indexflow.errors import InputTooLarge, ParseError
from indexflow.parsers import parse


@pytest.fixture
def exam(read_doc):
    return parse(read_doc("physics_exam.json"), "physics_exam.json")


def records(*rows):
    keys = ("id", "parent_id", "position", "kind", "text")
    return json.dumps([dict(zip(keys, row, strict=True)) for row in rows]).encode()


def test_json_exam_is_sorted_into_preorder_with_its_own_ids(exam, check_tree):
    check_tree(exam)
    assert exam.format == "json"
    assert [c.id for c in exam.components] == [
        "q1",
        "q1a",
        "q1a-i",
        "q1a-ii",
        "q1a-iii",
        "q1b",
        "q1b-i",
        "q1b-ii",
        "q2",
        "q2a",
        "q2b",
        "q2b-i",
        "q2b-ii",
        "q3",
    ]


def test_json_paths_use_labels_and_numbers(exam):
    paths = {c.id: c.path for c in exam.components}

    assert paths["q1"] == "Question 1"
    assert paths["q1a-ii"] == "Question 1 / (a) / (ii)"
    assert paths["q2b-i"] == "Question 2 / (b) / (i)"


def test_json_title_and_scalar_fields_are_kept(exam):
    assert exam.title == "Physics Paper 1: Mechanics and Waves"
    assert exam.metadata == {"exam_board": "Indexflow Sample Board", "duration_minutes": 90}


def test_json_text_is_the_records_own_text_and_kind_is_kept(exam):
    part = next(c for c in exam.components if c.id == "q1a")

    assert part.kind == "part"
    assert part.text == "The cyclist accelerates uniformly from rest to 6.0 m/s in 4.0 s."


def test_json_bare_array_with_integer_ids_and_no_label_uses_kind_and_id(check_tree):
    parsed = parse(records((1, None, 0, "question", "Q"), (2, 1, 0, "part", "P")), "a.json")

    check_tree(parsed)
    assert [(c.id, c.parent_id, c.path) for c in parsed.components] == [
        ("1", None, "question 1"),
        ("2", "1", "question 1 / part 2"),
    ]


def test_json_cycle_is_a_parse_error_naming_the_records(read_doc):
    with pytest.raises(ParseError, match=r"exam_with_cycle\.json: parent cycle: 'q2a' → 'q2b' → 'q2a'"):
        parse(read_doc("exam_with_cycle.json"), "exam_with_cycle.json")


def test_json_self_parent_is_a_cycle():
    with pytest.raises(ParseError, match="parent cycle: 'a' → 'a'"):
        parse(records(("r", None, 0, "q", "root"), ("a", "a", 0, "q", "self")), "self.json")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b'[{"parent_id": null, "text": "no id"}]', r"record #0 has no usable 'id'"),
        (
            records(("a", None, 0, "q", "x"), ("a", None, 1, "q", "y")),
            r"duplicate id 'a' \(records #0 and #1\)",
        ),
        (records(("a", "ghost", 0, "q", "x")), r"record 'a' has parent_id 'ghost', which is not a record"),
        (b'[{"id": "a", "parent_id": null, "text": "x"}, 5]', r"record #1 is not an object"),
        (b'{"components": [{"id": "a", "text": "x"}', r"invalid JSON at line 1"),
    ],
)
def test_json_invalid_records_are_readable_parse_errors(data, message):
    with pytest.raises(ParseError, match=message):
        parse(data, "bad.json")


def test_json_parser_called_on_data_that_is_not_a_tree_flattens_it():
    from indexflow.parsers import json_tree

    parsed = json_tree.parse(b'{"components": "nope"}', "x.json")

    assert [c.text for c in parsed.components] == ["components: nope"]


def test_json_with_a_components_key_that_is_not_a_tree_is_flattened_data():
    manifest = b'{"components": [{"data": {"checksum": "abc"}, "id": "kubectl", "version": "1.2"}]}'

    parsed = parse(manifest, "kubectl.snapshot.json")

    assert parsed.format == "json"
    assert parsed.title == "kubectl.snapshot.json"
    assert [c.text for c in parsed.components] == [
        "components",
        "components[0].data.checksum: abc\ncomponents[0].id: kubectl\ncomponents[0].version: 1.2",
    ]


def test_json_tree_deeper_than_max_depth_is_a_parse_error():
    chain = [
        {"id": i, "parent_id": i - 1 if i else None, "position": 0, "kind": "n", "text": "t"}
        for i in range(50)
    ]

    with pytest.raises(ParseError, match="deeper than 10 levels"):
        parse(json.dumps(chain).encode(), "chain.json", max_depth=10)


def test_json_more_records_than_max_components_is_refused():
    with pytest.raises(InputTooLarge):
        parse(records(("a", None, 0, "q", "x"), ("b", None, 1, "q", "y")), "two.json", max_components=1)


# check_tree is a pure function, so sharing it across generated examples is safe.
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(st.tuples(st.integers(0, 10**6), st.integers(-5, 5)), min_size=1, max_size=60),
    st.randoms(use_true_random=False),
)
def test_json_any_forest_in_any_record_order_comes_out_in_preorder(check_tree, picks, rng):
    rows = []
    for i, (parent_pick, position) in enumerate(picks):
        parent = None if i == 0 or parent_pick % 3 == 0 else parent_pick % i
        rows.append(
            {
                "id": f"n{i}",
                "parent_id": None if parent is None else f"n{parent}",
                "position": position,
                "kind": "node",
                "text": f"text {i}",
            }
        )
    rng.shuffle(rows)

    parsed = parse(json.dumps(rows).encode(), "forest.json")

    check_tree(parsed)
    assert sorted(c.id for c in parsed.components) == sorted(r["id"] for r in rows)
