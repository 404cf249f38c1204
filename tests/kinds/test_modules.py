"""Modules, providers and migrations: found without config, configured by it."""

from __future__ import annotations

from loader import ConfigError, load_project

BLOG = {
    "src/modules/blog/__init__.py": """
        from loader import Module

        from .service import BlogService

        module = Module("blog", service=BlogService)
    """,
    "src/modules/blog/service.py": "class BlogService:\n    def __init__(self, options=None):\n        self.options = options\n",
    "src/modules/blog/migrations/Migration20250822135845.py": """
        from loader import Migration

        class Migration20250822135845(Migration):
            def up(self, db):
                pass

            def down(self, db):
                pass
    """,
    "src/modules/blog/feature_flags/comments.py": """
        from loader import FlagSettings
        comments = FlagSettings(key="blog_comments", env_key="LOADER_FF_BLOG_COMMENTS")
    """,
}

PROVIDER = {
    "src/modules/notification/__init__.py": "from loader import Module\nclass NotificationService: ...\nmodule = Module('notification', service=NotificationService)\n",
    "src/modules/notification/providers/console/__init__.py": "from loader import ModuleProvider\nclass Console: ...\nprovider = ModuleProvider(service=Console)\n",
    "src/modules/notification/providers/console/migrations/Migration20250101000000.py": (
        "from loader import Migration\nclass Migration20250101000000(Migration):\n    def up(self, db): pass\n    def down(self, db): pass\n"
    ),
}


def test_project_module_found_without_config_with_its_migration_and_flag(make_project) -> None:
    project = load_project(make_project(BLOG))
    assert project.errors == []
    [module] = [m for m in project.registry.list("module") if m.id == "blog"]
    assert (module.id, str(module.origin), module.meta["service"]) == ("blog", "module:blog", "BlogService")
    [migration] = project.registry.list("migration")
    assert migration.id == "blog:Migration20250822135845" and migration.meta["timestamp"] == "20250822135845"
    assert str(migration.location) == "src/modules/blog/migrations/Migration20250822135845.py:3"
    assert project.flags.get("blog_comments").defined_at == "src/modules/blog/feature_flags/comments.py:2"


def test_config_adds_module_options(make_project) -> None:
    files = {**BLOG, "loader_config.py": "from loader import define_config\nconfig = define_config(modules={'blog': {'options': {'page_size': 5}}})\n"}
    [module] = [m for m in load_project(make_project(files)).registry.list("module") if m.id == "blog"]
    assert module.meta["options"] == {"page_size": 5}


def test_config_can_disable_a_found_module(make_project) -> None:
    files = {**BLOG, "loader_config.py": "from loader import define_config\nconfig = define_config(modules={'blog': False})\n"}
    project = load_project(make_project(files))
    assert [m.id for m in project.registry.list("module")] == ["event_bus", "workflow_engine"]  # only the built-in ones
    assert project.registry.list("migration") == []


def test_configured_module_that_does_not_exist(make_project) -> None:
    root = make_project({
        "loader_config.py": "from loader import define_config\n\nconfig = define_config(\n    modules={'shop': {'options': {}}},\n)\n",
    })
    [error] = load_project(root).errors
    assert isinstance(error, ConfigError) and error.location == "loader_config.py:4"
    assert "module 'shop' is configured but no modules/shop/__init__.py was found" in error.message


def test_provider_from_config_with_its_own_migrations(make_project) -> None:
    files = {
        **PROVIDER,
        "loader_config.py": """
            from loader import define_config
            config = define_config(modules={"notification": {"providers": [
                {"resolve": "./src/modules/notification/providers/console", "id": "console", "options": {"prefix": ">"}},
            ]}})
        """,
    }
    project = load_project(make_project(files))
    assert project.errors == []
    [provider] = project.registry.list("provider")
    assert provider.id == "notification/console" and provider.meta["is_default"] is True
    [migration] = project.registry.list("migration")
    assert str(migration.origin) == "module:notification/console"


def test_two_default_providers_is_a_config_error(make_project) -> None:
    files = {
        **PROVIDER,
        "loader_config.py": """
            from loader import define_config
            config = define_config(modules={"notification": {"providers": [
                {"resolve": "./src/modules/notification/providers/console", "id": "a", "is_default": True},
                {"resolve": "./src/modules/notification/providers/console", "id": "b", "is_default": True},
            ]}})
        """,
    }
    [error] = load_project(make_project(files)).errors
    assert "2 default providers (a, b)" in error.message and error.path == "loader_config.py"


def test_unresolvable_provider(make_project) -> None:
    files = {
        **PROVIDER,
        "loader_config.py": """
            from loader import define_config
            config = define_config(modules={"notification": {"providers": [
                {"resolve": "./nowhere", "id": "x"},
            ]}})
        """,
    }
    [error] = load_project(make_project(files)).errors
    assert error.location == "loader_config.py:3" and "cannot resolve './nowhere'" in error.message


def test_migration_file_without_a_migration_class(make_project) -> None:
    files = {**BLOG, "src/modules/blog/migrations/Migration20250901000000.py": "X = 1\n"}
    [error] = load_project(make_project(files)).errors
    assert "exactly one Migration subclass; found none" in error.message


def test_the_built_in_event_bus_module_can_be_given_a_provider(make_project) -> None:
    files = {"loader_config.py": """
        from loader import define_config
        config = define_config(modules={"event_bus": {"providers": [
            {"resolve": "loader.builtin.modules.event_bus.providers.local", "id": "local"},
        ]}})
    """}
    project = load_project(make_project(files))
    assert project.errors == []
    [provider] = project.registry.list("provider")
    assert provider.id == "event_bus/local" and provider.meta["service"] == "LocalEventBus"


def test_module_name_must_match_its_folder(make_project) -> None:
    files = {**BLOG, "src/modules/blog/__init__.py": "from loader import Module\nclass S: ...\nmodule = Module('blogs', service=S)\n"}
    [error] = load_project(make_project(files)).errors
    assert error.location == "src/modules/blog/__init__.py:3" and "declares Module('blogs')" in error.message
