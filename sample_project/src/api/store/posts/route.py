"""GET /store/posts lists posts; POST /store/posts publishes one through a workflow."""

from src.workflows.publish_post import publish_post


async def GET(request):
    blog = request.app.state.container.resolve("blog")
    return {"posts": blog.list()}


async def POST(request):
    data = await request.json()
    result = await publish_post.run(data, container=request.app.state.container)
    if not result.ok:
        # Starlette comes with the runtime; imported here so discovery does not need it.
        from starlette.responses import JSONResponse

        return JSONResponse({"errors": result.errors}, status_code=400)
    return {"post": result.result}
