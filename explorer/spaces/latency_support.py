"""What a search space tells the latency package, so `explorer.latency` never names a space.

A space object carries three hooks (`SearchSpace.family`, `.aliases`, `.latency`):

- ``family``: spaces that share one config format and one feature encoding (the widths of one
  supernet); a device trained on a family member predicts configs asked for by the family name
  (``ofa-mbv3``: width unknown).
- ``aliases``: other spellings of the family (``nas-bench-201``, ``ofa``).
- ``latency``: a `LatencyFeatures` (`latency_features.py`): the fixed-length features
  network-wise predictors read, the config columns of its CSVs, the statistics a few-shot head
  may use, and configs whose graphs hold every LUT key of the space.

The functions below resolve a user's spelling of a space or family through the registry.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..errors import ConfigError, ExplorerError, clip
from .latency_features import LatencyFeatures
from .registry import get_space, list_spaces

__all__ = ["LatencyFeatures", "family_for_columns", "latency_features", "matches", "member", "resolve"]


def _spelling(name) -> str:
    s = str(name).strip().lower().replace("_", "-")
    return s.replace("w10", "w1.0").replace("w12", "w1.2")


def _families() -> dict[str, list]:
    out: dict[str, list] = {}
    for sp in list_spaces():
        out.setdefault(sp.family or sp.name, []).append(sp)
    return out


def resolve(name) -> str:
    """The registered space a spelling names, or its family's name when it names a family of
    several spaces (e.g. ``ofa`` -> ``ofa-mbv3``); ConfigError for anything else."""
    s = _spelling(name)
    fams = _families()
    for fam, members in fams.items():
        for sp in members:
            if s == sp.name:
                return sp.name
        if s == fam or s in members[0].aliases:
            return members[0].name if len(members) == 1 else fam
    known = [sp.name for members in fams.values() for sp in members]
    raise ConfigError(f"unknown space {clip(name)}; expected one of {known}")


def resolve_or_keep(name) -> str:
    """`resolve`, or the name as given when no space answers to it (a device may list spaces this
    app does not have, e.g. an imported table's own)."""
    try:
        return resolve(name)
    except ExplorerError:
        return str(name)


def family_members(name) -> list:
    """The spaces a resolved name stands for: one space, or every member of a family."""
    s = resolve(name)
    fams = _families()
    if s in fams and len(fams[s]) > 1:
        return list(fams[s])
    return [get_space(s)]


def matches(requested, covered) -> bool:
    """A config of the `requested` space can be predicted by a device covering `covered`: the
    same space, or a family name on either side and a member of it on the other."""
    a, b = resolve_or_keep(requested), resolve_or_keep(covered)
    if a == b:
        return True
    try:
        ma, mb = family_members(a), family_members(b)
    except ExplorerError:
        return False
    return (len(ma) > 1 and all(s in ma for s in mb)) or (len(mb) > 1 and all(s in mb for s in ma))


def member(name, prefer: Iterable[str] = ()) -> str:
    """The exact space for a name: a family name becomes its member among `prefer` when exactly one
    is, else the family's first registered member."""
    members = family_members(name)
    if len(members) == 1:
        return members[0].name
    preferred = [sp.name for sp in members if sp.name in set(prefer)]
    return preferred[0] if len(preferred) == 1 else members[0].name


def latency_features(name) -> LatencyFeatures:
    """The feature encoding of a space or family."""
    feats = family_members(name)[0].latency
    if feats is None:
        raise ConfigError(f"space {clip(name)} has no latency features (no network-wise predictor reads it)")
    return feats


def family_for_columns(columns: Iterable[str]) -> str:
    """The space or family whose config columns a CSV holds (for a CSV without --space)."""
    cols = set(columns)
    found = []
    for fam, members in _families().items():
        feats = members[0].latency
        if feats is not None and set(feats.config_columns) <= cols:
            found.append(members[0].name if len(members) == 1 else fam)
    if len(found) != 1:
        wanted = [
            ", ".join(m[0].latency.config_columns) for m in _families().values() if m[0].latency is not None
        ]
        raise ExplorerError(f"cannot tell the space from the columns {sorted(cols)}: give one of {wanted}")
    return found[0]
