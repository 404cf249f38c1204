from __future__ import annotations

import pytest

from loader import FeatureFlag, FeatureFlagError, FlagSettings, load_project
from loader.core.flags import FlagRouter, parse_flag_env


def make(key: str = "custom_feature", default: bool = False) -> FlagSettings:
    return FlagSettings(key=key, default_val=default, env_key="LOADER_FF_CUSTOM", description="d")


@pytest.mark.parametrize("raw", ["true", "TRUE", "1", "yes", "On"])
def test_env_true_words(raw: str) -> None:
    assert parse_flag_env("X", raw) is True


@pytest.mark.parametrize("raw", ["false", "0", "no", "OFF"])
def test_env_false_words(raw: str) -> None:
    assert parse_flag_env("X", raw) is False


@pytest.mark.parametrize("raw", ["maybe", "", "2", "truee"])
def test_env_anything_else_is_an_error_naming_the_variable(raw: str) -> None:
    with pytest.raises(FeatureFlagError, match=r"LOADER_FF_X=.* is not a boolean; expected one of true/false"):
        parse_flag_env("LOADER_FF_X", raw)


def test_env_beats_config_beats_default() -> None:
    router = FlagRouter()
    flag = make(default=False)
    assert router.register(flag, {}, {}).source == "default"
    router.clear()
    value = router.register(flag, {"custom_feature": True}, {})
    assert (value.value, value.source) == (True, "config")
    router.clear()
    value = router.register(flag, {"custom_feature": True}, {"LOADER_FF_CUSTOM": "off"})
    assert (value.value, value.source) == (False, "env")
    assert router.is_feature_enabled("custom_feature") is False


def test_list_and_nested_lookups() -> None:
    router = FlagRouter()
    router.register(make("a", True), {}, {})
    router.register(make("b", False), {}, {})
    router.set_config_only("parent", {"child": True, "other": False})
    assert router.is_feature_enabled("a")
    assert not router.is_feature_enabled(["a", "b"])
    assert router.is_feature_enabled("parent.child")
    assert not router.is_feature_enabled("parent.other")
    assert not router.is_feature_enabled("unknown")


def test_same_key_with_other_settings_is_an_error_naming_both_files() -> None:
    router = FlagRouter()
    router.register(make("k", False), {}, {}, display_path="a/feature_flags/one.py")
    router.register(make("k", False), {}, {}, display_path="b/feature_flags/same.py")  # same settings: fine
    with pytest.raises(FeatureFlagError) as info:
        router.register(make("k", True), {}, {}, display_path="c/feature_flags/two.py")
    assert info.value.path == "c/feature_flags/two.py"
    assert "a/feature_flags/one.py" in info.value.message or "b/feature_flags/same.py" in info.value.message


def test_bad_env_value_is_reported_with_the_flag_file(make_project, monkeypatch) -> None:
    root = make_project({
        "src/feature_flags/custom.py": """
            from loader import FlagSettings
            custom = FlagSettings(key="custom_feature", default_val=False, env_key="LOADER_FF_CUSTOM_FEATURE")
        """,
    })
    monkeypatch.setenv("LOADER_FF_CUSTOM_FEATURE", "maybe")
    project = load_project(root)
    [error] = project.errors
    assert isinstance(error, FeatureFlagError)
    assert "LOADER_FF_CUSTOM_FEATURE='maybe' is not a boolean" in error.message
    assert error.location == "src/feature_flags/custom.py:2"


def test_flags_of_every_root_are_registered_before_resources_import(make_project, monkeypatch) -> None:
    # The route reads the flag at import time: it must already have its config value.
    root = make_project({
        "loader_config.py": """
            from loader import define_config
            config = define_config(feature_flags={"blog_extra": True})
        """,
        "src/modules/blog/__init__.py": """
            from loader import Module
            class BlogService: ...
            module = Module("blog", service=BlogService)
        """,
        "src/modules/blog/feature_flags/extra.py": """
            from loader import FlagSettings
            blog_extra = FlagSettings(key="blog_extra", default_val=False, env_key="LOADER_FF_BLOG_EXTRA")
        """,
        "src/api/seen/route.py": """
            from loader import FeatureFlag
            SEEN = FeatureFlag.is_feature_enabled("blog_extra")
            async def GET(request):
                return {"seen": SEEN}
        """,
    })
    project = load_project(root)
    assert project.errors == []
    [route] = project.registry.list("route")
    assert route.obj.__globals__["SEEN"] is True
    assert FeatureFlag.get("blog_extra").source == "config"
