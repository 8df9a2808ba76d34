"""A lead's interest is whatever the company offers (a plan, a product, a service), not only a plan."""


def up(migrator, db):
    migrator.migrate(migrator.rename_column("lead", "interested_plan", "interest"))
