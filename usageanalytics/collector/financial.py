"""Storing the financial endpoints (spec: "Financial Data Integration"): orders, app and account data.

Each is an upsert keyed as the spec describes ("if the same order is pushed ... it will update"); a
delete of something that does not exist is answered with :class:`NotFound`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from typing import Any

from .store import NotFound


def save_order(db: sqlite3.Connection, body: Mapping[str, Any], now: str) -> None:
    db.execute(
        "INSERT INTO orders (app_id, order_id, customer_account_id, org_product_id, status, amount, "
        "effective_date, end_date, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (app_id, order_id) DO UPDATE SET customer_account_id = excluded.customer_account_id, "
        "org_product_id = excluded.org_product_id, status = excluded.status, amount = excluded.amount, "
        "effective_date = excluded.effective_date, end_date = excluded.end_date, "
        "updated_at = excluded.updated_at",
        (
            body["appId"],
            body["orderId"],
            body["customerAccountId"],
            body.get("orgProductId") or body["productId"],
            body["status"],
            float(body["amount"]),
            body["effectiveDate"],
            body["endDate"],
            now,
        ),
    )


def save_app_financial_data(db: sqlite3.Connection, body: Mapping[str, Any], now: str) -> None:
    db.execute(
        "INSERT INTO app_financial_data (app_id, logo_churn_tolerance, updated_at) VALUES (?, ?, ?) "
        "ON CONFLICT (app_id) DO UPDATE SET logo_churn_tolerance = excluded.logo_churn_tolerance, "
        "updated_at = excluded.updated_at",
        (body["appId"], float(body["logoChurnTolerance"]), now),
    )


def save_account_financial_data(db: sqlite3.Connection, body: Mapping[str, Any], now: str) -> None:
    db.execute(
        "INSERT INTO account_financial_data (app_id, customer_account_id, account_start_date, arr_target, "
        "updated_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (app_id, customer_account_id) DO UPDATE SET "
        "account_start_date = excluded.account_start_date, arr_target = excluded.arr_target, "
        "updated_at = excluded.updated_at",
        (body["appId"], body["customerAccountId"], body["accountStartDate"], float(body["arrTarget"]), now),
    )


SAVERS = {
    "orders": save_order,
    "app-financial-data": save_app_financial_data,
    "account-financial-data": save_account_financial_data,
}

# kind -> (table, key columns) of what DELETE /kind/{id} removes; the app id comes first.
_DELETES = {
    "orders": ("orders", ("app_id", "order_id")),
    "app-financial-data": ("app_financial_data", ("app_id",)),
    "account-financial-data": ("account_financial_data", ("app_id", "customer_account_id")),
}


def delete(db: sqlite3.Connection, kind: str, app_id: str, record_id: str) -> None:
    """Delete ``record_id`` of ``kind`` (for app-financial-data, the id is the app id)."""
    table, columns = _DELETES[kind]
    keys = (record_id,) if kind == "app-financial-data" else (app_id, record_id)
    where = " AND ".join(f"{column} = ?" for column in columns)
    if not db.execute(f"DELETE FROM {table} WHERE {where}", keys).rowcount:
        raise NotFound(f"no {kind} {record_id!r}" + ("" if len(keys) == 1 else f" for app {app_id!r}"))
