"""The Python API page turns reST roles in docstrings into Markdown code spans."""

from __future__ import annotations

from docs.gen.griffe_roles import markdown_docstring


def test_a_role_becomes_a_code_span_of_the_name_sphinx_would_print() -> None:
    text = "See :class:`~cronwell.domain.Task` and :meth:`cronwell.Cronwell.start`."
    assert markdown_docstring(text) == "See `Task` and `cronwell.Cronwell.start`."


def test_literal_block_markers_go_and_the_block_stays() -> None:
    text = "Use it so::\n\n    cw.start()\n\nor this:\n\n::\n\n    cw.shutdown()"
    assert markdown_docstring(text) == (
        "Use it so:\n\n    cw.start()\n\nor this:\n\n\n    cw.shutdown()"
    )


def test_text_without_roles_is_left_alone() -> None:
    text = "``database_url`` defaults to ``sqlite:///cronwell.db``: a file."
    assert markdown_docstring(text) == text
