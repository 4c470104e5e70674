"""TLS for ``textos serve`` (``textos.tls``): a self-signed pair for local use, and a pair checked before serving."""

from __future__ import annotations

import ipaddress
import stat

import pytest
from cryptography import x509

from textos.tls import LOCAL_NAMES, check_pair, self_signed


def test_a_self_signed_pair_is_for_the_local_names_and_its_key_is_the_owners_only(tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    key.write_text("an older, world-readable file")
    key.chmod(0o644)
    self_signed(cert, key)
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    names = x509.load_pem_x509_certificate(cert.read_bytes()).extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["localhost"]
    assert names.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1")]
    assert LOCAL_NAMES == ("localhost", "127.0.0.1", "::1")
    check_pair(str(cert), str(key))  # clients trusting it over real connections: tests/e2e/test_https.py


def test_a_pair_that_does_not_go_together_is_refused_naming_its_files(tmp_path):
    for n in (1, 2):
        self_signed(tmp_path / f"cert{n}.pem", tmp_path / f"key{n}.pem", ["sms.example.test"])
    with pytest.raises(ValueError, match=r"cannot use the TLS certificate .*cert1\.pem with the key .*key2\.pem"):
        check_pair(str(tmp_path / "cert1.pem"), str(tmp_path / "key2.pem"))
    with pytest.raises(ValueError, match=r"cannot use the TLS certificate .*absent\.pem"):
        check_pair(str(tmp_path / "absent.pem"), str(tmp_path / "key1.pem"))
    with pytest.raises(ValueError, match="tls_cert and tls_key go together"):
        check_pair(str(tmp_path / "cert1.pem"), None)
    check_pair(None, None)  # plain HTTP
