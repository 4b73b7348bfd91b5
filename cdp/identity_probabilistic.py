"""The probabilistic identity tier: Splink (Fellegi-Sunter) over the records of
`intermediate.int_identity__match_records`, on the engine dbt builds on.

The deterministic rules link two identifiers only when a record carries both. This step compares
records that share no identifier (a CRM contact whose email was mistyped, a web user who signed up
as "Jon" and is "Jonathan" in the CRM) field by field, and

1. estimates the model from the data: the chance that two random records match from the pairs that
   share an exact email (the deterministic links, as labels) and how often each field agrees by
   chance (u) from a seeded random sample of pairs; how often one person's records reach each level
   (m) is configuration (cdp__identity_probabilistic_m_probabilities, where the reason is given);
2. scores the candidate pairs (blocked on cheap keys: name, mailbox name, phone, company) in the
   warehouse and keeps those at or above `min_probability` that share no exact email or phone (those
   the deterministic rules link, or refuse to link for a reason of their own);
3. writes them to `intermediate.identity_probabilistic_links` with their probability and the
   comparison level each field reached. `int_identity__pairs` reads them as pairs of rule
   `probabilistic`, so blocking, per-profile limits, shared-value protections, stable ids and the
   merge ledger apply to them as to every other edge;
4. keeps the model card (parameters, counts, threshold) in `ops.identity_probabilistic_models`.

Every rule is a dbt var (`cdp__identity_probabilistic_*`, dbt_project.yml); the tier is off with
`cdp__identity_probabilistic_enabled: false`, and then the links table is empty. Nothing that grows
with the data enters Python: Splink runs its SQL in the warehouse (DuckDB, PostgreSQL or Spark).
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cdp.engines.base import Engine
from cdp.settings import dbt_vars, postgres_parameters, spark_checkpoint_dir

RECORDS_SCHEMA, RECORDS_TABLE = "intermediate", "int_identity__match_records"
LINKS_SCHEMA, LINKS_TABLE = "intermediate", "identity_probabilistic_links"
RECORDS = f"{RECORDS_SCHEMA}.{RECORDS_TABLE}"
#: where Splink keeps its working tables on PostgreSQL (dropped after each run)
SPLINK_POSTGRES_SCHEMA = "splink"
#: the records as Splink's input: a copy in DuckDB's default schema, a temporary view on Spark (dropped
#: after each run: it holds personal data that erasure looks for in the intermediate schema only)
SPLINK_INPUT = "cdp_match_records"

#: the links table when there is nothing to link (the tier is off, or too few records)
EMPTY_LINKS = """
    select cast(null as varchar) as left_type, cast(null as varchar) as left_value,
           cast(null as varchar) as right_type, cast(null as varchar) as right_value,
           cast(null as double) as match_probability, cast(null as double) as match_weight,
           cast(null as varchar) as evidence, cast(null as timestamptz) as observed_at,
           cast(null as varchar) as model_id
    where 1 = 0"""


@dataclass(frozen=True)
class ProbabilisticSettings:
    enabled: bool = True
    min_probability: float = 0.99
    max_u_pairs: int = 1_000_000
    seed: int = 42
    m_probabilities: dict[str, dict[str, float]] = field(default_factory=dict)


def probabilistic_settings() -> ProbabilisticSettings:
    """The tier's rules, from the dbt vars where they are defined (dbt_project.yml), overridden for a
    run by CDP_DBT_VARS like the models' own."""
    values = dbt_vars()
    enabled = values["cdp__identity_probabilistic_enabled"]
    if not isinstance(enabled, bool):
        raise ValueError(f"dbt var cdp__identity_probabilistic_enabled must be true or false, not {enabled!r}")
    probability = float(values["cdp__identity_probabilistic_min_probability"])
    if not 0.5 <= probability < 1:
        raise ValueError("dbt var cdp__identity_probabilistic_min_probability must be at least 0.5 and below 1, "
                         f"not {probability}")
    return ProbabilisticSettings(enabled=enabled, min_probability=probability,
                                 max_u_pairs=int(values["cdp__identity_probabilistic_max_u_pairs"]),
                                 seed=int(values["cdp__identity_probabilistic_seed"]),
                                 m_probabilities=values["cdp__identity_probabilistic_m_probabilities"])


#: the comparison levels of each field, closest first (the null level aside), by the label that names
#: them in the evidence and in cdp__identity_probabilistic_m_probabilities
LEVELS: dict[str, tuple[str, ...]] = {
    "first_name": ("exact", "nickname", "typo", "different"),
    "last_name": ("exact", "typo", "different"),
    "email": ("exact", "same mailbox other domain", "typo", "same name other digits", "different"),
    "phone": ("exact", "different"),
    "company": ("exact", "variant", "different"),
    "country": ("exact", "different"),
}


def _level_sql(field_name: str, label: str) -> Any:
    """The Splink comparison level `label` of `field_name`: only exact matches, Levenshtein distances and
    column equalities, SQL every engine runs without user-defined functions."""
    import splink.comparison_level_library as cll

    exact, lev = cll.ExactMatchLevel, cll.LevenshteinLevel
    levels = {
        ("first_name", "exact"): exact("first_name_std"),
        ("first_name", "nickname"): exact("first_name_canonical"),
        ("first_name", "typo"): lev("first_name_std", 2),
        ("last_name", "exact"): exact("last_name_std"),
        ("last_name", "typo"): lev("last_name_std", 2),
        ("email", "exact"): cll.And(exact("email_local_letters"), exact("email_local_digits"), exact("email_domain")),
        ("email", "same mailbox other domain"): cll.And(exact("email_local_letters"), exact("email_local_digits")),
        ("email", "typo"): cll.And(exact("email_local_digits"), lev("email_local_letters", 2), lev("email_domain", 2)),
        ("email", "same name other digits"): exact("email_local_letters"),
        ("phone", "exact"): exact("phone"),
        ("company", "exact"): exact("company_std"),
        ("company", "variant"): lev("company_std", 2),
        ("country", "exact"): exact("country"),
    }
    level = levels.get((field_name, label), cll.ElseLevel() if label == "different" else None)
    if level is None:
        raise ValueError(f"no comparison level {label!r} for {field_name}")
    return level.configure(label_for_charts=label)


#: the column whose absence on either side makes a field's comparison null (no evidence either way)
NULL_COLUMNS = {"first_name": "first_name_std", "last_name": "last_name_std", "email": "email_local_letters",
                "phone": "phone", "company": "company_std", "country": "country"}


def _comparisons(m_probabilities: dict[str, dict[str, float]]) -> list[Any]:
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl

    comparisons = []
    for name, labels in LEVELS.items():
        given = m_probabilities.get(name, {})
        numbers = all(isinstance(v, int | float) and not isinstance(v, bool) and 0 <= v <= 1 for v in given.values())
        if set(given) != set(labels) or not numbers or abs(sum(given.values()) - 1) > 1e-6:
            raise ValueError(f"dbt var cdp__identity_probabilistic_m_probabilities.{name} must give each of "
                             f"{', '.join(labels)} a probability, summing to 1 (got {given})")
        comparison = cl.CustomComparison(
            output_column_name=name,
            comparison_levels=[cll.NullLevel(NULL_COLUMNS[name]), *(_level_sql(name, label) for label in labels)])
        comparisons.append(comparison.configure(m_probabilities=[float(given[label]) for label in labels]))
    return comparisons


def _splink_settings(settings: ProbabilisticSettings) -> Any:
    from splink import SettingsCreator, block_on

    return SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name="record_key",
        comparisons=_comparisons(settings.m_probabilities),
        # candidate pairs: any one of these keys equal. The mailbox's digits are in three of them: people
        # of one name rarely share them, so blocks stay small where names repeat (in real data most
        # mailboxes have none, and these are blocks on the name, the mailbox and the name at a domain)
        blocking_rules_to_generate_predictions=[
            block_on("first_name_canonical", "last_name_std", "email_local_digits"),
            block_on("email_local_letters", "email_local_digits"),
            block_on("phone"),
            block_on("last_name_std", "email_domain", "email_local_digits"),
        ],
        retain_intermediate_calculation_columns=False,
        additional_columns_to_retain=[],
    )


def _offline_postgres_api() -> type:
    """Splink's PostgreSQL API, writing its small helper tables through SQLAlchemy: Splink's own way goes
    through DuckDB's postgres extension, which is downloaded on first use."""
    import pandas as pd
    from splink.backends.postgres import PostgresAPI

    class OfflinePostgresAPI(PostgresAPI):
        def _table_registration(self, input: Any, table_name: str) -> None:
            frame = input.to_pandas() if hasattr(input, "to_pandas") else pd.DataFrame(input)
            frame.to_sql(table_name, con=self._engine, index=False, if_exists="replace", schema=self._db_schema)

    return OfflinePostgresAPI


def _drop_spark_work(engine: Engine) -> None:
    """Drop Splink's registration of the records and the Parquet files it checkpointed (they hold the
    records' personal data) under this product's checkpoint folder."""
    spark = engine.spark  # type: ignore[attr-defined]
    spark.catalog.dropTempView(SPLINK_INPUT)
    checkpoint = spark.sparkContext.getCheckpointDir()
    ours = spark_checkpoint_dir().resolve()
    if checkpoint:
        folder = Path(checkpoint.removeprefix("file:")).resolve()
        if folder == ours or ours in folder.parents:
            for child in folder.iterdir():
                shutil.rmtree(child, ignore_errors=True)


def _drop_duckdb_input(engine: Engine) -> None:
    """Drop Splink's registration of the records (a view or a table, as Splink chose) from DuckDB."""
    kind = engine.execute("select table_type from information_schema.tables where table_schema = 'main' "
                          "and table_name = ?", [SPLINK_INPUT]).fetchall()
    if kind:
        engine.execute(f"drop {'view' if kind[0][0] == 'VIEW' else 'table'} {SPLINK_INPUT}")


def _registered_records(engine: Engine) -> Any:
    """The records as a Splink input on the engine's own connection or session (Splink reads a bare
    table name only from its own schema, so each engine hands it the relation)."""
    if engine.name == "duckdb":
        from splink import DuckDBAPI

        con = engine.con  # type: ignore[attr-defined]
        con.execute("set enable_progress_bar = false")  # Splink's queries run long enough to draw one
        _drop_duckdb_input(engine)  # left by a run that was killed
        return DuckDBAPI(connection=con).register(con.sql(f"select * from {RECORDS}"), table_name=SPLINK_INPUT)
    if engine.name == "spark":
        import sqlglot.generator
        from splink import SparkAPI

        if not sqlglot.generator.__file__.endswith(".py"):
            raise RuntimeError("Splink's Spark backend needs sqlglot as plain Python, and the compiled build "
                               "(sqlglotc, which dagster-dbt's sqlglot[rs] installs) is here: run "
                               "`pip uninstall sqlglotc` (make setup does)")

        spark = engine.spark  # type: ignore[attr-defined]
        if spark.sparkContext.getCheckpointDir() is None:
            # Splink writes its intermediate tables as Parquet under the checkpoint folder
            spark.sparkContext.setCheckpointDir(str(spark_checkpoint_dir()))
        # Levenshtein is built into Spark: Splink's jar of extra functions is not needed
        api = SparkAPI(spark_session=spark, register_udfs_automatically=False)
        return api.register(spark.table(RECORDS), table_name=SPLINK_INPUT)
    if engine.name == "postgres":
        import sqlalchemy

        parts = postgres_parameters()
        url = sqlalchemy.engine.URL.create("postgresql+psycopg", username=parts["user"],
                                           password=parts["password"] or None, host=parts["host"],
                                           port=int(parts["port"]), database=parts["dbname"])
        api = _offline_postgres_api()(engine=sqlalchemy.create_engine(url), schema=SPLINK_POSTGRES_SCHEMA,
                                      other_schemas_to_search=[RECORDS_SCHEMA])
        return api.register(RECORDS_TABLE)
    raise ValueError(f"the probabilistic identity tier has no Splink backend for engine {engine.name!r}")


@dataclass
class LinkCard:
    """What one run of the tier did: the model card of ops.identity_probabilistic_models."""

    model_id: str
    status: str
    engine: str
    min_probability: float
    records: int = 0
    pairs_above_threshold: int = 0
    links: int = 0
    probability_two_random_records_match: float | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    trained_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def metadata(self) -> dict[str, Any]:
        """The card as Dagster asset metadata (plain values)."""
        plain = asdict(self)
        plain["trained_at"] = self.trained_at.isoformat()
        plain["parameters"] = json.dumps(self.parameters, sort_keys=True)
        return plain


def _count(engine: Engine, sql: str) -> int:
    return int(engine.execute(sql).fetchall()[0][0])


def _gamma_labels(model: dict[str, Any]) -> dict[str, list[tuple[int, str]]]:
    """comparison -> [(gamma value, label)] from Splink's model JSON: the null level is -1, the other
    levels count down to 0 in the order they are listed (the last, the else level, is 0)."""
    labels: dict[str, list[tuple[int, str]]] = {}
    for comparison in model["comparisons"]:
        levels = [lv for lv in comparison["comparison_levels"] if not lv.get("is_null_level")]
        labels[comparison["output_column_name"]] = [
            (len(levels) - 1 - i, lv.get("label_for_charts") or f"level {len(levels) - 1 - i}")
            for i, lv in enumerate(levels)]
    return labels


def _evidence_sql(model: dict[str, Any]) -> str:
    """One text per pair naming the level every field reached, e.g. `first_name nickname, ...`."""
    parts = []
    for name, levels in _gamma_labels(model).items():
        whens = " ".join(f"when {gamma} then '{name} {label}'" for gamma, label in levels)
        parts.append(f"case p.gamma_{name} {whens} else '{name} missing' end")
    return " || ', ' || ".join(parts)


def _parameters(model: dict[str, Any]) -> dict[str, Any]:
    """m and u per comparison level, as the model scores with them: what the card shows and what names
    the model (a pair's weight can be worked out by hand from them)."""
    out: dict[str, Any] = {}
    for comparison in model["comparisons"]:
        out[comparison["output_column_name"]] = [
            {"level": lv.get("label_for_charts"),
             "m": None if lv.get("m_probability") is None else float(lv["m_probability"]),
             "u": None if lv.get("u_probability") is None else float(lv["u_probability"])}
            for lv in comparison["comparison_levels"] if not lv.get("is_null_level")]
    return out


def link_records(engine: Engine, settings: ProbabilisticSettings) -> LinkCard:
    """Train, score and write the links (see the module's docstring); the card of what was done."""
    started = time.perf_counter()
    card = LinkCard(model_id="probabilistic_none", status="linked", engine=engine.name,
                    min_probability=settings.min_probability)
    card.records = _count(engine, f"select count(*) from {RECORDS}")
    if not settings.enabled or card.records < 2:
        card.status = "off (cdp__identity_probabilistic_enabled: false)" if not settings.enabled \
            else f"nothing to compare ({card.records} records)"
        engine.create_table_as(LINKS_SCHEMA, LINKS_TABLE, EMPTY_LINKS)
        card.seconds = round(time.perf_counter() - started, 3)
        return card

    from splink import Linker, block_on

    # Splink reports every untrained level at WARNING: the card holds what was estimated
    logging.getLogger("splink").setLevel(logging.ERROR)
    records = _registered_records(engine)
    linker = Linker(records, _splink_settings(settings), log_level=logging.ERROR)
    try:
        exact_email = block_on("email_local_letters", "email_local_digits", "email_domain")
        if _count(engine, f"select count(*) from (select email from {RECORDS} where email is not null "
                          "group by email having count(*) > 1) as shared"):
            # the deterministic links (records sharing an exact email) as labels; a rule of thumb recall
            linker.training.estimate_probability_two_random_records_match([exact_email], recall=0.7)
        linker.training.estimate_u_using_random_sampling(max_pairs=settings.max_u_pairs, seed=settings.seed)
        # a level no sampled pair reached (a typo, a nickname: rare by chance) has a u below one in the
        # pairs sampled: that bound, rather than Splink's untrained default
        model = linker.misc.save_model_to_json()
        for comparison in model["comparisons"]:
            for level in comparison["comparison_levels"]:
                if not level.get("is_null_level") and not isinstance(level.get("u_probability"), float):
                    level["u_probability"] = 1.0 / settings.max_u_pairs
        linker = Linker(records, model, log_level=logging.ERROR)
        card.probability_two_random_records_match = float(model["probability_two_random_records_match"])
        card.parameters = _parameters(model)
        card.model_id = "probabilistic_" + hashlib.sha256(json.dumps(
            [card.probability_two_random_records_match, card.parameters, settings.min_probability],
            sort_keys=True).encode()).hexdigest()[:16]

        predictions = linker.inference.predict(threshold_match_probability=settings.min_probability)
        scored = (f"{SPLINK_POSTGRES_SCHEMA}.{predictions.physical_name}" if engine.name == "postgres"
                  else predictions.physical_name)
        card.pairs_above_threshold = _count(engine, f"select count(*) from {scored}")
        # pairs sharing an exact email or phone are the deterministic rules' to link or refuse
        engine.create_table_as(LINKS_SCHEMA, LINKS_TABLE, f"""
            select l.identifier_type as left_type, l.identifier as left_value,
                   r.identifier_type as right_type, r.identifier as right_value,
                   cast(round(cast(p.match_probability as decimal(20, 10)), 6) as double) as match_probability,
                   cast(round(cast(p.match_weight as decimal(20, 10)), 4) as double) as match_weight,
                   {_evidence_sql(model)} as evidence,
                   greatest(l.observed_at, r.observed_at) as observed_at,
                   '{card.model_id}' as model_id
            from {scored} as p
            inner join {RECORDS} as l on l.record_key = p.record_key_l
            inner join {RECORDS} as r on r.record_key = p.record_key_r
            where not coalesce(l.email = r.email, false) and not coalesce(l.phone = r.phone, false)""")
        card.links = _count(engine, f"select count(*) from {LINKS_SCHEMA}.{LINKS_TABLE}")
    finally:
        linker.table_management.delete_tables_created_by_splink_from_db()
        if engine.name == "duckdb":
            _drop_duckdb_input(engine)
        elif engine.name == "spark":
            _drop_spark_work(engine)
    card.seconds = round(time.perf_counter() - started, 3)
    return card


def record_card(engine: Engine, card: LinkCard) -> None:
    """Append the card to ops.identity_probabilistic_models."""
    engine.execute(
        "insert into ops.identity_probabilistic_models values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [card.model_id, card.trained_at, card.engine, card.status, card.records, card.pairs_above_threshold,
         card.links, card.min_probability, card.probability_two_random_records_match,
         json.dumps(card.parameters, sort_keys=True), card.seconds])
