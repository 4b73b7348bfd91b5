"""Connected components in SQL (dbt macro connected_components) against an independent union-find.

The macro runs through `dbt run-operation run_connected_components` on a DuckDB file of the
test's own, exactly as the identity models call it. Graphs: long chains with shuffled ids, a
supernode, many small clusters and one giant random component, all in one disjoint union (the
components of a disjoint union are the union of the components), plus chains of growing length
to show the number of rounds grows with the logarithm of the length.
"""

from __future__ import annotations

import json
import math
import os
import random
import subprocess
from pathlib import Path

import duckdb
import pytest

from cdp.settings import DBT_PROJECT_DIR
from orchestration.assets.dbt import dbt_executable

pytestmark = pytest.mark.slow(seconds=50)


def reference_components(edges: list[tuple[int, int]]) -> dict[int, int]:
    """Union-find with path halving: node -> smallest node id of its component."""
    parent: dict[int, int] = {}

    def find(x: int) -> int:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for u, v in edges:
        ru, rv = find(u), find(v)
        if ru != rv:
            parent[max(ru, rv)] = min(ru, rv)
    return {node: find(node) for node in parent}


def sql_components(tmp_path: Path, edges: list[tuple[int, int]]) -> tuple[dict[int, int], int]:
    """Node -> label from the dbt macro, and the rounds it took."""
    # one warehouse file per test, emptied each call: dbt's profile (which holds the path) stays the
    # same, so later calls re-parse only what changed
    warehouse = tmp_path / "components.duckdb"
    con = duckdb.connect(str(warehouse))
    try:
        con.execute("drop schema if exists g cascade")
        con.execute("create schema g")
        con.execute("create table g.edges (u bigint, v bigint)")
        con.execute("insert into g.edges select unnest($1) as u, unnest($2) as v",
                    [[u for u, _ in edges], [v for _, v in edges]])
    finally:
        con.close()
    args = json.dumps({"edges_sql": "select u, v from g.edges", "work": "g.cc"})
    done = subprocess.run(
        [dbt_executable(), "run-operation", "run_connected_components", "--args", args,
         "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR),
         "--target-path", str(tmp_path / "target"), "--log-path", str(tmp_path / "logs")],
        cwd=DBT_PROJECT_DIR, env={**os.environ, "CDP_WAREHOUSE": str(warehouse)},
        capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        labels = dict(con.execute("select node, label from g.cc_labels").fetchall())
        rounds = con.execute("select rounds from g.cc_rounds").fetchall()[0][0]
    finally:
        con.close()
    return labels, rounds


def shuffled_chain(length: int, first_id: int, rng: random.Random) -> list[tuple[int, int]]:
    ids = list(range(first_id, first_id + length + 1))
    rng.shuffle(ids)
    return [(ids[i], ids[i + 1]) for i in range(length)]


def mixed_graph(rng: random.Random, scale: int) -> list[tuple[int, int]]:
    edges: list[tuple[int, int]] = []
    base = 0
    # long chains with shuffled ids (the worst case for label propagation)
    for length in (3 * scale, 1000, 7):
        edges += shuffled_chain(length, base, rng)
        base += length + 1
    # a supernode: one shared device linked to thousands of ids, plus a tail behind one of them
    hub = base
    edges += [(hub, hub + i) for i in range(1, 2 * scale)]
    edges += [(hub + 5, hub + 2 * scale), (hub + 2 * scale, hub + 2 * scale + 1)]
    base += 2 * scale + 2
    # many small clusters: pairs and triangles
    for _ in range(scale):
        a = base
        edges += [(a, a + 1), (a + 1, a + 2), (a + 2, a)] if rng.random() < 0.5 else [(a + 1, a)]
        base += 3
    # one giant random component and a sprinkle of duplicate and reversed edges
    n = 5 * scale
    edges += [(base + rng.randrange(n), base + rng.randrange(n)) for _ in range(3 * n)]
    edges += [(v, u) for u, v in rng.sample(edges, 50)]
    return [(u, v) for u, v in edges if u != v]


@pytest.mark.parametrize("scale", [200, 5000], ids=["small", "medium"])
def test_components_equal_union_find(tmp_path: Path, scale: int) -> None:
    edges = mixed_graph(random.Random(scale), scale)
    expected = reference_components(edges)
    labels, rounds = sql_components(tmp_path, edges)
    assert labels == expected
    assert len(set(expected.values())) > scale / 2  # many components, not one blob
    assert rounds <= 4 * math.log2(len(expected))


def test_rounds_grow_with_the_logarithm_of_chain_length(tmp_path: Path) -> None:
    rng = random.Random(11)
    rounds = {}
    for length in (100, 1000, 10000):
        edges = shuffled_chain(length, 0, rng)
        labels, rounds[length] = sql_components(tmp_path, edges)
        assert set(labels.values()) == {0} and len(labels) == length + 1
    # naive min-label propagation needs `length` rounds; this needs a few per doubling
    assert rounds[10000] <= 3 * math.log2(10000)
    assert rounds[10000] - rounds[100] <= 3 * math.log2(10000 / 100)
    assert rounds[100] <= rounds[1000] <= rounds[10000] or rounds[10000] < 20


def email_keys(tmp_path: Path, emails: list[str], gmail_rule: bool) -> list[str]:
    """identity_email_key() as dbt renders it under var cdp__identity_gmail_dots_insensitive, one
    column per email (one dbt invocation per value of the var)."""
    columns = ", ".join("{{ identity_email_key(\"'" + email + "'\") }} as k" + str(i) for i, email in enumerate(emails))
    done = subprocess.run(
        [dbt_executable(), "show", "--inline", f"select {columns}", "--output", "json", "--quiet",
         "--vars", json.dumps({"cdp__identity_gmail_dots_insensitive": gmail_rule}),
         "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR),
         "--target-path", str(tmp_path / "target"), "--log-path", str(tmp_path / "logs")],
        cwd=DBT_PROJECT_DIR, env={**os.environ, "CDP_WAREHOUSE": str(tmp_path / "show.duckdb")},
        capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    row = json.loads(done.stdout[done.stdout.index("{"):])["show"][0]
    return [row[f"k{i}"] for i in range(len(emails))]


def test_gmail_dot_rule_is_off_by_default_and_applies_only_to_gmail(tmp_path: Path) -> None:
    assert email_keys(tmp_path, ["ann.lee+news@gmail.com"], gmail_rule=False) == ["ann.lee+news@gmail.com"]
    assert email_keys(tmp_path, ["ann.lee+news@gmail.com", "ann.lee+news@googlemail.com", "ann.lee+news@example.org"],
                      gmail_rule=True) == ["annlee@gmail.com", "annlee@gmail.com", "ann.lee+news@example.org"]
