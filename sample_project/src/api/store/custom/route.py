"""GET /store/custom: served only while the `custom_feature` flag is on.

When it is off, `loader inspect` lists this route as disabled, with the reason.
"""

from loader import FeatureFlag, define_file_config
from src.lib.pricing import format_price

define_file_config(is_disabled=lambda: not FeatureFlag.is_feature_enabled("custom_feature"))


async def GET(request):
    return {"message": "custom feature is on", "price": format_price(1999)}
