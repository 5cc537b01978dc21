"""Give each user a session token, so logging out ends old session cookies."""

import secrets

import peewee as pw
from peewee_migrate import Migrator


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    """Add user.session_token, with a fresh random token for existing users."""
    migrator.add_fields("user", session_token=pw.CharField(max_length=32, default=""))

    def fill_tokens():
        User = migrator.orm["user"]
        for user in User.select(User.id):
            User.update(session_token=secrets.token_hex(16)).where(
                User.id == user.id
            ).execute()

    migrator.run(fill_tokens)


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    """Remove user.session_token."""
    migrator.remove_fields("user", "session_token")
