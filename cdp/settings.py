"""Runtime settings: every environment variable the product reads, with its default.

Read inside functions (never at import time) so tests and the CLI can point the whole pipeline
at another landing zone or warehouse by setting variables before a run. `dbt_project/profiles.yml`
reads the same variables with the same defaults.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import unquote, urlsplit

from pydantic import BaseModel, ConfigDict, Field

from cdp.typed_config import validated

REPO_ROOT = Path(__file__).resolve().parent.parent

#: The engines the dbt project builds on (outputs of dbt_project/profiles.yml).
ENGINES = ("duckdb", "postgres", "spark")

#: name -> (default, what it is). docs/configuration.md documents every one (tests/test_docs.py).
ENVIRONMENT: dict[str, tuple[str, str]] = {
    "CDP_LANDING_DIR": ("seeds/landing", "Landing zone: one folder per source (events/, crm_contacts/, ...)."),
    "CDP_WAREHOUSE": ("warehouse/cdp.duckdb", "The DuckDB warehouse file (the single writer's file)."),
    "CDP_SERVING_WAREHOUSE": (
        "",
        "Read-only copy for BI tools, replaced atomically after a run whose checks all passed (empty:"
        " cdp_serving.duckdb beside the CDP_WAREHOUSE file).",
    ),
    "CDP_EXPORT_DIR": ("", "Where file destinations write audience exports (empty: exports/ beside the CDP_WAREHOUSE"
                           " file)."),
    "CDP_GX_DIR": ("", "Great Expectations project: landing suites' results and Data Docs HTML (empty: gx/ beside"
                       " the CDP_WAREHOUSE file)."),
    "CDP_GATES_FILE": ("cdp/quality/gates.yml", "Thresholds and severities of the warehouse gates."),
    "CDP_SYNCS_FILE": ("reverse_etl/syncs.yml", "Reverse-ETL destinations, suppression audiences and syncs."),
    "CDP_DUCKDB_MEMORY_LIMIT": ("3GB", "DuckDB memory_limit for loaders and dbt; spills to disk beyond it."),
    "CDP_DUCKDB_THREADS": ("0", "DuckDB threads; 0 means one per core."),
    "CDP_MAX_QUARANTINE_RATE": (
        "",
        "Raw gate for one run: the share of quarantined rows above which a load fails; empty: gates.yml"
        " raw.quarantine_rate.",
    ),
    "CDP_GROUND_TRUTH_DIR": (
        "",
        "Planted truth of generated data for identity accuracy (marts.identity_accuracy); empty: the"
        " ground_truth/ folder beside the landing dir when there is one, else none (real data).",
    ),
    "CDP_IDENTITY_MAX_CLUSTER_SIZE": (
        "",
        "Identity gate for one run: the most identifiers one profile may hold before the run fails (blob"
        " guard); empty: gates.yml identity.largest_profile.",
    ),
    "CDP_DBT_PROJECT_DIR": (
        "dbt_project",
        "The dbt project the pipeline builds (read when the code location loads; same model names as the"
        " project's, e.g. a checkout of another branch for a trial run).",
    ),
    "CDP_TARGET": (
        "duckdb",
        "The warehouse engine of the whole pipeline: `duckdb` (the file of CDP_WAREHOUSE), `postgres`"
        " (CDP_POSTGRES_URL) or `spark` (a local session, CDP_SPARK_*). Loaders, dbt, gates, erasure, syncs"
        " and the CLI all work on it.",
    ),
    "CDP_DBT_TARGET": ("", "Former name of CDP_TARGET, read when CDP_TARGET is not set."),
    "CDP_POSTGRES_URL": (
        "",
        "PostgreSQL address of the `postgres` target, e.g. postgresql://user:password@host:5432/db; when"
        " empty, CDP_POSTGRES_HOST/PORT/USER/PASSWORD/DB.",
    ),
    "CDP_DBT_VARS": ("", "YAML mapping of dbt vars for this run's build (overrides dbt_project.yml rules)."),
    "CDP_POSTGRES_HOST": ("127.0.0.1", "PostgreSQL host of the `postgres` target (CDP_POSTGRES_URL wins)."),
    "CDP_POSTGRES_PORT": ("5432", "PostgreSQL port of the dbt `postgres` target."),
    "CDP_POSTGRES_USER": ("postgres", "PostgreSQL user of the dbt `postgres` target."),
    "CDP_POSTGRES_PASSWORD": ("", "PostgreSQL password of the dbt `postgres` target (empty: trust or .pgpass)."),
    "CDP_POSTGRES_DB": ("test", "PostgreSQL database of the dbt `postgres` target."),
    "CDP_SPARK_MASTER": ("local[2]", "Spark master of the dbt `spark` target (a local session by default)."),
    "CDP_SPARK_WAREHOUSE_DIR": ("warehouse/spark/tables", "Where the `spark` target writes its Parquet tables."),
    "CDP_SPARK_METASTORE_DIR": ("warehouse/spark/metastore", "The `spark` target's local Hive metastore (Derby)."),
    "CDP_SPARK_INCOMING_DIR": (
        "",
        "Scratch folder of the `spark` target's loads (empty: `incoming/` beside CDP_SPARK_WAREHOUSE_DIR); on a"
        " cluster, a path the driver and every executor share, like the landing folder.",
    ),
    "CDP_SPARK_DRIVER_MEMORY": ("4g", "Driver memory of the local Spark session."),
    "CDP_SPARK_SHUFFLE_PARTITIONS": (
        "8",
        "spark.sql.shuffle.partitions of the `spark` target (Spark's 200 suits a cluster, not one machine).",
    ),
    "CDP_ALERTS_FILE": ("cdp/alerts.yml", "Where alerts about failing and recovering steps are sent."),
    "CDP_DASHBOARD_DIR": (
        "",
        "Where the marketing dashboard's pages are written after every good run (empty: `dashboard/`"
        " beside the CDP_WAREHOUSE file).",
    ),
    "CDP_LOG_LEVEL": ("INFO", "Log level of `cdp run` (DEBUG shows every Dagster event)."),
    "CDP_RECORD_RUNS": (
        "true",
        "Record each `cdp run` in the Dagster instance beside the warehouse (or DAGSTER_HOME), so it shows in"
        " `cdp dev`; `false` runs on a throw-away instance, a few seconds faster on the sample (SQLite stores"
        " every one of a run's ~1,500 events).",
    ),
    "CDP_RUN_LOCK_WAIT_SECONDS": (
        "0",
        "How long `cdp run`, `cdp load` or `cdp sync` waits for another run on the same warehouse to finish"
        " before it fails naming that run (0: fail at once).",
    ),
    "CDP_MISSING_SOURCE_FOLDER": (
        "warn",
        "A landing source folder that does not exist: `warn` (reported, the load goes on) or `error` (the"
        " load fails).",
    ),
}


def _path(name: str) -> Path:
    raw = os.environ.get(name) or ENVIRONMENT[name][0]
    path = Path(raw).expanduser()
    return path if path.is_absolute() else (REPO_ROOT / path)


def _beside_warehouse(name: str, warehouse: Path, default: str) -> Path:
    """A setting whose default is a file or folder beside the warehouse it belongs to: pointing
    CDP_WAREHOUSE elsewhere moves the serving copy, exports and GX project with it."""
    return _path(name) if os.environ.get(name) else warehouse.parent / default


#: Read once, when the code location loads: Dagster's dbt assets are built from this project.
DBT_PROJECT_DIR = _path("CDP_DBT_PROJECT_DIR").resolve()


class Settings(BaseModel):
    """The settings in force, typed and checked; each field is read from the variable its alias names
    (`get_settings`), and a wrong value is reported under that variable's name."""

    model_config = ConfigDict(frozen=True, populate_by_name=True)

    landing_dir: Path = Field(validation_alias="CDP_LANDING_DIR")
    warehouse: Path = Field(validation_alias="CDP_WAREHOUSE")
    serving_warehouse: Path = Field(validation_alias="CDP_SERVING_WAREHOUSE")
    export_dir: Path = Field(validation_alias="CDP_EXPORT_DIR")
    syncs_file: Path = Field(validation_alias="CDP_SYNCS_FILE")
    gx_dir: Path = Field(validation_alias="CDP_GX_DIR")
    gates_file: Path = Field(validation_alias="CDP_GATES_FILE")
    duckdb_memory_limit: str = Field(validation_alias="CDP_DUCKDB_MEMORY_LIMIT")
    duckdb_threads: Annotated[int, Field(ge=0)] = Field(validation_alias="CDP_DUCKDB_THREADS")
    max_quarantine_rate: Annotated[float, Field(ge=0, le=1)] | None = Field(
        default=None, validation_alias="CDP_MAX_QUARANTINE_RATE")
    identity_max_cluster_size: Annotated[int, Field(ge=1)] | None = Field(
        default=None, validation_alias="CDP_IDENTITY_MAX_CLUSTER_SIZE")
    ground_truth_dir: Path | None = Field(default=None, validation_alias="CDP_GROUND_TRUTH_DIR")
    run_lock_wait_seconds: Annotated[float, Field(ge=0)] = Field(default=0.0,
                                                                 validation_alias="CDP_RUN_LOCK_WAIT_SECONDS")
    missing_source_folder: Literal["warn", "error"] = Field(default="warn",
                                                            validation_alias="CDP_MISSING_SOURCE_FOLDER")
    dbt_target: Literal["duckdb", "postgres", "spark"] = Field(default="duckdb", validation_alias="CDP_TARGET")
    dashboard_dir_setting: Path | None = Field(default=None, validation_alias="CDP_DASHBOARD_DIR")
    alerts_file: Path = Field(default=REPO_ROOT / "cdp" / "alerts.yml", validation_alias="CDP_ALERTS_FILE")
    record_runs: bool = Field(default=True, validation_alias="CDP_RECORD_RUNS")
    dbt_vars: str = Field(default="", validation_alias="CDP_DBT_VARS")   # YAML or JSON mapping of dbt vars
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = Field(
        default="INFO", validation_alias="CDP_LOG_LEVEL")

    @property
    def dashboard_dir(self) -> Path:
        return self.dashboard_dir_setting or self.warehouse.parent / "dashboard"

    def duckdb_config(self) -> dict[str, str | int]:
        config: dict[str, str | int] = {"memory_limit": self.duckdb_memory_limit}
        if self.duckdb_threads > 0:
            config["threads"] = self.duckdb_threads
        return config


def _raw(name: str) -> str:
    return (os.environ.get(name) or ENVIRONMENT[name][0]).strip()


def get_settings() -> Settings:
    """The settings in force now (environment read at call time); a ValueError names each variable
    whose value is wrong and what it must be."""
    warehouse = _path("CDP_WAREHOUSE")
    landing = _path("CDP_LANDING_DIR")
    raw = {
        "CDP_LANDING_DIR": landing,
        "CDP_WAREHOUSE": warehouse,
        "CDP_SERVING_WAREHOUSE": _beside_warehouse("CDP_SERVING_WAREHOUSE", warehouse, "cdp_serving.duckdb"),
        "CDP_EXPORT_DIR": _beside_warehouse("CDP_EXPORT_DIR", warehouse, "exports"),
        "CDP_SYNCS_FILE": _path("CDP_SYNCS_FILE"),
        "CDP_GX_DIR": _beside_warehouse("CDP_GX_DIR", warehouse, "gx"),
        "CDP_GATES_FILE": _path("CDP_GATES_FILE"),
        "CDP_DUCKDB_MEMORY_LIMIT": _raw("CDP_DUCKDB_MEMORY_LIMIT"),
        "CDP_DUCKDB_THREADS": _raw("CDP_DUCKDB_THREADS"),
        "CDP_MAX_QUARANTINE_RATE": _raw("CDP_MAX_QUARANTINE_RATE") or None,
        "CDP_IDENTITY_MAX_CLUSTER_SIZE": _raw("CDP_IDENTITY_MAX_CLUSTER_SIZE") or None,
        "CDP_GROUND_TRUTH_DIR": _ground_truth_dir(landing),
        "CDP_RUN_LOCK_WAIT_SECONDS": _raw("CDP_RUN_LOCK_WAIT_SECONDS"),
        "CDP_MISSING_SOURCE_FOLDER": _raw("CDP_MISSING_SOURCE_FOLDER").lower(),
        "CDP_TARGET": (os.environ.get("CDP_TARGET") or os.environ.get("CDP_DBT_TARGET")
                       or ENVIRONMENT["CDP_TARGET"][0]).strip().lower(),
        "CDP_DASHBOARD_DIR": _path("CDP_DASHBOARD_DIR") if os.environ.get("CDP_DASHBOARD_DIR") else None,
        "CDP_ALERTS_FILE": _path("CDP_ALERTS_FILE"),
        "CDP_RECORD_RUNS": _raw("CDP_RECORD_RUNS").lower(),
        "CDP_DBT_VARS": (os.environ.get("CDP_DBT_VARS") or "").strip(),
        "CDP_LOG_LEVEL": _raw("CDP_LOG_LEVEL").upper(),
    }
    return validated(Settings, raw, "environment", ValueError, expected={
        "CDP_DUCKDB_THREADS": "a whole number of threads (0: DuckDB's default)",
        "CDP_MAX_QUARANTINE_RATE": "a share between 0 and 1",
        "CDP_IDENTITY_MAX_CLUSTER_SIZE": "a whole number of identifiers",
        "CDP_RUN_LOCK_WAIT_SECONDS": "a number of seconds",
        "CDP_RECORD_RUNS": "true or false"})


def postgres_parameters() -> dict[str, str]:
    """host, port, user, password and dbname of the `postgres` target: from CDP_POSTGRES_URL when set,
    else from CDP_POSTGRES_HOST/PORT/USER/PASSWORD/DB (what profiles.yml reads)."""
    def env(name: str) -> str:
        return os.environ.get(name) or ENVIRONMENT[name][0]

    parts = {"host": env("CDP_POSTGRES_HOST"), "port": env("CDP_POSTGRES_PORT"), "user": env("CDP_POSTGRES_USER"),
             "password": os.environ.get("CDP_POSTGRES_PASSWORD", ""), "dbname": env("CDP_POSTGRES_DB")}
    url = os.environ.get("CDP_POSTGRES_URL")
    if url and "://" not in url:  # libpq's key=value form: host=... dbname=...
        from psycopg.conninfo import conninfo_to_dict

        given = {k: str(v) for k, v in conninfo_to_dict(url).items()}
        parts.update({k: given[k] for k in ("host", "port", "user", "password", "dbname") if given.get(k)})
    elif url:
        parsed = urlsplit(url)
        if parsed.scheme not in ("postgresql", "postgres"):
            raise ValueError(f"CDP_POSTGRES_URL must start with postgresql://, got {parsed.scheme or url!r}")
        parts.update({key: value for key, value in {
            "host": parsed.hostname, "port": str(parsed.port) if parsed.port else None,
            "user": unquote(parsed.username) if parsed.username else None,
            "password": unquote(parsed.password) if parsed.password else None,
            "dbname": unquote(parsed.path.lstrip("/")) or None}.items() if value})
    return parts


def warehouse_label(settings: Settings) -> str:
    """Where the warehouse is, for people: the DuckDB file, PostgreSQL's address (no password) or Spark's."""
    if settings.dbt_target == "postgres":
        p = postgres_parameters()
        return f"postgresql://{p['user']}@{p['host']}:{p['port']}/{p['dbname']} (PostgreSQL)"
    if settings.dbt_target == "spark":
        conf = spark_conf()
        return f"{conf['spark.sql.warehouse.dir']} (Spark {conf['spark.master']}, Parquet tables)"
    return str(settings.warehouse)


def run_lock_anchor(settings: Settings) -> Path:
    """The path the run lock of this warehouse sits beside (one run at a time per warehouse): the DuckDB
    file, or a name for the PostgreSQL database or Spark warehouse folder under the local state folder."""
    if settings.dbt_target == "postgres":
        p = postgres_parameters()
        return settings.warehouse.parent / f"postgres-{p['host']}-{p['port']}-{p['dbname']}"
    if settings.dbt_target == "spark":
        return _path("CDP_SPARK_WAREHOUSE_DIR")
    return settings.warehouse


def dbt_environment_variables(settings: Settings) -> dict[str, str]:
    """What dbt reads from the environment (profiles.yml), with absolute paths so dbt's cwd does not matter."""
    from cdp.gate_thresholds import dbt_gates_json  # gates.yml is typed beside the settings, not below them

    postgres = postgres_parameters()
    return {
        "CDP_DBT_GATES": dbt_gates_json(settings),
        "CDP_WAREHOUSE": str(settings.warehouse),
        "CDP_DUCKDB_MEMORY_LIMIT": settings.duckdb_memory_limit,
        "CDP_GROUND_TRUTH_DIR": str(settings.ground_truth_dir or ""),
        "CDP_DBT_TARGET": settings.dbt_target,
        "CDP_SPARK_WAREHOUSE_DIR": str(_path("CDP_SPARK_WAREHOUSE_DIR")),
        "CDP_SPARK_METASTORE_DIR": str(_path("CDP_SPARK_METASTORE_DIR")),
        "CDP_POSTGRES_HOST": postgres["host"],
        "CDP_POSTGRES_PORT": postgres["port"],
        "CDP_POSTGRES_USER": postgres["user"],
        "CDP_POSTGRES_PASSWORD": postgres["password"],
        "CDP_POSTGRES_DB": postgres["dbname"],
    }


def dagster_home(settings: Settings) -> Path:
    """The Dagster instance `cdp run` records into and `make dev` opens: DAGSTER_HOME when set, else
    `dagster/` beside the warehouse file (a run on another warehouse keeps its own history)."""
    if os.environ.get("DAGSTER_HOME"):
        return Path(os.environ["DAGSTER_HOME"])
    return settings.warehouse.parent / "dagster"


def dbt_vars() -> dict:
    """The dbt vars in force for a run: dbt_project.yml's, overridden by CDP_DBT_VARS, as the models
    see them (for the Python steps whose rules are defined there)."""
    import yaml

    values = yaml.safe_load((DBT_PROJECT_DIR / "dbt_project.yml").read_text())["vars"]
    values.update(yaml.safe_load(get_settings().dbt_vars or "{}") or {})
    return values


def spark_checkpoint_dir() -> Path:
    """Where Spark jobs that checkpoint (the probabilistic identity tier's Splink) write, beside the tables."""
    return _path("CDP_SPARK_WAREHOUSE_DIR").parent / "checkpoints"


def spark_incoming_dir() -> Path:
    """Where Spark load tasks write what they accepted and quarantined before it is published."""
    if os.environ.get("CDP_SPARK_INCOMING_DIR"):
        return _path("CDP_SPARK_INCOMING_DIR")
    return _path("CDP_SPARK_WAREHOUSE_DIR").parent / "incoming"


def spark_conf() -> dict[str, str]:
    """The local Spark session's configuration, the same for dbt (profiles.yml reads these variables
    with these defaults) and for the Python steps that read or write the `spark` target."""
    metastore = _path("CDP_SPARK_METASTORE_DIR")
    return {
        "spark.master": os.environ.get("CDP_SPARK_MASTER") or ENVIRONMENT["CDP_SPARK_MASTER"][0],
        "spark.driver.memory": os.environ.get("CDP_SPARK_DRIVER_MEMORY") or ENVIRONMENT["CDP_SPARK_DRIVER_MEMORY"][0],
        "spark.sql.warehouse.dir": str(_path("CDP_SPARK_WAREHOUSE_DIR")),
        "spark.hadoop.javax.jdo.option.ConnectionURL": f"jdbc:derby:;databaseName={metastore};create=true",
        "spark.sql.shuffle.partitions": os.environ.get("CDP_SPARK_SHUFFLE_PARTITIONS")
        or ENVIRONMENT["CDP_SPARK_SHUFFLE_PARTITIONS"][0],
        "spark.sql.session.timeZone": "UTC",
        # as dbt-spark sets it for the models, so Python reads and writes with the same semantics
        "spark.sql.ansi.enabled": "false",
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.log.level": "ERROR",
        # Derby writes derby.log into its home; keep it beside the metastore, not in the cwd.
        "spark.driver.extraJavaOptions": f"-Dderby.system.home={metastore.parent}",
    }


def _ground_truth_dir(landing_dir: Path) -> Path | None:
    """CDP_GROUND_TRUTH_DIR, else `ground_truth/` beside the landing folder (what `cdp generate` writes)."""
    if os.environ.get("CDP_GROUND_TRUTH_DIR"):
        return _path("CDP_GROUND_TRUTH_DIR")
    beside = landing_dir.parent / "ground_truth"
    return beside if (beside / "identifiers").is_dir() else None
