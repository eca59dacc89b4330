"""TLS for the local broker (``IOTRACK_KAFKA_TLS=1``): a local CA and the broker's certificate,
made once with Debian's ``openssl``.

Layout under ``<IOTRACK_HOME>/kafka/tls`` (mode 0700, files 0600)::

    ca.key, ca.pem        the local certificate authority (ten years); clients trust ca.pem
    broker.pem            the broker's private key (PKCS#8), its certificate for 127.0.0.1 and
                          localhost signed by the CA, and the CA: Kafka's PEM key store

The CA's key stays here: nothing else is ever signed with it. Delete the folder (with the broker
stopped) to get a new CA and certificate at the next ``iotrack up``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from streams.errors import LocalServiceError
from streams.local import system_packages

CA_DAYS = 3650
BROKER_DAYS = 825
"""The longest validity TLS clients accept for a server certificate."""


def _openssl(log: Path) -> str:
    found = shutil.which("openssl")
    if found is None:
        system_packages.ensure(
            ("openssl",), log=log, otherwise="or run without IOTRACK_KAFKA_TLS (SASL on loopback)"
        )
        found = shutil.which("openssl")
    if found is None:
        raise LocalServiceError("openssl is not on PATH: install Debian's openssl package", log)
    return found


def _run(log: Path, *args: str) -> None:
    with log.open("a") as out:
        done = subprocess.run(args, stdout=out, stderr=subprocess.STDOUT, check=False)
    if done.returncode != 0:
        raise LocalServiceError(
            "making the local Kafka TLS certificate failed: read the log, delete the tls folder "
            "and retry",
            log,
        )


class LocalTls:
    """The local CA and the broker certificate in ``directory``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    @property
    def ca_file(self) -> Path:
        """What clients trust."""
        return self.directory / "ca.pem"

    @property
    def key_store(self) -> Path:
        """The broker's key, certificate and chain (PEM)."""
        return self.directory / "broker.pem"

    def ensure(self) -> None:
        """Make the CA and the broker certificate unless both are there."""
        if self.ca_file.exists() and self.key_store.exists():
            return
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.directory.chmod(0o700)
        log = self.directory / "openssl.log"
        openssl = _openssl(log)
        old_mask = os.umask(0o077)
        try:
            d = self.directory
            _run(log, openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256",
                 "-keyout", str(d / "ca.key"), "-out", str(d / "ca.pem"), "-days", str(CA_DAYS),
                 "-subj", "/CN=iotrack local CA",
                 "-addext", "basicConstraints=critical,CA:TRUE",
                 "-addext", "keyUsage=critical,keyCertSign,cRLSign")  # fmt: skip
            _run(log, openssl, "req", "-newkey", "rsa:2048", "-nodes", "-sha256",
                 "-keyout", str(d / "broker.key"), "-out", str(d / "broker.csr"),
                 "-subj", "/CN=127.0.0.1")  # fmt: skip
            (d / "broker.ext").write_text(
                "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                "extendedKeyUsage=serverAuth,clientAuth\n"
                "keyUsage=critical,digitalSignature,keyEncipherment\n"
            )
            _run(log, openssl, "x509", "-req", "-sha256", "-in", str(d / "broker.csr"),
                 "-CA", str(d / "ca.pem"), "-CAkey", str(d / "ca.key"), "-CAcreateserial",
                 "-days", str(BROKER_DAYS), "-extfile", str(d / "broker.ext"),
                 "-out", str(d / "broker.crt"))  # fmt: skip
            staging = d / ".broker.pem"
            staging.write_bytes(
                b"".join((d / name).read_bytes() for name in ("broker.key", "broker.crt", "ca.pem"))
            )
            staging.replace(self.key_store)
        finally:
            os.umask(old_mask)
        for name in ("broker.key", "broker.crt", "broker.csr", "broker.ext", "ca.srl"):
            (self.directory / name).unlink(missing_ok=True)

    def properties(self) -> str:
        """The client listener's TLS settings for server.properties."""
        return (
            "listener.name.client.ssl.keystore.type=PEM\n"
            f"listener.name.client.ssl.keystore.location={self.key_store}\n"
            "listener.name.client.ssl.truststore.type=PEM\n"
            f"listener.name.client.ssl.truststore.location={self.ca_file}\n"
            "listener.name.client.ssl.client.auth=none\n"
        )
