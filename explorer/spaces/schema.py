"""What a space's config form is made of, so the GUI (and anything else) can build the form from the
space instead of knowing it: fields (a choice, or a list of choices), and rows that lay them out.

Form values are a dict {field key: value or list}; a space maps them to and from its native config
(`SearchSpace.form_values` / `config_from_form`), which for most spaces is the config itself."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from ..errors import ConfigError, clip


@dataclass(frozen=True)
class Field:
    """One form field: a value from `choices`, or (length > 0) a list of `length` such values."""

    key: str
    choices: tuple
    length: int = 0
    label: str = ""
    help: str = ""
    short: str = ""  # widget id prefix ("k" -> k0..k19); the key by default

    def widget_id(self, index: int | None = None) -> str:
        prefix = self.short or self.key
        return prefix if index is None else f"{prefix}{index}"

    def indices(self) -> list[int | None]:
        return list(range(self.length)) if self.length else [None]

    def check(self, value) -> None:
        """Raise ConfigError naming the entry when `value` is not one this field allows."""
        if self.length:
            if not isinstance(value, (list, tuple)) or len(value) != self.length:
                raise ConfigError(f"form field {self.key!r} must list {self.length} values")
            items = list(enumerate(value))
        else:
            items = [(None, value)]
        for i, v in items:
            if isinstance(v, bool) or v not in self.choices:
                where = self.key if i is None else f"{self.key}[{i}]"
                raise ConfigError(f"form field {where}={clip(v)} is not one of {list(self.choices)}")

    def as_dict(self) -> dict:
        return {
            "key": self.key,
            "choices": list(self.choices),
            "length": self.length,
            "label": self.label,
            "help": self.help,
        }


@dataclass(frozen=True)
class FormRow:
    """One row of the form: a label and the entries shown beside it, as (field key, list index)."""

    label: str
    cells: tuple[tuple[str, int | None], ...]
    heading: bool = False  # the first row of a section (shown in bold)


@dataclass(frozen=True)
class ConfigSchema:
    fields: tuple[Field, ...]
    rows: tuple[FormRow, ...] = ()
    note: str = ""  # a line under the form (what abbreviations mean)
    _by_key: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self):
        self._by_key.update({f.key: f for f in self.fields})
        for row in self.rows:
            for key, index in row.cells:
                f = self._by_key.get(key)
                if f is None or (index is None) != (f.length == 0) or (index or 0) >= max(f.length, 1):
                    raise ValueError(f"form row {row.label!r} names a missing entry {key}[{index}]")

    def field(self, key: str) -> Field:
        return self._by_key[key]

    def layout(self) -> tuple[FormRow, ...]:
        """The rows, or one row per entry when the space gave none."""
        if self.rows:
            return self.rows
        return tuple(
            FormRow(f.label or f.key if i is None else f"{f.label or f.key} {i}", ((f.key, i),))
            for f in self.fields
            for i in f.indices()
        )

    def validate(self, values: Mapping) -> None:
        """Raise ConfigError when `values` lacks a field, has an unknown one or a value out of choices."""
        if not isinstance(values, Mapping):
            raise ConfigError("form values must be an object")
        unknown = sorted(set(values) - set(self._by_key), key=str)
        if unknown:
            raise ConfigError(f"unknown form field(s) {clip(unknown)}")
        for f in self.fields:
            if f.key not in values:
                raise ConfigError(f"form field {f.key!r} is missing")
            f.check(values[f.key])

    def as_dict(self) -> dict:
        """Plain JSON: fields and rows (for `nas-explorer spaces --json` and other front ends)."""
        return {
            "fields": [f.as_dict() for f in self.fields],
            "rows": [
                {"label": r.label, "cells": [[k, i] for k, i in r.cells], "heading": r.heading}
                for r in self.layout()
            ],
            "note": self.note,
        }
