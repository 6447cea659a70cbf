"""`factview refold` against a real database: an id nothing is known about is an error."""

from __future__ import annotations

import asyncio
import os
import sys
from asyncio.subprocess import PIPE
from pathlib import Path

from pymongo import AsyncMongoClient

FACTVIEW = str(Path(sys.executable).with_name("factview"))


async def refold(mongo_uri: str, database: str, cwd: Path, *ids: str) -> tuple[int, str, str]:
    env = {**os.environ, "MONGODB_URI": mongo_uri, "MONGODB_DATABASE": database}
    id_args = [arg for i in ids for arg in ("--id", i)]
    proc = await asyncio.create_subprocess_exec(
        FACTVIEW, "refold", "account", *id_args, env=env, cwd=cwd, stdout=PIPE, stderr=PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_refold_of_an_unknown_id_says_nothing_is_known_and_fails(
    mongo_client: AsyncMongoClient[dict[str, object]], mongo_uri: str, unique: str, tmp_path: Path
) -> None:
    database = f"cli_{unique}"
    # A document the log knows nothing of (folded by a bug, say): refolding removes it.
    await mongo_client[database].accounts.insert_one({"_id": "acc-stray", "id": "acc-stray"})

    code, out, err = await refold(mongo_uri, database, tmp_path, "acc-typo")
    assert code == 1
    assert out == ""
    assert err.strip() == (
        "factview: nothing is known about account acc-typo: "
        "no events in the log and no document in accounts"
    )

    code, out, err = await refold(mongo_uri, database, tmp_path, "acc-stray", "acc-typo")
    assert code == 1, "one unknown id among others still fails the command"
    assert out.strip() == "account acc-stray: no events in the log; document removed"
    assert "nothing is known about account acc-typo" in err
    assert await mongo_client[database].accounts.count_documents({}) == 0
