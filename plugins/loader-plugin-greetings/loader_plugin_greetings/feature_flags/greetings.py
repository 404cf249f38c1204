from loader import FlagSettings

greetings_shout = FlagSettings(
    key="greetings_shout",
    default_val=False,
    env_key="LOADER_FF_GREETINGS_SHOUT",
    description="Greetings from the greetings plugin are shouted",
)
