"""Reference samples: built from seeded samples of a space, strict JSON on disk, and the percentile
of one network among them for plain and population proxies."""

from __future__ import annotations

import json

import pytest

from explorer.proxies import reference as R
from explorer.proxies.registry import compute_many
from explorer.spaces import get_space


@pytest.fixture
def ref_dir(tmp_path, monkeypatch):
    monkeypatch.setattr(R, "DATA_DIR", tmp_path)
    R.load.cache_clear()
    yield tmp_path
    R.load.cache_clear()


def test_reference_sample_round_trip_and_percentiles(ref_dir):
    ref = R.build("nb201", 3, seed=5)
    text = json.dumps(ref, allow_nan=False)  # strict JSON (an AZ-NAS -inf is stored as null)
    (ref_dir / "proxy_reference_nb201.json").write_text(text)
    assert R.load("nb201") is not None and len(R.load("nb201")) == 3
    assert R.reference_values("nb201", "ensemble") is not None

    space = get_space("nb201")
    graph = space.encode(space.sample(5))  # the first reference net itself
    values = compute_many(graph, ["zico", "ensemble", "az-nas"], R.settings_for(graph))
    stored = R.reference_values("nb201", "zico")[0]
    assert stored.score == pytest.approx(values["zico"].score)
    for name in ("zico", "ensemble", "az-nas"):
        p = R.space_percentile("nb201", name, values[name])
        assert p is not None and 0.0 <= p <= 100.0
    assert R.space_percentile(None, "zico", values["zico"]) is None
    assert R.space_percentile("ofa-mbv3-w1.0", "zico", values["zico"]) is None  # none shipped here


def test_damaged_reference_is_a_clear_error(ref_dir):
    from explorer.errors import FormatError

    (ref_dir / "proxy_reference_nb201.json").write_text('{"format": "other"}')
    with pytest.raises(FormatError, match="damaged reference"):
        R.load("nb201")
