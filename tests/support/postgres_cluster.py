"""A throwaway PostgreSQL cluster in a temporary folder, for tests, the demo and benchmarks.

The cluster listens on 127.0.0.1 only, on a free port, and is removed when
stopped. When run as root, the server runs as the ``postgres`` user, since
PostgreSQL refuses to run as root.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile

SUPERUSER = "generate_admin"
SUPERUSER_PASSWORD = "admin-pw-7Qz"


def _bin_dir():
    """Return the folder that holds initdb and pg_ctl (Debian keeps them out of PATH)."""
    found = shutil.which("pg_ctl")
    if found:
        return os.path.dirname(os.path.realpath(found))
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if not candidates:
        raise RuntimeError("PostgreSQL server binaries not found: install the postgresql package (see bindep.txt)")
    return os.path.dirname(candidates[-1])


def free_port():
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PostgresCluster:
    """A PostgreSQL server started with initdb and pg_ctl in a temporary folder."""

    def __init__(self, port=None, max_connections=200):
        self.port = port or free_port()
        self.max_connections = max_connections
        self.host = "127.0.0.1"
        self.user = SUPERUSER
        self.password = SUPERUSER_PASSWORD
        self.folder = None
        self._as_postgres = os.geteuid() == 0
        self._bin = _bin_dir()

    def _run(self, *args, check=True, **kwargs):
        command = [os.path.join(self._bin, args[0])] + list(args[1:])
        if self._as_postgres:
            command = ["runuser", "-u", "postgres", "--"] + command
        return subprocess.run(command, check=check, capture_output=True, text=True, **kwargs)

    @property
    def data_dir(self):
        """The cluster's data folder."""
        return os.path.join(self.folder, "data")

    def start(self):
        """Create the cluster and start the server; return self."""
        self.folder = tempfile.mkdtemp(prefix="generate-pg-")
        os.chmod(self.folder, 0o755)
        pwfile = os.path.join(self.folder, "pwfile")
        with open(pwfile, "w", encoding="utf-8") as handle:
            handle.write(self.password + "\n")
        if self._as_postgres:
            shutil.chown(self.folder, "postgres")
            shutil.chown(pwfile, "postgres")
        self._run(
            "initdb", "-D", self.data_dir, "-U", self.user, "--pwfile", pwfile,
            "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--no-sync",
        )
        self._start_server()
        return self

    def _start_server(self):
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={self.port} -k {self.folder} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
            f"-c max_connections={self.max_connections} -c shared_buffers=64MB"
        )
        self._run("pg_ctl", "-D", self.data_dir, "-o", options, "-l", os.path.join(self.folder, "server.log"),
                  "-w", "-t", "60", "start")

    def stop(self, mode="fast"):
        """Stop the server, keeping its files."""
        if self.folder and os.path.exists(os.path.join(self.data_dir, "postmaster.pid")):
            self._run("pg_ctl", "-D", self.data_dir, "-m", mode, "-w", "stop", check=False)

    def restart(self):
        """Start a stopped server again with the same settings."""
        self._start_server()

    def destroy(self):
        """Stop the server and remove its folder."""
        self.stop(mode="immediate")
        if self.folder:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None

    def psql(self, sql, database="postgres", check=True):
        """Run SQL with psql over the cluster's socket as the superuser; return stdout."""
        result = self._run("psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", self.folder,
                           "-p", str(self.port), "-U", self.user, "-d", database, "-c", sql, check=False)
        if check and result.returncode != 0:
            raise RuntimeError(f"psql failed: {result.stderr.strip()}")
        return result.stdout

    def connection_string(self, database, user=None, password=None):
        """An ODBC connection string for psqlODBC to a database of this cluster."""
        return (
            "DRIVER={PostgreSQL Unicode};SERVER=127.0.0.1;PORT=%d;DATABASE=%s;UID=%s;PWD={%s}"
            % (self.port, database, user or self.user, (password or self.password).replace("}", "}}"))
        )

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.destroy()
