"""Generic JSON (issue 13): readable key-path lines in sections and records, a sane title."""

from __future__ import annotations

import json
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from indexflow.errors import InputTooLarge, ParseError
from indexflow.parsers import parse
from indexflow.parsers.json_data import PATH_HEAD, PATH_TAIL, RECORD_LINES

SHOP = {
    "title": "Spring catalogue",
    "version": 3,
    "owner": {"name": "Ann", "contact": {"email": "ann@example.com", "phones": ["+1 555", "+1 556"]}},
    "products": [
        {"name": "Widget", "price": 9.5, "tags": ["red", "blue"], "size": {"w": 3, "h": None}},
        {"sku": "B-2", "discontinued": True, "notes": {}, "parts": []},
    ],
    "footer": "Prices in EUR.",
}


def texts(parsed) -> dict[str, str]:
    return {c.path: c.text for c in parsed.components}


def test_an_object_becomes_sections_by_top_level_key_and_key_path_lines(check_tree) -> None:
    parsed = parse(json.dumps(SHOP).encode(), "shop.json")

    check_tree(parsed)
    assert parsed.format == "json"
    assert parsed.title == "Spring catalogue"
    assert [(c.kind, c.path, c.text) for c in parsed.components] == [
        ("record", "values", "title: Spring catalogue\nversion: 3"),
        ("section", "owner", "owner"),
        ("record", "owner / values", "owner.name: Ann"),
        ("section", "owner / contact", "contact"),
        ("record", "owner / contact / values", "owner.contact.email: ann@example.com\n"
         "owner.contact.phones: +1 555, +1 556"),
        ("section", "products", "products"),
        ("record", "products / products[0] Widget", "products[0].name: Widget\nproducts[0].price: 9.5\n"
         "products[0].tags: red, blue\nproducts[0].size.w: 3\nproducts[0].size.h: null"),
        ("record", "products / products[1]", "products[1].sku: B-2\nproducts[1].discontinued: true\n"
         "products[1].notes: {}\nproducts[1].parts: []"),
        ("record", "values", "footer: Prices in EUR."),
    ]  # fmt: skip


def test_no_component_holds_raw_json(check_tree) -> None:
    parsed = parse(json.dumps(SHOP, indent=2).encode(), "shop.json")

    check_tree(parsed)
    for comp in parsed.components:
        assert not comp.text.lstrip().startswith(("{", "[", '"'))
        assert '{"' not in comp.text and '":' not in comp.text


def test_an_array_of_records_is_one_record_per_element_titled_by_the_file_name(check_tree) -> None:
    rows = [{"id": f"u{i}", "city": "Lisbon" if i % 2 else "Porto", "age": 20 + i} for i in range(5)]

    parsed = parse(json.dumps(rows).encode(), "exports/users.json")

    check_tree(parsed)
    assert parsed.title == "users.json"
    assert [c.path for c in parsed.components] == [f"[{i}] u{i}" for i in range(5)]
    assert parsed.components[3].text == "[3].id: u3\n[3].city: Lisbon\n[3].age: 23"


@pytest.mark.parametrize(
    ("doc", "title"),
    [
        ({"name": "Billing API", "id": 7}, "Billing API"),
        ({"ID": 42, "data": [1]}, "42"),
        ({"Title": "  Capitalised\nkey  "}, "Capitalised key"),
        ({"title": {"en": "nested"}, "label": "Fallback label"}, "Fallback label"),
        ({"title": "", "values": [1, 2]}, "data.json"),
        ({"title": True, "x": 1}, "data.json"),
    ],
)
def test_the_title_is_a_plain_title_like_field_else_the_file_name(doc, title) -> None:
    assert parse(json.dumps(doc).encode(), "data.json").title == title


def test_keys_that_are_not_names_are_quoted_and_arrays_of_arrays_are_indexed() -> None:
    doc = {"a.b": {"c d": 1, "": 2}, "m": [[1, 2], [{"x": "y"}]]}

    parsed = parse(json.dumps(doc).encode(), "k.json")

    lines = "\n".join(c.text for c in parsed.components).splitlines()
    assert '"a.b"."c d": 1' in lines and '"a.b"."": 2' in lines
    assert "m[0]: 1, 2" in lines and "m[1][0].x: y" in lines


def test_deep_nesting_keeps_lines_short_and_parses_in_linear_time() -> None:
    def nested(depth: int) -> dict:
        doc: dict = {"leaf": "bottom", "n": depth}
        for level in range(depth):
            doc = {"k": doc, "n": level}
        return doc

    times = []
    for depth in (200, 800):
        data = json.dumps(nested(depth)).encode()
        start = time.perf_counter()
        parsed = parse(data, "deep.json")
        times.append(time.perf_counter() - start)
        lines = [line for c in parsed.components if c.kind == "record" for line in c.text.splitlines()]
        assert len(lines) == depth + 2  # every value, once, in document order
        assert lines[0].endswith(".k.leaf: bottom") and lines[-1] == f"n: {depth - 1}"
        # A path keeps its first and last parts: lines stay short however deep the value is.
        assert max(len(line) for line in lines) <= 2 * (PATH_HEAD + PATH_TAIL + 1) + 20
        assert any(".….k.k" in line for line in lines)
    assert times[1] < 8 * times[0] + 0.2  # 4x the depth: about 4x the time, not 16x


def test_json_too_deep_to_load_is_a_readable_parse_error() -> None:
    data = b"[" * 100_000 + b"]" * 100_000

    with pytest.raises(ParseError, match="nested too deeply"):
        parse(data, "deep.json")


def test_a_huge_array_is_one_record_per_element_and_a_huge_record_is_cut_in_groups() -> None:
    rows = [{"n": i, "word": f"w{i}"} for i in range(50_000)]
    parsed = parse(json.dumps({"rows": rows}).encode(), "big.json")
    assert len(parsed.components) == 1 + 50_000
    assert parsed.components[-1].text == "rows[49999].n: 49999\nrows[49999].word: w49999"

    wide = {f"field{i}": i for i in range(RECORD_LINES * 2 + 5)}
    parsed = parse(json.dumps({"wide": wide}).encode(), "wide.json")
    records = [c for c in parsed.components if c.kind == "record"]
    assert [len(c.text.splitlines()) for c in records] == [RECORD_LINES, RECORD_LINES, 5]
    assert records[2].text.endswith(f"wide.field{RECORD_LINES * 2 + 4}: {RECORD_LINES * 2 + 4}")


def test_more_records_than_the_limit_is_refused() -> None:
    with pytest.raises(InputTooLarge):
        parse(json.dumps([{"a": i} for i in range(20)]).encode(), "many.json", max_components=10)


def test_component_trees_still_parse_as_trees(read_doc) -> None:
    exam = parse(read_doc("physics_exam.json"), "physics_exam.json")
    assert exam.components[0].id == "q1" and exam.title == "Physics Paper 1: Mechanics and Waves"


def test_a_generic_json_preview_shows_key_paths_in_bundles_not_raw_json() -> None:
    from indexflow.query.preview import preview

    shown = preview(json.dumps(SHOP).encode(), "shop.json", target_bundle_tokens=48, chunk_size=40)

    assert shown["title"] == "Spring catalogue" and shown["format"] == "json"
    bundle_texts = [b["text"] for b in shown["bundles"]]
    assert any("products[0].name: Widget" in t for t in bundle_texts)
    assert all(not b["title"].startswith("{") for b in shown["bundles"])
    contexts = {ch["context"] for b in shown["bundles"] for ch in b["chunks"]}
    assert any(c and "products" in c for c in contexts)  # the section heading goes in the header


# No line breaks inside values, so that lines can be counted.
words = st.text(alphabet=st.characters(blacklist_categories=["Cs", "Cc", "Zl", "Zp"]), max_size=8)
scalars = st.one_of(st.none(), st.booleans(), st.integers(), words)


def plain_values(value) -> int:
    """Lines the flattening writes: one per plain value, empty container or array of plain values."""
    if isinstance(value, dict):
        return sum(plain_values(v) for v in value.values()) if value else 1
    if isinstance(value, list) and any(isinstance(v, dict | list) for v in value):
        return sum(plain_values(v) for v in value)
    return 1


values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(words, inner, max_size=4)),
    max_leaves=30,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=st.one_of(st.lists(values, min_size=1, max_size=5), st.dictionaries(words, values, min_size=1)))
def test_any_json_value_gives_a_valid_tree_with_one_line_per_plain_value(check_tree, value) -> None:
    data = json.dumps(value).encode()
    try:
        parsed = parse(data, "any.json")
    except ParseError as exc:  # only a document whose every value is blank has no text
        assert "no text" in str(exc)
        return
    check_tree(parsed)
    assert parsed.format == "json"
    assert parsed.title is None or not parsed.title.startswith(("{", "["))
    lines = [line for c in parsed.components if c.kind == "record" for line in c.text.split("\n")]
    assert len(lines) == plain_values(value)
