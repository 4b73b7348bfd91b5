"""File destination: the audience as CSV, Parquet or JSON lines, rewritten whole and published atomically.

Every run writes the current members (after consent, suppression and deletions) batch by batch
into `<path>.partial`, which replaces `<path>` on commit: a reader sees the previous complete file
or the new one, never half of one. Removed members are simply absent from the new file, so a
deletion request reaches a file destination by the next run's rewrite.

CSV files are safe to open in a spreadsheet (OWASP's CSV-injection rule): a text cell that begins
with =, +, -, @, a tab or a carriage return is written with a leading single quote, so it shows as
text and is never evaluated as a formula.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from reverse_etl.destinations.base import PAYLOAD_COLUMN, Rejections, field_columns

FORMATS = ("csv", "parquet", "jsonl")

#: what a spreadsheet reads as the start of a formula (OWASP CSV injection)
FORMULA_START = "^[=+\\-@\t\r]"


def spreadsheet_safe(rows: pa.Table) -> pa.Table:
    """`rows` with every text cell that a spreadsheet would evaluate prefixed by a single quote."""
    columns = []
    for column in rows.columns:
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            risky = pc.fill_null(pc.match_substring_regex(column, FORMULA_START), False)
            column = pc.if_else(risky, pc.binary_join_element_wise("'", column, ""), column)
        columns.append(column)
    return pa.Table.from_arrays(columns, schema=rows.schema)


@dataclass
class FileDestination:
    path: Path
    format: str = "csv"
    max_request_rows: int = 1_000_000
    snapshot: bool = True
    _writer: Any = None
    _handle: Any = None
    _columns: list[str] = field(default_factory=list)

    @classmethod
    def from_settings(cls, settings: dict[str, Any], options: dict[str, Any], export_dir: Path) -> FileDestination:
        if "path" not in options:
            raise ValueError("a file sync needs options.path (relative to CDP_EXPORT_DIR, or absolute)")
        fmt = str(options.get("format", settings.get("format", "csv"))).lower()
        if fmt not in FORMATS:
            raise ValueError(f"file format {fmt!r} is not supported; use one of {FORMATS}")
        base = Path(settings.get("directory") or "").expanduser()
        path = Path(options["path"]).expanduser()
        if not path.is_absolute():
            path = (base if base.is_absolute() else export_dir / base) / path
        return cls(path, fmt)

    @property
    def description(self) -> str:
        return f"file:{self.path}"

    @property
    def partial(self) -> Path:
        return self.path.with_name(self.path.name + ".partial")

    def open(self, schema: pa.Schema) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._columns = [n for n in schema.names if n not in ("_member_key", PAYLOAD_COLUMN)]
        fields = pa.schema([schema.field(n) for n in self._columns])
        if self.format == "csv":
            self._writer = pacsv.CSVWriter(str(self.partial), fields)
        elif self.format == "parquet":
            self._writer = pq.ParquetWriter(str(self.partial), fields)
        else:
            self._handle = self.partial.open("w", encoding="utf-8")

    def send(self, op: str, rows: pa.Table, idempotency_key: str, *, new_members: bool = False) -> Rejections:
        if op == "delete":
            return []  # absent from the rewritten file
        if self.format == "jsonl":
            self._handle.write("".join(f"{p}\n" for p in rows.column(PAYLOAD_COLUMN).to_pylist()))
        elif self.format == "csv":
            self._writer.write_table(spreadsheet_safe(rows.select(field_columns(rows))))
        else:
            self._writer.write_table(rows.select(field_columns(rows)))
        return []

    def commit(self) -> None:
        self.close()
        os.replace(self.partial, self.path)

    def abort(self) -> None:
        self.close()
        self.partial.unlink(missing_ok=True)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if self._handle is not None:
            self._handle.close()
            self._handle = None
