"""The admin panel's sign-ins: the login limit's attempts, kept here so a restart of the panel does not forget
them, and each admin's session generation, raised by a new password so the sessions signed in before it end.

A plain ADD COLUMN for the admin table: it keeps its rows, and every admin starts at generation 0."""

STATEMENTS = [
    'CREATE TABLE "login_attempt" ("id" INTEGER NOT NULL PRIMARY KEY, "address" VARCHAR(255) NOT NULL, "at" REAL NOT NULL)',
    'CREATE INDEX "login_attempt_address" ON "login_attempt" ("address")',
    'CREATE INDEX "login_attempt_at" ON "login_attempt" ("at")',
    'ALTER TABLE "admin" ADD COLUMN "session_generation" INTEGER NOT NULL DEFAULT 0',
]


def up(migrator, db):
    for statement in STATEMENTS:
        db.execute_sql(statement)
