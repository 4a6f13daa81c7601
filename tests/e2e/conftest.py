"""A real Celery worker for end-to-end tests, on the test database and a private broker.

``celery_worker_process`` (package-scoped: tests/e2e only) starts ``celery -A helpdesk worker`` as a
subprocess once the test database exists, and stops it before the database is dropped.

* Database: pytest-django has already pointed ``connection.settings_dict`` at the test
  database (``test_<name>`` on Postgres, ``DATABASES["default"]["TEST"]["NAME"]`` on
  SQLite), so the worker gets a ``DATABASE_URL`` built from it.
* Broker: ``CELERY_BROKER_URL`` from the environment (Redis, RabbitMQ ...) is shared as
  is, after purging leftovers. The default filesystem broker gets fresh folders in a
  temporary directory: the worker through ``CELERY_BROKER_DIR`` (read by settings), this
  process by rewriting the app's transport options. So a ``make run`` worker on the same
  tree never steals the tests' messages.
* Beat (``-B``) uses celery's file-based scheduler in the temporary directory rather than
  ``django_celery_beat``'s tables, which every transactional test flushes.

If an e2e test fails, the report has a "celery worker log" section with what the worker
logged during that test.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection

BASE_DIR = Path(__file__).resolve().parents[2]  # the project root, where helpdesk/ is
READY_TIMEOUT = float(os.environ.get("E2E_WORKER_READY_TIMEOUT", "60"))
# "prefork" is what production runs; "threads" starts faster.
WORKER_POOL = os.environ.get("E2E_WORKER_POOL", "prefork")
WORKER_BEAT = os.environ.get("E2E_WORKER_BEAT", "1") not in {"0", "false", "no", ""}

_worker_log_key = pytest.StashKey[tuple["WorkerProcess", int]]()


@dataclass
class WorkerProcess:
    """The worker subprocess, its log and the environment it was given."""

    process: subprocess.Popen
    log_path: Path
    env: dict[str, str] = field(repr=False)

    def log_size(self) -> int:
        return self.log_path.stat().st_size if self.log_path.exists() else 0

    def log_text(self, since: int = 0) -> str:
        if not self.log_path.exists():
            return ""
        with self.log_path.open("rb") as log:
            log.seek(since)
            return log.read().decode(errors="replace")

    def assert_alive(self) -> None:
        code = self.process.poll()
        assert code is None, f"the Celery worker exited with code {code}:\n{self.log_text()[-5000:]}"

    def stop(self, timeout: float = 15) -> None:
        """Warm shutdown (SIGTERM) of the worker's process group, SIGKILL if it lingers."""
        if self.process.poll() is None:
            _signal_group(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                _signal_group(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=timeout)
        # Pool children or the beat process may outlive a killed parent: end the group.
        _signal_group(self.process.pid, signal.SIGKILL)


def _signal_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def worker_database_url() -> str:
    """A ``DATABASE_URL`` for the database this process uses now: the test database."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        name = str(db["NAME"])
        if name in ("", ":memory:") or "mode=memory" in name:
            pytest.fail("e2e tests need a file SQLite test database that a worker process can open")
        return f"sqlite:///{Path(name).resolve()}"
    if connection.vendor == "postgresql":
        auth = quote(db.get("USER") or "", safe="")
        if db.get("PASSWORD"):
            auth += ":" + quote(db["PASSWORD"], safe="")
        host = db.get("HOST") or ""
        # A socket directory goes percent-encoded in the host part.
        netloc = quote(host, safe="") if host.startswith("/") else host
        if db.get("PORT"):
            netloc += f":{db['PORT']}"
        if auth:
            netloc = f"{auth}@{netloc}"
        url = f"postgres://{netloc}/{quote(str(db['NAME']), safe='')}"
        sslmode = (db.get("OPTIONS") or {}).get("sslmode")
        return f"{url}?sslmode={sslmode}" if sslmode else url
    pytest.fail(f"e2e tests do not know how to hand a {connection.vendor} database to the worker")


def _use_private_filesystem_broker(app, broker_dir: Path) -> None:
    """Point this process's producer at the broker folders the worker will use.

    The worker gets the same folders from settings through ``CELERY_BROKER_DIR``.
    """
    for sub in ("out", "processed", "control"):
        (broker_dir / sub).mkdir(parents=True, exist_ok=True)
    app.conf.broker_transport_options = {
        **(getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", None) or {}),
        "data_folder_in": str(broker_dir / "out"),
        "data_folder_out": str(broker_dir / "out"),
        "processed_folder": str(broker_dir / "processed"),
        "control_folder": str(broker_dir / "control"),
    }
    _reset_producer_pool(app)


def _reset_producer_pool(app) -> None:
    """Forget connections made with the old broker options; the next publish makes new ones.

    kombu also keeps producer pools in a global registry keyed by connection: cleared too, or
    the next publish would take a pool whose connections were just closed.
    """
    from kombu import pools

    if app._pool is not None:
        app._pool.force_close_all()
        app._pool = None
    amqp = app.__dict__.get("amqp")
    if amqp is not None:
        amqp._producer_pool = None
    pools.reset()


def _purge_broker(app) -> None:
    """Drop messages left by an earlier, interrupted run (Redis keeps them across runs)."""
    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=3)
        app.control.purge(connection=conn)
        if conn.transport.driver_type == "redis":
            # Unacknowledged messages of a killed worker would be redelivered later.
            client = conn.default_channel.client
            client.delete("unacked", "unacked_index", "unacked_mutex")


def worker_env(django_db_blocker) -> dict[str, str]:
    """The environment of a worker on the test database: this one's, minus eager tasks."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("CELERY_TASK_ALWAYS_EAGER")}
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)  # set by the browser tests for their own thread only
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": os.environ.get("DJANGO_SETTINGS_MODULE", "helpdesk.settings"),
            "PYTHONPATH": os.pathsep.join(filter(None, [str(BASE_DIR), os.environ.get("PYTHONPATH")])),
            "PYTHONUNBUFFERED": "1",
        }
    )
    with django_db_blocker.unblock():
        env["DATABASE_URL"] = worker_database_url()
    return env


@contextlib.contextmanager
def worker_broker(app, directory: Path, env: dict[str, str]) -> Iterator[None]:
    """The broker a test worker and this process share, and its clean-up.

    The filesystem broker gets private folders under ``directory`` (for the worker through
    ``env``, for this process through the app's options), given back afterwards. A shared
    broker (Redis, RabbitMQ) is used as it is, purged of leftovers; its connection pool is left
    alone, since the tests that run next publish through it.
    """
    private = settings.CELERY_BROKER_URL.startswith("filesystem://")
    saved_options = app.conf.broker_transport_options
    if private:
        env["CELERY_BROKER_DIR"] = str(directory / "broker")
        _use_private_filesystem_broker(app, directory / "broker")
    else:
        env["CELERY_BROKER_URL"] = settings.CELERY_BROKER_URL
    _purge_broker(app)
    try:
        yield
    finally:
        if private:
            app.conf.broker_transport_options = saved_options
            _reset_producer_pool(app)


# Package scope: the worker stops once tests/e2e is done, so that it never takes (and runs) the
# tasks that later unit tests enqueue on a shared broker such as Redis.
@pytest.fixture(scope="package")
def celery_worker_process(django_db_setup, django_db_blocker, tmp_path_factory) -> Iterator[WorkerProcess]:
    from helpdesk.celery import app

    tmp = tmp_path_factory.mktemp("celery-worker")
    env = worker_env(django_db_blocker)
    with worker_broker(app, tmp, env):
        worker = launch_worker(env, tmp, name="e2e", beat=WORKER_BEAT)
        try:
            yield worker
        finally:
            worker.stop()


def _wait_until_ready(worker: WorkerProcess) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if worker.process.poll() is not None:
            pytest.fail(
                f"the Celery worker exited with code {worker.process.returncode} while starting:\n"
                f"{worker.log_text()[-10000:]}",
                pytrace=False,
            )
        # celery.apps.worker logs "<hostname> ready." once it consumes.
        if " ready." in worker.log_text():
            return
        time.sleep(0.1)
    worker.stop()
    pytest.fail(
        f"the Celery worker was not ready after {READY_TIMEOUT:g}s:\n{worker.log_text()[-10000:]}", pytrace=False
    )


@pytest.fixture(autouse=True)
def _mark_worker_log(request) -> None:
    """Remember where the worker's log stood when this test started (for the report)."""
    if "celery_worker_process" in request.fixturenames:
        worker: WorkerProcess = request.getfixturevalue("celery_worker_process")
        worker.assert_alive()
        request.node.stash[_worker_log_key] = (worker, worker.log_size())


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    marked = item.stash.get(_worker_log_key, None)
    if marked is not None and report.failed:
        worker, since = marked
        text = worker.log_text(since)
        if worker.process.poll() is not None:
            text += f"\n[the worker has exited with code {worker.process.returncode}]"
        report.sections.append(("celery worker log", text[-20000:] or "(nothing logged during this test)"))
    return report


# --- More workers: a test may start (and kill) workers of its own ---------------------------------
# Additive helpers for tests/e2e/test_exactly_once.py; the session worker above is unchanged.


def worker_hostname(worker: WorkerProcess) -> str:
    """The node name the worker answers remote control to, e.g. ``e2e-1a2b3c4d@myhost``."""
    import socket

    args = list(worker.process.args)
    return args[args.index("--hostname") + 1].replace("%h", socket.gethostname())


def launch_worker(
    env: dict[str, str],
    directory: Path,
    *,
    name: str = "e2e-extra",
    pool: str = WORKER_POOL,
    concurrency: int = 2,
    beat: bool = True,
) -> WorkerProcess:
    """Start one more ``celery -A helpdesk worker`` like the session one (same database and broker
    when given the session worker's ``env``), in its own process group, and wait until it consumes.

    The caller stops it (``WorkerProcess.stop``) or kills it (``kill_worker``).
    """
    directory.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable, "-m", "celery", "-A", "helpdesk", "worker",
        "--loglevel", "info",
        "--hostname", f"{name}-{uuid.uuid4().hex[:8]}@%h",
        "--pool", pool,
        "--concurrency", str(concurrency),
        "--without-gossip", "--without-mingle", "--without-heartbeat",
    ]  # fmt: skip
    if beat:
        command += [
            "--beat",
            "--scheduler", "celery.beat:PersistentScheduler",
            "--schedule-filename", str(directory / "celerybeat-schedule"),
        ]  # fmt: skip
    log_path = directory / "worker.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, cwd=directory, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
    worker = WorkerProcess(process=process, log_path=log_path, env=env)
    _wait_until_ready(worker)
    return worker


def kill_worker(worker: WorkerProcess) -> None:
    """SIGKILL the worker's whole process group (main process, pool children, embedded beat): a crash."""
    _signal_group(worker.process.pid, signal.SIGKILL)
    worker.process.wait(timeout=15)


def pause_consuming(app, hostname: str, queue: str | None = None) -> None:
    """Ask a running worker to stop taking messages from ``queue`` (remote control, with reply)."""
    queue = queue or app.conf.task_default_queue
    replies = app.control.cancel_consumer(queue, destination=[hostname], reply=True, timeout=10)
    assert replies, f"worker {hostname} did not answer cancel_consumer"


def resume_consuming(app, hostname: str, queue: str | None = None) -> None:
    queue = queue or app.conf.task_default_queue
    replies = app.control.add_consumer(queue, destination=[hostname], reply=True, timeout=10)
    assert replies, f"worker {hostname} did not answer add_consumer"


def purge_broker(app) -> None:
    """Drop every queued message, and on Redis the unacknowledged ones too (lost broker messages)."""
    _purge_broker(app)


def redeliver_unacked(app) -> int:
    """Redis only: put the unacknowledged messages back in their queue now, as Redis does by itself
    once the visibility timeout (1 h by default) has passed for a worker that died holding them.

    Returns how many were restored (0 on brokers without an unacked set).
    """
    from kombu import Connection

    with app.connection_for_write() as probe:
        if probe.transport.driver_type != "redis":
            return 0
    with Connection(app.conf.broker_url, transport_options={"visibility_timeout": 0}) as conn:
        channel = conn.default_channel
        client = channel.client
        count = client.zcard(channel.unacked_index_key)
        channel.qos.restore_visible(num=1000, interval=1)
    return count
