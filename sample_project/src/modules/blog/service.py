"""BlogService keeps posts in memory; the migrations describe the table it would use."""

import itertools


class BlogService:
    def __init__(self):
        self._posts: dict[str, dict] = {}
        self._ids = itertools.count(1)

    def list(self) -> list[dict]:
        return list(self._posts.values())

    def get(self, post_id: str) -> dict | None:
        return self._posts.get(post_id)

    def create(self, title: str, body: str = "", price_cents: int = 0) -> dict:
        if not title:
            raise ValueError("a post needs a title")
        post_id = str(next(self._ids))
        post = {"id": post_id, "title": title, "body": body, "price_cents": price_cents}
        self._posts[post_id] = post
        return post

    def delete(self, post_id: str) -> None:
        self._posts.pop(post_id, None)
