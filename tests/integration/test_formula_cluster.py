"""``--formula`` on YARN: the levels pass and the design in Hadoop streaming tasks over HDFS
part files, equal to statsmodels' formula OLS; predict applies the stored formula on YARN;
the coefficients with statsmodels' names reach Hive."""

import os
import subprocess
import sys
import uuid

import numpy as np
import pandas as pd
import pytest

from tests.formula_data import FORMULAS, statsmodels_fit, write_houses
from tests.functional.helpers import ROOT
from tests.functional.test_formula_job import assert_matches_statsmodels
from tests.integration.test_linreg_cluster import _hive_rows, _run

pytestmark = pytest.mark.integration

PREDICT = os.path.join(ROOT, "jobs", "predict.py")


@pytest.fixture(scope="module")
def houses(tmp_path_factory, webhdfs):
    """The houses table as two HDFS part files (each with its header), and locally."""
    d = tmp_path_factory.mktemp("formula-it")
    whole = d / "houses.csv"
    write_houses(whole, n=3000, seed=21)
    lines = whole.read_text().splitlines(keepends=True)
    base = f"/tmp/mrlinreg-it/formula-{uuid.uuid4().hex[:8]}"
    webhdfs.makedirs(base + "/train")
    for k, part in enumerate((lines[1:1501], lines[1501:])):
        local = d / f"part-{k:05d}.csv"
        local.write_text(lines[0] + "".join(part))
        webhdfs.upload(f"{base}/train/part-{k:05d}.csv", str(local), overwrite=True)
    new = d / "new.csv"
    write_houses(new, n=800, seed=22, missing=False)
    webhdfs.upload(f"{base}/new.csv", str(new), overwrite=True)
    yield base, whole, new
    webhdfs.delete(base, recursive=True)


@pytest.fixture()
def yarn_env(hadoop_cluster, cluster_info, tmp_path):
    env = dict(os.environ, **hadoop_cluster)
    env.update(MRLINREG_MODE="cluster", MRLINREG_STATE_DIR=str(tmp_path / "state"),
               MRLINREG_HIVE_HOST=cluster_info.hive_host,
               MRLINREG_HIVE_PORT=str(cluster_info.hive_port),
               MRLINREG_HBASE_HOST=cluster_info.hbase_host,
               MRLINREG_HBASE_PORT=str(cluster_info.hbase_port),
               MRLINREG_ZOOKEEPER_HOSTS=cluster_info.zookeeper_hosts)
    return env


def test_formula_on_yarn_equals_statsmodels_and_predicts(houses, yarn_env, cluster_info,
                                                         tmp_path):
    base, whole, new = houses
    formula = FORMULAS[0]
    model_name = f"formula_it_{uuid.uuid4().hex[:6]}"
    code, rec, err = _run(["-r", "hadoop", "--formula", formula, "--solver", "qr", "--summary",
                           "--model-name", model_name, "--publish", "--output-model",
                           f"hdfs://{base}/model.json", f"hdfs://{base}/train"], yarn_env,
                          timeout=3000)  # 4 YARN jobs; a shared cluster queues them
    assert code == 0, err
    ols = statsmodels_fit(whole, formula)
    assert_matches_statsmodels(rec, ols)
    assert rec["bad_row_reasons"] == {"missing": 3}  # sqft, city, price (rooms is not read)

    # the coefficients reach Hive under statsmodels' names
    rows = _hive_rows(cluster_info, "SELECT feature, `value` FROM linreg.coefficients "
                                    f"WHERE run_id = '{rec['run_id']}'")
    got = {name: value for name, value in rows}
    for name, value in rec["coefficients"].items():
        assert got[name] == pytest.approx(value, rel=1e-12), name

    # predict on YARN with the stored model (read from HDFS) matches statsmodels' predict
    out = tmp_path / "pred.tsv"
    p = subprocess.run([sys.executable, PREDICT, "-r", "hadoop", "--model",
                        f"hdfs://{base}/model.json", "--output", str(out),
                        f"hdfs://{base}/new.csv"], capture_output=True, text=True,
                       env=yarn_env, cwd=ROOT, timeout=3000)
    assert p.returncode == 0, p.stderr
    rows = [line.rstrip("\n").split("\t") for line in open(out)]
    got = sorted((float(r[3]), float(r[4])) for r in rows)  # (y_true, prediction)
    df = pd.read_csv(new)
    ref = sorted(zip(df["price"], ols.predict(df)))
    assert len(got) == len(ref) == 800
    np.testing.assert_allclose([g[0] for g in got], [r[0] for r in ref], rtol=1e-15)
    np.testing.assert_allclose([g[1] for g in got], [r[1] for r in ref], rtol=1e-8)
