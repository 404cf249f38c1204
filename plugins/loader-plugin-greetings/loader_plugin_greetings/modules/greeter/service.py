class GreeterService:
    def __init__(self, options=None):
        # A plugin's modules receive the plugin's options: plugins=[{"resolve": "greetings", "options": {...}}]
        self.greeting = (options or {}).get("greeting", "hello")

    def greet(self, name: str) -> str:
        return f"{self.greeting}, {name}"
