"""The demo's product: four weeks of a plausible B2B app, generated, deterministic for a seed.

"Planbook", a project-planning app sold to companies (SmartKarrot's customer accounts). Each user
has a habit: how often they come back on weekdays and weekends, how long they stay, which parts
of the product ("Module") they use. Some joined during the four weeks, some drifted away, so the
dashboard shows returning users, growth and churn. Each visit is a session of minutes: screens
with their page loads (each page has its own typical load time, with a long tail), and the
events of the modules the user works in.

:func:`generate` returns the plan; :mod:`.demo` sends it through the real SDK, and
``benchmarks/collector_overview.py`` scales it up to a million events.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

APP_ID = "planbook"


@dataclass(frozen=True)
class Page:
    screen: str
    url: str
    module: str
    median_ms: float  # typical load time; the tail is log-normal


PAGES = (
    Page("Home", "/app", "Home", 180.0),
    Page("Projects", "/app/projects", "Projects", 240.0),
    Page("Board", "/app/projects/<id>/board", "Projects", 420.0),
    Page("Task", "/app/tasks/<id>", "Tasks", 150.0),
    Page("Reports", "/app/reports", "Reports", 900.0),
    Page("Billing", "/app/billing", "Billing", 320.0),
    Page("Settings", "/app/settings", "Settings", 200.0),
)
PAGE_BY_MODULE: dict[str, list[Page]] = {}
for _page in PAGES:
    PAGE_BY_MODULE.setdefault(_page.module, []).append(_page)

# Events per module, with the attributes they carry (a callable draws a value).
ACTIONS: dict[str, list[tuple[str, dict[str, Any]]]] = {
    "Projects": [
        ("Created Project", {"Template": ("Blank", "Sprint", "Roadmap")}),
        ("Moved Card", {"Column": ("To do", "Doing", "Review", "Done")}),
    ],
    "Tasks": [
        ("Created Task", {"Priority": ("Low", "Normal", "High")}),
        ("Completed Task", {"On Time": (True, True, True, False)}),
        ("Commented", {"Mentions": (0, 0, 1, 2)}),
    ],
    "Reports": [
        ("Viewed Report", {"Report": ("Velocity", "Burndown", "Workload")}),
        ("Exported Report", {"Format": ("PDF", "CSV", "XLSX")}),
    ],
    "Billing": [("Viewed Invoice", {"Amount": (49.0, 99.0, 490.0)})],
    "Settings": [("Invited Teammate", {"Role": ("Member", "Admin")})],
}
BUSY_MODULES = ("Projects", "Tasks", "Reports")  # where the work happens; the rest is visited now and then


@dataclass(frozen=True)
class Account:
    account_id: str
    name: str
    plan: str


ACCOUNTS = (
    Account("acme", "Acme Corp", "Enterprise"),
    Account("globex", "Globex", "Business"),
    Account("initech", "Initech", "Business"),
    Account("umbrella", "Umbrella Health", "Starter"),
)

FIRST_NAMES = (
    "Dana", "Ravi", "Mei", "Lukas", "Amara", "Jonas", "Priya", "Mateo", "Sofia", "Kenji", "Lea", "Omar",
    "Hannah", "Tomás", "Aisha", "Noah", "Elif", "Marta", "Sam", "Ines", "Yuki", "Felix", "Zara", "Ivan",
)  # fmt: skip
ROLES = ("Project Manager", "Engineer", "Designer", "Team Lead", "Analyst", "Finance")
DEVICES = (
    {"OS": "macOS", "OS Version": "14.5", "Device Name": "MacBook Pro", "Make": "Apple", "Model": "Mac15,3"},
    {"OS": "Windows", "OS Version": "11", "Device Name": "ThinkPad X1", "Make": "Lenovo", "Model": "20XW"},
    {"OS": "Linux", "OS Version": "6.8", "OS Distribution": "Ubuntu 24.04", "Device Name": "dev-box"},
    {"OS": "macOS", "OS Version": "13.6", "Device Name": "MacBook Air", "Make": "Apple", "Model": "Mac14,2"},
)


@dataclass(frozen=True)
class Step:
    """One thing a user did: a screen (with its page load) or an event, at a moment."""

    at: datetime
    kind: str  # "screen", "page_load" or "event"
    name: str
    attributes: dict[str, Any]


@dataclass
class User:
    user_id: str
    name: str
    account: Account
    role: str
    device: dict[str, str]
    modules: tuple[str, ...]  # the parts of the product this user works in
    visits: list[list[Step]] = field(default_factory=list)

    @property
    def steps(self) -> Iterator[Step]:
        for visit in self.visits:
            yield from visit


def _load_time(rng: random.Random, page: Page) -> float:
    """Log-normal around the page's median: most loads near it, a few several times slower."""
    return round(page.median_ms * rng.lognormvariate(0.0, 0.45), 1)


def _visit(rng: random.Random, user: User, start: datetime) -> list[Step]:
    """A session of minutes: a few screens, each with its page load, and the module's events."""
    steps: list[Step] = []
    now = start
    page = PAGES[0]
    for _ in range(rng.randint(3, 9)):
        module = rng.choice(user.modules)
        page = rng.choice(PAGE_BY_MODULE.get(module, [PAGES[0]]))
        steps.append(Step(now, "screen", page.screen, {"Module": page.module}))
        load = _load_time(rng, page)
        steps.append(
            Step(
                now + timedelta(milliseconds=load),
                "page_load",
                page.url,
                {"loadTime": load, "requestCount": rng.randint(4, 30)},
            )
        )
        now += timedelta(seconds=rng.uniform(5, 20))
        actions = rng.choice((0, 1, 1, 2, 3)) if page.module in BUSY_MODULES else rng.choice((0, 0, 0, 1))
        for _ in range(actions):
            if page.module not in ACTIONS:
                break
            name, choices = rng.choice(ACTIONS[page.module])
            attributes = {"Module": page.module, **{k: rng.choice(v) for k, v in choices.items()}}
            steps.append(Step(now, "event", name, attributes))
            now += timedelta(seconds=rng.uniform(10, 90))
        now += timedelta(seconds=rng.uniform(15, 120))
    return steps


def generate(
    *, days: int = 28, users_per_account: int = 6, end: datetime | None = None, seed: int = 7
) -> list[User]:
    """Users of every account, each with ``days`` days of visits up to ``end`` (now).

    Nothing is later than ``end``; visits fall in each user's working hours (UTC offsets vary).
    """
    rng = random.Random(seed)
    end = (end or datetime.now(timezone.utc)).astimezone(timezone.utc)
    first_day = (end - timedelta(days=days - 1)).replace(hour=0, minute=0, second=0, microsecond=0)
    users: list[User] = []
    names = iter(FIRST_NAMES * (1 + users_per_account * len(ACCOUNTS) // len(FIRST_NAMES)))
    for account in ACCOUNTS:
        for number in range(users_per_account):
            first = next(names)
            user_id = f"{first.lower()}.{number}@{account.account_id}.example"
            modules = tuple(rng.sample(list(ACTIONS), k=rng.randint(2, 4)))
            user = User(
                user_id,
                f"{first} {chr(65 + rng.randrange(26))}.",
                account,
                rng.choice(ROLES),
                dict(rng.choice(DEVICES)),
                modules,
            )
            habit = rng.uniform(0.35, 0.9)  # chance of coming back on a weekday
            joined = rng.choice((0, 0, 0, 0, rng.randrange(days)))  # most were there from the start
            left = rng.choice((days, days, days, days, days - rng.randrange(1, days // 2)))
            offset = rng.choice((-5, 0, 1, 2, 5.5))  # their time zone, hours from UTC
            for day in range(joined, max(joined + 1, left)):
                date = first_day + timedelta(days=day)
                chance = habit if date.weekday() < 5 else habit / 5
                if not (day == joined and joined > 0) and rng.random() > chance:
                    continue
                for _ in range(rng.choice((1, 1, 1, 2, 3))):
                    local_hour = rng.uniform(8, 18)
                    start = date + timedelta(hours=local_hour - offset)
                    visit = _visit(rng, user, start)
                    if visit[-1].at <= end:  # a visit still under way "now" is left out whole
                        user.visits.append(visit)
            user.visits.sort(key=lambda visit: visit[0].at)
            users.append(user)
    return users
