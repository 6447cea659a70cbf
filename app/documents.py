"""Trusted documents: the operations a deployment runs, listed by hash in a manifest.

The manifest is Apollo's persisted-query manifest (`format: apollo-persisted-query-manifest`):
each operation's `id` is the SHA-256 of its exact text. A client may send the hash alone, as the
persisted-operations convention has it (`extensions.persistedQuery = {version: 1, sha256Hash}`),
or the full text. With `TRUSTED_DOCUMENTS` on, only listed documents run; off, listed hashes
still resolve and any text runs.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

FORMAT = "apollo-persisted-query-manifest"


class ManifestError(ValueError):
    """The manifest cannot be trusted as it is: refuse to start rather than serve without it."""


class DocumentRefused(Exception):
    """The operation is not run; `code` goes to the client as `extensions.code`."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def digest(document: str) -> str:
    return hashlib.sha256(document.encode()).hexdigest()


@dataclass(frozen=True)
class TrustedDocuments:
    bodies: Mapping[str, str]  # sha256 → document text
    names: frozenset[str]  # the listed operations' names (bounded metric labels)
    only_listed: bool = False

    @classmethod
    def load(cls, path: Path, only_listed: bool) -> TrustedDocuments:
        try:
            manifest = json.loads(path.read_text())
            if manifest.get("format") != FORMAT or manifest.get("version") != 1:
                raise ManifestError(f"{path}: not an {FORMAT} version 1")
            bodies: dict[str, str] = {}
            names: set[str] = set()
            for operation in manifest["operations"]:
                body, hash_ = operation["body"], operation["id"]
                if digest(body) != hash_:
                    raise ManifestError(f"{path}: id of {operation.get('name')!r} is not its hash")
                bodies[hash_] = body
                if operation.get("name"):
                    names.add(operation["name"])
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            if isinstance(exc, ManifestError):
                raise
            raise ManifestError(f"trusted-documents manifest {path} unreadable: {exc}") from None
        return cls(bodies, frozenset(names), only_listed)

    def resolve(self, query: object, extensions: object) -> object:
        """The document to run for this request, or DocumentRefused."""
        persisted = extensions.get("persistedQuery") if isinstance(extensions, dict) else None
        if persisted is not None:
            hash_ = persisted.get("sha256Hash") if isinstance(persisted, dict) else None
            if (
                not isinstance(persisted, dict)
                or persisted.get("version") != 1
                or not (isinstance(hash_, str) and len(hash_) == 64)
            ):
                raise DocumentRefused(
                    "PERSISTED_QUERY_INVALID",
                    "extensions.persistedQuery must be {version: 1, sha256Hash: <64 hex digits>}",
                )
            if query is None:
                body = self.bodies.get(hash_.lower())
                if body is None:
                    # The message Apollo's clients look for before they send the full text.
                    raise DocumentRefused("PERSISTED_QUERY_NOT_FOUND", "PersistedQueryNotFound")
                return body
            if isinstance(query, str) and digest(query) != hash_.lower():
                raise DocumentRefused(
                    "PERSISTED_QUERY_HASH_MISMATCH", "the sha256Hash is not the query's hash"
                )
        if self.only_listed and isinstance(query, str) and digest(query) not in self.bodies:
            raise DocumentRefused(
                "PERSISTED_QUERY_NOT_IN_LIST",
                "this server runs trusted documents only, and this one is not listed",
            )
        return query
