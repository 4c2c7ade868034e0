"""A worker cut off by a network partition: its Postgres session must end in under a minute, not the two hours
Linux keeps a silent TCP connection by default, so that nothing it holds outlives it.

For real, with no mock: a Postgres of its own for this test (initdb in a temporary folder) listening on one end of
a veth pair, and a client in a network namespace at the other end that connects with a worker's settings
(`postgres_connect_args(..., "worker")`) and then sits idle, as a worker between two lease renewals does. The
partition is the namespace's end of the link going down: no packet crosses, no RST or FIN is ever sent. Only the
server's keepalive probes can tell that the peer is gone. Needs root (namespaces, links); CI runs as root.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from app.core.config import Settings
from app.core.db import KEEPALIVE_INTERVAL_SECONDS, KEEPALIVE_PROBES
from tests.conftest import ROOT, free_port, wait_for

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces and links need root")

CLIENT = """
import sys, time, psycopg
from app.core.config import Settings
from app.core.db import postgres_connect_args
args = postgres_connect_args(Settings(), "worker", "partitioned")
conn = psycopg.connect(host=sys.argv[1], port=int(sys.argv[2]), user="postgres", dbname="postgres", autocommit=True,
                       **args)
conn.execute("SELECT 1")
print("connected", flush=True)
time.sleep(600)
"""


def _run(*command: str) -> None:
    subprocess.run(command, check=True, capture_output=True, timeout=60)


@pytest.fixture
def link() -> Iterator[dict]:
    """A network namespace joined to this one by a veth pair: {'ns', 'host_ip', 'ns_ip', 'ns_dev'}."""
    tag = f"{os.getpid() % 100_000}"
    ns, host_dev, ns_dev = f"synthd-part-{tag}", f"sdh{tag}", f"sdn{tag}"
    octet = os.getpid() % 250 + 1
    host_ip, ns_ip = f"10.213.{octet}.1", f"10.213.{octet}.2"
    _run("ip", "netns", "add", ns)
    try:
        _run("ip", "link", "add", host_dev, "type", "veth", "peer", "name", ns_dev)
        _run("ip", "link", "set", ns_dev, "netns", ns)
        _run("ip", "addr", "add", f"{host_ip}/30", "dev", host_dev)
        _run("ip", "link", "set", host_dev, "up")
        _run("ip", "netns", "exec", ns, "ip", "addr", "add", f"{ns_ip}/30", "dev", ns_dev)
        _run("ip", "netns", "exec", ns, "ip", "link", "set", ns_dev, "up")
        _run("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up")
        yield {"ns": ns, "host_ip": host_ip, "ns_ip": ns_ip, "ns_dev": ns_dev}
    finally:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)  # takes the veth pair with it


@pytest.fixture
def postgres_on(link: dict) -> Iterator[dict]:
    """A throwaway Postgres cluster listening on the host's end of the link: {'host', 'port'}."""
    binaries = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    assert binaries, "this test needs PostgreSQL's server binaries (initdb, pg_ctl) under /usr/lib/postgresql"
    bin_dir = Path(binaries[-1]).parent
    folder = Path(tempfile.mkdtemp(prefix="synthd-partition-"))
    shutil.chown(folder, "postgres")
    data, port = folder / "data", free_port()
    as_postgres = ["runuser", "-u", "postgres", "--"]
    try:
        _run(*as_postgres, str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust")
        with open(data / "pg_hba.conf", "a") as hba:
            hba.write("host all all 10.213.0.0/16 trust\n")
        _run(*as_postgres, str(bin_dir / "pg_ctl"), "-D", str(data), "-w", "-l", str(folder / "log"), "-o",
             f"-c listen_addresses={link['host_ip']} -p {port} -c unix_socket_directories={folder}", "start")
        yield {"host": link["host_ip"], "port": port}
    finally:
        subprocess.run([*as_postgres, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                       capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)


def test_a_partitioned_worker_s_session_ends_within_a_minute(link, postgres_on):  # noqa: ANN001
    settings = Settings()
    admin = psycopg.connect(host=postgres_on["host"], port=postgres_on["port"], user="postgres", dbname="postgres",
                            autocommit=True)
    client = subprocess.Popen(["ip", "netns", "exec", link["ns"], sys.executable, "-c", CLIENT, postgres_on["host"],
                               str(postgres_on["port"])], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True)
    try:
        assert client.stdout.readline().strip() == "connected", client.stdout.read()

        def sessions() -> int:
            return admin.execute("SELECT count(*) FROM pg_stat_activity "
                                 "WHERE application_name = 'synthd-worker:partitioned'").fetchone()[0]

        assert sessions() == 1
        _run("ip", "netns", "exec", link["ns"], "ip", "link", "set", link["ns_dev"], "down")
        cut = time.monotonic()
        wait_for(lambda: sessions() == 0, 60, "Postgres to end the partitioned worker's session", interval=0.5)
        ended = time.monotonic() - cut
    finally:
        client.kill()
        client.wait(timeout=10)
        admin.close()
    dead_after = settings.db_keepalive_seconds + KEEPALIVE_INTERVAL_SECONDS * KEEPALIVE_PROBES
    assert ended <= dead_after + 5, f"the session ended {ended:.0f}s after the partition (keepalives: {dead_after}s)"
