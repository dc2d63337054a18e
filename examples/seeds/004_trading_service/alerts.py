"""The trading service's scheduled work: evaluate price alerts against market data, with
rearm (an alert that fired stays quiet until the price crosses back).

The business logic the seed had; everything around it (schedules from a file, retries with
exponential backoff, timeouts, history, delivery of what fired, health, reload, CLI) is
cronwell's now. Market data comes from a JSON file of last prices (``TRADING_PRICES``);
the rules and their armed state live in ``TRADING_ALERTS`` (JSON), written atomically.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from cronwell import RunContext


def _load(variable: str) -> tuple[Path, Any]:
    path = Path(os.environ[variable])
    return path, json.loads(path.read_text())


def evaluate_alerts(ctx: RunContext) -> list[dict[str, Any]] | None:
    """Check every armed rule against the last price; return the alerts that fired (cronwell
    delivers them to the notification service; nothing when none fired) and disarm those
    until the price crosses back."""
    _, prices = _load("TRADING_PRICES")
    rules_path, rules = _load("TRADING_ALERTS")
    fired = []
    for rule in rules:
        price = prices[rule["symbol"]]
        beyond = price > rule["level"] if rule["when"] == "above" else price < rule["level"]
        if beyond and rule.get("armed", True):
            fired.append({"symbol": rule["symbol"], "price": price, **_rule_text(rule)})
        rule["armed"] = not beyond  # rearm once the price is back on the other side
    staged = rules_path.with_suffix(".tmp")
    staged.write_text(json.dumps(rules, indent=2))
    staged.replace(rules_path)
    ctx.report(rules=len(rules), fired=len(fired))
    return fired or None


def _rule_text(rule: dict[str, Any]) -> dict[str, str]:
    return {"rule": f"{rule['symbol']} {rule['when']} {rule['level']}"}
