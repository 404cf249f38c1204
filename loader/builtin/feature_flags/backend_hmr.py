from loader.core.flags import FlagSettings

# On by default: hot reload meets its targets (docs/performance.md, benchmarks/hmr.py).
backend_hmr = FlagSettings(
    key="backend_hmr",
    default_val=True,
    env_key="LOADER_FF_BACKEND_HMR",
    description="loader develop reloads single resources in place instead of restarting the server",
)
