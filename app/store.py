"""The MongoDB adapter: client with Decimal codecs, connection check, indexes."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

from bson.codec_options import CodecOptions, TypeCodec, TypeRegistry
from bson.decimal128 import Decimal128
from pymongo import ASCENDING, AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError

Document = dict[str, Any]


class DecimalCodec(TypeCodec):
    """Money is Decimal in Python and Decimal128 in MongoDB: never a float on the way."""

    python_type = Decimal
    bson_type = Decimal128

    def transform_python(self, value: Decimal) -> Decimal128:
        return Decimal128(value)

    def transform_bson(self, value: Decimal128) -> Decimal:
        return value.to_decimal()


CODEC_OPTIONS: CodecOptions[Document] = CodecOptions(
    document_class=dict, tz_aware=True, type_registry=TypeRegistry([DecimalCodec()])
)


class StoreUnavailable(RuntimeError):
    """MongoDB did not answer at start; the message is the one line a person needs."""


def make_client(uri: str, timeout_seconds: float = 10.0) -> AsyncMongoClient[Document]:
    return AsyncMongoClient(
        uri,
        serverSelectionTimeoutMS=int(timeout_seconds * 1000),
        tz_aware=True,
        type_registry=CODEC_OPTIONS.type_registry,
    )


def database(client: AsyncMongoClient[Document], name: str) -> AsyncDatabase[Document]:
    return client.get_database(name, codec_options=CODEC_OPTIONS)


async def check_reachable(client: AsyncMongoClient[Document], uri: str, timeout: float) -> None:
    """Ping within `timeout`, or raise StoreUnavailable naming the server."""
    try:
        await asyncio.wait_for(client.admin.command("ping"), timeout)
    except TimeoutError as exc:
        raise StoreUnavailable(
            f"MongoDB at {uri} is unreachable: no answer within {timeout:g}s"
        ) from exc
    except PyMongoError as exc:
        reason = str(exc).split(",")[0]
        raise StoreUnavailable(f"MongoDB at {uri} is unreachable: {reason}") from exc


async def ensure_indexes(db: AsyncDatabase[Document]) -> None:
    # Re-folding one document reads its events from the log by entity and time.
    await db.events.create_index([("data.accountId", ASCENDING), ("timeKey", ASCENDING)])
    await db.events.create_index([("data.customerId", ASCENDING), ("timeKey", ASCENDING)])
    await db.events.create_index([("subject", ASCENDING), ("timeKey", ASCENDING)])
    await db.accounts.create_index([("customerId", ASCENDING)])
    # Freshness (app/freshness.py) asks each view for its newest folded time.
    await db.accounts.create_index([("updatedAt", ASCENDING)])
    await db.customers.create_index([("updatedAt", ASCENDING)])
    await db.dead_letters.create_index([("status", ASCENDING), ("lastSeen", ASCENDING)])
