"""The chaos harness: real ``cronwell serve`` processes on PostgreSQL put through faults
(``kill -9`` of the leader, SIGSTOP past the lease, a database outage, SIGKILL during
shell and child-process runs), with an execution ledger written by the actions themselves
and checked against the run history (``python -m benchmarks.chaos``; see README.md).

Importing this package stays cheap: shell actions run ``python -m benchmarks.chaos.ledger``.
"""
