"""The admin panel: the admins who may sign in, and the log of every change they make."""

TABLES = [
    'CREATE TABLE "admin" ("id" INTEGER NOT NULL PRIMARY KEY, "name" VARCHAR(255) NOT NULL, "password_hash" VARCHAR(255) NOT NULL, "created_at" VARCHAR(255) NOT NULL)',
    'CREATE UNIQUE INDEX "admin_name" ON "admin" ("name")',
    'CREATE TABLE "audit_log" ("id" INTEGER NOT NULL PRIMARY KEY, "who" VARCHAR(255) NOT NULL, "what" TEXT NOT NULL, "at" VARCHAR(255) NOT NULL)',
    'CREATE INDEX "audit_log_at" ON "audit_log" ("at")',
]


def up(migrator, db):
    for statement in TABLES:
        db.execute_sql(statement)
