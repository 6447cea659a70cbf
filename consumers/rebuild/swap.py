"""Where a rebuilt view replaces the live one: the shadow collections it is folded into, the
live view's indexes recreated on them, then one rename each."""

from __future__ import annotations

from dataclasses import dataclass

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from consumers.document import Document
from consumers.projection import Projection


def shadow_name(projection: type[Projection]) -> str:
    return f"{projection.collection}__rebuild"


def rows_shadow_name(projection: type[Projection]) -> str | None:
    return f"{projection.rows.collection}__rebuild" if projection.rows is not None else None


@dataclass(frozen=True)
class ShadowView:
    """A view's shadow: `<collection>__rebuild`, and `<rows collection>__rebuild` for its rows."""

    db: AsyncDatabase[Document]
    projection: type[Projection]

    @property
    def documents(self) -> AsyncCollection[Document]:
        return self.db[shadow_name(self.projection)]

    @property
    def rows(self) -> AsyncCollection[Document] | None:
        name = rows_shadow_name(self.projection)
        return self.db[name] if name is not None else None

    async def recreate(self) -> None:
        """Empty shadow collections; a stale shadow of an interrupted run is dropped."""
        for name in (shadow_name(self.projection), rows_shadow_name(self.projection)):
            if name is not None:
                await self.db[name].drop()
                await self.db.create_collection(name)

    async def copy_indexes(self) -> None:
        # The rename keeps the shadow's indexes and drops the live view's: recreate them first.
        pairs = [(self.db[self.projection.collection], self.documents)]
        if self.projection.rows is not None and self.rows is not None:
            pairs.append((self.db[self.projection.rows.collection], self.rows))
        for live, shadow in pairs:
            async for spec in await live.list_indexes():
                if spec["name"] == "_id_":
                    continue
                options = {k: spec[k] for k in ("unique", "sparse") if k in spec}
                await shadow.create_index(list(spec["key"].items()), name=spec["name"], **options)

    async def swap(self) -> None:
        # Rows first: a reader between the two renames sees new rows under the old documents,
        # both folds of the same log (the fence holds every consumer).
        if self.projection.rows is not None and self.rows is not None:
            await self.rows.rename(self.projection.rows.collection, dropTarget=True)
        await self.documents.rename(self.projection.collection, dropTarget=True)
