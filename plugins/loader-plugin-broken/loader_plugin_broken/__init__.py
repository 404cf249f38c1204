"""Fails at import, on purpose: loader must report a PluginLoadError naming this line."""

GREETING = "never used"

raise RuntimeError("this plugin is broken on purpose")
