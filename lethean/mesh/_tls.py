"""
TLS for mesh connections, hardened as the reference's server.

TLS only protects the transport; peers authenticate with the handshake and
every message is sealed with SMSG.  The server side mirrors the reference:
TLS 1.2 at least, its six ECDHE AEAD suites for TLS 1.2 (TLS 1.3 suites are
OpenSSL's), no client certificates.  OpenSSL's default key-exchange groups
already start with X25519 then P-256, as the reference's list does.

The client side does better than the reference (weakness 12): whether to
dial ``wss`` is a per-peer choice, not "only if I have a certificate", and
verification can follow the system roots, be pinned to one certificate, or
be turned off (for self-signed nodes, where the handshake's key pinning is
the real authentication).
"""

from twisted.internet import ssl
from twisted.protocols.tls import TLSMemoryBIOFactory
from twisted.python.filepath import FilePath

from lethean.errors import LetheanError

__all__ = [
    "TLSConfigError",
    "TLS12_CIPHERS",
    "server_tls_options",
    "client_tls_options",
    "wrap_server_factory",
    "wrap_client_factory",
]

#: The reference's TLS 1.2 suites, in its order of preference.
TLS12_CIPHERS = ":".join([
    "ECDHE-RSA-AES128-GCM-SHA256",
    "ECDHE-RSA-AES256-GCM-SHA384",
    "ECDHE-ECDSA-AES128-GCM-SHA256",
    "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-RSA-CHACHA20-POLY1305",
    "ECDHE-ECDSA-CHACHA20-POLY1305",
])


class TLSConfigError(LetheanError):
    """The TLS certificate or key could not be used."""


def _read(path, what):
    try:
        return FilePath(path).getContent()
    except OSError as e:
        raise TLSConfigError("cannot read {} {}: {}".format(what, path, e.strerror)) from None


def server_tls_options(cert_path, key_path):
    """A context factory for a TLS mesh listener from PEM files."""
    cert_pem = _read(cert_path, "certificate")
    key_pem = _read(key_path, "private key")
    try:
        certificate = ssl.PrivateCertificate.loadPEM(cert_pem + b"\n" + key_pem)
        return ssl.CertificateOptions(
            privateKey=certificate.privateKey.original,
            certificate=certificate.original,
            raiseMinimumTo=ssl.TLSVersion.TLSv1_2,
            acceptableCiphers=ssl.AcceptableCiphers.fromOpenSSLCipherString(TLS12_CIPHERS),
        )
    except Exception as e:
        raise TLSConfigError("{} / {}: {}".format(cert_path, key_path, e)) from None


def client_tls_options(hostname, verify="system"):
    """
    Client TLS options for dialling ``hostname``.

    ``verify`` is ``"system"`` (system roots and host name, as the
    reference), ``"none"`` (encrypt only), or the path of a PEM certificate
    the peer must present exactly (pinning, e.g. a self-signed node).
    """
    if verify == "system":
        return ssl.optionsForClientTLS(hostname)
    if verify == "none":
        return ssl.CertificateOptions(verify=False, raiseMinimumTo=ssl.TLSVersion.TLSv1_2)
    pinned = ssl.Certificate.loadPEM(_read(verify, "pinned certificate"))
    return ssl.optionsForClientTLS(hostname, trustRoot=pinned)


def wrap_server_factory(factory, cert_path, key_path):
    """``factory`` behind TLS, for listening on a plain ``tcp:`` endpoint."""
    wrapped = TLSMemoryBIOFactory(server_tls_options(cert_path, key_path), False, factory)
    wrapped.noisy = False
    return wrapped


def wrap_client_factory(factory, hostname, verify="system"):
    """``factory`` behind TLS, for connecting with a plain ``tcp:`` endpoint."""
    wrapped = TLSMemoryBIOFactory(client_tls_options(hostname, verify), True, factory)
    wrapped.noisy = False
    return wrapped
