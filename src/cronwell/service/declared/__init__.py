"""Tasks as code: documents of task definitions (TOML, YAML, JSON), their validation,
plans against the database and their application, exports that read back unchanged.

:class:`~cronwell.service.TaskService` holds the use cases (``validate``, ``plan``,
``apply``, ``export``); this package holds their parts, none of which touches a database.
"""

from cronwell.service.declared.checks import check_definitions
from cronwell.service.declared.documents import (
    FORMATS,
    Definition,
    DocumentError,
    Problem,
    definitions_from_data,
    load_documents,
    read_documents,
)
from cronwell.service.declared.dump import Format, dump_document, export_definition
from cronwell.service.declared.plan import Change, Plan
from cronwell.service.declared.schema import document_schema, schema_text

__all__ = [
    "FORMATS",
    "Change",
    "Definition",
    "DocumentError",
    "Format",
    "Plan",
    "Problem",
    "check_definitions",
    "definitions_from_data",
    "document_schema",
    "dump_document",
    "export_definition",
    "load_documents",
    "read_documents",
    "schema_text",
]
