"""``usageanalytics demo``: a collector, a short instrumented shopping app run against it with the
real SDK, and the dashboard to look at.

Each visitor is its own SDK client (its own data folder, so its own device and guest id): they
browse as a guest, log in (their guest history becomes theirs), get attributes, log events, screen
views and page loads, register a push token, and shut down, which ends the session and flushes.
"""

from __future__ import annotations

import signal
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import httpx
import platformdirs

from .. import Client, UserAttribute
from .server import DEFAULT_HOST, RunningCollector, run_in_thread

APP_ID = "demo-shop"
API_KEY = "demo-key"
SHOP = "https://shop.example"


@dataclass(frozen=True)
class Visitor:
    email: str
    name: str
    account: str
    plan: str
    load_times_ms: tuple[float, float, float]


ACCOUNTS = {"acme": "Acme Corp", "globex": "Globex Inc."}
VISITORS = (
    Visitor("alice@acme.example", "Alice Martin", "acme", "Pro", (182.0, 240.5, 131.0)),
    Visitor("bob@acme.example", "Bob Chen", "acme", "Team", (205.0, 610.0, 144.0)),
    Visitor("chloe@globex.example", "Chloé Dubois", "globex", "Free", (158.0, 275.0, 122.5)),
)


def default_demo_db() -> Path:
    return Path(platformdirs.user_data_dir("usageanalytics", appauthor=False)) / "demo.sqlite"


def start_collector(db: Path, port: int, echo: Callable[[str], None]) -> RunningCollector:
    """On ``port`` if it is free, else on any free port."""
    try:
        return run_in_thread(db, DEFAULT_HOST, port)
    except OSError:
        echo(f"port {port} is taken; using a free port instead")
        return run_in_thread(db, DEFAULT_HOST, 0)


def create_accounts(collector: RunningCollector) -> None:
    """The customer accounts, through the REST endpoint (the SDK tracks users, not accounts)."""
    with httpx.Client(base_url=collector.endpoint, auth=("apikey", API_KEY), timeout=10) as client:
        for account, name in ACCOUNTS.items():
            body = {"appId": APP_ID, "accountId": account, "name": name, "status": "Active"}
            client.post("usageanalytics/customer", json=body).raise_for_status()


def visit(collector: RunningCollector, visitor: Visitor, data_dir: Path) -> bool:
    """One visitor's session with the real SDK; True when everything was sent."""
    client = Client(
        APP_ID,
        api_key=API_KEY,
        endpoint=collector.endpoint,
        data_dir=str(data_dir),
        customer_account_id=visitor.account,
        auto_capture=False,
        app_name="Demo Shop",
        app_version="1.4.2",
        exit_timeout=10.0,
    )
    home, products, cart = visitor.load_times_ms
    client.start_session()
    client.log_screen_view("Home")
    client.log_page_load(f"{SHOP}/", home, request_count=12)
    client.log_screen_view("Products")
    client.log_page_load(f"{SHOP}/products", products, request_count=31)
    client.log_event("Searched", {"Module": "Catalog", "Query": "running shoes", "Results": 24})
    # Sent now, as the background sender would after a while: the collector receives them under
    # the guest's id and hands them to the user at login.
    client.flush(timeout=10.0)
    client.set_user(visitor.email, customer_account_id=visitor.account)
    client.set_user_attributes(
        {
            UserAttribute.NAME: visitor.name,
            UserAttribute.EMAIL_ID: visitor.email,
            UserAttribute.LANGUAGE: "en-us",
            "Plan": visitor.plan,
            "Signed Up": date(2024, 3, 1),
        }
    )
    client.log_event(
        "Added To Cart",
        {"Module": "Shop", "Product Id": "B01M3TD8CF", "Price": 89.9, "Discount Applied": True},
    )
    client.log_screen_view("Cart")
    client.log_page_load(f"{SHOP}/cart", cart, request_count=9)
    client.log_event("Checkout", {"Module": "Shop", "Items": 1, "Total": 89.9})
    client.update_device_token(f"demo-push-token-{visitor.email}", app_in_distribution=False)
    return client.shutdown(timeout=20.0)


def run_demo(port: int, db: Path | None, keep_serving: bool, echo: Callable[[str], None]) -> RunningCollector:
    path = (db or default_demo_db()).expanduser().resolve()
    collector = start_collector(path, port, echo)
    echo(f"collector running at {collector.url} (database {path})")
    create_accounts(collector)
    echo(f"created customer accounts: {', '.join(ACCOUNTS.values())}")
    with tempfile.TemporaryDirectory(prefix="usageanalytics-demo-") as folder:
        for number, visitor in enumerate(VISITORS, 1):
            sent = visit(collector, visitor, Path(folder) / f"visitor-{number}")
            echo(
                f"[{number}/{len(VISITORS)}] {visitor.email}: browsed as a guest, logged in, 3 screens, "
                f"3 page loads, 3 events, attributes, push token" + ("" if sent else " (not all sent!)")
            )
    counts = collector.counts()
    echo(
        f"the collector holds {counts['events']} events from {len(collector.users())} users "
        f"in {counts['sessions']} sessions"
    )
    echo(f"open the dashboard: {collector.dashboard_url}")
    if keep_serving:
        echo("serving until Ctrl-C")
        wait_for_interrupt()
        collector.stop()
    return collector


def wait_for_interrupt() -> None:
    """Block until Ctrl-C or SIGTERM (handled here even where a shell started us ignoring SIGINT)."""
    stop = threading.Event()
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
    while not stop.wait(0.5):
        pass
