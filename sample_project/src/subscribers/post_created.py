"""Logs every `post.created` event."""

import logging

from loader import subscriber

logger = logging.getLogger(__name__)


@subscriber("post.created")
async def log_new_post(event, container):
    logger.info("new post: %s", event)
