"""The Debian packages iotrack needs, declared once, and the one installer of them.

``PACKAGES`` says, for each package, how to tell it is present (a command on PATH, a file, a
Python module), which feature needs it and which ``make`` targets. Everything that installs a
system package goes through :func:`ensure`: ``make setup``/``demo``/``test``/``system`` (through
the command line below), ``.ci/run`` (through ``make test``) and the local-service starters
(``streams.local.postgres``, ``streams.local.prometheus``).

As root on a machine with ``apt-get``, what is missing is installed with one ``apt-get update``
and one ``apt-get install -y --no-install-recommends``, with every package's service kept down:
a temporary ``/usr/sbin/policy-rc.d`` that exits 101 (removed afterwards unless it was there
before), and ``create_main_cluster = false`` in ``/etc/postgresql-common/createcluster.conf``
when PostgreSQL is installed and that file does not exist yet, so Debian's package neither
creates nor starts a cluster on port 5432. iotrack runs these programs itself, on loopback.
Otherwise (not root, no ``apt-get``) it stops with one sentence naming the command to run.

It must run before ``.venv`` exists, so it imports nothing outside the standard library::

    python3 -m streams.local.system_packages check [NAMES...] [--for TARGET]
    python3 -m streams.local.system_packages install [NAMES...] [--for TARGET]
"""

from __future__ import annotations

import argparse
import glob
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from streams.errors import LocalServiceError

CHECKOUT = Path(__file__).resolve().parents[2]
POLICY_RC_D = Path("/usr/sbin/policy-rc.d")
CREATECLUSTER_CONF = Path("/etc/postgresql-common/createcluster.conf")
APT_GET = "apt-get"
# Another apt-get (an agent, unattended-upgrades) may hold the dpkg lock for a while.
APT_OPTIONS = ("-qq", "-o", "DPkg::Lock::Timeout=300")
TARGETS = ("setup", "demo", "test")


class SystemPackageError(LocalServiceError):
    """A system package is missing and cannot be installed here, or its installation failed."""


@dataclass(frozen=True)
class OnPath:
    """Present when ``command`` is on PATH."""

    command: str

    def __str__(self) -> str:
        return f"'{self.command}' on PATH"


@dataclass(frozen=True)
class FileExists:
    """Present when a file matches ``pattern`` (a glob)."""

    pattern: str

    def __str__(self) -> str:
        return self.pattern


@dataclass(frozen=True)
class JavaAtLeast:
    """Present when ``java -version`` on PATH reports ``major`` or newer."""

    major: int

    def __str__(self) -> str:
        return f"'java' {self.major}+ on PATH"


@dataclass(frozen=True)
class PythonModules:
    """Present when this interpreter (the one that creates ``.venv``) finds every module."""

    names: tuple[str, ...]

    def __str__(self) -> str:
        return f"Python modules {', '.join(self.names)} in {sys.executable}"


Probe = OnPath | FileExists | JavaAtLeast | PythonModules


@dataclass(frozen=True)
class SystemPackage:
    """One Debian package: what it is called, who needs it, and how to tell it is present."""

    name: str
    """What ``install``/``check`` take on the command line."""
    title: str
    apt: str
    needed_by: str
    targets: tuple[str, ...]
    """The ``make`` targets that need it (``--for``); ``make system`` installs every one."""
    present_when: tuple[Probe, ...]
    """Any one of these holding means it is there."""


PACKAGES: tuple[SystemPackage, ...] = (
    SystemPackage(
        "python3-venv",
        "Python's venv support",
        "python3-venv",
        "make setup, which creates .venv",
        ("setup", "demo", "test"),
        (PythonModules(("venv", "ensurepip")),),
    ),
    SystemPackage(
        "java",
        "Java 17+",
        "openjdk-17-jre-headless",
        "the local Kafka broker, as Kafka 4 needs Java 17 or newer",
        ("demo", "test"),
        (JavaAtLeast(17),),
    ),
    SystemPackage(
        "maven",
        "Maven",
        "maven",
        "fetching the Kafka broker's jars from Maven Central, once",
        ("demo", "test"),
        (OnPath("mvn"),),
    ),
    SystemPackage(
        "postgresql",
        "PostgreSQL's server",
        "postgresql",
        "the local database of the embedded default and the integration tests",
        ("demo", "test"),
        (FileExists("/usr/lib/postgresql/*/bin/pg_ctl"), OnPath("pg_ctl")),
    ),
    SystemPackage(
        "openssl",
        "OpenSSL",
        "openssl",
        "the local broker's TLS option (IOTRACK_KAFKA_TLS=1): its CA and certificate",
        ("test",),
        (OnPath("openssl"),),
    ),
    SystemPackage(
        "prometheus",
        "Prometheus",
        "prometheus",
        "the dashboard test, which runs /usr/bin/prometheus against the demo",
        ("test",),
        (FileExists("/usr/bin/prometheus"), OnPath("prometheus")),
    ),
    SystemPackage(
        "npm",
        "npm",
        "npm",
        "the official AsyncAPI parser's check of docs/asyncapi.json",
        ("setup", "test"),
        (OnPath("npm"),),
    ),
    SystemPackage(
        "chromium",
        "Chromium",
        "chromium",
        "the web console's browser tests, which drive /usr/bin/chromium headless (Playwright's "
        "own browser download is not used)",
        ("test",),
        (FileExists("/usr/bin/chromium"),),
    ),
)
_BY_NAME = {package.name: package for package in PACKAGES}


def _run(command: Sequence[str], env: dict[str, str], out: IO[str] | None) -> int:
    stderr = subprocess.STDOUT if out is not None else None
    return subprocess.run(command, env=env, stdout=out, stderr=stderr, check=False).returncode


def _output(command: Sequence[str]) -> str:
    try:
        done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return done.stdout + done.stderr


def _has_module(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


@dataclass
class Host:
    """What the installer asks of the machine; tests pass fakes, :func:`machine` the real one."""

    which: Callable[[str], str | None] = shutil.which
    matches: Callable[[str], list[str]] = glob.glob
    output: Callable[[Sequence[str]], str] = _output
    has_module: Callable[[str], bool] = _has_module
    run: Callable[[Sequence[str], dict[str, str], IO[str] | None], int] = _run
    euid: Callable[[], int] = os.geteuid
    cwd: Callable[[], Path] = Path.cwd
    policy_rc_d: Path = POLICY_RC_D
    createcluster_conf: Path = CREATECLUSTER_CONF
    checkout: Path = CHECKOUT
    environ: dict[str, str] = field(default_factory=lambda: dict(os.environ))


def machine() -> Host:
    """This machine."""
    return Host()


def java_major(version_output: str) -> int | None:
    """The major version in ``java -version``'s output (``1.8.0`` is 8).

    >>> java_major('openjdk version "17.0.15" 2025-04-15')
    17
    >>> java_major('java version "1.8.0_402"')
    8
    >>> java_major("command not found") is None
    True
    """
    match = re.search(r'version "(\d+)(?:\.(\d+))?', version_output)
    if match is None:
        return None
    major = int(match.group(1))
    return int(match.group(2) or 0) if major == 1 else major


def holds(probe: Probe, host: Host) -> bool:
    """Whether ``probe`` holds on ``host``."""
    match probe:
        case OnPath(command):
            return host.which(command) is not None
        case FileExists(pattern):
            return bool(host.matches(pattern))
        case JavaAtLeast(major):
            java = host.which("java")
            found = java_major(host.output([java, "-version"])) if java else None
            return found is not None and found >= major
        case PythonModules(names):
            return all(host.has_module(name) for name in names)


def present(package: SystemPackage, host: Host) -> bool:
    """Whether ``package`` is there (any of its probes holds)."""
    return any(holds(probe, host) for probe in package.present_when)


def select(names: Iterable[str] = (), target: str | None = None) -> list[SystemPackage]:
    """The packages named, or needed by ``target``, or all; in declaration order."""
    wanted = set(names)
    unknown = sorted(wanted - set(_BY_NAME))
    if unknown:
        raise SystemPackageError(
            f"unknown system package {', '.join(unknown)}: the known ones are {', '.join(_BY_NAME)}"
        )
    return [
        package
        for package in PACKAGES
        if (not wanted or package.name in wanted) and (target is None or target in package.targets)
    ]


@dataclass(frozen=True)
class Plan:
    """What to run, as root, to install ``packages``."""

    packages: tuple[SystemPackage, ...]
    commands: tuple[tuple[str, ...], ...]

    @property
    def apt_names(self) -> list[str]:
        """The Debian package names, in declaration order."""
        return [package.apt for package in self.packages]


def _listing(packages: Sequence[SystemPackage]) -> str:
    *others, last = [p.title for p in packages]
    titles = f"{', '.join(others)} and {last}" if others else last
    needs = "; ".join(p.needed_by for p in packages)
    verb = "are" if len(packages) > 1 else "is"
    return f"{titles} {verb} not installed (needed for {needs})"


def fix_command(packages: Sequence[SystemPackage], host: Host) -> str:
    """The one command a user without root runs to install ``packages`` the same way."""
    if (host.checkout / "Makefile").exists():
        if host.cwd().resolve() == host.checkout.resolve():
            return "sudo make system"
        return f"sudo make -C {host.checkout} system"
    names = " ".join(p.name for p in packages)
    return f"sudo {sys.executable} -m streams.local.system_packages install {names}"


def plan(packages: Sequence[SystemPackage], host: Host, otherwise: str | None = None) -> Plan:
    """The apt-get commands that install those of ``packages`` that are missing.

    An empty plan when nothing is missing; SystemPackageError, in one sentence naming the
    command to run, when this process cannot install them (not root, or no apt-get).
    ``otherwise`` is another way out, appended to that sentence (``set DATABASE_URL ...``).
    """
    missing = tuple(p for p in packages if not present(p, host))
    if not missing:
        return Plan((), ())
    alternative = f", or {otherwise}" if otherwise else ""
    apt_names = [p.apt for p in missing]
    if host.which(APT_GET) is None:
        raise SystemPackageError(
            f"{_listing(missing)}, and this machine has no {APT_GET}: install the equivalent of "
            f"Debian's {' '.join(apt_names)} with its package manager{alternative}"
        )
    if host.euid() != 0:
        raise SystemPackageError(
            f"{_listing(missing)}: run '{fix_command(missing, host)}' (it installs what is "
            f"missing with apt-get, services kept down: {' '.join(apt_names)}){alternative}"
        )
    return Plan(
        missing,
        (
            (APT_GET, *APT_OPTIONS, "update"),
            (APT_GET, *APT_OPTIONS, "install", "-y", "--no-install-recommends", *apt_names),
        ),
    )


def apply(install: Plan, host: Host, out: IO[str] | None = None) -> None:
    """Run the plan with every package's service kept down; check each package is now there."""
    if not install.commands:
        return
    if any(p.name == "postgresql" for p in install.packages) and not (
        host.createcluster_conf.exists()
    ):
        # Debian's postgresql package would create (and start) a cluster of its own on 5432.
        host.createcluster_conf.parent.mkdir(parents=True, exist_ok=True)
        host.createcluster_conf.write_text("create_main_cluster = false\n")
    added_policy = not host.policy_rc_d.exists() and not host.policy_rc_d.is_symlink()
    if added_policy:
        # invoke-rc.d and deb-systemd-invoke ask this script first; 101 means "do not start".
        host.policy_rc_d.parent.mkdir(parents=True, exist_ok=True)
        host.policy_rc_d.write_text(
            "#!/bin/sh\n# iotrack: no service starts while installing\nexit 101\n"
        )
        host.policy_rc_d.chmod(0o755)
    env = {**host.environ, "DEBIAN_FRONTEND": "noninteractive"}
    try:
        for command in install.commands:
            code = host.run(command, env, out)
            if code != 0:
                raise SystemPackageError(
                    f"'{' '.join(command)}' failed with exit status {code} while installing "
                    f"{' '.join(install.apt_names)}: read its output, check access to Debian's "
                    "package registry, and run it again",
                    getattr(out, "name", None),
                )
    finally:
        if added_policy:
            host.policy_rc_d.unlink(missing_ok=True)
    still = [p for p in install.packages if not present(p, host)]
    if still:
        raise SystemPackageError(
            f"{', '.join(p.title for p in still)} still not found after installing "
            f"{' '.join(p.apt for p in still)}: expected "
            + "; ".join(" or ".join(str(probe) for probe in p.present_when) for p in still)
        )


def ensure(
    names: Iterable[str],
    *,
    log: Path | None = None,
    otherwise: str | None = None,
    host: Host | None = None,
) -> list[SystemPackage]:
    """Install the named packages when missing (as root); the ones installed.

    ``log`` receives apt-get's output (default: this process's stdout and stderr).
    SystemPackageError when they are missing and cannot be installed here.
    """
    return install_missing(select(names), log=log, otherwise=otherwise, host=host)


def install_missing(
    packages: Sequence[SystemPackage],
    *,
    log: Path | None = None,
    otherwise: str | None = None,
    host: Host | None = None,
) -> list[SystemPackage]:
    """:func:`ensure` for packages already selected."""
    host = host or machine()
    install = plan(packages, host, otherwise)
    if not install.commands:
        return []
    if log is None:
        apply(install, host)
    else:
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("a") as out:
            apply(install, host, out)
    return list(install.packages)


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python3 -m streams.local.system_packages",
        description="the Debian packages iotrack needs: check them, install what is missing",
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    for action, help_text in (
        ("check", "say which are present; exit 1 when one is missing"),
        ("install", "install the missing ones with apt-get (as root), services kept down"),
    ):
        sub = actions.add_parser(action, help=help_text, description=help_text)
        sub.add_argument("names", nargs="*", metavar="NAME", help=f"any of {', '.join(_BY_NAME)}")
        sub.add_argument("--for", dest="target", choices=TARGETS, help="those a make target needs")
    args = parser.parse_args(argv)
    unknown = [name for name in args.names if name not in _BY_NAME]
    if unknown:
        parser.error(f"unknown package {', '.join(unknown)}: choose from {', '.join(_BY_NAME)}")
    return args


def main(argv: Sequence[str] | None = None, host: Host | None = None) -> int:
    """The command line: 0 when everything asked for is (now) present, 1 when not."""
    args = _arguments(argv)
    host = host or machine()
    packages = select(args.names, args.target)
    if args.action == "check":
        width = max(len(p.name) for p in packages)
        missing = 0
        for package in packages:
            there = present(package, host)
            missing += not there
            state = "present" if there else "MISSING"
            print(f"{state:<8} {package.name:<{width}}  {package.apt}: {package.needed_by}")
        return 1 if missing else 0
    started = time.monotonic()
    try:
        installed = install_missing(packages, host=host)
    except SystemPackageError as exc:
        print(f"system packages: {exc}", file=sys.stderr)
        return 1
    if installed:
        names = " ".join(p.apt for p in installed)
        print(f"system packages: installed {names} in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
