"""NotificationService hands each message to the module's default provider."""


class NotificationService:
    def __init__(self, provider=None):
        # The default provider's service (`console` here); None sends nowhere.
        self.provider = provider

    async def send(self, to: str, message: str) -> None:
        if self.provider is not None:
            await self.provider.send(to, message)
