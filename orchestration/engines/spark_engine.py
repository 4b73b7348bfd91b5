"""Apache Spark: the session the dbt `spark` target uses (same master, warehouse folder and
metastore, from settings.spark_conf()), with Parquet tables."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from orchestration.engines.base import Column, Engine, bind_values
from orchestration.settings import spark_conf
from orchestration.sql_text import quote_identifier


def spark_session():
    """The local Spark session with Hive support (tables persist in the metastore between processes)."""
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise RuntimeError("The spark engine needs pyspark: pip install -e '.[spark]'") from exc
    builder = SparkSession.builder.appName("cdp").enableHiveSupport()
    for key, value in spark_conf().items():
        builder = builder.config(key, value)
    return builder.getOrCreate()


class SparkEngine(Engine):
    name = "spark"

    def __init__(self) -> None:
        self.spark = spark_session()

    def fetch(self, sql: str) -> list[dict[str, Any]]:
        return [row.asDict() for row in self.spark.sql(sql).collect()]

    def replace_table(self, schema: str, table: str, columns: Sequence[Column], rows: Sequence[tuple]) -> None:
        from pyspark.sql.types import DecimalType, DoubleType, LongType, StringType, StructField, StructType

        types = {"text": StringType(), "double": DoubleType(), "bigint": LongType(), "money": DecimalType(18, 2)}
        structure = StructType([StructField(c.name, types[c.type], nullable=True) for c in columns])
        frame = self.spark.createDataFrame(bind_values(columns, rows), structure)
        self.spark.sql(f"create database if not exists {quote_identifier(schema, '`')}")
        # Parquet tables have no transactions: overwrite replaces the table's files in one job.
        frame.write.mode("overwrite").format("parquet").saveAsTable(
            f"{quote_identifier(schema, '`')}.{quote_identifier(table, '`')}")

    def close(self) -> None:
        stop_spark(self.spark)


def stop_spark(spark) -> None:
    """Stop the session and its JVM. The local metastore (Derby) admits one JVM at a time, and the dbt
    step that follows opens its own session in another process."""
    from pyspark import SparkContext

    spark.stop()
    gateway = SparkContext._gateway
    if gateway is not None:
        gateway.shutdown()
        process = getattr(gateway, "proc", None)
        if process is not None:
            process.terminate()
            process.wait(timeout=60)
    SparkContext._gateway = None
    SparkContext._jvm = None
