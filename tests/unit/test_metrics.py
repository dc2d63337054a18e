"""Metrics read at scrape time keep answering when the database does not."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from cronwell.errors import DatabaseUnavailableError
from cronwell.runtime.metrics import Metrics


def test_a_database_outage_shows_as_down_not_as_an_error() -> None:
    def unreachable(_enabled: bool | None) -> int:
        raise DatabaseUnavailableError("Cannot reach the database sqlite:///x.db: gone")

    metrics = Metrics(
        instance_id="m-1", count_tasks=unreachable, is_leader=lambda: False, alerts=lambda: (3, 1)
    )
    families = {f.name: f for f in text_string_to_metric_families(metrics.exposition().decode())}
    assert families["cronwell_database_up"].samples[0].value == 0
    assert "cronwell_tasks" not in families
    assert families["cronwell_alerts_sent"].samples[0].value == 3
    assert families["cronwell_alerts_failed"].samples[0].value == 1
    assert families["cronwell_leader"].samples[0].labels == {"instance_id": "m-1"}
