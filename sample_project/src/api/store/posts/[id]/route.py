"""GET /store/posts/{id}: the `[id]` folder is the path parameter `id`."""

from starlette.responses import JSONResponse

from loader import FeatureFlag
from src.lib.pricing import format_price


async def GET(request):
    blog = request.app.state.container.resolve("blog")
    post = blog.get(request.path_params["id"])
    if post is None:
        return JSONResponse({"message": "post not found"}, status_code=404)
    body = {**post, "price": format_price(post["price_cents"])}
    # Read at request time, so flipping the flag needs no reload of this file.
    if FeatureFlag.is_feature_enabled("blog_comments"):
        body["comments"] = []
    return body
