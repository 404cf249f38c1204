"""Creates the blog_post table. Migrations of a module run in timestamp order."""

from loader import Migration


class Migration20250822135845(Migration):
    def up(self, db):
        from sqlalchemy import text  # the database runtime brings SQLAlchemy

        db.execute(text(
            "CREATE TABLE blog_post ("
            " id INTEGER PRIMARY KEY,"
            " title TEXT NOT NULL,"
            " body TEXT NOT NULL DEFAULT '',"
            " price_cents INTEGER NOT NULL DEFAULT 0)"
        ))

    def down(self, db):
        from sqlalchemy import text

        db.execute(text("DROP TABLE blog_post"))
