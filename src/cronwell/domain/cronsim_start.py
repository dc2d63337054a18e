"""Starting a parsed ``cronsim.CronSim`` at another instant: the one place cronwell relies on
cronsim's internals.

``CronSim(fields, start)`` parses ``fields`` each time, and parsing is much of the cost of
a next-fire computation. :func:`sim_at` instead copies an already parsed template and sets
the start state that ``CronSim.__init__`` would set: the instant, the direction, and
Debian cron's fixed-time DST handling (a five-field expression with a fixed minute and hour
in a zone other than UTC walks local wall time).

The copy needs the attributes ``__init__`` sets in cronsim 2.8 and 2.9. A cronsim whose
instances lack them gets the public constructor instead (:data:`COPIES`), so a new cronsim
costs speed, never correctness; ``tests/unit/test_cronsim_start.py`` compares both ways
over many expressions, zones and DST changes, and fails if they ever disagree.
"""

from __future__ import annotations

from datetime import UTC, datetime

from cronsim import CronSim

_STATE = frozenset({"skip_initial_tick", "tick_direction", "dt", "fixup_tz", "parts"})


def _copyable() -> bool:
    probe = CronSim("0 8 * * *", datetime(2000, 1, 1, tzinfo=UTC))
    return _STATE.issubset(vars(probe))


COPIES: bool = _copyable()
"""Whether :func:`sim_at` copies templates (this cronsim has the expected internals)."""


def sim_at(template: CronSim, fields: str, start: datetime) -> CronSim:
    """What ``CronSim(fields, start)`` returns, from ``template``, an instance parsed from
    the same ``fields``, without parsing them again."""
    if not COPIES:
        return CronSim(fields, start)
    sim = object.__new__(CronSim)
    sim.__dict__.update(template.__dict__)
    sim.skip_initial_tick = False
    sim.tick_direction = 1
    sim.dt = start.replace(microsecond=0)
    sim.fixup_tz = None
    parts = template.parts
    if (
        sim.dt.tzinfo not in (None, UTC)
        and not parts[1].startswith("*")
        and not parts[2].startswith("*")
        and len(fields.split()) == 5
    ):
        sim.fixup_tz = sim.dt.tzinfo
        sim.dt = sim.dt.replace(tzinfo=None)
    return sim
