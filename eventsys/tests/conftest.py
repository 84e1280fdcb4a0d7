import shutil
import subprocess

import pytest


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    """A self-signed certificate and key for pinned.example, for TLS servers on the loopback interface."""
    if not shutil.which("openssl"):
        pytest.skip("openssl not installed")
    directory = tmp_path_factory.mktemp("tls")
    cert, key = directory / "cert.pem", directory / "key.pem"
    command = "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1"
    names = ["-subj", "/CN=pinned.example", "-addext", "subjectAltName=DNS:pinned.example"]
    subprocess.run([*command.split(), "-keyout", key, "-out", cert, *names], check=True, capture_output=True)
    return cert, key
