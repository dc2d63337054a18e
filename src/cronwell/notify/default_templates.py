"""The default alert templates (Jinja2, rendered with ``trim_blocks`` and ``lstrip_blocks``).

The context every template gets is documented in :func:`cronwell.notify.message.context`.
"""

from __future__ import annotations

TITLE = """\
{% set n = alert.failures %}
{{ emoji }} {% if event == "config_rejected" %}Tasks file rejected, nothing changed
{% elif not task %}{{ alert.title }}
{% elif event == "failed" %}{{ task }} failed
{% elif event == "recovered" %}{{ task }} recovered
{% if n %} after {{ n }} failure{{ "s" if n != 1 }}{% endif %}
{% elif event == "missed" %}{{ task }} missed
{% elif event == "timed_out" %}{{ task }} timed out
{% elif event == "auto_paused" %}{{ task }} paused
{% if n %} after {{ n }} failures{% else %} after repeated failures{% endif %}
{% elif event == "retrying" %}{{ task }} failed
{% if alert.attempt %} (attempt {{ alert.attempt }}){% endif %}, retrying
{% elif event == "succeeded" %}{{ task }} succeeded
{% elif event == "long_running" %}{{ task }} is still running
{% if duration %} after {{ duration }}{% endif %}
{% else %}{{ alert.title }}
{% endif %}
"""

BODY = """\
{% set show_id = alert.task_name and alert.task_id and alert.task_name != alert.task_id %}
{% if task %}
- **Task:** {{ task }}{% if show_id %} (`{{ alert.task_id }}`){% endif %}

{% endif %}
{% if alert.schedule %}
- **Schedule:** {{ alert.schedule }}
{% endif %}
{% if occurrence %}
- **Occurrence:** {{ occurrence }}
{% endif %}
{% if alert.attempt %}
- **Attempt:** {{ alert.attempt }}
{% endif %}
{% if duration %}
- **Duration:** {{ duration }}
{% endif %}
{% if event == "recovered" and alert.failures %}
- **Failed occurrences before this one:** {{ alert.failures }}
{% endif %}
{% if error %}
- **Error:** {{ error }}
{% endif %}
{% for key, value in alert.details.items() if "\n" not in value | string %}
- **{{ key }}:** {{ value }}
{% endfor %}
{% for key, value in alert.details.items() if "\n" in value | string %}

**{{ key | capitalize }}:**
{{ value | string | trim }}
{% endfor %}
{% if output %}

**Output**{% if output_truncated %} (end){% endif %}:
{{ output | fenced }}
{% endif %}
{% if alert.link %}

[Open the run]({{ alert.link }})
{% endif %}
"""
