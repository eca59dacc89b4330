"""The local Prometheus starter: a missing binary is one sentence naming the fix."""

from __future__ import annotations

import pytest

from streams.errors import LocalServiceError
from streams.local import prometheus


def test_a_missing_prometheus_names_the_debian_package(monkeypatch, tmp_path):
    monkeypatch.setattr(prometheus, "DEBIAN_BINARY", tmp_path / "absent")
    monkeypatch.setenv("PATH", str(tmp_path))
    # As if the installer had found it present (it looks at this machine, not at tmp_path).
    monkeypatch.setattr(prometheus.system_packages, "ensure", lambda names: [])
    with pytest.raises(LocalServiceError, match="apt-get install prometheus"):
        prometheus.find_binary()
    with pytest.raises(LocalServiceError, match="not installed"):
        prometheus.LocalPrometheus(tmp_path, ["127.0.0.1:9300"]).start()


def test_the_configuration_scrapes_every_target_at_the_interval():
    text = prometheus.config_text(["127.0.0.1:1", "127.0.0.1:2"], 0.5)
    assert "scrape_interval: 500ms" in text
    assert 'targets: ["127.0.0.1:1", "127.0.0.1:2"]' in text


def test_a_missing_prometheus_is_installed_by_the_one_installer(monkeypatch, tmp_path):
    binary = tmp_path / "prometheus"
    monkeypatch.setattr(prometheus, "DEBIAN_BINARY", binary)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    asked = []

    def install(names):
        asked.append(tuple(names))
        binary.touch()
        return []

    monkeypatch.setattr(prometheus.system_packages, "ensure", install)
    assert prometheus.find_binary() == binary
    assert asked == [("prometheus",)]
