"""The README's REST API examples run, in order, against the collector."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from usageanalytics.api import Client

README = Path(__file__).resolve().parents[2] / "README.md"


def _blocks() -> list[str]:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("<!-- section: rest-api -->") : text.index("<!-- end section: rest-api -->")]
    return re.findall(r"```python\n(.*?)```", section, re.S)


def test_every_python_example_runs(
    collector: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    monkeypatch.setenv("USAGEANALYTICS_ENDPOINT", collector.endpoint)
    monkeypatch.setenv("USAGEANALYTICS_APP_ID", "your-app-id")
    monkeypatch.setenv("USAGEANALYTICS_API_KEY", "api-test-key")
    intro, *blocks = _blocks()
    assert len(blocks) >= 7  # one per resource, plus async
    namespace: dict[str, Any] = {}
    exec(intro.replace('api_key="..."', 'api_key="api-test-key"'), namespace)
    with Client() as c:
        namespace["c"] = c  # the intro's client is closed by its with-block
        for block in blocks:
            if 'c.agents.delete("agent-uuid")' in block:
                # The example's UUID stands for one SmartKarrot assigned: use the collector's.
                exec(block.replace('c.agents.delete("agent-uuid")', ""), namespace)
                block = f'c.agents.delete("{collector.agents(app_id="your-app-id")[0]["agentId"]}")'
            exec(block, namespace)
    assert len(collector.customers(app_id="your-app-id")) == 1
    assert [u["user_id"] for u in collector.users(app_id="your-app-id")] == ["u-42"]
    assert len(collector.contacts(app_id="your-app-id")) == 2
    assert collector.agents(app_id="your-app-id") == []
    assert collector.tickets(app_id="your-app-id") == []
    assert "closed" in capsys.readouterr().out  # the tickets loop printed the updated ticket
