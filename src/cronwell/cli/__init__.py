"""The ``cronwell`` command line (Typer + Rich)."""
