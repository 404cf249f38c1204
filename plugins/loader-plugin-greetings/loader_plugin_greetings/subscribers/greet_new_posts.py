"""Plugin subscribers get namespaced ids (`plugin:greetings:…`): no clash with the project's."""

import logging

from loader import subscriber

logger = logging.getLogger(__name__)


@subscriber("post.created")
async def greet_new_post(event, container):
    logger.info("greetings: a new post, hello!")
