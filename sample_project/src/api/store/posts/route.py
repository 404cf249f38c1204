"""GET /store/posts lists posts; POST /store/posts publishes one through a workflow.

`body: NewPost` is validated before the handler runs: invalid input is a 400 with the field
errors, and the handler only ever sees a valid post.
"""

import logging

from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse

from src.workflows.publish_post import publish_post

log = logging.getLogger(__name__)


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
        # result.errors is the exceptions' text (on PostgreSQL: the SQL and its parameters):
        # it goes to the server's log, and the client gets the transaction id to quote.
        log.error("publish-post %s failed: %s", result.transaction_id, "; ".join(result.errors))
        raise HTTPException(409, f"the post could not be published (transaction {result.transaction_id})")
    # Subscribers of post.created run after the response is on its way.
    await container.resolve("event_bus").emit("post.created", result.result)
    return JSONResponse({"post": result.result}, status_code=201)
