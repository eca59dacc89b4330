"""The system-package installer's decisions, on a fake machine: no root, no network, no apt."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from streams.errors import LocalServiceError
from streams.local import system_packages
from streams.local.system_packages import Host, SystemPackageError

APT_UPDATE = ("apt-get", "-qq", "-o", "DPkg::Lock::Timeout=300", "update")
APT_INSTALL = ("apt-get", "-qq", "-o", "DPkg::Lock::Timeout=300", "install", "-y")


class FakeMachine:
    """A Debian machine with some commands and files; records what would run and sees the
    policy-rc.d that is in place while it runs."""

    def __init__(
        self,
        tmp_path: Path,
        *,
        commands=(),
        files=("/usr/bin/chromium",),
        java="17.0.15",
        root=True,
    ):
        self.commands = {"apt-get", *commands}
        self.files = set(files)
        self.java = java
        self.root = root
        self.ran: list[tuple[str, ...]] = []
        self.policy_during_run: list[str | None] = []
        self.exit_codes: list[int] = []
        self.install_makes_present: set[str] = set()
        self.host = Host(
            which=lambda name: f"/usr/bin/{name}" if name in self.commands else None,
            matches=lambda pattern: [pattern] if pattern in self.files else [],
            output=lambda command: f'openjdk version "{self.java}" 2025-04-15',
            has_module=lambda name: True,
            run=self.run,
            euid=lambda: 0 if self.root else 1000,
            cwd=lambda: tmp_path,
            policy_rc_d=tmp_path / "usr/sbin/policy-rc.d",
            createcluster_conf=tmp_path / "etc/postgresql-common/createcluster.conf",
            checkout=tmp_path,
            environ={"PATH": "/usr/bin"},
        )

    def run(self, command, env, out) -> int:
        assert env["DEBIAN_FRONTEND"] == "noninteractive"
        self.ran.append(tuple(command))
        policy = self.host.policy_rc_d
        self.policy_during_run.append(policy.read_text() if policy.exists() else None)
        code = self.exit_codes.pop(0) if self.exit_codes else 0
        if code == 0 and "install" in command:
            self.commands |= self.install_makes_present
        return code


def everything(tmp_path, **kwargs) -> FakeMachine:
    return FakeMachine(
        tmp_path,
        commands={"java", "mvn", "npm", "openssl", "pg_ctl", "prometheus"},
        **kwargs,
    )


def test_nothing_runs_when_everything_is_present(tmp_path):
    machine = everything(tmp_path)
    assert system_packages.ensure((), host=machine.host) == []
    assert machine.ran == []
    assert not machine.host.policy_rc_d.exists()


def test_the_missing_ones_are_installed_with_one_update_and_one_install(tmp_path):
    machine = FakeMachine(tmp_path, commands={"java", "npm", "openssl", "pg_ctl"})
    machine.install_makes_present = {"mvn", "prometheus"}
    installed = system_packages.ensure((), host=machine.host)
    assert [p.name for p in installed] == ["maven", "prometheus"]
    assert machine.ran == [
        APT_UPDATE,
        (*APT_INSTALL, "--no-install-recommends", "maven", "prometheus"),
    ]


def test_the_browser_tests_get_debians_chromium(tmp_path):
    machine = everything(tmp_path, files=())
    machine.install_makes_present = set()
    with pytest.raises(SystemPackageError, match=r"Chromium still not found.*/usr/bin/chromium"):
        system_packages.ensure((), host=machine.host)
    assert machine.ran[-1] == (*APT_INSTALL, "--no-install-recommends", "chromium")
    assert [p.name for p in system_packages.select(target="test")][-1] == "chromium"


def test_services_stay_down_while_installing_and_the_policy_goes_again(tmp_path):
    machine = FakeMachine(tmp_path, commands={"java", "npm", "mvn", "openssl", "pg_ctl"})
    machine.install_makes_present = {"prometheus"}
    system_packages.ensure(("prometheus",), host=machine.host)
    assert all(
        text is not None and text.endswith("exit 101\n") for text in machine.policy_during_run
    )
    assert not machine.host.policy_rc_d.exists()
    # Not installing PostgreSQL: its cluster configuration is left alone.
    assert not machine.host.createcluster_conf.exists()


def test_a_policy_that_was_there_is_kept(tmp_path):
    machine = FakeMachine(tmp_path, commands={"java"})
    machine.install_makes_present = {"prometheus"}
    machine.host.policy_rc_d.parent.mkdir(parents=True)
    machine.host.policy_rc_d.write_text("#!/bin/sh\nexit 101\n# the machine's own\n")
    system_packages.ensure(("prometheus",), host=machine.host)
    assert machine.host.policy_rc_d.read_text().endswith("# the machine's own\n")


def test_postgresql_is_installed_without_a_cluster_of_its_own(tmp_path):
    machine = FakeMachine(tmp_path)
    machine.install_makes_present = {"pg_ctl"}
    system_packages.ensure(("postgresql",), host=machine.host)
    assert machine.ran[-1][-1] == "postgresql"
    assert machine.host.createcluster_conf.read_text() == "create_main_cluster = false\n"


def test_an_existing_cluster_configuration_is_not_overwritten(tmp_path):
    machine = FakeMachine(tmp_path)
    machine.install_makes_present = {"pg_ctl"}
    machine.host.createcluster_conf.parent.mkdir(parents=True)
    machine.host.createcluster_conf.write_text("create_main_cluster = false\nssl = off\n")
    system_packages.ensure(("postgresql",), host=machine.host)
    assert machine.host.createcluster_conf.read_text().endswith("ssl = off\n")


def test_an_old_java_counts_as_missing(tmp_path):
    machine = everything(tmp_path, java="1.8.0_402")
    install = system_packages.plan(system_packages.select(("java",)), machine.host)
    assert install.apt_names == ["openjdk-17-jre-headless"]


def test_a_failed_apt_get_is_one_error_and_the_policy_goes(tmp_path):
    machine = FakeMachine(tmp_path)
    machine.exit_codes = [0, 100]
    log = tmp_path / "install.log"
    with pytest.raises(LocalServiceError, match=r"exit status 100 while installing prometheus"):
        system_packages.ensure(("prometheus",), host=machine.host, log=log)
    assert not machine.host.policy_rc_d.exists()
    assert log.exists()


def test_installed_but_still_absent_says_what_was_looked_for(tmp_path):
    machine = FakeMachine(tmp_path)
    with pytest.raises(SystemPackageError, match=r"still not found.*/usr/bin/prometheus"):
        system_packages.ensure(("prometheus",), host=machine.host)


def test_not_root_names_the_one_command_to_run(tmp_path):
    (tmp_path / "Makefile").touch()
    machine = everything(tmp_path, root=False)
    machine.commands -= {"prometheus", "mvn"}
    with pytest.raises(SystemPackageError) as caught:
        system_packages.ensure((), host=machine.host)
    message = str(caught.value)
    assert message.startswith("Maven and Prometheus are not installed (needed for fetching")
    assert "run 'sudo make system'" in message
    assert machine.ran == []
    machine.host.cwd = lambda: Path("/elsewhere")
    with pytest.raises(SystemPackageError, match=f"run 'sudo make -C {tmp_path} system'"):
        system_packages.ensure(("prometheus",), host=machine.host)


def test_outside_a_checkout_the_command_is_the_module(tmp_path):
    machine = FakeMachine(tmp_path, root=False)
    with pytest.raises(
        SystemPackageError, match=r"-m streams.local.system_packages install prometheus"
    ):
        system_packages.ensure(("prometheus",), host=machine.host)


def test_without_apt_get_it_names_the_debian_package_and_the_alternative(tmp_path):
    machine = FakeMachine(tmp_path)
    machine.commands.discard("apt-get")
    with pytest.raises(SystemPackageError, match=r"no apt-get.*Debian's postgresql.*DATABASE_URL"):
        system_packages.ensure(("postgresql",), host=machine.host, otherwise="set DATABASE_URL")


def test_every_make_target_has_its_packages_and_names_are_checked():
    assert [p.name for p in system_packages.select(target="setup")] == ["python3-venv", "npm"]
    assert [p.name for p in system_packages.select(target="demo")] == [
        "python3-venv",
        "java",
        "maven",
        "postgresql",
    ]
    assert len(system_packages.select(target="test")) == len(system_packages.PACKAGES)
    with pytest.raises(SystemPackageError, match="unknown system package chromiun"):
        system_packages.select(("chromiun",))


def test_the_command_line_says_one_line_and_exits_1(tmp_path, capsys):
    machine = FakeMachine(tmp_path, root=False)
    assert system_packages.main(["install", "prometheus"], host=machine.host) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("system packages: Prometheus is not installed")
    assert system_packages.main(["check", "--for", "demo"], host=machine.host) == 1
    out = capsys.readouterr().out
    assert "MISSING  maven" in out
    assert "present  python3-venv" in out


def test_the_module_runs_with_the_standard_library_alone():
    """It runs before .venv exists: nothing it imports may come from site-packages."""
    import subprocess
    import sys

    checkout = Path(__file__).resolve().parents[3]
    code = "import streams.local.system_packages, sys; print(sorted(sys.modules))"
    done = subprocess.run(
        [sys.executable, "-S", "-c", code],
        cwd=checkout,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPATH": str(checkout)},
    )
    assert "streams.local.system_packages" in done.stdout
