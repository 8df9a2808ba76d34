"""SMS delivery reports: the outbox remembers whether the network says a text reached the phone."""

from peewee import CharField


def up(migrator, db):
    migrator.migrate(
        migrator.add_column("outbox", "delivery", CharField(default="")),  # "", delivered, failed
        migrator.add_column("outbox", "delivered_at", CharField(null=True)),
    )
