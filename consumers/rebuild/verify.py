"""Where a rebuild checks its shadow against the fold of the log before it may be swapped in.

The scan and the catch-up keep a checksum of every document (with its rows) they folded. Read
back, the shadow must hold exactly those checksums (none missing, none extra), but for documents
that events touched meanwhile; under the fence, those last keys must agree with a second fold of
the log, and the document and row counts with what was folded.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from pymongo.asynchronous.database import AsyncDatabase

from consumers.document import Document
from consumers.projection import Projection, Settled
from consumers.rebuild.swap import ShadowView
from consumers.replay import RAW, combine, digest, digest_all, encoded, refold, xor


class VerificationFailed(Exception):
    """The shadow differs from the fold of the log; the live view was not touched."""


@dataclass
class Checksums:
    """What the shadow must hold, and the reads that check it does."""

    db: AsyncDatabase[Document]
    projection: type[Projection]
    projections: tuple[type[Projection], ...]
    shadow: ShadowView
    advance: Callable[[int], None]
    # The checksum of every document (with its rows) the scan and the catch-up folded, and its
    # number of rows.
    folded: dict[str, bytes] = field(default_factory=dict)
    row_counts: dict[str, int] = field(default_factory=dict)

    def scanned(self, raw: dict[str, list[bytes]]) -> None:
        """Documents the scan encoded (the document, then its rows) and inserted."""
        self.folded.update((k, digest_all(b)) for k, b in raw.items())
        self.row_counts.update((k, len(b) - 1) for k, b in raw.items())

    def remember(self, key: str, folded: Settled | None) -> None:
        """A document folded again (None: it no longer exists)."""
        if folded is None:
            self.folded.pop(key, None)
            self.row_counts.pop(key, None)
        else:
            self.folded[key] = digest_all(encoded(key, folded, self.db))
            self.row_counts[key] = len(folded[1])

    async def read_back(self, keys: list[str] | None = None) -> dict[str, bytes]:
        """The shadow's checksum of each document with its rows (of `keys`, or all)."""
        query: Document = {} if keys is None else {"_id": {"$in": keys}}
        parts: dict[str, list[bytes]] = {}
        async for doc in self.shadow.documents.with_options(codec_options=RAW).find(query):
            parts.setdefault(doc["_id"], []).append(digest(doc.raw))
            self.advance(1)
        if self.shadow.rows is not None and self.projection.rows is not None:
            parent = self.projection.rows.parent
            rows_query: Document = {} if keys is None else {parent: {"$in": keys}}
            async for row in self.shadow.rows.with_options(codec_options=RAW).find(rows_query):
                parts.setdefault(row[parent], []).append(digest(row.raw))
        return {k: xor(v) for k, v in parts.items()}

    def explain(self, stored: dict[str, bytes], touched: set[str]) -> None:
        """Every document read back carries its fold's checksum, but for keys touched since."""
        expected = self.folded
        differing = {k for k in expected.keys() | stored.keys() if expected.get(k) != stored.get(k)}
        unexplained = sorted(differing - touched)
        if unexplained:
            raise VerificationFailed(
                f"{len(unexplained)} {self.projection.name} documents in the shadow differ from "
                f"the fold of the log (first: {unexplained[0]}); the live view was not touched"
            )

    async def check_fenced(self, keys: set[str], digests: dict[str, bytes]) -> tuple[int, str]:
        """Under the fence: the keys just folded agree with another fold; counts agree.

        Returns the shadow's document count and the view's checksum.
        """
        again = await refold(self.db, self.projection, self.projections, keys)
        stored = await self.read_back(sorted(keys))
        for key, folded in again.items():
            want = digest_all(encoded(key, folded, self.db)) if folded is not None else None
            got = stored.get(key)
            if want != got:
                raise VerificationFailed(
                    f"{self.projection.name} {key} differs from a second fold of the log"
                )
            if got is None:
                digests.pop(key, None)
            else:
                digests[key] = got
        count = await self.shadow.documents.count_documents({})
        _expect(count, len(digests), f"{self.projection.name} documents")
        if self.shadow.rows is not None:
            rows = await self.shadow.rows.count_documents({})
            _expect(rows, sum(self.row_counts.values()), f"{self.projection.name} rows")
        return count, combine(digests.values())


def _expect(count: int, expected: int, what: str) -> None:
    if count != expected:
        raise VerificationFailed(
            f"the shadow holds {count} {what}, expected {expected}; the live view was not touched"
        )
