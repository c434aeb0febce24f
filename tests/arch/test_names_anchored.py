"""Names checked by regular expressions are matched whole: `$` also matches before a trailing
newline, and `\\d` matches any Unicode digit, so both once let odd names through."""

from __future__ import annotations

import pytest

from explorer.arch.graph import NODE_ID
from explorer.latency.local import is_alias, parse_local_name


@pytest.mark.parametrize("name", ["stem\n", "stem\r\n", "\nstem", "s" * 65, "9lives", "st\u0435m"])
def test_node_ids_are_matched_whole(name):
    assert NODE_ID.match(name) is None and NODE_ID.fullmatch(name) is None


@pytest.mark.parametrize(
    "name", ["local\n", "local-cpu-torch-1t\n", "local-cpu-torch-\u0661t", "local-b\u0662"]
)
def test_local_device_names_are_matched_whole(name):
    assert not is_alias(name) and parse_local_name(name) is None


def test_valid_names_still_match():
    assert NODE_ID.fullmatch("block_12") and NODE_ID.fullmatch("_" + "a" * 63)
    assert is_alias("local-cpu-ort-allt-b8") and is_alias("local-cuda")
    assert parse_local_name("local-cpu-torch-2t-b4") == ("torch", 2, 4)
    assert is_alias("local")
