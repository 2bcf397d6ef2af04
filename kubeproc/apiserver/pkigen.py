"""Making the instance's PKI: a CA at first start, a serving certificate, the admin token.

Run as `python -m kubeproc.apiserver.pkigen DATA_DIR [HOST...]` by kubeproc/apiserver/pki.py, so
the long-running server never loads cryptography (about 8 MB of resident memory). Files live
under DATA/pki with mode 0600 (keys, token). Only this module imports cryptography.
"""

from __future__ import annotations

import datetime as _dt
import ipaddress
import os
import secrets
import sys

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


def _write(path: str, data: bytes, mode: int) -> None:
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _make_ca(pki_dir: str) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    now = _dt.datetime.now(_dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(_name("kubeproc-ca")).issuer_name(_name("kubeproc-ca"))
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - _dt.timedelta(minutes=5))
            .not_valid_after(now + _dt.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False,
                                         encipher_only=False, decipher_only=False), critical=True)
            .sign(key, hashes.SHA256()))
    _write(os.path.join(pki_dir, "ca.key"), _key_pem(key), 0o600)
    _write(os.path.join(pki_dir, "ca.crt"), cert.public_bytes(serialization.Encoding.PEM), 0o644)


def _sans(hosts: list[str]) -> list[x509.GeneralName]:
    out: list[x509.GeneralName] = []
    for h in hosts:
        try:
            out.append(x509.IPAddress(ipaddress.ip_address(h)))
        except ValueError:
            out.append(x509.DNSName(h))
    return out


def _make_serving(pki_dir: str, hosts: list[str]) -> None:
    with open(os.path.join(pki_dir, "ca.key"), "rb") as f:
        ca_key = serialization.load_pem_private_key(f.read(), None)
    with open(os.path.join(pki_dir, "ca.crt"), "rb") as f:
        ca_cert = x509.load_pem_x509_certificate(f.read())
    key = ec.generate_private_key(ec.SECP256R1())
    now = _dt.datetime.now(_dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(_name("kubeproc-apiserver"))
            .issuer_name(ca_cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - _dt.timedelta(minutes=5))
            .not_valid_after(now + _dt.timedelta(days=825))
            .add_extension(x509.SubjectAlternativeName(_sans(hosts)), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256()))  # type: ignore[arg-type]
    _write(os.path.join(pki_dir, "apiserver.key"), _key_pem(key), 0o600)
    _write(os.path.join(pki_dir, "apiserver.crt"), cert.public_bytes(serialization.Encoding.PEM), 0o644)
    _write(os.path.join(pki_dir, "apiserver.hosts"), "\n".join(sorted(hosts)).encode(), 0o644)


def generate(data_dir: str, hosts: list[str]) -> None:
    """Create what is missing: CA, serving cert for `hosts` (re-issued when they change), token."""
    pki_dir = os.path.join(data_dir, "pki")
    os.makedirs(pki_dir, mode=0o700, exist_ok=True)
    if not os.path.exists(os.path.join(pki_dir, "ca.crt")):
        _make_ca(pki_dir)
    hosts_file = os.path.join(pki_dir, "apiserver.hosts")
    current = open(hosts_file).read().split("\n") if os.path.exists(hosts_file) else []
    if current != hosts or not os.path.exists(os.path.join(pki_dir, "apiserver.crt")):
        _make_serving(pki_dir, hosts)
    token_path = os.path.join(pki_dir, "admin.token")
    if not os.path.exists(token_path):
        _write(token_path, secrets.token_urlsafe(32).encode(), 0o600)


if __name__ == "__main__":
    generate(sys.argv[1], sys.argv[2:])
