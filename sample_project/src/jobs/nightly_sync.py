"""A scheduled job: every night at 03:00 UTC."""

import logging

from loader import job

logger = logging.getLogger(__name__)


@job(name="nightly-sync", schedule="0 3 * * *")
async def nightly_sync(container):
    blog = container.resolve("blog")
    logger.info("nightly sync: %d posts", len(blog.list()))
