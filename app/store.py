"""The MongoDB adapter: client with Decimal codecs, connection check, indexes."""

from __future__ import annotations

import asyncio
import contextlib
import struct
from collections.abc import AsyncIterator
from decimal import Decimal

from bson.codec_options import CodecOptions, TypeCodec, TypeRegistry
from bson.decimal128 import Decimal128
from pymongo import ASCENDING, AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError

from app.settings import Settings
from consumers.document import Document


class DecimalCodec(TypeCodec):
    """Money is Decimal in Python and Decimal128 in MongoDB: never a float on the way.

    bson converts in pure Python, bit by bit (~8 µs each way), and every load and write of an
    account converts two amounts per transaction; the common case (a finite value of at most
    34 digits) is done here in a few integer operations, exactly: the same sign, digits and
    exponent as bson's own conversion, to which anything else is left.
    """

    python_type = Decimal
    bson_type = Decimal128

    def transform_python(self, value: Decimal) -> Decimal128:
        return to_decimal128(value)

    def transform_bson(self, value: Decimal128) -> Decimal:
        return to_decimal(value)


# IEEE 754-2008 decimal128, binary integer decimal (BID) layout of the high 64 bits.
_BIAS = 6176
_SIGN = 1 << 63
_LARGE_FORM = 0b11 << 61  # NaN, infinities and the (never canonical) large-coefficient form
_COEFFICIENT_HIGH = (1 << 49) - 1
_LOW = (1 << 64) - 1
_MAX_COEFFICIENT = 10**34 - 1
_BID = struct.Struct("<QQ")  # low word first


def to_decimal(value: Decimal128) -> Decimal:
    low, high = _BID.unpack(value.bid)
    coefficient = ((high & _COEFFICIENT_HIGH) << 64) | low
    if high & _LARGE_FORM == _LARGE_FORM or coefficient > _MAX_COEFFICIENT:
        return value.to_decimal()
    exponent = ((high >> 49) & 0x3FFF) - _BIAS
    sign = "-" if high & _SIGN else ""
    # A decimal string is read exactly (no context, no rounding): sign, digits and exponent.
    return Decimal(f"{sign}{coefficient}E{exponent}")


def to_decimal128(value: Decimal) -> Decimal128:
    sign, digits, exponent = value.as_tuple()
    if not isinstance(exponent, int) or len(digits) > 34 or not -_BIAS <= exponent <= 6111:
        return Decimal128(value)  # NaN, infinities, too many digits, out of range: bson decides
    coefficient = int("".join(map(str, digits)))
    high = ((exponent + _BIAS) << 49) | (coefficient >> 64) | (_SIGN if sign else 0)
    return Decimal128.from_bid(_BID.pack(coefficient & _LOW, high))


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


@contextlib.asynccontextmanager
async def connected(settings: Settings) -> AsyncIterator[AsyncDatabase[Document]]:
    """The configured database for one command, reachable or StoreUnavailable; closed after."""
    client = make_client(settings.mongodb_uri, settings.startup_timeout_seconds)
    try:
        await check_reachable(client, settings.mongodb_uri, settings.startup_timeout_seconds)
        yield database(client, settings.mongodb_database)
    finally:
        await client.close()


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
    # An account's transactions: pages and late rows by position, the feed by revision, the
    # past by the newest correction.
    await db.transactions.create_index([("accountId", ASCENDING), ("pos", ASCENDING)])
    await db.transactions.create_index(
        [("accountId", ASCENDING), ("_rev", ASCENDING), ("pos", ASCENDING)]
    )
    await db.transactions.create_index([("accountId", ASCENDING), ("lastCorrection", ASCENDING)])
    # Freshness (app/read/freshness.py) asks each view for its newest folded time.
    await db.accounts.create_index([("updatedAt", ASCENDING)])
    await db.customers.create_index([("updatedAt", ASCENDING)])
    await db.dead_letters.create_index([("status", ASCENDING), ("lastSeen", ASCENDING)])
    await db.dead_letters.create_index([("firstSeen", ASCENDING), ("_id", ASCENDING)])
    # Quarantined documents are few: a sparse index finds them without a scan.
    for view in ("accounts", "customers"):
        await db[view].create_index([("_quarantine.since", ASCENDING)], sparse=True)
