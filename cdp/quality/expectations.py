"""Great Expectations validation: landing files in groups as they load, and summary extracts of marts.

The suites are data (`landing_expectations.yml`, `mart_expectations.yml`). A `SuiteValidator` owns
one file-backed GX project under CDP_GX_DIR (suites, validation results, Data Docs HTML). Rows are
projected in DuckDB to the columns the suite names (`project`), read as Arrow, and validated by GX's
pandas engine in batches of `batch_rows` rows; per-batch results are summed per expectation, so a
`mostly` threshold holds for everything validated together.

Landing files are validated as a group (`validate_tables`: the projections of consecutive staged
files, up to about `batch_rows` rows), because each GX run costs a fixed ~0.07 s of Python whatever
its size and a landing folder often holds many small files. A group that fails an error-severity
expectation is validated again file by file, so only the failing files are quarantined. Sources
with an error-severity rule that has `mostly` below 1 are validated one file at a time (a share
judged over a group could hide one bad file among good ones). A mart extract is validated on its
own (`validate`), streaming one batch at a time.

Importing GX takes seconds; `warm_up` does it (and builds the suites) on a background thread, so
the loaders' first files are read and parsed meanwhile.
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
from typing import Annotated, Any, Literal

import duckdb
import yaml
from pydantic import ConfigDict, Field, model_validator

from cdp.engines.types import Warehouse
from cdp.quality.results import CheckOutcome
from cdp.typed_config import Strict, validated

SUITES_FILE = Path(__file__).with_name("landing_expectations.yml")
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
    parsed: dict[str, str] = field(default_factory=dict)  # expressions computed once per row, for `columns`


@dataclass(frozen=True)
class Suites:
    batch_rows: int
    sources: dict[str, SourceSuite]
    keep_results: int = 300


def _class_name(expectation: str) -> str:
    return "".join(part.capitalize() for part in expectation.split("_"))


class _RuleModel(Strict):
    expectation: str                     # a GX 1.x expectation in snake case
    kwargs: dict[str, Any] = Field(default_factory=dict)
    severity: Literal["error", "warn"] = "error"
    why: str = ""


class _SourceModel(Strict):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    columns: dict[str, str]              # name -> SQL expression over the rows
    parsed: dict[str, str] = Field(default_factory=dict)
    expectations: list[_RuleModel] = Field(default_factory=list)
    from_: str | None = Field(default=None, alias="from")   # mart extracts: the SQL the rows come from

    @model_validator(mode="after")
    def _columns_known(self) -> _SourceModel:
        for number, rule in enumerate(self.expectations, start=1):
            if rule.kwargs.get("column") not in self.columns:
                raise ValueError(f"expectations[{number}]: column {rule.kwargs.get('column')!r} is not one of the "
                                 f"source's columns ({', '.join(self.columns)})")
        return self


class _SuitesModel(Strict):
    batch_rows: Annotated[int, Field(ge=1)] = 500_000
    keep_results: Annotated[int, Field(ge=0)] = 300
    sources: dict[str, _SourceModel] = Field(default_factory=dict)


def parse_suites(data: dict[str, Any], origin: str = str(SUITES_FILE), *, check_names: bool = True) -> Suites:
    """The suites in `data` (validated by their models); with `check_names`, every expectation must
    exist in GX (importing GX)."""
    model: _SuitesModel = validated(_SuitesModel, data, origin, SuiteConfigError)
    sources = {
        name: SourceSuite(name, dict(entry.columns),
                          tuple(ExpectationRule(r.expectation, dict(r.kwargs), r.severity, r.why)
                                for r in entry.expectations),
                          f"({entry.from_}) as _extract" if entry.from_ else None, dict(entry.parsed))
        for name, entry in model.sources.items()}
    suites = Suites(model.batch_rows, sources, model.keep_results)
    if check_names:
        check_expectation_names(suites, origin)
    return suites


@cache
def load_suites(path: Path = SUITES_FILE, *, check_names: bool = True) -> Suites:
    return parse_suites(yaml.safe_load(path.read_text()) or {}, str(path), check_names=check_names)


def check_expectation_names(suites: Suites, origin: str) -> None:
    """Raise SuiteConfigError naming the first expectation GX does not know."""
    import great_expectations.expectations as gxe

    for name, suite in suites.sources.items():
        for number, rule in enumerate(suite.rules, start=1):
            if not hasattr(gxe, _class_name(rule.expectation)):
                raise SuiteConfigError(f"{origin}: sources.{name}.expectations[{number}]: unknown Great "
                                       f"Expectations expectation {rule.expectation!r}")


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
        return f"{FAILED_EXPECTATIONS} (cdp/quality/landing_expectations.yml): " + "; ".join(parts)


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
    from cdp.settings import get_settings

    return get_settings().gx_dir


#: held around all GX work in this process (see SuiteValidator.__init__)
GX_LOCK = threading.Lock()


class SuiteValidator:
    """Validates staged landing files (or mart extracts) with the repository's GX suites; one GX project
    per instance. `layer` and `asset_schema` name where the results belong (landing/raw, marts/marts)."""

    def __init__(self, project_dir: Path | None = None, suites: Suites | None = None, *,
                 layer: str = "landing", asset_schema: str = "raw", origin: str | None = None) -> None:
        self.project_dir = project_dir or gx_project_dir()
        # The landing suites are read without GX here; `warm_up` checks their expectation names.
        self.suites = suites or load_suites(check_names=False)
        self._origin = origin or (str(SUITES_FILE) if suites is None else "the given suites")
        self.layer, self.asset_schema = layer, asset_schema
        self._context: Any = None
        self._definitions: dict[str, Any] = {}
        self.validated_files = 0
        # GX's context and stores are not thread-safe, and every validator of a process writes the
        # same project files (great_expectations.yml): GX runs one thing at a time per process.
        self._gx_lock = GX_LOCK
        self._warm: threading.Thread | None = None
        self._warm_error: BaseException | None = None

    def warm_up(self) -> None:
        """Import GX, check the suites' expectation names and build the validation definitions on a
        background thread; the first validation waits for it and raises what it raised."""
        if self._warm is None:
            self._warm = threading.Thread(target=self._build_all, name="gx-warm-up", daemon=True)
            self._warm.start()

    def _build_all(self) -> None:
        try:
            check_expectation_names(self.suites, self._origin)
            with self._gx_lock:
                for suite in self.suites.sources.values():
                    if suite.rules:
                        self._definition(suite)
        except BaseException as exc:  # re-raised by the first validation, on the loading thread
            self._warm_error = exc

    def _ready(self) -> None:
        if self._warm is None:
            check_expectation_names(self.suites, self._origin)
        else:
            self._warm.join()
            if self._warm_error is not None:
                raise self._warm_error

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

    def _suite(self, source: str) -> SourceSuite | None:
        suite = self.suites.sources.get(source)
        return suite if suite is not None and suite.rules else None

    def groups_files(self, source: str) -> bool:
        """Whether files of `source` may be validated together: no error-severity rule judges a share
        (`mostly` below 1), which a group could meet while one of its files does not."""
        suite = self._suite(source)
        return suite is None or all(float(r.kwargs.get("mostly", 1.0)) >= 1.0
                                    for r in suite.rules if r.severity == "error")

    def _projection_sql(self, suite: SourceSuite, relation: str) -> str:
        projection = ", ".join(f'({sql}) as "{name}"' for name, sql in suite.columns.items())
        rows = suite.relation or relation
        if suite.parsed:
            parsed = ", ".join(f'({sql}) as "{name}"' for name, sql in suite.parsed.items())
            rows = f"(select *, {parsed} from {rows}) as _parsed"
        return f"select {projection} from {rows}"

    def project(self, cur: duckdb.DuckDBPyConnection, source: str, relation: str = "_good") -> Any:
        """The suite's columns over `relation` (a staged file's loadable rows) as one Arrow table; None
        when the source has no suite. Runs in DuckDB on the caller's cursor (any thread)."""
        suite = self._suite(source)
        if suite is None:
            return None
        return cur.sql(self._projection_sql(suite, relation)).to_arrow_table()

    def validate_tables(self, source: str, label: str, tables: list[Any]) -> FileValidation | None:
        """Validate projected Arrow tables (see `project`) together, as one batch per `batch_rows` rows."""
        suite = self._suite(source)
        if suite is None:
            return None
        import pyarrow as pa

        started = time.perf_counter()
        whole = pa.concat_tables(tables) if len(tables) > 1 else tables[0]
        step = self.suites.batch_rows
        batches = (whole.slice(offset, step) for offset in range(0, max(whole.num_rows, 1), step))
        return self._run(suite, label, batches, started)

    def validate(self, cur: Warehouse, source: str, file: str,
                 relation: str = "_good") -> FileValidation | None:
        """Validate the rows of `relation` against the source's suite, streaming one batch at a time."""
        suite = self._suite(source)
        if suite is None:
            return None
        started = time.perf_counter()
        query = self._projection_sql(suite, relation)
        reader = cur.arrow_batches(query, self.suites.batch_rows) if hasattr(cur, "arrow_batches") \
            else cur.sql(query).to_arrow_reader(self.suites.batch_rows)
        return self._run(suite, file, _batches(reader, self.suites.batch_rows), started)

    def _run(self, suite: SourceSuite, file: str, batches: Iterator[Any], started: float) -> FileValidation:
        from great_expectations.core.run_identifier import RunIdentifier

        self._ready()
        with self._gx_lock:
            definition = self._definition(suite)
        tallies = [_Tally(rule) for rule in suite.rules]
        rows = 0
        for number, batch in enumerate(batches, start=1):
            rows += batch.num_rows
            frame = batch.to_pandas(strings_to_categorical=True)  # categories hash and compare fast
            with self._gx_lock:
                result = definition.run(batch_parameters={"dataframe": frame}, result_format="SUMMARY",
                                        run_id=RunIdentifier(run_name=f"{Path(file).name} batch {number}"))
            by_label = {self._label(r.expectation_config): r for r in result.results}
            for tally in tallies:
                outcome = by_label.get(tally.rule.label)
                if outcome is not None:
                    tally.add(outcome)
        seconds = time.perf_counter() - started
        with self._gx_lock:
            self.validated_files += 1
        outcomes = [self._outcome(suite.source, file, tally, rows, seconds / max(len(tallies), 1))
                    for tally in tallies]
        return FileValidation(suite.source, file, rows, seconds, outcomes)

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

    def adopt_results(self, folder: Path, validations: int) -> None:
        """Take in validation results that validators elsewhere stored (Spark load tasks, each with a GX
        project of its own) from `folder`'s `gx/` subfolders, so `build_docs` renders their pages."""
        store = self.project_dir / "gx" / "uncommitted" / "validations"
        for result in folder.glob("*/gx/**/*.json"):  # <folder>/<file's task>/gx/<path in the store>
            target = store / Path(*result.relative_to(folder).parts[2:])
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(result), target)
        if validations:
            self._ready()
            with self._gx_lock:
                self._gx()
                self.validated_files += validations

    def build_docs(self) -> Path | None:
        """Render Data Docs for every stored validation result that has no page yet (this validator's,
        and those of earlier steps that did not render theirs), their suites and the index; returns the
        index. Results beyond the newest `keep_results` are pruned with their pages first, so unattended
        daily runs do not grow the store. A site without an index (the first run, or deleted) is
        rendered whole. Rendering costs seconds of template work a time, so the steps of a run call this
        when one of their suites failed, and the last suites of a run always (see the callers)."""
        if self._context is None or not self.validated_files:
            return None
        from great_expectations.data_context.types.resource_identifiers import ExpectationSuiteIdentifier

        uncommitted = self.project_dir / "gx" / "uncommitted"
        store = uncommitted / "validations"
        results = sorted(store.rglob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
        for old in results[self.suites.keep_results:]:
            old.unlink(missing_ok=True)
        site = uncommitted / "data_docs" / "local_site"
        index = site / "index.html"
        if not index.exists():
            shutil.rmtree(site / "validations", ignore_errors=True)
            self._context.build_data_docs()
        else:
            pages = site / "validations"
            _drop_pages_without_results(pages, store)
            pending = [k for k in self._context.validation_results_store.list_keys()
                       if not (pages / Path(*k.to_tuple())).with_suffix(".html").exists()]
            suites = {k.to_tuple()[0] for k in pending}
            self._context.build_data_docs(resource_identifiers=[
                *(ExpectationSuiteIdentifier(name=name) for name in sorted(suites)), *pending])
        return index if index.exists() else None


def _drop_pages_without_results(pages: Path, store: Path) -> None:
    """Delete the Data Docs pages of validation results no longer in the store (pruned)."""
    for page in pages.rglob("*.html"):
        if not (store / page.relative_to(pages)).with_suffix(".json").exists():
            page.unlink(missing_ok=True)


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
