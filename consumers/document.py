"""A MongoDB document as the driver hands it over and takes it: the one name for that type."""

from __future__ import annotations

from typing import Any

Document = dict[str, Any]
