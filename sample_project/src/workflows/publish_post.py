"""publish-post: save the post, then notify the editors; if that fails, the post is deleted.

A workflow is plain async Python that awaits steps. Keep the code between steps
deterministic: a durable engine resumes a workflow by replaying recorded step outcomes.
"""

from loader import StepResponse, create_step, create_workflow


async def save(input, ctx):
    post = ctx.container.resolve("blog").create(**input)
    # The compensation receives only what it needs to undo this step: the post's id.
    return StepResponse(post, post["id"])


async def delete(post_id, ctx):
    ctx.container.resolve("blog").delete(post_id)


async def notify(post, ctx):
    notification = ctx.container.resolve("notification")
    await notification.send(to="editors", message=f"published: {post['title']}")
    return StepResponse(None)


save_post = create_step("save-post", save, compensate=delete)
notify_editors = create_step("notify-editors", notify, max_retries=3, retry_interval=0.5)


@create_workflow("publish-post")
async def publish_post(input, ctx):
    post = await save_post(input)
    await notify_editors(post)
    return post
