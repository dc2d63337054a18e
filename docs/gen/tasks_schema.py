"""``docs/reference/tasks.schema.json`` (the JSON Schema ``cronwell schema`` prints) and
``docs/reference/tasks-documents.md``, the keys of a tasks document read from that schema."""

from __future__ import annotations

import json

from docs.gen import generated_note
from docs.gen.schema_words import schema_section

INTRO = """\
# Tasks documents reference

{note}

A tasks document is a list of task definitions under `tasks`, in TOML, YAML or JSON
(`cronwell validate`, `plan`, `apply`, `import`, `serve --tasks`, `POST /api/v1/apply`);
YAML and JSON may also be a bare list. `cronwell export` writes one. How to work with them:
[manage tasks as code](../how-to/tasks-as-code.md).

The JSON Schema is [tasks.schema.json](tasks.schema.json) (`cronwell schema` prints the
same). Point an editor at it for completion and checks as you type: in YAML, a first line
`# yaml-language-server: $schema=https://cronwell.dev/schema/tasks.schema.json` with the
address of your copy; in JSON, a `"$schema"` key.

A task names its schedule either as `schedule` (one of the [schedule
kinds](#schema-cronschedule)) or as exactly one shorthand: `cron`, `every`, `at`,
`daily`, `weekly` or `monthly`. Durations are seconds or text such as `90s`, `15m`,
`1h30m`. The keys cronwell writes about a task but does not take from a definition
(`version`, `created_at`, `updated_at`, `paused_reason`, `consecutive_failures`, `source`,
`next_run`, `schedule_description`) are accepted and ignored, so that what `cronwell tasks
list --json` prints loads back.

"""


def render() -> str:
    from cronwell.service.declared import schema_text

    return schema_text()


def render_page() -> str:
    schema = json.loads(render())
    definitions = schema.get("$defs", {})
    out = [INTRO.format(note=generated_note("the JSON Schema of `cronwell schema`"))]
    order = ["Task"] + [name for name in definitions if name != "Task"]
    for name in order:
        out.extend(schema_section(name, definitions[name], level="##"))
    return "\n".join(out).rstrip() + "\n"
