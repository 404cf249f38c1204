"""The notification module; its providers (channels) are chosen in loader_config.py."""

from loader import Module
from src.modules.notification.service import NotificationService

module = Module("notification", service=NotificationService)
