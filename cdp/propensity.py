"""Propensity to convert: a logistic regression on each profile's point-in-time features.

The features and labels are a dbt model (`intermediate.int_propensity__features`): one row per profile
and cut-off, built only from what happened before the cut-off, labelled by whether the profile
converted in the horizon after it. This module

1. trains on the `train` cut-offs, reading at most `max_training_rows` of them (a deterministic sample
   by `sample_key`), with scikit-learn (standardised features, L2-regularised logistic regression);
2. validates on the later `validate` cut-off in the warehouse: the model is a linear expression of the
   feature columns, so every validation row is scored in SQL, and the AUC (Mann-Whitney, from ranks),
   the lead score's AUC on the same labels and the calibration by decile are SQL aggregates;
3. refits on the train and validate cut-offs together and scores the `score` cut-off (today) in the
   warehouse into `marts.profile_propensity` (score and decile per profile), read by dim_profiles;
4. keeps the model card (features and weights, training window, AUCs, calibration) in
   `ops.propensity_models` (`record_card`).

Only the bounded training sample enters Python; everything that grows with the data is set-based SQL.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cdp.engines.base import Engine
from cdp.settings import dbt_vars
from cdp.sql_text import quote_identifier

FEATURES = "intermediate.int_propensity__features"
SCORES_SCHEMA, SCORES_TABLE = "marts", "profile_propensity"
#: columns of the features model that are not features
KEYS = ("cutoff_role", "cutoff_at", "profile_id", "sample_key", "converted_in_horizon", "lead_score_at_cutoff")


def propensity_settings() -> dict[str, Any]:
    """The training settings, from the dbt vars where every propensity rule is defined
    (dbt_project.yml, overridden for a run by CDP_DBT_VARS like the models' own)."""
    values = dbt_vars()
    return {"horizon_days": int(values["cdp__propensity_horizon_days"]),
            "max_training_rows": int(values["cdp__propensity_max_training_rows"]),
            "min_positives": int(values["cdp__propensity_min_positives"]),
            "regularisation": float(values["cdp__propensity_regularisation"])}


@dataclass(frozen=True)
class LinearModel:
    """A logistic regression on the raw feature columns: P = 1 / (1 + exp(-(intercept + sum w x)))."""

    intercept: float
    weights: dict[str, float]

    def logit_sql(self, alias: str = "f") -> str:
        terms = " + ".join(f"({w!r}) * cast({alias}.{quote_identifier(c)} as double)" for c, w in self.weights.items())
        return f"({self.intercept!r} + {terms})" if terms else repr(self.intercept)

    def probability_sql(self, alias: str = "f") -> str:
        # the logit is clamped so exp never overflows on any engine
        return f"(1.0 / (1.0 + exp(-greatest(-30.0, least(30.0, {self.logit_sql(alias)})))))"


@dataclass
class ModelCard:
    model_id: str
    status: str
    horizon_days: int
    training_cutoffs: list[str] = field(default_factory=list)
    validation_cutoff: datetime | None = None
    scoring_cutoff: datetime | None = None
    training_rows: int = 0
    training_positives: int = 0
    validation_rows: int = 0
    validation_positives: int = 0
    auc: float | None = None
    lead_score_auc: float | None = None
    features: list[dict[str, float | str]] = field(default_factory=list)
    calibration: list[dict[str, float]] = field(default_factory=list)
    detail: str = ""
    scored_profiles: int = 0

    def metadata(self) -> dict[str, Any]:
        """The card as Dagster metadata (numbers, and markdown tables for the weights and calibration)."""
        weights = "\n".join(f"| {f['feature']} | {f['weight']:+.4f} |" for f in self.features)
        calibration = "\n".join(
            f"| {c['decile']} | {c['rows']} | {c['mean_predicted']:.4f} | {c['observed_rate']:.4f} |"
            for c in self.calibration)
        numbers = {k: v for k, v in {"auc": self.auc, "lead_score_auc": self.lead_score_auc}.items() if v is not None}
        return {
            **numbers,
            "status": self.status, "model_id": self.model_id, "horizon_days": self.horizon_days,
            "training_cutoffs": ", ".join(self.training_cutoffs), "validation_cutoff": str(self.validation_cutoff),
            "training_rows": self.training_rows, "training_positives": self.training_positives,
            "validation_rows": self.validation_rows, "validation_positives": self.validation_positives,
            "scored_profiles": self.scored_profiles,
            "weights": "| feature | weight (standardised) |\n|---|---|\n" + weights,
            "calibration": "| decile | rows | mean predicted | observed |\n|---|---|---|---|\n" + calibration,
            "detail": self.detail,
        }


def feature_columns(engine: Engine) -> list[str]:
    schema, table = FEATURES.split(".")
    return [c for c in engine.columns(schema, table) if c not in KEYS]


def _training_frame(engine: Engine, roles: tuple[str, ...], columns: list[str], limit: int):
    """At most `limit` labelled rows of the given cut-off roles, the same ones every run (by sample_key)."""
    marks = ", ".join(f"'{r}'" for r in roles)  # roles are this module's constants
    select = ", ".join(quote_identifier(c) for c in [*columns, "converted_in_horizon"])
    sql = (f"select {select} from {FEATURES} where cutoff_role in ({marks}) and converted_in_horizon is not null "
           f"order by sample_key, cutoff_at limit {int(limit)}")
    import pyarrow as pa

    batches = list(engine.arrow_batches(sql, 100_000))
    table = pa.Table.from_batches(batches) if batches else None
    return table.to_pandas() if table is not None else None


def fit(frame, columns: list[str], regularisation: float) -> tuple[LinearModel, list[dict[str, float | str]]]:
    """Standardised L2 logistic regression, returned on the raw columns (for SQL) and per standard
    deviation (the card's weights: comparable across features)."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    x = frame[columns].astype("float64").fillna(0.0).to_numpy()
    y = frame["converted_in_horizon"].astype("int64").to_numpy()
    mean, sd = x.mean(axis=0), x.std(axis=0)
    sd[sd == 0] = 1.0
    model = LogisticRegression(C=regularisation, max_iter=1000).fit((x - mean) / sd, y)
    standardised = model.coef_[0]
    raw = standardised / sd
    intercept = float(model.intercept_[0] - np.sum(standardised * mean / sd))
    card = [{"feature": c, "weight": float(w), "mean": float(m), "sd": float(s)}
            for c, w, m, s in zip(columns, standardised, mean, sd, strict=True)]
    return LinearModel(intercept, {c: float(w) for c, w in zip(columns, raw, strict=True)}), card


def _auc_sql(score: str, role: str) -> str:
    """Mann-Whitney AUC of `score` against the label over every row of a cut-off role (ties share ranks)."""
    return f"""
        select (sum(case when converted_in_horizon = 1 then r else 0 end)
                - sum(converted_in_horizon) * (sum(converted_in_horizon) + 1) / 2.0)
               / nullif(cast(sum(converted_in_horizon) as double) * (count(*) - sum(converted_in_horizon)), 0) as auc,
               count(*) as n, sum(converted_in_horizon) as positives
        from (select converted_in_horizon, avg(rn) over (partition by s) as r
              from (select converted_in_horizon, {score} as s, row_number() over (order by {score}) as rn
                    from {FEATURES} as f where f.cutoff_role = '{role}') as ranked) as tied"""


def _calibration_sql(model: LinearModel) -> str:
    return f"""
        select decile, count(*) as n, avg(p) as mean_predicted, avg(cast(converted_in_horizon as double)) as observed
        from (select converted_in_horizon, p, ntile(10) over (order by p) as decile
              from (select converted_in_horizon, {model.probability_sql()} as p
                    from {FEATURES} as f where f.cutoff_role = 'validate') as scored) as ranked
        group by decile order by decile"""


def _query(engine: Engine, sql: str) -> list[dict[str, Any]]:
    """Rows of a query written in DuckDB's dialect, translated for the engine (`fetch` takes the engine's own)."""
    result = engine.execute(sql)
    names = [d[0] for d in result.description]
    return [dict(zip(names, row, strict=True)) for row in result.fetchall()]


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


def train_and_score(engine: Engine, *, horizon_days: int, max_training_rows: int, min_positives: int = 10,
                    regularisation: float = 1.0) -> ModelCard:
    """Train, validate, refit and score (see the module's docstring); the card of what was done."""
    card = ModelCard(model_id="propensity_none", status="trained", horizon_days=horizon_days)
    columns = feature_columns(engine)
    cutoffs = _query(engine, f"select cutoff_role, cutoff_at, count(*) as n, sum(converted_in_horizon) as positives "
                           f"from {FEATURES} group by cutoff_role, cutoff_at order by cutoff_at")
    card.training_cutoffs = [str(c["cutoff_at"]) for c in cutoffs if c["cutoff_role"] == "train"]
    card.validation_cutoff = next((c["cutoff_at"] for c in cutoffs if c["cutoff_role"] == "validate"), None)
    card.scoring_cutoff = next((c["cutoff_at"] for c in cutoffs if c["cutoff_role"] == "score"), None)

    train = _training_frame(engine, ("train",), columns, max_training_rows)
    positives = int(train["converted_in_horizon"].sum()) if train is not None else 0
    card.training_rows, card.training_positives = (len(train) if train is not None else 0), positives
    if train is None or min(positives, card.training_rows - positives) < min_positives:
        card.status = "not_enough_history"
        card.detail = (f"{positives} conversions among {card.training_rows} training rows; at least {min_positives} "
                       "of each outcome are needed: profiles are scored with no model (propensity null)")
        _write_scores(engine, None)
        return card

    validated, _ = fit(train, columns, regularisation)
    auc = _query(engine, _auc_sql(validated.probability_sql(), "validate"))[0]
    baseline = _query(engine, _auc_sql("f.lead_score_at_cutoff", "validate"))[0]
    card.validation_rows, card.validation_positives = int(auc["n"] or 0), int(auc["positives"] or 0)
    card.auc, card.lead_score_auc = _number(auc["auc"]), _number(baseline["auc"])
    card.calibration = [{"decile": int(r["decile"]), "rows": int(r["n"]), "mean_predicted": float(r["mean_predicted"]),
                         "observed_rate": float(r["observed"])} for r in _query(engine, _calibration_sql(validated))]

    # the model that scores today learns from the latest labelled cut-off too
    everything = _training_frame(engine, ("train", "validate"), columns, max_training_rows)
    scoring, card.features = fit(everything, columns, regularisation)
    # named by what it is: the same data and settings give the same model and the same id
    fingerprint = json.dumps([scoring.intercept, scoring.weights, str(card.scoring_cutoff)], sort_keys=True)
    card.model_id = "propensity_" + hashlib.sha256(fingerprint.encode()).hexdigest()[:12]
    card.scored_profiles = _write_scores(engine, scoring, card.model_id)
    return card


def _write_scores(engine: Engine, model: LinearModel | None, model_id: str = "") -> int:
    """marts.profile_propensity: every profile of the `score` cut-off with its probability and decile
    (10 = the tenth most likely to convert); with no model, the table exists and is empty."""
    probability = model.probability_sql() if model else "cast(null as double)"
    rows = "f.cutoff_role = 'score'" + ("" if model else " and 1 = 0")
    engine.create_table_as(SCORES_SCHEMA, SCORES_TABLE, f"""
        select profile_id, propensity_score, cast(ntile(10) over (order by propensity_score, profile_id) as bigint)
               as propensity_decile, cast({_literal(model_id)} as varchar) as propensity_model_id,
               cutoff_at as propensity_scored_at
        from (select f.profile_id, f.cutoff_at, {probability} as propensity_score
              from {FEATURES} as f where {rows}) as scored""")
    return int(_query(engine, f"select count(*) as n from {SCORES_SCHEMA}.{SCORES_TABLE}")[0]["n"])


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def record_card(engine: Engine, card: ModelCard) -> None:
    """One row of ops.propensity_models (created with the other ops tables, cdp/ops_schema.py)."""
    engine.executemany(
        "insert into ops.propensity_models values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [(card.model_id, datetime.now(UTC), card.status, card.horizon_days, json.dumps(card.training_cutoffs),
          card.validation_cutoff, card.scoring_cutoff, card.training_rows, card.training_positives,
          card.validation_rows, card.validation_positives, card.auc, card.lead_score_auc,
          json.dumps(card.features), json.dumps(card.calibration), card.detail)])
