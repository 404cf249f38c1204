"""Shared by the plugin's files, which import each other as `loader_plugin_greetings.…`."""

from loader import FeatureFlag


def shout_if_asked(text: str) -> str:
    # Read on every call: the flag may be flipped without reloading anything.
    return text.upper() if FeatureFlag.is_feature_enabled("greetings_shout") else text
