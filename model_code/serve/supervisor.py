"""Worker processes for `workers > 1`: one listening socket, N uvicorn servers sharing it.

uvicorn has a supervisor of its own; this one exists for three behaviours it lacks:
- the drain is bounded: after SIGTERM each worker gets `drain_timeout` to finish the requests
  it holds, then anything still running is killed, so the whole exit stays under 30 s;
- workers exit 0 after draining, and Ctrl+C (SIGINT to the whole process group) prints no
  tracebacks: each worker starts with stop handlers that uvicorn restores and re-raises into;
- a worker that dies after it started serving is replaced; one that dies before (an import
  error, an interpreter it cannot run) stops the server with exit 1, because its replacement
  would fail the same way, in a tight loop;
- workers never outlive the supervisor: if it is killed outright (SIGKILL, OOM killer), each
  worker drains and exits instead of holding the port as an orphan.
Each worker has a pipe to the supervisor (its lifeline): it reports "serving" through it once
it accepts connections (after its model load has finished, app.py), and end-of-file on it means
the supervisor is gone. Request limits and timeouts live in each worker's protocol (protocol.py),
not here.

Workers are spawned, not forked: a fresh interpreter per worker, nothing inherited from the
parent but the socket, the pipe and the environment.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import socket
import threading
import time
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from types import FrameType

import uvicorn

from model_code.exit_codes import EXIT_FAILED, EXIT_OK

logger = logging.getLogger("model_code.serve")

KILL_GRACE_SECONDS = 3
_SERVING = b"serving"


def ignore_stop_signals() -> None:
    """SIGTERM/SIGINT handlers that do nothing. uvicorn installs its own while serving, then
    restores these and re-raises the signal it got: with these, that re-raise is a no-op and the
    process exits normally instead of dying by the signal."""
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, _noop)


def _noop(_signum: int, _frame: FrameType | None) -> None:
    return None


class _ReportingServer(uvicorn.Server):
    """A uvicorn server that tells the supervisor once it is listening."""

    def __init__(self, config: uvicorn.Config, lifeline: Connection) -> None:
        super().__init__(config)
        self._lifeline = lifeline

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started:
            with contextlib.suppress(OSError):
                self._lifeline.send_bytes(_SERVING)


def _stop_when_orphaned(lifeline: Connection) -> None:
    """Block on the lifeline; when the supervisor is gone, stop this worker as SIGTERM would."""
    with contextlib.suppress(EOFError, OSError):
        while True:
            lifeline.recv_bytes()
    logger.error("the supervisor is gone; draining and exiting")
    os.kill(os.getpid(), signal.SIGTERM)


def worker_main(config: uvicorn.Config, sockets: list[socket.socket], lifeline: Connection) -> None:
    """A worker process: stop handlers, logging, then uvicorn on the shared socket."""
    ignore_stop_signals()
    config.configure_logging()
    threading.Thread(target=_stop_when_orphaned, args=(lifeline,), name="lifeline", daemon=True).start()
    _ReportingServer(config, lifeline).run(sockets=sockets)


class Supervisor:
    def __init__(self, config: uvicorn.Config, workers: int, drain_timeout: float) -> None:
        self.config = config
        self.size = workers
        self.drain_timeout = drain_timeout
        self.context = multiprocessing.get_context("spawn")
        self.processes: list[BaseProcess] = []
        self.lifelines: dict[int, Connection] = {}  # pid -> the supervisor's end, open while the worker lives
        self.waiting: dict[Connection, BaseProcess] = {}  # lifelines of workers not serving yet
        self.serving: set[int] = set()
        self.stop_signal: int | None = None
        self._wake_read, self._wake_write = os.pipe()
        os.set_blocking(self._wake_write, False)

    def run(self) -> int:
        multiprocessing.allow_connection_pickling()  # sockets travel to spawned workers
        sock = self.config.bind_socket()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self._on_signal)
        logger.info("starting %d workers", self.size, extra={"workers": self.size})
        self.processes = [self._start(sock) for _ in range(self.size)]
        code = self._watch(sock)
        sock.close()  # the workers hold their own copies; once they stop listening, connects are refused
        self._stop_all()
        return code

    def _start(self, sock: socket.socket) -> BaseProcess:
        ours, theirs = self.context.Pipe(duplex=True)
        process = self.context.Process(target=worker_main, args=(self.config, [sock], theirs), name="serve-worker")
        process.start()
        theirs.close()
        self.lifelines[process.pid] = ours
        self.waiting[ours] = process
        logger.info("worker %d started", process.pid, extra={"worker_pid": process.pid})
        return process

    def _watch(self, sock: socket.socket) -> int:
        while self.stop_signal is None:
            sentinels = {process.sentinel: index for index, process in enumerate(self.processes)}
            for handle in wait([*sentinels, *self.waiting, self._wake_read], timeout=5):
                if self.stop_signal is not None:
                    break
                if isinstance(handle, Connection):
                    self._note_serving(handle)
                elif handle in sentinels and not self._replace(sentinels[handle], sock):
                    return EXIT_FAILED
        logger.info(
            "%s received: draining requests in flight (up to %s s)",
            signal.Signals(self.stop_signal).name,
            self.drain_timeout,
        )
        return EXIT_OK

    def _note_serving(self, lifeline: Connection) -> None:
        process = self.waiting.pop(lifeline)
        with contextlib.suppress(EOFError, OSError):
            if lifeline.recv_bytes() == _SERVING:
                self.serving.add(process.pid)

    def _replace(self, index: int, sock: socket.socket) -> bool:
        """Replace a dead worker; False (stop the server) if it died before it was serving."""
        dead = self.processes[index]
        dead.join()
        for lifeline in [c for c, p in self.waiting.items() if p is dead]:
            if lifeline.poll():
                self._note_serving(lifeline)  # it reported just before dying
            else:
                del self.waiting[lifeline]
        self.lifelines.pop(dead.pid).close()
        fields = {"worker_pid": dead.pid, "exit_code": dead.exitcode}
        if dead.pid not in self.serving:
            logger.error(
                "worker %d exited with code %s before it was serving; stopping the server",
                *fields.values(),
                extra=fields,
            )
            return False
        self.serving.discard(dead.pid)
        logger.error("worker %d exited with code %s; starting a replacement", *fields.values(), extra=fields)
        self.processes[index] = self._start(sock)
        return True

    def _stop_all(self) -> None:
        for process in self.processes:
            if process.is_alive() and process.pid is not None:
                os.kill(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + self.drain_timeout + KILL_GRACE_SECONDS
        for process in self.processes:
            process.join(timeout=max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                logger.error("worker %d still running after the drain timeout; killing it", process.pid)
                process.kill()
                process.join()
        for lifeline in self.lifelines.values():
            lifeline.close()
        logger.info("all workers stopped")

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        if self.stop_signal is None:
            self.stop_signal = signum
        with contextlib.suppress(BlockingIOError):  # the pipe is full: the loop is awake anyway
            os.write(self._wake_write, b"x")
