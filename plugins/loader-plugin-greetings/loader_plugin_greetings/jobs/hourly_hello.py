"""An interval job: every hour. Job names are unique per origin, not across plugins."""

import logging

from loader import job

logger = logging.getLogger(__name__)


@job(name="hourly-hello", schedule=3600)
async def hourly_hello(container):
    logger.info(container.resolve("greeter").greet("world"))
