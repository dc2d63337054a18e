"""``python -m cronwell`` is the ``cronwell`` command."""

from cronwell.cli.main import main

main()
