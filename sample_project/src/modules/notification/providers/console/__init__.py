"""The `console` provider of the notification module, listed in loader_config.py."""

from loader import ModuleProvider
from src.modules.notification.providers.console.service import ConsoleNotificationProvider

provider = ModuleProvider(service=ConsoleNotificationProvider)
