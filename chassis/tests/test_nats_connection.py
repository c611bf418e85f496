"""Every NATS connection takes its servers, credentials and TLS from NATS_URL and the
NATS_* variables: against real nats-server processes, with TLS and logins configured."""

from __future__ import annotations

import asyncio
import ipaddress
import os
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import nkeys
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from nats.aio.client import Client
from nats.errors import Error as NatsError

from baro_chassis.consumers import make_broker
from baro_chassis.embedded import LOOPBACK, EmbeddedNats, free_port
from baro_chassis.nats import FILE_VARIABLES, connect, connection_options

pytestmark = pytest.mark.integration

USER, PASSWORD = "baro", "test-only-password"
REFUSED = (OSError, NatsError, asyncio.TimeoutError)


@pytest.fixture(autouse=True)
def no_nats_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test sets the NATS_* variables it means; none leak in from the shell."""
    for variable in (*FILE_VARIABLES, "NATS_TLS_HOSTNAME"):
        monkeypatch.delenv(variable, raising=False)


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> Path:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return path


def _issue(
    ca_key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate | None,
    key: ec.EllipticCurvePrivateKey,
    common_name: str,
    usage: x509.ObjectIdentifier | None,
) -> x509.Certificate:
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(ca_cert.subject if ca_cert else _name(common_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
    )
    if usage is None:  # the CA
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=0), True)
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            True,
        )
    else:
        builder = builder.add_extension(x509.BasicConstraints(ca=False, path_length=None), True)
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), False)
        builder = builder.add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address(LOOPBACK))]
            ),
            False,
        )
    return builder.sign(ca_key, hashes.SHA256())


@dataclass(frozen=True)
class Pki:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def make_pki(folder: Path) -> Pki:
    """A CA made for the test, a server certificate for 127.0.0.1 and a client certificate."""
    folder.mkdir(parents=True, exist_ok=True)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = _issue(ca_key, None, ca_key, "baro test CA", None)
    paths = {}
    for role, usage in (
        ("server", ExtendedKeyUsageOID.SERVER_AUTH),
        ("client", ExtendedKeyUsageOID.CLIENT_AUTH),
    ):
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _issue(ca_key, ca_cert, key, f"baro test {role}", usage)
        (folder / f"{role}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        paths[role] = (folder / f"{role}.pem", _write_key(key, folder / f"{role}.key"))
    (folder / "ca.pem").write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    return Pki(folder / "ca.pem", *paths["server"], *paths["client"])


def new_nkey_seed(path: Path) -> str:
    """Write a fresh user NKey seed to `path`; return its public key (what the server knows)."""
    seed = nkeys.encode_seed(os.urandom(32), nkeys.PREFIX_BYTE_USER)
    path.write_bytes(seed)
    return str(nkeys.from_seed(bytearray(seed)).public_key.decode())


@dataclass(frozen=True)
class SecuredNats:
    port: int
    pki: Pki
    nkey_seed: Path

    @property
    def url(self) -> str:
        return f"nats://{LOOPBACK}:{self.port}"

    @property
    def url_with_password(self) -> str:
        return f"nats://{USER}:{PASSWORD}@{LOOPBACK}:{self.port}"


@pytest.fixture(scope="module")
def secured_nats(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecuredNats]:
    """A nats-server on 127.0.0.1 that requires TLS with a client certificate signed by the
    test CA, then a login: a user/password or an NKey."""
    folder = tmp_path_factory.mktemp("secured-nats")
    pki = make_pki(folder / "pki")
    seed_file = folder / "user.nk"
    public_key = new_nkey_seed(seed_file)
    config = f"""
tls {{
  cert_file: "{pki.server_cert}"
  key_file: "{pki.server_key}"
  ca_file: "{pki.ca}"
  verify: true
  timeout: 5
}}
authorization {{
  users: [
    {{ user: "{USER}", password: "{PASSWORD}" }}
    {{ nkey: "{public_key}" }}
  ]
}}
"""
    server = EmbeddedNats(folder / "store", config=config).start()
    try:
        yield SecuredNats(server.port, pki, seed_file)
    finally:
        server.stop()


def use_tls(monkeypatch: pytest.MonkeyPatch, pki: Pki, *, client_certificate: bool) -> None:
    monkeypatch.setenv("NATS_TLS_CA", str(pki.ca))
    if client_certificate:
        monkeypatch.setenv("NATS_TLS_CERT", str(pki.client_cert))
        monkeypatch.setenv("NATS_TLS_KEY", str(pki.client_key))


async def connect_once(url: str) -> None:
    """Connect with the settings every service uses, but fail at the first refusal instead
    of retrying forever (as `connect` does), so that a refusal can be asserted; then close."""
    client = Client()
    options = {**connection_options(url, "refusal-check", client), "allow_reconnect": False}
    await asyncio.wait_for(client.connect(**options), 30)
    await client.close()


async def assert_round_trip(client: Client) -> None:
    """The server answers over this connection: a request comes back through it."""

    async def echo(msg: object) -> None:
        await client.publish(msg.reply, msg.data)  # type: ignore[attr-defined]

    await client.subscribe("natsopts.echo", cb=echo)
    reply = await client.request("natsopts.echo", b"ping", timeout=10)
    assert reply.data == b"ping"


async def test_a_server_list_connects_past_a_server_that_is_down(
    restartable_nats: EmbeddedNats,
) -> None:
    down = f"nats://{LOOPBACK}:{free_port()}"  # nothing listens there
    client = await asyncio.wait_for(connect(f" {down} , {restartable_nats.url} ", "list"), 30)
    try:
        assert client.is_connected
        assert client.connected_url is not None
        assert client.connected_url.port == restartable_nats.port
        assert {server.port for server in client.servers} == {
            int(down.rsplit(":", 1)[1]),
            restartable_nats.port,
        }
        await assert_round_trip(client)
    finally:
        await client.close()


async def test_tls_with_a_client_certificate_and_a_password_connects(
    secured_nats: SecuredNats, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_tls(monkeypatch, secured_nats.pki, client_certificate=True)
    client = await asyncio.wait_for(connect(secured_nats.url_with_password, "tls"), 30)
    try:
        assert client.is_connected
        await assert_round_trip(client)
    finally:
        await client.close()


async def test_a_faststream_broker_takes_the_same_tls_and_nkey_settings(
    secured_nats: SecuredNats, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_tls(monkeypatch, secured_nats.pki, client_certificate=True)
    monkeypatch.setenv("NATS_NKEY_SEED", str(secured_nats.nkey_seed))
    broker = make_broker(secured_nats.url, "tls-broker")
    try:
        client = await asyncio.wait_for(broker.connect(), 30)
        assert client.is_connected
        await assert_round_trip(client)
    finally:
        await broker.stop()


async def test_tls_without_the_client_certificate_is_refused(
    secured_nats: SecuredNats, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_tls(monkeypatch, secured_nats.pki, client_certificate=False)
    with pytest.raises(REFUSED):
        await connect_once(secured_nats.url_with_password)


async def test_an_nkey_seed_file_logs_in_and_an_unknown_nkey_is_refused(
    secured_nats: SecuredNats, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    use_tls(monkeypatch, secured_nats.pki, client_certificate=True)
    monkeypatch.setenv("NATS_NKEY_SEED", str(secured_nats.nkey_seed))
    client = await asyncio.wait_for(connect(secured_nats.url, "nkey"), 30)
    try:
        assert client.is_connected
        await assert_round_trip(client)
    finally:
        await client.close()

    new_nkey_seed(tmp_path / "stranger.nk")
    monkeypatch.setenv("NATS_NKEY_SEED", str(tmp_path / "stranger.nk"))
    with pytest.raises(NatsError, match="Authorization Violation"):
        await connect_once(secured_nats.url)


async def test_a_missing_creds_file_is_a_clear_error_at_start(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    missing = tmp_path / "nowhere" / "service.creds"
    monkeypatch.setenv("NATS_CREDS", str(missing))
    url = f"nats://{LOOPBACK}:{free_port()}"
    with pytest.raises(RuntimeError, match="NATS_CREDS") as raised:
        await asyncio.wait_for(connect(url, "creds"), 30)
    assert str(missing) in str(raised.value)
    assert "unset it" in str(raised.value)
    with pytest.raises(RuntimeError, match="NATS_CREDS"):
        make_broker(url, "creds-broker")


async def test_a_tls_url_without_a_ca_checks_the_server_against_the_system_store(
    secured_nats: SecuredNats, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_tls(monkeypatch, secured_nats.pki, client_certificate=True)
    monkeypatch.delenv("NATS_TLS_CA")
    url = f"tls://{USER}:{PASSWORD}@{LOOPBACK}:{secured_nats.port}"
    with pytest.raises(ssl.SSLCertVerificationError):  # the test CA is in no system store
        await connect_once(url)
