"""Prints notifications: the provider to use in development."""


class ConsoleNotificationProvider:
    def __init__(self, options=None):
        # `options` come from the provider's entry in loader_config.py.
        self.prefix = (options or {}).get("prefix", "[notification]")

    async def send(self, to: str, message: str) -> None:
        print(f"{self.prefix} to {to}: {message}")
