"""The first schema: every table of the appliance's records, frozen as SQL so later model changes cannot alter it."""

TABLES = [
    'CREATE TABLE "lead" ("id" INTEGER NOT NULL PRIMARY KEY, "phone" VARCHAR(255) NOT NULL, "name" VARCHAR(255) NOT NULL, "email" VARCHAR(255) NOT NULL, "company" VARCHAR(255) NOT NULL, "status" VARCHAR(255) NOT NULL, "quality" VARCHAR(255) NOT NULL, "interested_plan" VARCHAR(255) NOT NULL, "preferred_channel" VARCHAR(255) NOT NULL, "notes" TEXT NOT NULL, "sms_opt_out" INTEGER NOT NULL, "email_opt_out" INTEGER NOT NULL, "created_at" VARCHAR(255) NOT NULL, "updated_at" VARCHAR(255) NOT NULL)',
    'CREATE UNIQUE INDEX "lead_phone" ON "lead" ("phone")',
    'CREATE TABLE "call" ("id" INTEGER NOT NULL PRIMARY KEY, "caller_id" VARCHAR(255), "started_at" VARCHAR(255) NOT NULL, "ended_at" VARCHAR(255), "ended_by" VARCHAR(255) NOT NULL, "summary" TEXT NOT NULL)',
    'CREATE TABLE "turn" ("id" INTEGER NOT NULL PRIMARY KEY, "call_id" INTEGER NOT NULL, "number" INTEGER NOT NULL, "kind" VARCHAR(255) NOT NULL, "heard" TEXT NOT NULL, "reply" TEXT, "spoken" TEXT NOT NULL, "interrupted" INTEGER NOT NULL, "latency_ms" TEXT NOT NULL, FOREIGN KEY ("call_id") REFERENCES "call" ("id") ON DELETE CASCADE)',
    'CREATE INDEX "turn_call_id" ON "turn" ("call_id")',
    'CREATE TABLE "ticket" ("id" INTEGER NOT NULL PRIMARY KEY, "call_id" INTEGER, "phone" VARCHAR(255) NOT NULL, "order_id" VARCHAR(255) NOT NULL, "issue_type" VARCHAR(255) NOT NULL, "priority" VARCHAR(255) NOT NULL, "status" VARCHAR(255) NOT NULL, "description" TEXT NOT NULL, "resolution" TEXT NOT NULL, "created_at" VARCHAR(255) NOT NULL, "updated_at" VARCHAR(255) NOT NULL, FOREIGN KEY ("call_id") REFERENCES "call" ("id") ON DELETE SET NULL)',
    'CREATE INDEX "ticket_call_id" ON "ticket" ("call_id")',
    'CREATE TABLE "callback" ("id" INTEGER NOT NULL PRIMARY KEY, "call_id" INTEGER, "phone" VARCHAR(255) NOT NULL, "at" VARCHAR(255) NOT NULL, "at_utc" VARCHAR(255) NOT NULL, "reason" TEXT NOT NULL, "state" VARCHAR(255) NOT NULL, "attempts" INTEGER NOT NULL, "outcome" TEXT NOT NULL, FOREIGN KEY ("call_id") REFERENCES "call" ("id") ON DELETE SET NULL)',
    'CREATE INDEX "callback_call_id" ON "callback" ("call_id")',
    'CREATE INDEX "callback_at_utc" ON "callback" ("at_utc")',
    'CREATE TABLE "order" ("id" INTEGER NOT NULL PRIMARY KEY, "order_id" VARCHAR(255) NOT NULL, "phone" VARCHAR(255) NOT NULL, "product" VARCHAR(255) NOT NULL, "status" VARCHAR(255) NOT NULL, "estimated_delivery" VARCHAR(255) NOT NULL, "tracking_id" VARCHAR(255) NOT NULL, "updated_at" VARCHAR(255) NOT NULL)',
    'CREATE UNIQUE INDEX "order_order_id" ON "order" ("order_id")',
    'CREATE INDEX "order_phone" ON "order" ("phone")',
    'CREATE TABLE "agent" ("id" INTEGER NOT NULL PRIMARY KEY, "name" VARCHAR(255) NOT NULL, "expertise" TEXT NOT NULL, "status" VARCHAR(255) NOT NULL, "contact" VARCHAR(255) NOT NULL, "phone" VARCHAR(255) NOT NULL, "email" VARCHAR(255) NOT NULL)',
    'CREATE UNIQUE INDEX "agent_name" ON "agent" ("name")',
    'CREATE TABLE "staff" ("id" INTEGER NOT NULL PRIMARY KEY, "role" VARCHAR(255) NOT NULL, "email" VARCHAR(255) NOT NULL, "phone" VARCHAR(255) NOT NULL)',
    'CREATE UNIQUE INDEX "staff_role" ON "staff" ("role")',
    'CREATE TABLE "escalation" ("id" INTEGER NOT NULL PRIMARY KEY, "call_id" INTEGER, "agent" VARCHAR(255) NOT NULL, "reason" TEXT NOT NULL, "package" TEXT NOT NULL, "created_at" VARCHAR(255) NOT NULL, FOREIGN KEY ("call_id") REFERENCES "call" ("id") ON DELETE SET NULL)',
    'CREATE INDEX "escalation_call_id" ON "escalation" ("call_id")',
    'CREATE TABLE "outbox" ("id" INTEGER NOT NULL PRIMARY KEY, "key" VARCHAR(255) NOT NULL, "call_id" INTEGER, "channel" VARCHAR(255) NOT NULL, "recipient" VARCHAR(255) NOT NULL, "subject" TEXT NOT NULL, "body" TEXT NOT NULL, "html" TEXT NOT NULL, "attachments" TEXT NOT NULL, "state" VARCHAR(255) NOT NULL, "attempts" INTEGER NOT NULL, "last_error" TEXT NOT NULL, "next_attempt_at" VARCHAR(255) NOT NULL, "created_at" VARCHAR(255) NOT NULL, "sent_at" VARCHAR(255), "reference" VARCHAR(255) NOT NULL, FOREIGN KEY ("call_id") REFERENCES "call" ("id") ON DELETE SET NULL)',
    'CREATE UNIQUE INDEX "outbox_key" ON "outbox" ("key")',
    'CREATE INDEX "outbox_call_id" ON "outbox" ("call_id")',
    'CREATE INDEX "outbox_state" ON "outbox" ("state")',
    'CREATE TABLE "call_stats" ("id" INTEGER NOT NULL PRIMARY KEY, "call_id" INTEGER NOT NULL, "duration_s" INTEGER NOT NULL, "turns" INTEGER NOT NULL, "intents" TEXT NOT NULL, "used_knowledge" INTEGER NOT NULL, "escalated" INTEGER NOT NULL, "actions" TEXT NOT NULL, "voice_to_voice_p50_ms" INTEGER, FOREIGN KEY ("call_id") REFERENCES "call" ("id") ON DELETE CASCADE)',
    'CREATE UNIQUE INDEX "call_stats_call_id" ON "call_stats" ("call_id")',
]


def up(migrator, db):
    for statement in TABLES:
        db.execute_sql(statement)
