"""Propensity to convert (cdp/propensity.py, intermediate.int_propensity__features): features come only
from before each cut-off, the SQL the warehouse scores with is the fitted model (checked against
scikit-learn's own predictions and AUC), and a good run leaves a model card, scores and deciles on
dim_profiles and a predictive audience."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import duckdb
import pytest

from cdp.settings import DBT_PROJECT_DIR, dbt_environment_variables, get_settings
from cdp.transform import dbt_executable
from tests.conftest import GoodRun

pytestmark = pytest.mark.slow(seconds=11)


@pytest.fixture
def sample(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sample_good_run: GoodRun):
    return sample_good_run.workspace(tmp_path, monkeypatch)


def _rebuild_features(tmp_path: Path) -> None:
    env = {**os.environ, **dbt_environment_variables(get_settings())}
    # the labelled rows are kept up to date per profile: rebuilt whole here, as a full refresh would
    done = subprocess.run([dbt_executable(), "run", "--select", "int_propensity__training_rows",
                           "int_propensity__features", "--full-refresh", "--project-dir",
                           str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR), "--target", "duckdb",
                           "--target-path", str(tmp_path / "target"), "--log-path", str(tmp_path / "logs")],
                          env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout[-3000:]


def test_features_are_computed_only_from_before_each_cut_off(sample, tmp_path: Path) -> None:
    """Events, touches and a conversion of one profile dated after the validation cut-off change only
    its row at the score cut-off: every row at the validate and train cut-offs stays as it was."""
    rows = "select * from intermediate.int_propensity__features order by cutoff_role, cutoff_at, profile_id"
    before = sample.query(rows)
    (validate_at,) = sample.query("select distinct cutoff_at from intermediate.int_propensity__features "
                                  "where cutoff_role = 'validate'")[0]
    (profile,) = sample.query("select profile_id from intermediate.int_propensity__features where cutoff_role = "
                              "'validate' and converted_in_horizon = 0 order by profile_id limit 1")[0]
    con = duckdb.connect(str(sample.settings.warehouse))
    late = "cast(? as timestamptz) + interval 1 hour"
    con.execute(f"insert into intermediate.int_funnel__profile_events (profile_id, message_id, occurred_at, "
                f"event_type, event_name) select ?, 'late-' || i, {late}, 'track', 'Product Viewed' "
                "from range(5) as t(i)", [profile, validate_at])
    con.execute(f"insert into intermediate.int_marketing__touches (profile_id, message_id, occurred_at, channel) "
                f"values (?, 'late-touch', {late}, 'paid_search')", [profile, validate_at])
    con.close()
    _rebuild_features(tmp_path)
    after = sample.query(rows)
    assert len(after) == len(before)
    changed = [(b, a) for b, a in zip(before, after, strict=True) if b != a]
    assert changed and all(b[0] == "score" and b[2] == profile for b, _ in changed), changed[:3]


def test_the_sql_model_is_the_fitted_model(sample) -> None:
    """Scored in SQL, the validation rows get scikit-learn's own probabilities (to 1e-9), and the SQL AUC
    and the lead score's SQL AUC are scikit-learn's roc_auc_score on the same labels."""
    from sklearn.metrics import roc_auc_score

    from cdp.engines import open_engine
    from cdp.propensity import FEATURES, _auc_sql, _query, _training_frame, feature_columns, fit

    with open_engine("duckdb") as engine:
        columns = feature_columns(engine)
        frame = _training_frame(engine, ("train",), columns, 1_000_000)
        model, _ = fit(frame, columns, 1.0)
        validation = _query(
            engine, f"select converted_in_horizon as y, lead_score_at_cutoff as lead, {model.probability_sql()} as p, "
                    f"{', '.join(columns)} from {FEATURES} as f where cutoff_role = 'validate'")
        sql_auc = _query(engine, _auc_sql(model.probability_sql(), "validate"))[0]["auc"]
        lead_auc = _query(engine, _auc_sql("f.lead_score_at_cutoff", "validate"))[0]["auc"]
    import numpy as np

    x = np.array([[float(r[c] or 0.0) for c in columns] for r in validation])
    sklearn_model = _sklearn_twin(frame, columns)
    expected = sklearn_model.predict_proba(x)[:, 1]
    assert np.allclose([r["p"] for r in validation], expected, atol=1e-9)
    labels = [r["y"] for r in validation]
    assert 0 < sum(labels) < len(labels)
    assert sql_auc == pytest.approx(roc_auc_score(labels, [r["p"] for r in validation]), abs=1e-12)
    assert lead_auc == pytest.approx(roc_auc_score(labels, [float(r["lead"]) for r in validation]), abs=1e-12)


def _sklearn_twin(frame, columns):
    """The same fit as cdp.propensity.fit, as a scikit-learn pipeline predicting on raw features."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x = frame[columns].astype("float64").fillna(0.0).to_numpy()
    return make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=1000)).fit(
        x, frame["converted_in_horizon"].astype("int64").to_numpy())


def test_a_good_run_leaves_a_card_scores_and_a_predictive_audience(sample) -> None:
    card = sample.query("select status, auc, lead_score_auc, training_rows, validation_rows, features, calibration "
                        "from ops.propensity_models order by trained_at desc limit 1")[0]
    status, auc, lead_auc, training_rows, validation_rows, features, calibration = card
    assert status == "trained" and 0.5 < auc <= 1 and 0 <= lead_auc <= 1
    assert training_rows > 1000 and validation_rows > 1000
    assert {f["feature"] for f in json.loads(features)} >= {"log_events_30d", "touched_email", "requested_demo"}
    deciles = json.loads(calibration)
    assert [d["decile"] for d in deciles] == list(range(1, 11))
    # calibrated: the mean predicted probability tracks the observed rate from the lowest to the highest decile
    assert deciles[-1]["observed_rate"] > deciles[0]["observed_rate"]
    scored = sample.query("select count(*), min(propensity_score), max(propensity_score), min(propensity_decile), "
                          "max(propensity_decile) from marts.profile_propensity")[0]
    assert scored[0] > 1000 and 0 <= scored[1] < scored[2] <= 1 and (scored[3], scored[4]) == (1, 10)
    mismatched = sample.query("select count(*) from marts.dim_profiles as d inner join marts.profile_propensity as p "
                              "using (profile_id) where d.propensity_score is distinct from p.propensity_score "
                              "or d.propensity_decile is distinct from p.propensity_decile")[0][0]
    assert mismatched == 0
    audience = sample.query("select count(*), min(d.propensity_decile) from audiences.aud_likely_converters as a "
                            "inner join marts.dim_profiles as d using (profile_id)")[0]
    assert audience[0] > 0 and audience[1] >= 9


def test_too_little_history_scores_nobody_and_says_why(sample) -> None:
    """With fewer conversions than the minimum to learn from, the step records why and leaves the scores
    table empty (dim_profiles then carries no propensity) rather than ranking people on noise."""
    from cdp.engines import open_engine
    from cdp.propensity import record_card, train_and_score

    with open_engine("duckdb") as engine:
        card = train_and_score(engine, horizon_days=30, max_training_rows=100_000, min_positives=1_000_000)
        record_card(engine, card)
    assert card.status == "not_enough_history" and "at least 1000000" in card.detail
    assert sample.query("select count(*) from marts.profile_propensity") == [(0,)]
    assert sample.query("select status from ops.propensity_models order by trained_at desc limit 1") == [
        ("not_enough_history",)]
