"""Forwarding writes to the owning services over HTTP, with every wait bounded."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from typing import Any, Literal

import httpx

from app.settings import Settings

Owner = Literal["customers", "accounts"]

# An id that goes into an owner's URL path: it must stay one path segment. A letter or digit
# first rules out "." and ".." (which an HTTP client resolves away, changing the path);
# no "/", "%", "?", "#", spaces or control characters; bounded length.
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}")
ID_RULE = "1 to 128 letters, digits or . _ : @ -, starting with a letter or digit"


def valid_id(value: str) -> bool:
    return _ID.fullmatch(value) is not None


class OwnerUnavailable(Exception):
    """The owner could not be reached, or answered with something other than a decision."""


class OwnerTimeout(Exception):
    """The owner did not answer within its timeouts or the overall deadline."""


@dataclass(frozen=True)
class Accepted:
    """The owner made the write; `fact_ids` (from `source`) are the facts it will publish."""

    status: int
    body: dict[str, Any]

    @property
    def source(self) -> str:
        return str(self.body.get("source", ""))

    @property
    def fact_ids(self) -> list[str]:
        return [str(i) for i in self.body.get("factIds", [])]


@dataclass(frozen=True)
class Refused:
    """The owner said no, with its machine-readable code (validation_error, not_found, ...)."""

    status: int
    code: str
    message: str


@dataclass(frozen=True)
class Credentials:
    """What the caller gave us that the owner must see: its identity and its retry key."""

    authorization: str | None
    idempotency_key: str


class Owners:
    """One pooled httpx client for both owners, created at start and closed at stop."""

    def __init__(self, settings: Settings) -> None:
        self.base_urls: dict[Owner, str] = {
            "customers": settings.customers_owner_url.rstrip("/"),
            "accounts": settings.accounts_owner_url.rstrip("/"),
        }
        self.deadline = settings.owner_deadline_seconds
        self.client = httpx.AsyncClient(
            timeout=httpx.Timeout(
                connect=settings.owner_connect_timeout_seconds,
                read=settings.owner_read_timeout_seconds,
                write=settings.owner_write_timeout_seconds,
                pool=settings.owner_pool_timeout_seconds,
            ),
            # Owners are internal services; a proxy from the environment would be a surprise.
            trust_env=False,
        )

    async def close(self) -> None:
        await self.client.aclose()

    async def send(
        self,
        owner: Owner,
        method: str,
        path: str,
        body: dict[str, Any],
        credentials: Credentials,
    ) -> Accepted | Refused:
        if any(segment in (".", "..") for segment in path.split("/")):
            # Callers check ids first (valid_id); this is the last line before the wire.
            raise ValueError(f"refusing owner path with a dot segment: {path!r}")
        headers = {"Idempotency-Key": credentials.idempotency_key}
        if credentials.authorization:
            headers["Authorization"] = credentials.authorization
        url = self.base_urls[owner] + path
        try:
            # Each phase has its own timeout; the deadline bounds them all together.
            async with asyncio.timeout(self.deadline):
                response = await self.client.request(method, url, json=body, headers=headers)
        except (TimeoutError, httpx.TimeoutException) as exc:
            raise OwnerTimeout(f"{owner} owner did not answer in time ({method} {path})") from exc
        except httpx.HTTPError as exc:
            raise OwnerUnavailable(
                f"{owner} owner is unreachable ({type(exc).__name__} on {method} {path})"
            ) from exc
        return _decide(owner, response)


def _decide(owner: Owner, response: httpx.Response) -> Accepted | Refused:
    try:
        payload = response.json()
    except ValueError:
        payload = None
    if not isinstance(payload, dict):
        raise OwnerUnavailable(f"{owner} owner answered {response.status_code} without JSON")
    if 200 <= response.status_code < 300:
        return Accepted(response.status_code, payload)
    error = payload.get("error")
    if response.status_code >= 500 or not isinstance(error, dict):
        raise OwnerUnavailable(f"{owner} owner failed with {response.status_code}")
    return Refused(response.status_code, str(error.get("code", "")), str(error.get("message", "")))
