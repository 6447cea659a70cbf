"""Event versions: pure converters, chained by version, from what an owner sent to what folds read.

An owner may publish a newer version of an event type; the version is the last path segment of
the CloudEvents `dataschema` (`.../v2`), absent meaning 1 (CONTRACT "Event versions"). The log
keeps the event as it was received, with its `dataschema`; every fold (live, rebuild, refold,
as-of) reads it through `to_folded`, so one set of pure handlers serves every version.

A received version is validated against its own schema, converted step by step to the version
the handlers read, and the result validated against that version's schema: a version with no
schema or no path of converters is refused (a dead letter with the reason), never guessed.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from consumers.facts import DATA_SCHEMAS, Money

Data = dict[str, Any]
Convert = Callable[[Data], Data]

_VERSION = re.compile(r"v?(\d{1,6})", re.IGNORECASE)


class CannotUpcast(Exception):
    """The event's type and version have no way to the shape the folds read; says why."""


@dataclass(frozen=True, slots=True)
class Upcaster:
    """One step: data of `event_type` at version `source` becomes its shape at `target`."""

    event_type: str
    source: int
    target: int
    convert: Convert


def version_of(dataschema: str | None) -> int | None:
    """The version a `dataschema` names (its last path segment, `v2` or `2`); absent is 1.

    None when the last segment is not a version.
    """
    if dataschema is None or not dataschema.strip():
        return 1
    segment = dataschema.rstrip("/").rsplit("/", 1)[-1]
    match = _VERSION.fullmatch(segment)
    return int(match.group(1)) if match else None


class _Data(BaseModel):
    model_config = ConfigDict(strict=True, extra="allow")


class MoneyV2(_Data):
    value: Money
    currency: str


class AccountMovementV2(_Data):
    """account.deposited / account.withdrawn version 2: the amount carries its currency."""

    accountId: str
    transactionId: str
    amount: MoneyV2


def _movement_v2_to_v1(data: Data) -> Data:
    # Version 1 carried the amount as a string and the currency beside it.
    amount = data["amount"]
    converted = {k: v for k, v in data.items() if k != "amount"}
    converted["amount"] = amount["value"]
    converted["currency"] = amount["currency"]
    return converted


# The version of each known type that the projections' handlers read.
FOLDED_VERSIONS: dict[str, int] = {event_type: 1 for event_type in DATA_SCHEMAS}

# Every version's schema, by (type, version).
SCHEMAS: dict[tuple[str, int], type[BaseModel]] = {
    **{(event_type, 1): schema for event_type, schema in DATA_SCHEMAS.items()},
    ("account.deposited", 2): AccountMovementV2,
    ("account.withdrawn", 2): AccountMovementV2,
}

UPCASTERS: tuple[Upcaster, ...] = (
    Upcaster("account.deposited", 2, 1, _movement_v2_to_v1),
    Upcaster("account.withdrawn", 2, 1, _movement_v2_to_v1),
)

_STEPS: dict[tuple[str, int], Upcaster] = {(u.event_type, u.source): u for u in UPCASTERS}


def _summary(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in err['loc']) or 'data'}: {err['msg']}" for err in exc.errors()
    )


def _validate(event_type: str, version: int, data: Data) -> None:
    schema = SCHEMAS[(event_type, version)]
    try:
        schema.model_validate(data)
    except ValidationError as exc:
        raise CannotUpcast(f"data fails {schema.__name__}: {_summary(exc)}") from exc


def _chain(event_type: str, version: int, data: Data) -> Data:
    target = FOLDED_VERSIONS[event_type]
    seen = {version}
    while version != target:
        step = _STEPS.get((event_type, version))
        if step is None:
            known = sorted(v for (t, v) in SCHEMAS if t == event_type)
            raise CannotUpcast(
                f"{event_type} version {version}: no upcaster from version {version} "
                f"(known versions: {', '.join(map(str, known))})"
            )
        data, version = step.convert(data), step.target
        if version in seen:  # a registry mistake, not the event's fault; never loop
            raise CannotUpcast(f"{event_type}: upcasters loop at version {version}")
        seen.add(version)
    return data


def checked(event_type: str, dataschema: str | None, data: Data) -> Data:
    """A received event's data, validated and in the shape the folds read (CannotUpcast if not).

    Types no projection folds pass through as they are: they are logged and change no view.
    """
    if event_type not in FOLDED_VERSIONS:
        return data
    version = version_of(dataschema)
    if version is None:
        raise CannotUpcast(f"{event_type}: dataschema {dataschema!r} names no version")
    if (event_type, version) not in SCHEMAS:
        known = sorted(v for (t, v) in SCHEMAS if t == event_type)
        raise CannotUpcast(
            f"{event_type} version {version}: unknown version "
            f"(known versions: {', '.join(map(str, known))})"
        )
    _validate(event_type, version, data)
    folded = _chain(event_type, version, data)
    if folded is not data:
        _validate(event_type, FOLDED_VERSIONS[event_type], folded)
    return folded


def to_folded(event_type: str, dataschema: str | None, data: Data) -> Data:
    """A logged event's data in the shape the folds read (it was checked when received)."""
    if dataschema is None or event_type not in FOLDED_VERSIONS:
        return data
    version = version_of(dataschema)
    if version is None or version == FOLDED_VERSIONS[event_type]:
        return data
    return _chain(event_type, version, data)
