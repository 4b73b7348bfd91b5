"""File destination: an audience as a CSV file, written batch by batch and published atomically.

Rows stream from the warehouse in batches into `<path>.partial`, which is renamed over `<path>` on
commit: a reader sees the previous complete file or the new complete file, never half of one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv

from reverse_etl.destinations.base import BatchResult

FORMATS = ("csv",)


@dataclass
class FileDestination:
    path: Path
    format: str = "csv"
    _writer: pacsv.CSVWriter | None = None

    @classmethod
    def from_settings(cls, settings: dict[str, Any], export_dir: Path) -> FileDestination:
        if "path" not in settings:
            raise ValueError("file destination needs a 'path'")
        fmt = str(settings.get("format", "csv")).lower()
        if fmt not in FORMATS:
            raise ValueError(f"file destination format {fmt!r} is not supported; use one of {FORMATS}")
        path = Path(settings["path"]).expanduser()
        return cls(path if path.is_absolute() else export_dir / path, fmt)

    @property
    def description(self) -> str:
        return f"file:{self.path}"

    @property
    def partial(self) -> Path:
        return self.path.with_name(self.path.name + ".partial")

    def open(self, schema: pa.Schema) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._writer = pacsv.CSVWriter(str(self.partial), schema)

    def write(self, batch: pa.RecordBatch) -> BatchResult:
        if self._writer is None:
            raise RuntimeError("FileDestination.write called before open()")
        self._writer.write_batch(batch)
        return BatchResult(rows_sent=batch.num_rows)

    def commit(self) -> None:
        if self._writer is None:
            raise RuntimeError("FileDestination.commit called before open()")
        self._writer.close()
        self._writer = None
        os.replace(self.partial, self.path)

    def abort(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        self.partial.unlink(missing_ok=True)
