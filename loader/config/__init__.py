"""Project config: pydantic models, ``loader_config.py`` and ``.env`` loading."""

from loader.config.loading import CONFIG_FILE, define_config, load_config, load_env
from loader.config.models import LoaderConfig

__all__ = ["CONFIG_FILE", "LoaderConfig", "define_config", "load_config", "load_env"]
