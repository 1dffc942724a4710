"""Package data is the one source of truth, and the wheel ships it (not jobs/ or pipelines/)."""

import configparser
import os
from pathlib import Path

from mrlinreg.config import DEFAULT_CONFIG_PATH
from mrlinreg.resources import resource_path
from mrlinreg.schema import SCHEMA_PATH

ROOT = Path(__file__).resolve().parents[2]


def test_top_level_conf_and_schemas_are_the_package_data():
    for name in ("conf", "schemas"):
        link = ROOT / name
        assert link.is_symlink(), f"{name}/ must be a link to mrlinreg/resources/{name}"
        assert link.resolve() == resource_path(name).resolve()


def test_runtime_files_come_from_the_package():
    assert SCHEMA_PATH == resource_path("schemas", "warehouse.yaml") and SCHEMA_PATH.is_file()
    assert DEFAULT_CONFIG_PATH == resource_path("conf", "mrlinreg.ini")
    assert DEFAULT_CONFIG_PATH.is_file()
    assert "mrlinreg/resources" in SCHEMA_PATH.as_posix()


def test_setup_ships_resources_and_claims_no_generic_names():
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    include = cfg["options.packages.find"]["include"].split()
    assert include == ["mrlinreg*"]
    data = cfg["options.package_data"]["mrlinreg"].split()
    shipped = {str(p.relative_to(resource_path().parent)) for p in resource_path().rglob("*")
               if p.is_file() and p.suffix != ".py" and "__pycache__" not in p.parts}
    import fnmatch

    missing = [f for f in shipped if not any(fnmatch.fnmatch(f, pat) and
                                             f.count("/") == pat.count("/") for pat in data)]
    assert not missing, f"not in package_data: {missing}"


def test_entry_scripts_stay_thin():
    for script in ("jobs/linreg.py", "jobs/predict.py", "pipelines/pipeline.py",
                   "pipelines/publish.py"):
        text = (ROOT / script).read_text()
        assert "job_script(" in text and len(text.splitlines()) < 30, script
        assert os.access(ROOT / script, os.X_OK)
