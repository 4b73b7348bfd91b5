"""Great Expectations validation: landing files batch by batch as they load, and summary extracts of marts.

The suites are data (`landing_expectations.yml`, `mart_expectations.yml`). A `SuiteValidator` owns
one file-backed GX project under CDP_GX_DIR (suites, validation results, Data Docs HTML) and
validates one relation at a time (a staged landing file, or a mart extract's SQL): its rows are
projected in DuckDB to the columns the suite names, read as Arrow record batches of `batch_rows`
rows, and each batch is validated by GX's pandas engine. The per-batch results are summed per
expectation, so a `mostly` threshold holds for the whole file, and memory holds one batch at a time.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import duckdb
import yaml

from orchestration.quality.results import CheckOutcome

SUITES_FILE = Path(__file__).with_name("landing_expectations.yml")
SEVERITIES = ("error", "warn")
FAILED_EXPECTATIONS = "failed expectations"

log = logging.getLogger(__name__)


class SuiteConfigError(ValueError):
    """landing_expectations.yml is malformed; the message names the source and entry."""


@dataclass(frozen=True)
class ExpectationRule:
    expectation: str
    kwargs: dict[str, Any]
    severity: str
    why: str

    @property
    def column(self) -> str:
        return str(self.kwargs.get("column", ""))

    @property
    def label(self) -> str:
        return f"{self.expectation}({self.column})"


@dataclass(frozen=True)
class SourceSuite:
    source: str
    columns: dict[str, str]
    rules: tuple[ExpectationRule, ...]
    relation: str | None = None  # SQL the rows come from (mart extracts); landing files use the staged file


@dataclass(frozen=True)
class Suites:
    batch_rows: int
    sources: dict[str, SourceSuite]
    keep_results: int = 300


def _class_name(expectation: str) -> str:
    return "".join(part.capitalize() for part in expectation.split("_"))


def parse_suites(data: dict[str, Any], origin: str = str(SUITES_FILE)) -> Suites:
    import great_expectations.expectations as gxe

    sources: dict[str, SourceSuite] = {}
    for name, entry in (data.get("sources") or {}).items():
        columns = {str(k): str(v) for k, v in (entry.get("columns") or {}).items()}
        rules = []
        for number, rule in enumerate(entry.get("expectations") or [], start=1):
            where = f"{origin}: sources.{name}.expectations[{number}]"
            expectation = str(rule.get("expectation", ""))
            if not hasattr(gxe, _class_name(expectation)):
                raise SuiteConfigError(f"{where}: unknown Great Expectations expectation {expectation!r}")
            severity = str(rule.get("severity", "error"))
            if severity not in SEVERITIES:
                raise SuiteConfigError(f"{where}: severity must be one of {SEVERITIES}, not {severity!r}")
            kwargs = dict(rule.get("kwargs") or {})
            if kwargs.get("column") not in columns:
                raise SuiteConfigError(f"{where}: column {kwargs.get('column')!r} is not one of the source's "
                                       f"columns ({', '.join(columns)})")
            rules.append(ExpectationRule(expectation, kwargs, severity, str(rule.get("why", ""))))
        relation = entry.get("from")
        sources[name] = SourceSuite(name, columns, tuple(rules), f"({relation})" if relation else None)
    return Suites(int(data.get("batch_rows", 500_000)), sources, int(data.get("keep_results", 300)))


@cache
def load_suites(path: Path = SUITES_FILE) -> Suites:
    return parse_suites(yaml.safe_load(path.read_text()) or {}, str(path))


@dataclass
class _Tally:
    """One expectation's results summed over a file's batches."""

    rule: ExpectationRule
    elements: int = 0
    missing: int = 0
    unexpected: int = 0
    batches_failed: int = 0
    examples: list[Any] = field(default_factory=list)

    def add(self, result: Any) -> None:
        stats = result.result or {}
        self.elements += int(stats.get("element_count") or 0)
        self.missing += int(stats.get("missing_count") or 0)
        self.unexpected += int(stats.get("unexpected_count") or 0)
        if not result.success:
            self.batches_failed += 1
            for value in stats.get("partial_unexpected_list") or []:
                if len(self.examples) < 5 and value not in self.examples:
                    self.examples.append(value)

    @property
    def passed(self) -> bool:
        if not self.batches_failed:
            return True
        checked = self.elements - self.missing
        mostly = float(self.rule.kwargs.get("mostly", 1.0))
        return checked > 0 and self.unexpected / checked <= 1.0 - mostly + 1e-12


@dataclass
class FileValidation:
    """What the suite found in one file."""

    source: str
    file: str
    rows: int
    seconds: float
    outcomes: list[CheckOutcome]

    @property
    def blocking(self) -> list[CheckOutcome]:
        return [o for o in self.outcomes if o.blocks]

    def reason(self) -> str:
        """The quarantine reason for a file failing error-severity expectations."""
        parts = [f"{o.check_name} on {o.target}: {o.rows_failed:,} of {o.rows_checked:,} rows unexpected "
                 f"({o.description}; e.g. {o.details.get('examples')})" for o in self.blocking]
        return f"{FAILED_EXPECTATIONS} (orchestration/quality/landing_expectations.yml): " + "; ".join(parts)


def _batches(reader: Any, rows: int) -> Iterator[Any]:
    """Arrow tables of about `rows` rows from a record-batch reader (DuckDB hands out smaller chunks;
    each GX run has a fixed cost, so a file of fewer rows is validated in one run)."""
    import pyarrow as pa

    pending: list[Any] = []
    held = 0
    for chunk in reader:
        if chunk.num_rows:
            pending.append(chunk)
            held += chunk.num_rows
        if held >= rows:
            yield pa.Table.from_batches(pending)
            pending, held = [], 0
    if pending:
        yield pa.Table.from_batches(pending)


def gx_project_dir() -> Path:
    from orchestration.settings import get_settings

    return get_settings().gx_dir


class SuiteValidator:
    """Validates staged landing files (or mart extracts) with the repository's GX suites; one GX project
    per instance. `layer` and `asset_schema` name where the results belong (landing/raw, marts/marts)."""

    def __init__(self, project_dir: Path | None = None, suites: Suites | None = None, *,
                 layer: str = "landing", asset_schema: str = "raw") -> None:
        self.project_dir = project_dir or gx_project_dir()
        self.suites = suites or load_suites()
        self.layer, self.asset_schema = layer, asset_schema
        self._context: Any = None
        self._definitions: dict[str, Any] = {}
        self.validated_files = 0
        # Files are validated from two loader threads; GX's context and stores are not thread-safe, so GX
        # runs one batch at a time while the other thread reads its batch from DuckDB or inserts.
        self._gx_lock = threading.Lock()

    def _gx(self) -> Any:
        if self._context is None:
            os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
            import great_expectations as gx
            from great_expectations.data_context.types.base import ProgressBarsConfig

            self.project_dir.mkdir(parents=True, exist_ok=True)
            # Suites, data assets and validation definitions are rebuilt from the YAML on every run; a
            # definition left by an older version (a renamed asset) would not load, so start without them.
            shutil.rmtree(self.project_dir / "gx" / "validation_definitions", ignore_errors=True)
            self._context = gx.get_context(mode="file", project_root_dir=str(self.project_dir))
            self._context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
            self._datasource = self._context.data_sources.add_or_update_pandas("landing")
        return self._context

    def _definition(self, suite: SourceSuite) -> Any:
        """The GX validation definition of a source: a dataframe asset and the suite built from YAML."""
        if suite.source not in self._definitions:
            import great_expectations as gx
            import great_expectations.expectations as gxe

            context = self._gx()
            names = {a.name for a in self._datasource.assets}
            asset_name = f"{self.layer}_{suite.source}"
            asset = (self._datasource.get_asset(asset_name) if asset_name in names
                     else self._datasource.add_dataframe_asset(name=asset_name))
            batches = next((b for b in asset.batch_definitions if b.name == "file_batches"), None) \
                or asset.add_batch_definition_whole_dataframe("file_batches")
            expectations = [getattr(gxe, _class_name(r.expectation))(**r.kwargs, meta={"severity": r.severity,
                                                                                        "why": r.why})
                            for r in suite.rules]
            name = f"{self.layer}_{suite.source}"
            gx_suite = context.suites.add_or_update(gx.ExpectationSuite(name=name, expectations=expectations))
            self._definitions[suite.source] = context.validation_definitions.add_or_update(
                gx.ValidationDefinition(name=name, data=batches, suite=gx_suite))
        return self._definitions[suite.source]

    def validate(self, cur: duckdb.DuckDBPyConnection, source: str, file: str,
                 relation: str = "_good") -> FileValidation | None:
        """Validate the rows of `relation` (the staged file) against the source's suite."""
        suite = self.suites.sources.get(source)
        if suite is None or not suite.rules:
            return None
        from great_expectations.core.run_identifier import RunIdentifier

        started = time.perf_counter()
        with self._gx_lock:
            definition = self._definition(suite)
        tallies = [_Tally(rule) for rule in suite.rules]
        projection = ", ".join(f'({sql}) as "{name}"' for name, sql in suite.columns.items())
        relation = suite.relation or relation
        reader = cur.sql(f"select {projection} from {relation}").to_arrow_reader(self.suites.batch_rows)
        rows = 0
        run_name = f"{Path(file).name}"
        for number, batch in enumerate(_batches(reader, self.suites.batch_rows), start=1):
            rows += batch.num_rows
            frame = batch.to_pandas(strings_to_categorical=True)  # categories hash and compare fast
            with self._gx_lock:
                result = definition.run(batch_parameters={"dataframe": frame}, result_format="SUMMARY",
                                        run_id=RunIdentifier(run_name=f"{run_name} batch {number}"))
            by_label = {self._label(r.expectation_config): r for r in result.results}
            for tally in tallies:
                outcome = by_label.get(tally.rule.label)
                if outcome is not None:
                    tally.add(outcome)
        seconds = time.perf_counter() - started
        with self._gx_lock:
            self.validated_files += 1
        outcomes = [self._outcome(source, file, tally, rows, seconds / max(len(tallies), 1)) for tally in tallies]
        return FileValidation(source, file, rows, seconds, outcomes)

    @staticmethod
    def _label(config: Any) -> str:
        return f"{config.type}({config.kwargs.get('column', '')})"

    def _outcome(self, source: str, file: str, tally: _Tally, rows: int, seconds: float) -> CheckOutcome:
        rule = tally.rule
        checked = tally.elements - tally.missing
        return CheckOutcome(
            layer=self.layer, asset=f"{self.asset_schema}/{source}", check_name=rule.label,
            passed=tally.passed or rows == 0,
            severity=rule.severity, engine="great_expectations", target=f"{Path(file).name}: {rule.column}",
            rows_checked=checked, rows_failed=tally.unexpected,
            observed=(tally.unexpected / checked) if checked else 0.0,
            threshold=f"unexpected share <= {1.0 - float(rule.kwargs.get('mostly', 1.0)):g}",
            seconds=seconds, description=rule.why,
            details={"file": file, "kwargs": rule.kwargs, "examples": tally.examples},
        )

    def build_docs(self) -> Path | None:
        """Render Data Docs for the newest `keep_results` validation results (older ones are pruned, so
        unattended daily runs do not grow the store and the rendering without bound); returns the index."""
        if self._context is None or not self.validated_files:
            return None
        uncommitted = self.project_dir / "gx" / "uncommitted"
        results = sorted((p for p in (uncommitted / "validations").rglob("*.json")),
                         key=lambda p: p.stat().st_mtime, reverse=True)
        for old in results[self.suites.keep_results:]:
            old.unlink(missing_ok=True)
        shutil.rmtree(uncommitted / "data_docs" / "local_site" / "validations", ignore_errors=True)
        self._context.build_data_docs()
        index = uncommitted / "data_docs" / "local_site" / "index.html"
        return index if index.exists() else None


def suite_outcome(layer: str, asset: str, target: str, validations: list[FileValidation], suites_file: str,
                  description: str) -> CheckOutcome:
    """One blocking `expectations` check over the validations of an asset: fails when any error-severity
    expectation failed; the markdown lists every failing expectation, warnings included."""
    outcomes = [o for v in validations for o in v.outcomes]
    blocking = [o for o in outcomes if o.blocks]
    warnings = [o for o in outcomes if not o.passed and not o.blocks]
    return CheckOutcome(
        layer, asset, "expectations", not blocking, "error", engine="great_expectations", target=target,
        rows_checked=sum(v.rows for v in validations), rows_failed=len(blocking),
        seconds=sum(v.seconds for v in validations),
        threshold=f"no error-severity expectation fails ({suites_file})", description=description,
        details={"validations": len(validations), "expectations_evaluated": len(outcomes)},
        markdown={"failed": "\n".join(
            f"- **{o.severity}** `{o.target}` {o.check_name}: {o.rows_failed:,} of {o.rows_checked:,} "
            f"unexpected, e.g. {o.details.get('examples')} ({o.description})" for o in blocking + warnings) or "none"},
    )
