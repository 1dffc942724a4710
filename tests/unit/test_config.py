"""conf/mrlinreg.ini, environment overrides, masking."""

from pathlib import Path

import pytest

from mrlinreg.config import DEFAULT_CONFIG_PATH, Config, ConfigError, load_config


def write(tmp_path, text):
    path = tmp_path / "c.ini"
    path.write_text(text)
    return path


def test_shipped_ini_matches_the_code_defaults():
    config = load_config(DEFAULT_CONFIG_PATH, env={})
    assert config == Config()
    assert config.source == str(DEFAULT_CONFIG_PATH)


def test_environment_overrides_the_file(tmp_path):
    path = write(tmp_path, "[hive]\nhost = filehost\nport = 10001\n")
    config = load_config(path, env={"MRLINREG_HIVE_HOST": "envhost", "MRLINREG_MODE": "cluster",
                                    "MRLINREG_STATE_DIR": str(tmp_path / "s"),
                                    "MRLINREG_RETRY_ATTEMPTS": "2",
                                    "MRLINREG_HBASE_TABLE_PREFIX": "test"})
    assert config.hive.host == "envhost" and config.hive.port == 10001
    assert config.mode == "cluster" and config.cluster
    assert config.state_dir == tmp_path / "s"
    assert config.retry.attempts == 2 and config.hbase.table_prefix == "test"


def test_config_path_from_environment(tmp_path):
    path = write(tmp_path, "[zookeeper]\nhosts = zk1:2181,zk2:2181\n")
    config = load_config(env={"MRLINREG_CONFIG": str(path)})
    assert config.zookeeper.hosts == "zk1:2181,zk2:2181"
    assert config.source == str(path)


def test_password_is_masked(tmp_path):
    config = load_config(write(tmp_path, "[hive]\nauth = LDAP\n"),
                         env={"MRLINREG_HIVE_PASSWORD": "hunter2"})
    assert config.hive.password == "hunter2"
    assert "hunter2" not in repr(config) and "hunter2" not in str(config.hive)
    assert "***" in repr(config.hive)


@pytest.mark.parametrize("text, env, fragment", [
    ("[hive]\nprot = 1\n", {}, "unknown key 'prot'"),
    ("[hvie]\n", {}, "unknown section [hvie]"),
    ("[hive]\nport = ten\n", {}, "[hive] port: expected a non-negative number"),
    ("", {"MRLINREG_HBASE_PORT": "x"}, "environment variable MRLINREG_HBASE_PORT"),
    ("[mrlinreg]\nmode = yarn\n", {}, "mode must be one of local, cluster"),
    ("[hive]\ndatabase = a;b\n", {}, "database must be"),
    ("[hive]\nauth = magic\n", {}, "auth must be one of"),
    ("[zookeeper]\nlock_root = locks\n", {}, "absolute znode path"),
    ("not ini", {}, "not valid INI"),
])
def test_invalid_settings_say_where_and_what(tmp_path, text, env, fragment):
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, text), env=env)
    assert fragment in str(err.value)


def test_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(tmp_path / "nope.ini", env={})


def test_state_dir_expands_user(tmp_path):
    config = load_config(write(tmp_path, "[mrlinreg]\nstate_dir = ~/mrl\n"), env={})
    assert config.state_dir == Path.home() / "mrl"
