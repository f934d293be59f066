"""Messages about what a file holds stay short, whatever the file holds (issue 24,
item 18: a model file listing 1.5 million layer sizes made a 67.6 MB message that
``xpnet predict`` printed whole)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xpnet.command import cli
from xpnet.files import messages, model_file, tensor_file


def _blobs_csv(path) -> str:
    rng = np.random.default_rng(0)
    rows = [(*rng.normal(size=2) + 3 * label, label) for label in (0, 1) * 15]
    path.write_text("a,b,label\n" + "".join(f"{a},{b},{c}\n" for a, b, c in rows))
    return str(path)


def _many_layers_file(path, n_layers):
    """A well-formed file (valid checksum) whose MLP lists ``n_layers`` layers."""
    config = {
        "kind": "MLP",
        "layer_sizes": [3] * (n_layers + 1),
        "activations": ["relu"] * n_layers,
        "bias": True,
        "dtype": "float64",
    }
    header = {"format": "xpnet-model", "format_version": 2, "xpnet_version": "0"}
    arrays = {"W0": np.ones(1)}
    path.write_bytes(tensor_file.encode({**header, "model": config}, arrays))
    return path


def test_a_file_listing_many_layers_gets_a_short_message(tmp_path):
    path = _many_layers_file(tmp_path / "m.safetensors", 200_000)
    with pytest.raises(tensor_file.ModelFileError) as info:
        model_file.load(path)
    message = str(info.value)
    assert len(message) <= messages.MESSAGE_CHARS + len(str(path)) + 20
    assert "200,000 layers" in message


def test_predict_prints_one_short_line_for_a_huge_bad_file(tmp_path, capsys):
    path = _many_layers_file(tmp_path / "m.safetensors", 200_000)
    data = _blobs_csv(tmp_path / "d.csv")
    assert cli.main(["predict", str(path), data]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and len(err) < messages.MESSAGE_CHARS + 100


def test_huge_header_values_are_shown_briefly(tmp_path):
    header = {"format": "xpnet-model", "format_version": 2, "xpnet_version": "0"}
    long_kind = {"kind": "x" * 1_000_000}
    path = tmp_path / "m.safetensors"
    path.write_bytes(tensor_file.encode({**header, "model": long_kind}, {}))
    with pytest.raises(tensor_file.ModelFileError, match="1,000,000 characters") as e:
        model_file.load(path)
    assert len(str(e.value)) < 1000


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=400),
    lambda inner: (
        st.lists(inner, max_size=40)
        | st.dictionaries(st.text(max_size=400), inner, max_size=40)
    ),
    max_leaves=400,
)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(value=JSON | st.lists(st.integers(), min_size=0, max_size=5000))
def test_brief_is_short_whatever_the_value(value):
    text = messages.brief(value)
    assert len(text) <= messages.BRIEF_CHARS
    if len(repr(value)) <= 60 and not isinstance(value, (list, dict)):
        assert text == repr(value)


def test_cap_keeps_short_text_and_says_how_long_the_rest_was():
    assert messages.cap("short") == "short"
    text = messages.cap("y" * 10_000, 100)
    assert len(text) == 100 and text.endswith("(10,000 characters)")


@pytest.mark.parametrize(
    "value",
    [[], (), {}, set(), frozenset(), {1}, (1,), (1, 2), [1, (2,)], {"k": [1, {2: 3}]}],
)
def test_brief_of_a_small_container_is_its_repr(value):
    assert messages.brief(value) == repr(value)


def test_brief_shows_long_strings_and_huge_ints_by_their_size():
    assert messages.brief("a" * 100) == repr("a" * 100)  # limit // 2 is still whole
    assert messages.brief("a" * 101) == repr("a" * 100) + "... (101 characters)"
    assert messages.brief(b"a" * 31, 60) == repr(b"a" * 30) + "... (31 characters)"
    assert messages.brief(2**199) == repr(2**199)  # 200 bits: 60 digits, shown
    assert messages.brief(2**200) == "<an int of about 60 digits>"
    assert messages.brief(-(10**400)) == "<an int of about 400 digits>"


def test_brief_stops_three_levels_down():
    assert messages.brief([[[[1]]]]) == "[[[[...]]]]"
    assert messages.brief([[[[]]]]) == "[[[[...]]]]"
    assert messages.brief([[[1]]]) == "[[[1]]]"
    assert messages.brief({"k": {"a": {"b": {"c": 1}}}}) == "{'k': {'a': {'b': {...}}}}"
    assert messages.brief({((((1,),),),): 0}) == "{(((...),),): 0}"
    assert messages.brief(((((1,),),),)) == "((((...),),),)"


def test_brief_shows_eight_items_then_the_count():
    assert messages.brief(list(range(8))) == repr(list(range(8)))
    assert messages.brief(list(range(9))) == "[0, 1, 2, 3, 4, 5, 6, 7, ... (9 items)]"
    many = dict.fromkeys(range(10), 0)
    assert (
        messages.brief(many)
        == "{" + "".join(f"{k}: 0, " for k in range(8)) + "... (10 items)}"
    )


def test_brief_caps_each_item_then_the_whole():
    # each side is shortened to 100 characters and a note: the pair is 206 long, cut
    # to 200, so the whole (202) is cut again
    text = messages.brief({"a" * 101: "b" * 101})
    assert text.endswith("... (202 characters)") and len(text) == 200


def test_cap_at_its_limit_and_below_its_note():
    assert messages.cap("abc", 3) == "abc"
    assert messages.cap("abcd", 3) == "... (4 characters)"  # no room: only the note
    assert messages.cap("x" * 50, 20) == "x" + "... (50 characters)"
