"""Per-run output capture: the bounded buffer, the stream proxies and the log handler."""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
from typing import Any

import pytest

from cronwell.runners.capture import OutputBuffer, capture, current_buffer, install


def test_buffer_keeps_everything_under_the_limit() -> None:
    buffer = OutputBuffer(100)
    buffer.write("hello ")
    buffer.write("world\n")
    assert buffer.getvalue() == "hello world\n"
    assert buffer.dropped == 0
    assert buffer.size == 12


def test_buffer_keeps_the_tail_and_marks_the_cut() -> None:
    buffer = OutputBuffer(10)
    for i in range(10):
        buffer.write(f"line{i}\n")  # 6 bytes each, 60 in all
    assert buffer.getvalue() == "…[50 bytes truncated]\nne8\nline9\n"
    assert buffer.dropped == 50
    assert buffer.size == 10


def test_buffer_chunk_larger_than_the_limit() -> None:
    buffer = OutputBuffer(4)
    buffer.write("ab")
    buffer.write("0123456789")
    assert buffer.getvalue() == "…[8 bytes truncated]\n6789"


def test_buffer_never_starts_inside_a_utf8_character() -> None:
    buffer = OutputBuffer(5)
    buffer.write("ééé")  # 6 bytes: a cut at 5 would split the first é
    assert buffer.getvalue() == "…[2 bytes truncated]\néé"
    assert buffer.size == 4


def test_buffer_decodes_invalid_bytes_with_replacement() -> None:
    buffer = OutputBuffer(100)
    buffer.write_bytes(b"ok \xff\n")
    assert buffer.getvalue() == "ok \ufffd\n"


def test_buffer_stays_bounded_over_many_writes() -> None:
    buffer = OutputBuffer(1024)
    for _ in range(100_000):
        buffer.write("x" * 10)
    assert buffer.size == 1024
    assert buffer.dropped == 1_000_000 - 1024
    assert buffer.getvalue().endswith("x" * 1024)


def test_print_and_stderr_go_to_the_bound_buffer() -> None:
    buffer = OutputBuffer(1000)
    with capture(buffer):
        print("to stdout")
        print("to stderr", file=sys.stderr)
        sys.stdout.writelines(["a", "b\n"])
        assert current_buffer() is buffer
    assert current_buffer() is None
    assert buffer.getvalue() == "to stdout\nto stderr\nab\n"


def test_unbound_output_passes_through(capsys: pytest.CaptureFixture[str]) -> None:
    install()
    install()  # idempotent: one proxy, not two
    proxy: Any = sys.stdout
    assert not hasattr(proxy.original, "original")
    print("plain output")
    print("plain error", file=sys.stderr)
    out, err = capsys.readouterr()
    assert out == "plain output\n"
    assert err == "plain error\n"


def test_captured_output_does_not_pass_through(capsys: pytest.CaptureFixture[str]) -> None:
    buffer = OutputBuffer(1000)
    with capture(buffer):
        print("only in the buffer")
    print("after")
    out, _ = capsys.readouterr()
    assert out == "after\n"
    assert buffer.getvalue() == "only in the buffer\n"


def test_log_records_are_captured() -> None:
    buffer = OutputBuffer(10_000)
    task_logger = logging.getLogger("cronwell.task.capture-test")
    other_logger = logging.getLogger("capture_test.module")
    with capture(buffer):
        task_logger.info("processed %d rows", 3)
        other_logger.warning("something odd")
        try:
            raise ValueError("bad row")
        except ValueError:
            task_logger.exception("row failed")
    task_logger.info("not captured: unbound")
    lines = buffer.getvalue().splitlines()
    assert lines[0].endswith(" INFO cronwell.task.capture-test: processed 3 rows")
    assert lines[1].endswith(" WARNING capture_test.module: something odd")
    assert lines[2].endswith(" ERROR cronwell.task.capture-test: row failed")
    assert "ValueError: bad row" in buffer.getvalue()
    assert "not captured" not in buffer.getvalue()
    # a record reaching the handler through the task logger and the root logger is kept once
    assert buffer.getvalue().count("processed 3 rows") == 1


def test_task_records_are_captured_when_cronwell_logs_do_not_propagate() -> None:
    """The service's logging set-up stops "cronwell" records at the "cronwell" logger."""
    cronwell_logger = logging.getLogger("cronwell")
    saved = cronwell_logger.propagate
    cronwell_logger.propagate = False
    try:
        buffer = OutputBuffer(1000)
        with capture(buffer):
            logging.getLogger("cronwell.task.isolated").info("still here")
    finally:
        cronwell_logger.propagate = saved
    assert "INFO cronwell.task.isolated: still here" in buffer.getvalue()


def test_two_threads_capture_concurrently_without_mixing() -> None:
    barrier = threading.Barrier(2, timeout=10)
    buffers = {"a": OutputBuffer(100_000), "b": OutputBuffer(100_000)}
    errors: list[BaseException] = []

    def work(name: str) -> None:
        try:
            logger = logging.getLogger(f"cronwell.task.{name}")
            with capture(buffers[name]):
                for i in range(50):
                    barrier.wait()  # both threads write between the same two barriers
                    print(f"{name} print {i}")
                    logger.info("%s log %d", name, i)
        except BaseException as exc:
            errors.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=work, args=(name,)) for name in buffers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors
    for name, other in (("a", "b"), ("b", "a")):
        text = buffers[name].getvalue()
        assert f"{other} print" not in text
        assert f"{other} log" not in text
        assert text.count(f"{name} print ") == 50
        assert text.count(f"{name} log ") == 50
        assert f"{name} print 49\n" in text


def test_capture_is_bound_inside_asyncio_tasks() -> None:
    outer = OutputBuffer(1000)
    inner = OutputBuffer(1000)

    async def child() -> None:
        print("child task output")

    async def captured() -> None:
        with capture(inner):
            print("coroutine output")
            await asyncio.create_task(child())  # tasks copy the context: captured too

    async def main() -> None:
        await asyncio.gather(captured(), uncaptured())

    async def uncaptured() -> None:
        await asyncio.sleep(0)
        print("other task output")

    with capture(outer):
        asyncio.run(main())
    assert inner.getvalue() == "coroutine output\nchild task output\n"
    assert outer.getvalue() == "other task output\n"
