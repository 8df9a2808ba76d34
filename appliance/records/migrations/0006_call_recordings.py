"""Call recordings: where a call's audio is kept (relative to data_dir), how long it is, and why it is gone.

Plain ADD COLUMNs: the call table is never rebuilt (turns and stats hang off it with ON DELETE CASCADE)."""

COLUMNS = [
    'ALTER TABLE "call" ADD COLUMN "recording" VARCHAR(255) NOT NULL DEFAULT \'\'',
    'ALTER TABLE "call" ADD COLUMN "recording_s" REAL',
    'ALTER TABLE "call" ADD COLUMN "recording_deleted" VARCHAR(255) NOT NULL DEFAULT \'\'',
]


def up(migrator, db):
    for statement in COLUMNS:
        db.execute_sql(statement)
