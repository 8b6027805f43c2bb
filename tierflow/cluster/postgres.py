"""The cluster's private PostgreSQL: Debian's binaries (``make postgresql`` installs them where
they are missing), a data directory of its own, initialized once, listening on 127.0.0.1 only
with password (SCRAM) authentication, started and stopped with ``pg_ctl``. PostgreSQL refuses
to run as root, so as root every command runs as the ``postgres`` user (``nobody`` where there
is none), through ``runuser``."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

_TOOLS = ("initdb", "pg_ctl", "postgres")


class PostgresUnavailableError(RuntimeError):
    """PostgreSQL's programs are not installed, or the server would not start."""


def _bin_dir() -> Path:
    """The newest of Debian's /usr/lib/postgresql/N/bin, else the directory on PATH."""
    versions = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    for candidate in reversed(versions):
        if all((candidate / tool).exists() for tool in _TOOLS):
            return candidate
    found = shutil.which("pg_ctl")
    if found and shutil.which("initdb"):
        return Path(found).parent
    raise PostgresUnavailableError(
        "PostgreSQL is not installed: run `make postgresql` (Debian's postgresql package, "
        "through apt-get) and rerun"
    )


@dataclass(frozen=True)
class Postgres:
    directory: Path  # holds data/, the log and the socket
    port: int

    @property
    def data_dir(self) -> Path:
        return self.directory / "data"

    @property
    def log_file(self) -> Path:
        return self.directory / "postgresql.log"

    @property
    def initialized(self) -> bool:
        return (self.data_dir / "PG_VERSION").exists()

    def _user(self) -> str | None:
        """Whom to run as: None for the current user, unless that is root."""
        if os.geteuid() != 0:
            return None
        for name in ("postgres", "nobody"):
            try:
                pwd.getpwnam(name)
            except KeyError:
                continue
            return name
        raise PostgresUnavailableError("running as root, and no unprivileged user to run as")

    def _run(
        self, tool: str, *args: str, check: bool = True, quiet: bool = False
    ) -> subprocess.CompletedProcess[str]:
        command = [str(_bin_dir() / tool), *args]
        user = self._user()
        if user is not None:
            command = ["runuser", "-u", user, "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if check and result.returncode != 0:
            detail = (result.stderr or result.stdout).strip().splitlines()
            raise PostgresUnavailableError(
                f"PostgreSQL's {tool} failed: {detail[-1] if detail else result.returncode}; "
                f"see {self.log_file}"
            )
        return result

    def initialize(self, user: str, password: str) -> None:
        """``initdb`` once: the superuser ``user`` with ``password``, SCRAM on every login."""
        self.directory.mkdir(parents=True, exist_ok=True)
        os.chmod(self.directory, 0o700)
        owner = self._user()
        if owner is not None:
            entry = pwd.getpwnam(owner)
            os.chown(self.directory, entry.pw_uid, entry.pw_gid)
        password_file = self.directory / "initdb-password"
        fd = os.open(password_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(password + "\n")
        if owner is not None:
            entry = pwd.getpwnam(owner)
            os.chown(password_file, entry.pw_uid, entry.pw_gid)
        try:
            self._run(
                "initdb",
                "-D",
                str(self.data_dir),
                "-U",
                user,
                f"--pwfile={password_file}",
                "--auth=scram-sha-256",
                "--encoding=UTF8",
                "--no-locale",
            )
        finally:
            password_file.unlink(missing_ok=True)

    def running(self) -> bool:
        if not self.initialized:
            return False
        return self._run("pg_ctl", "status", "-D", str(self.data_dir), check=False).returncode == 0

    def start(self) -> None:
        """Start and wait until it accepts connections (``pg_ctl -w``)."""
        if self.running():
            return
        options = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.directory} "
            # Enough for five server processes' pools (20 + 10 each) and the SQL tool.
            "-c max_connections=300"
        )
        self._run(
            "pg_ctl",
            "start",
            "-D",
            str(self.data_dir),
            "-l",
            str(self.log_file),
            "-w",
            "-t",
            "60",
            "-o",
            options,
        )

    def stop(self) -> None:
        """Stop it (``-m fast``: disconnect clients, checkpoint, exit); nothing when stopped."""
        if self.running():
            self._run("pg_ctl", "stop", "-D", str(self.data_dir), "-m", "fast", "-w", "-t", "60")

    def restart(self) -> None:
        self.stop()
        self.start()
