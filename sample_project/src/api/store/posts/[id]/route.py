"""GET /store/posts/{id}: the `[id]` folder is the path parameter `id`.

`id: int` is converted and validated before the handler runs: `/store/posts/abc` is a 400
naming `id`, and the handler only ever sees an int.
"""

from starlette.exceptions import HTTPException

from loader import FeatureFlag
from src.lib.pricing import format_price


async def GET(request, id: int):
    blog = request.app.state.container.resolve("blog")
    post = blog.get(id)
    if post is None:
        raise HTTPException(404, f"no post {id}")
    body = {**post, "price": format_price(post["price_cents"])}
    # Read at request time, so flipping the flag needs no reload of this file.
    if FeatureFlag.is_feature_enabled("blog_comments"):
        body["comments"] = []
    return body
