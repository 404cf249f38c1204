"""Adds blog_post.custom_note, only while the `custom_feature` flag is on."""

from loader import FeatureFlag, Migration, define_file_config

define_file_config(is_disabled=lambda: not FeatureFlag.is_feature_enabled("custom_feature"))


class Migration20250901120000(Migration):
    def up(self, db):
        from sqlalchemy import text  # the database runtime brings SQLAlchemy

        db.execute(text("ALTER TABLE blog_post ADD COLUMN custom_note TEXT"))

    def down(self, db):
        from sqlalchemy import text

        db.execute(text("ALTER TABLE blog_post DROP COLUMN custom_note"))
