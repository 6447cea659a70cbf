"""Read-your-writes: wait until an owner's facts are in the log, hence folded.

The fold engine appends to the `events` log and updates the views in one transaction, so
"every fact is logged" means "every fact is folded". The wait is a short poll under a deadline:
one indexed `_id` count per round, cheaper than a change stream per waiting request.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from consumers.facts import log_id

Document = dict[str, Any]

_PREFIX = "c1."
_FIRST_POLL = 0.01
_MAX_POLL = 0.2
# A write produces a fact or two: a token names at most this many, each id this long.
MAX_TOKEN_CHARS = 2048
MAX_IDS = 16
MAX_ID_CHARS = 128


class BadConsistencyToken(ValueError):
    """The token was not made by this service."""


@dataclass(frozen=True)
class Facts:
    """The facts one write produced, as the owner named them."""

    source: str
    ids: tuple[str, ...]

    @property
    def log_ids(self) -> list[str]:
        return [log_id(self.source, i) for i in self.ids]

    def token(self) -> str:
        raw = json.dumps({"s": self.source, "i": list(self.ids)}, separators=(",", ":"))
        return _PREFIX + base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def from_token(cls, token: str) -> Facts:
        if len(token) > MAX_TOKEN_CHARS:
            raise BadConsistencyToken(f"consistency token over {MAX_TOKEN_CHARS} characters")
        if not token.startswith(_PREFIX):
            raise BadConsistencyToken(f"invalid consistency token {token[:80]!r}")
        text = token[len(_PREFIX) :]
        try:
            raw = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        except (binascii.Error, ValueError):
            raw = None
        source = raw.get("s") if isinstance(raw, dict) else None
        ids = raw.get("i") if isinstance(raw, dict) else None
        if not (
            isinstance(source, str)
            and 0 < len(source) <= MAX_ID_CHARS
            and isinstance(ids, list)
            and len(ids) <= MAX_IDS
            and all(isinstance(i, str) and 0 < len(i) <= MAX_ID_CHARS for i in ids)
        ):
            raise BadConsistencyToken(f"invalid consistency token {token[:80]!r}")
        return cls(source, tuple(ids))


async def wait_folded(db: AsyncDatabase[Document], facts: Facts, timeout: float) -> bool:
    """True once every fact is in the log; False if `timeout` passes first."""
    wanted = facts.log_ids
    if not wanted:
        return True
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    delay = _FIRST_POLL
    while True:
        found = await db.events.count_documents({"_id": {"$in": wanted}})
        if found == len(set(wanted)):
            return True
        remaining = deadline - loop.time()
        if remaining <= 0:
            return False
        # Polling interval of a bounded wait; short at first, since folds usually take ms.
        await asyncio.sleep(min(delay, remaining))
        delay = min(delay * 2, _MAX_POLL)
