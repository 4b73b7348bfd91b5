"""What every destination offers the sync engine: open, write a batch, commit or abort."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import pyarrow as pa


@dataclass
class BatchResult:
    rows_sent: int
    rows_failed: int = 0
    errors: list[str] = field(default_factory=list)


class Destination(Protocol):
    description: str

    def open(self, schema: pa.Schema) -> None:
        """Prepare to receive batches of this schema."""

    def write(self, batch: pa.RecordBatch) -> BatchResult:
        """Send one batch; report rows sent and rows the destination rejected."""

    def commit(self) -> None:
        """Make what was written visible (all of it, or nothing)."""

    def abort(self) -> None:
        """Throw away what was written since open()."""
