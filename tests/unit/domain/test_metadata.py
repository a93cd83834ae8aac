"""Document metadata: validation, kinds, store form, filters and the CLI forms (domain/metadata.py)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from indexflow.domain import metadata as md
from indexflow.domain.metadata import MetadataError
from indexflow.query.search import window

KNOWN = {"team": md.KEYWORD, "year": md.NUMBER, "draft": md.BOOL, "published": md.DATETIME}


def test_nested_objects_flatten_into_dotted_keys_and_nulls_drop_out() -> None:
    got = md.normalize({"a": {"b": 1, "c": {"d": "x"}}, "e": None, "tags": ["x", None, "y"]})
    assert got == {"a.b": 1, "a.c.d": "x", "tags": ["x", "y"]}


@pytest.mark.parametrize(
    ("bad", "needle"),
    [
        ({"": 1}, "not a valid key"),
        ({"has space": 1}, "not a valid key"),
        ({"1abc": 1}, "not a valid key"),
        ({"k": {"x": object()}}, "must be a string"),
        ({"k": float("nan")}, "finite"),
        ({"k": "x" * 3000}, "over 2000"),
        ({"k": list(range(200))}, "at most 100"),
        ({"k": [1, "a"]}, "mix kinds"),
        ({f"k{i}": i for i in range(70)}, "at most 64"),
    ],
)
def test_invalid_metadata_is_refused_with_a_reason(bad: dict, needle: str) -> None:
    with pytest.raises(MetadataError, match=needle):
        md.normalize(bad)


def test_not_a_mapping_is_refused() -> None:
    with pytest.raises(MetadataError, match="object of key/value pairs"):
        md.normalize(["a"])  # type: ignore[arg-type]


def test_kinds_of_values() -> None:
    assert md.kinds(
        {"a": "x", "b": 2, "c": 2.5, "d": True, "e": "2024-05-01", "f": ["2024-01-01T10:00Z"]}
    ) == {
        "a": md.KEYWORD,
        "b": md.NUMBER,
        "c": md.NUMBER,
        "d": md.BOOL,
        "e": md.DATETIME,
        "f": md.DATETIME,
    }
    assert md.kinds({"empty": []}) == {}


def test_a_value_of_another_kind_than_the_dataset_has_is_refused() -> None:
    with pytest.raises(MetadataError, match="'year' is a number in this dataset"):
        md.conform({"year": "2020"}, KNOWN)
    md.conform({"team": "2024-01-01"}, KNOWN)  # a date-like string is still a keyword
    md.conform({"other": "x", "year": 3}, KNOWN)


def test_datetimes_compare_as_instants() -> None:
    a = md.parse_datetime("2024-05-01")
    b = md.parse_datetime("2024-05-01T02:00:00+02:00")
    assert a is not None and a == b
    assert md.parse_datetime("2024-05-01T00:00:01Z") == a + 1
    assert md.parse_datetime("May 1st") is None and md.parse_datetime("2024-13-01") is None


def test_store_values_make_numbers_floats_and_datetimes_epoch_seconds() -> None:
    out = md.store_values({"year": 2020, "published": "2024-05-01", "team": "ops", "tags": ["a"]}, KNOWN)
    assert out == {"year": 2020.0, "published": md.parse_datetime("2024-05-01"), "team": "ops", "tags": ["a"]}


@given(st.text(alphabet="ab_.-", min_size=1, max_size=8), st.text(alphabet="ab_.-", min_size=1, max_size=8))
def test_store_keys_are_plain_and_distinct(a: str, b: str) -> None:
    ka, kb = md.store_key(a), md.store_key(b)
    assert set(ka) <= set("abudm_")  # no dots or dashes left for an engine to read as a path
    assert (ka == kb) == (a == b)


def test_identity_is_empty_without_metadata_and_order_free() -> None:
    assert md.identity({}) == ""
    assert (
        md.identity({"a": 1, "b": "x"}) == md.identity({"b": "x", "a": 1}) != md.identity({"a": 2, "b": "x"})
    )


def test_merge_lets_the_caller_win_and_drops_odd_parser_values() -> None:
    got = md.merge({"title": "Parsed", "pages": 3, "odd": {"x": object()}}, {"title": "Mine"})
    assert got == {"title": "Mine", "pages": 3}


def test_where_forms_become_conditions() -> None:
    got = md.parse_where(
        {"team": "ops", "year": {"gte": "2020", "lt": 2024}, "draft": "true", "published": ["2024-01-01"]},
        KNOWN,
    )
    assert got == (
        md.Condition("team", "eq", "ops"),
        md.Condition("year", "gte", 2020.0),
        md.Condition("year", "lt", 2024.0),
        md.Condition("draft", "eq", True),
        md.Condition("published", "in", [md.parse_datetime("2024-01-01")]),
    )


@pytest.mark.parametrize(
    ("where", "needle"),
    [
        ({"nosuch": 1}, "unknown metadata field 'nosuch'.*draft, published, team, year"),
        ({"team": {"gte": "a"}}, "'team' is a keyword; ranges"),
        ({"draft": {"lt": 1}}, "'draft' is a bool; ranges"),
        ({"year": "abc"}, "'year' is a number; 'abc' is not"),
        ({"year": {"between": 1}}, "unknown operator 'between'"),
        ({"published": {"gte": "last week"}}, "not an ISO 8601"),
        ({"draft": "maybe"}, "not true or false"),
        ({"team": []}, "non-empty list"),
        ({"team": {}}, "empty test"),
        ({"team": {"eq": {"x": 1}}}, "not a string"),
    ],
)
def test_bad_filters_are_errors_naming_the_problem(where: dict, needle: str) -> None:
    with pytest.raises(MetadataError, match=needle):
        md.parse_where(where, KNOWN)


def test_condition_reference_semantics() -> None:
    year = md.Condition("year", "gte", 2020.0)
    assert year.matches(2021.0) and year.matches([2000.0, 2020.0]) and not year.matches(2019.0)
    assert not year.matches("2021") and not year.matches(True)
    tag = md.Condition("tags", "in", ["a", "b"])
    assert tag.matches(["x", "b"]) and not tag.matches(["x"]) and not tag.matches([])
    assert not md.Condition("n", "eq", 1.0).matches(True)  # a bool is not the number 1


def test_cli_where_forms() -> None:
    assert md.parse_cli_where(
        ["team=ops", "year>=2020", "year<2024", "tags in (a, b)", "x in c,d", "y>1"]
    ) == {
        "team": {"eq": "ops"},
        "year": {"gte": "2020", "lt": "2024"},
        "tags": {"in": ["a", "b"]},
        "x": {"in": ["c", "d"]},
        "y": {"gt": "1"},
    }
    assert md.parse_cli_where(["title=a=b"]) == {"title": {"eq": "a=b"}}
    for bad in ("noop", "=x"):
        with pytest.raises(MetadataError, match="--where"):
            md.parse_cli_where([bad])
    with pytest.raises(MetadataError, match="two eq tests"):
        md.parse_cli_where(["a=1", "a=2"])


def test_cli_meta_types_numbers_and_booleans() -> None:
    assert md.parse_cli_meta(
        ["year=2024", "score=0.5", "draft=false", "team=ops", "v=1.2.3", "list=a,b"]
    ) == {
        "year": 2024,
        "score": 0.5,
        "draft": False,
        "team": "ops",
        "v": "1.2.3",
        "list": "a,b",
    }
    with pytest.raises(MetadataError, match="use key=value"):
        md.parse_cli_meta(["nothing"])


@given(
    st.text(alphabet="ab ", min_size=0, max_size=300),
    st.integers(0, 300),
    st.integers(0, 60),
    st.integers(0, 120),
)
def test_a_hit_window_is_bounded_and_holds_the_chunk(text: str, start: int, length: int, size: int) -> None:
    start = min(start, len(text))
    end = min(len(text), start + length)
    lo, hi = window(text, start, end, size)
    assert 0 <= lo <= hi <= len(text)
    if size == 0 or len(text) <= size:
        assert (lo, hi) == (0, len(text))
        return
    assert hi - lo <= size
    if end - start < size:
        assert lo <= start and end <= hi  # the whole chunk is in view
    else:
        assert lo == start
