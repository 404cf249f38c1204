"""BlogService: posts in the `blog_post` table its migration creates.

It resolves the project's database from the container on each call (the container's
`database` is a SQLAlchemy engine), so it keeps no connection of its own.
"""

from sqlalchemy import text


class BlogService:
    def __init__(self, container):
        self.container = container

    def _db(self):
        return self.container.resolve("database")

    def list(self) -> list[dict]:
        with self._db().connect() as conn:
            rows = conn.execute(text("SELECT id, title, body, price_cents FROM blog_post ORDER BY id"))
            return [_post(row) for row in rows.mappings()]

    def get(self, post_id: int) -> dict | None:
        if not 0 < post_id < 2**63:  # ids are positive 64-bit integers; a larger one is no row
            return None
        with self._db().connect() as conn:
            row = conn.execute(
                text("SELECT id, title, body, price_cents FROM blog_post WHERE id = :id"), {"id": post_id}
            ).mappings().first()
        return _post(row) if row else None

    def create(self, title: str, body: str = "", price_cents: int = 0) -> dict:
        if not title:
            raise ValueError("a post needs a title")
        with self._db().begin() as conn:
            new_id = conn.execute(
                text("INSERT INTO blog_post (title, body, price_cents) VALUES (:t, :b, :p) RETURNING id"),
                {"t": title, "b": body, "p": price_cents},
            ).scalar_one()
        return {"id": str(new_id), "title": title, "body": body, "price_cents": price_cents}

    def delete(self, post_id: str) -> None:
        with self._db().begin() as conn:
            conn.execute(text("DELETE FROM blog_post WHERE id = :id"), {"id": int(post_id)})


def _post(row) -> dict:
    return {**row, "id": str(row["id"])}
