"""The validation curve and the residual sample in Hive: published by the command line in
cluster mode, read back with HiveQL, and plotted from their run ids (resolved through Hive).

Fails (never skips) when Hive, HDFS, HBase or ZooKeeper cannot be reached. Uses its own
database, dropped at the end.
"""

import json
import os
import subprocess
import sys
import uuid

import numpy as np
import pytest

from tests.functional.helpers import ROOT
from tests.functional.test_plots import check_png
from tests.integration.test_storage_hive import query

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def database(config, hive_endpoint, webhdfs, hbase_endpoint, zookeeper_hosts):
    name = f"plots_it_{uuid.uuid4().hex[:8]}"
    yield name
    query(config, f"DROP DATABASE IF EXISTS `{name}` CASCADE")
    from mrlinreg.storage.warehouse_files import WebHdfsFiles

    WebHdfsFiles(config.hdfs.url, config.hdfs.user).delete(
        f"{config.hive.warehouse_dir}/{name}.db")


@pytest.fixture(scope="module")
def env(database, tmp_path_factory):
    e = dict(os.environ, MRLINREG_MODE="cluster", MRLINREG_HIVE_DATABASE=database,
             MRLINREG_STATE_DIR=str(tmp_path_factory.mktemp("state")))
    return e


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    d = tmp_path_factory.mktemp("curve_hive")
    rng = np.random.default_rng(17)
    for name, n in (("train.csv", 300), ("val.csv", 200)):
        x = rng.uniform(-2, 2, n)
        y = 0.5 - x + 0.8 * x**2 + rng.normal(0, 0.4, n)
        np.savetxt(d / name, np.column_stack([x, y]), delimiter=",", header="x,y",
                   comments="", fmt="%.17g")
    return d


def mrlinreg(args, env):
    p = subprocess.run([sys.executable, "-m", "mrlinreg.cli.main", *args], capture_output=True,
                       text=True, cwd=ROOT, env=env, timeout=600)
    assert p.returncode == 0, p.stderr
    return p


def test_the_curve_goes_to_hive_and_reads_back_with_hiveql(data, env, database, config,
                                                          tmp_path):
    p = mrlinreg(["curve", "--degree", "5", "--validation", str(data / "val.csv"),
                  "--model-name", "plots_it", "--publish", "--quiet",
                  str(data / "train.csv")], env)
    curve = json.loads(p.stdout)
    assert "published the validation curve" in p.stderr
    rows = query(config, f"SELECT size, n_params, train_mse, validation_mse, n_rows, "
                         f"validation_n_rows, kind, model_name FROM `{database}`."
                         f"`validation_curves` WHERE run_id = '{curve['run_id']}' ORDER BY size")
    assert rows == [(pt["size"], pt["n_params"], pt["train_mse"], pt["validation_mse"], 300,
                     200, "degree", "plots_it") for pt in curve["points"]]
    [(best,)] = query(config, f"SELECT size FROM `{database}`.`validation_curves` "
                              f"WHERE run_id = '{curve['run_id']}' "
                              "ORDER BY validation_mse LIMIT 1")
    assert best == min(curve["points"], key=lambda pt: pt["validation_mse"])["size"]
    out = tmp_path / "curve.png"
    mrlinreg(["plot", curve["run_id"], "--kind", "curve", "--output", str(out)], env)
    check_png(out)


def test_the_residual_sample_goes_to_hive_and_plots_from_the_run_id(data, env, database,
                                                                    config, tmp_path):
    p = mrlinreg(["train", "--solver", "qr", "--validation", str(data / "val.csv"),
                  "--residual-sample", "150", "--model-name", "plots_it_sample", "--publish",
                  "--quiet", "--json", str(data / "train.csv")], env)
    record = json.loads(p.stdout)
    sample = record["residual_sample"]
    rows = query(config, f"SELECT s.sample_rank, s.fitted, s.y_true, s.residual FROM "
                         f"`{database}`.`residual_samples` s JOIN `{database}`.`models` m "
                         f"ON s.run_id = m.run_id WHERE m.model_name = 'plots_it_sample' "
                         "ORDER BY s.sample_rank")
    assert [r[0] for r in rows] == list(range(150))
    assert [r[1] for r in rows] == sample["fitted"] and [r[2] for r in rows] == sample["y_true"]
    np.testing.assert_array_equal([r[3] for r in rows],
                                  np.array(sample["y_true"]) - np.array(sample["fitted"]))
    for kind in ("residuals", "qq", "convergence"):
        out = tmp_path / f"{kind}.png"
        mrlinreg(["plot", record["run_id"], "--kind", kind, "--output", str(out)], env)
        check_png(out)
