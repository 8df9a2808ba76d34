"""Bringing rows in: a scenario's fixtures, the company's orders from CSV, and the CRM view the dialogue reads."""

from __future__ import annotations

import csv
from pathlib import Path

from appliance.dialogue.policy import choose_agent, same_number
from appliance.errors import ApplianceError
from appliance.records.models import Agent, Lead, Order, Staff, database, utc_now

ORDER_COLUMNS = ("order_id", "phone", "product", "status", "estimated_delivery", "tracking_id")


def _upsert(model, key: str, row: dict) -> None:
    # A field left out or set to null is unknown (FORMAT.md): the column keeps its default.
    fields = {name: value for name, value in row.items()
              if name in model._meta.fields and name != "id" and value is not None}
    model.insert(**fields).on_conflict(conflict_target=[getattr(model, key)], update=fields).execute()


def load_fixtures(fixtures: dict) -> None:
    """Leads, orders, agents and staff from a scenario set's fixtures.json, replacing rows with the same key."""
    with database.atomic():
        for lead in fixtures.get("leads", []):
            _upsert(Lead, "phone", lead)
        for order in fixtures.get("orders", []):
            _upsert(Order, "order_id", order)
        for agent in fixtures.get("agents", []):
            _upsert(Agent, "name", agent)
        for role, contact in fixtures.get("staff", {}).items():
            _upsert(Staff, "role", {"role": role, **contact})


def import_orders(path: Path) -> int:
    """Orders from a CSV file with a header row; all rows or none. Returns how many were imported."""
    path = Path(path)
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            missing = {"order_id", "status"} - set(reader.fieldnames or ())
            if missing:
                raise ApplianceError("records-csv-invalid", f"{path}: the header lacks {', '.join(sorted(missing))}")
            rows = []
            for line, row in enumerate(reader, start=2):
                if not (row.get("order_id") or "").strip():
                    raise ApplianceError("records-csv-invalid", f"{path}:{line}: order_id is empty")
                rows.append({name: (row.get(name) or "").strip() for name in ORDER_COLUMNS} | {"updated_at": utc_now()})
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ApplianceError("records-csv-invalid", f"{path}: {exc}") from None
    with database.atomic():
        for row in rows:
            row["order_id"] = row["order_id"].upper()
            _upsert(Order, "order_id", row)
    return len(rows)


def _row(record) -> dict:
    return {name: getattr(record, name) for name in record._meta.fields if name != "id"}


class RecordsCrm:
    """The callers, orders and agents the dialogue looks up, read from the records database."""

    def lead(self, phone: str | None) -> dict | None:
        """The lead whose phone is `phone`."""
        found = Lead.get_or_none(Lead.phone == phone) if phone else None
        return _row(found) if found else None

    def order(self, order_id: str | None) -> dict | None:
        """The order with this ID."""
        found = Order.get_or_none(Order.order_id == order_id.upper()) if order_id else None
        return _row(found) if found else None

    def order_ids(self) -> list[str]:
        """The IDs of the known orders."""
        return [order.order_id for order in Order.select(Order.order_id)]

    def order_ids_for(self, phone: str | None) -> list[str]:
        """The IDs of the orders placed with this phone number."""
        return [o.order_id for o in Order.select(Order.order_id, Order.phone) if phone and same_number(o.phone, phone)]

    def agent_names(self) -> list[str]:
        """The names of the people calls can be handed to."""
        return [agent.name for agent in Agent.select(Agent.name)]

    def agent_for(self, expertise: str, words: str = "", similar=None) -> dict | None:
        """An available agent, preferring one whose expertise the caller's words name, then `expertise`."""
        return choose_agent([_row(agent) for agent in Agent.select().order_by(Agent.id)], expertise, words, similar)
