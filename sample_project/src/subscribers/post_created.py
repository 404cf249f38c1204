"""Logs every `post.created` event."""

import logging

from loader import subscriber

logger = logging.getLogger(__name__)


@subscriber("post.created")
async def log_new_post(event, container):
    # event.name is "post.created"; event.data is what the route emitted: the new post.
    logger.info("new post %s: %s", event.data["id"], event.data["title"])
