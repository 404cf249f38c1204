"""loader-plugin-greetings: its folders are scanned like a project's src/; this file holds its hooks."""

from loader import ConfigError, hookimpl

NAMES = {"greetings", "loader-plugin-greetings"}  # how a project may list this plugin
OPTIONS = {"greeting": str}


@hookimpl
def loader_configure(config, project_root):
    """Refuse unknown or mistyped options before any file of the plugin is imported."""
    for entry in config.plugins:
        if entry.resolve not in NAMES:
            continue
        for key, value in entry.options.items():
            expected = OPTIONS.get(key)
            if expected is None:
                raise ConfigError(f"plugin 'greetings': unknown option {key!r}; expected one of {', '.join(OPTIONS)}")
            if not isinstance(value, expected):
                raise ConfigError(f"plugin 'greetings': option {key!r} is {value!r}; expected a {expected.__name__}")
