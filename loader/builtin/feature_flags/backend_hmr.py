from loader.core.flags import FlagSettings

backend_hmr = FlagSettings(
    key="backend_hmr",
    default_val=False,
    env_key="LOADER_FF_BACKEND_HMR",
    description="loader develop reloads single resources in place instead of restarting the server",
)
