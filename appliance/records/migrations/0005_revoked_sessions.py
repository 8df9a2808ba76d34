"""The admin panel: sessions ended by signing out, so a copied cookie is refused until it would have expired."""

TABLES = [
    'CREATE TABLE "revoked_session" ("id" INTEGER NOT NULL PRIMARY KEY, "nonce" VARCHAR(255) NOT NULL, "expires" REAL NOT NULL)',
    'CREATE UNIQUE INDEX "revoked_session_nonce" ON "revoked_session" ("nonce")',
]


def up(migrator, db):
    for statement in TABLES:
        db.execute_sql(statement)
