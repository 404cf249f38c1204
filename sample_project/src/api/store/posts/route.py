"""GET /store/posts lists posts; POST /store/posts publishes one through a workflow.

`body: NewPost` is validated before the handler runs: invalid input is a 400 with the field
errors, and the handler only ever sees a valid post.
"""

from pydantic import BaseModel, Field
from starlette.responses import JSONResponse

from src.workflows.publish_post import publish_post


class NewPost(BaseModel):
    title: str = Field(min_length=1)
    body: str = ""
    price_cents: int = Field(0, ge=0)


async def GET(request):
    blog = request.app.state.container.resolve("blog")
    return {"posts": blog.list()}


async def POST(request, body: NewPost):
    container = request.app.state.container
    result = await publish_post.run(body.model_dump(), container=container)
    if not result.ok:
        return JSONResponse({"errors": result.errors}, status_code=409)
    # Subscribers of post.created run after the response is on its way.
    await container.resolve("event_bus").emit("post.created", result.result)
    return JSONResponse({"post": result.result}, status_code=201)
