from __future__ import annotations

import os

import pytest

from loader import ConfigError, define_config, load_project
from loader.config import load_env


def test_defaults() -> None:
    config = define_config()
    assert config.project.http.port == 9000
    assert config.project.worker_mode == "shared"


def test_plugin_and_module_shorthands() -> None:
    config = define_config(plugins=["greetings", {"resolve": "x", "options": {"a": 1}}], modules={"blog": True, "old": False})
    assert [p.resolve for p in config.plugins] == ["greetings", "x"]
    assert config.modules["old"].disable is True


def test_unknown_key_names_file_line_and_allowed_keys(make_project) -> None:
    root = make_project({
        "loader_config.py": """
            from loader import define_config

            config = define_config(
                project={
                    "http": {"prot": 9000},
                },
            )
        """,
    })
    with pytest.raises(ConfigError) as info:
        load_project(root)
    err = info.value
    assert err.location == "loader_config.py:5"
    assert "unknown key 'prot' in project.http; expected one of host, port" in err.message


def test_bad_value_names_field_value_and_expectation(make_project) -> None:
    root = make_project({
        "loader_config.py": """
            from loader import define_config
            config = define_config(
                project={"worker_mode": "both"},
            )
        """,
    })
    with pytest.raises(ConfigError) as info:
        load_project(root)
    assert info.value.location == "loader_config.py:3"
    assert "project.worker_mode: got 'both'; expected input should be 'shared', 'server' or 'worker'" in info.value.message


@pytest.mark.parametrize(("value", "field", "shown"), [
    ('{"http": {"port": True}}', "project.http.port", "True"),  # a bool is an int to Python, not a port
    ('{"http": {"port": "9000"}}', "project.http.port", "'9000'"),
    ('{"http": {"port": 9000.0}}', "project.http.port", "9000.0"),
    ('{"http": {"host": 127}}', "project.http.host", "127"),
    ('{"database_url": 5432}', "project.database_url", "5432"),
])
def test_config_values_are_strict_never_coerced(make_project, value: str, field: str, shown: str) -> None:
    root = make_project({
        "loader_config.py": f"""
            from loader import define_config
            config = define_config(
                project={value},
            )
        """,
    })
    with pytest.raises(ConfigError) as info:
        load_project(root)
    assert info.value.location == "loader_config.py:3"
    assert f"config field {field}: got {shown}; expected" in info.value.message


@pytest.mark.parametrize("flags", ['{"custom": "yes"}', '{"custom": 1}', '{"custom": {"nested": "true"}}'])
def test_feature_flag_values_in_config_must_be_booleans(make_project, flags: str) -> None:
    root = make_project({"loader_config.py": f"from loader import define_config\nconfig = define_config(feature_flags={flags})\n"})
    with pytest.raises(ConfigError) as info:
        load_project(root)
    assert info.value.location == "loader_config.py:2" and "feature_flags.custom" in info.value.message


def test_provider_default_and_module_disable_must_be_booleans(make_project) -> None:
    root = make_project({
        "loader_config.py": """
            from loader import define_config
            config = define_config(
                modules={"blog": {"disable": "no"}},
            )
        """,
    })
    with pytest.raises(ConfigError) as info:
        load_project(root)
    assert "modules.blog.disable: got 'no'" in info.value.message


def test_top_level_typo(make_project) -> None:
    root = make_project({"loader_config.py": "from loader import define_config\nconfig = define_config(featureflags={})\n"})
    with pytest.raises(ConfigError, match="unknown key 'featureflags' in define_config\\(\\); expected one of project, modules, plugins, feature_flags"):
        load_project(root)


def test_config_that_defines_no_config(make_project) -> None:
    root = make_project({"loader_config.py": "x = 1\n"})
    with pytest.raises(ConfigError, match="must define `config = define_config"):
        load_project(root)


def test_config_that_raises_points_at_its_line(make_project) -> None:
    root = make_project({"loader_config.py": "import os\n\nPORT = int(os.environ['NOPE_NOT_SET'])\n"})
    with pytest.raises(ConfigError) as info:
        load_project(root)
    assert info.value.location == "loader_config.py:3"
    assert "KeyError" in info.value.message


def test_not_a_project(tmp_path) -> None:
    with pytest.raises(ConfigError, match="is not a loader project"):
        load_project(tmp_path)


def test_env_files_load_and_set_variables_win(tmp_path, monkeypatch) -> None:
    (tmp_path / ".env").write_text("A=from_env\nB=from_env\nC=from_env\n")
    (tmp_path / ".env.test").write_text("B=from_stage\n")
    monkeypatch.setenv("LOADER_ENV", "test")
    monkeypatch.setenv("C", "already_set")
    added = load_env(tmp_path)
    assert (os.environ["A"], os.environ["B"], os.environ["C"]) == ("from_env", "from_stage", "already_set")
    assert added == {"B": ".env.test", "A": ".env"}


def test_env_file_drives_a_flag(make_project) -> None:
    root = make_project({
        ".env": "LOADER_FF_CUSTOM_FEATURE=yes\n",
        "src/feature_flags/custom.py": """
            from loader import FlagSettings
            custom = FlagSettings(key="custom_feature", default_val=False, env_key="LOADER_FF_CUSTOM_FEATURE")
        """,
    })
    project = load_project(root)
    flag = project.flags.get("custom_feature")
    assert (flag.value, flag.source) == (True, "env")


def test_python_variables_in_env_files_are_ignored_with_one_warning_each(tmp_path: Path, monkeypatch) -> None:
    from loader import LoaderWarning

    for key in ("PYTHONPATH", "PYTHONSTARTUP", "PYTHONHOME", "PYTHONSAFEPATH", "APP_MODE"):
        monkeypatch.delenv(key, raising=False)
    (tmp_path / ".env").write_text("# settings\nAPP_MODE=dev\nPYTHONPATH=/tmp/evil\nexport PYTHONSTARTUP=/tmp/evil/start.py\n")
    (tmp_path / ".env.development").write_text("PYTHONHOME=/nowhere\n")
    with pytest.warns(LoaderWarning) as caught:
        added = load_env(tmp_path)
    assert added == {"APP_MODE": ".env"}
    assert not any(key in os.environ for key in ("PYTHONPATH", "PYTHONSTARTUP", "PYTHONHOME"))
    hint = "ignored: a .env file cannot change how the Python interpreter starts; set it in the shell if you mean it"
    assert [str(w.message) for w in caught] == [
        f".env.development:1: PYTHONHOME {hint}",
        f".env:3: PYTHONPATH {hint}",
        f".env:4: PYTHONSTARTUP {hint}",
    ]
