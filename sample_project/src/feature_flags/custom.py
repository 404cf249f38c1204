from loader import FlagSettings

custom_feature = FlagSettings(
    key="custom_feature",
    default_val=False,
    env_key="LOADER_FF_CUSTOM_FEATURE",
    description="Serves /store/custom and applies its blog migration",
)
