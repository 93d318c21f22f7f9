"""
TLS for mesh connections, hardened as the reference's server.

TLS only protects the transport; peers authenticate with the handshake and
every message is sealed with SMSG.  The server side mirrors the reference:
TLS 1.2 at least, its six ECDHE AEAD suites for TLS 1.2 (TLS 1.3 suites are
OpenSSL's), no client certificates.  OpenSSL's default key-exchange groups
already start with X25519 then P-256, as the reference's list does.

The client side does better than the reference (weakness 12): whether to
dial ``wss`` is a per-peer choice (a ``wss://`` target), not "only if I have
a certificate", and verification follows the system roots, the
certificates of a file (``--tls-ca``: a self-signed node's own certificate
or a private CA, host names checked), or one certificate's SHA-256
fingerprint (``--tls-fingerprint``), or is turned off (``none``, where the
handshake's key pinning is the only authentication).
"""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING

from OpenSSL import SSL, crypto
from twisted.internet import ssl
from twisted.internet.abstract import isIPAddress, isIPv6Address
from twisted.internet.error import VerifyError
from twisted.internet.interfaces import IOpenSSLClientConnectionCreator, IProtocolFactory
from zope.interface import implementer
from twisted.protocols.tls import TLSMemoryBIOFactory, TLSMemoryBIOProtocol
from twisted.python.filepath import FilePath

from lethean.mesh._errors import CertificateRejectedError, TLSConfigError

if TYPE_CHECKING:
    from cryptography import x509
    # Twisted's trust-root interface is not exported; annotations only.
    from twisted.internet._sslverify import IOpenSSLTrustRoot


__all__ = [
    "certificate_problem",
    "TLS12_CIPHERS",
    "server_tls_options",
    "client_tls_options",
    "tls_verify_setting",
    "parse_fingerprint",
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


#: What to do about a certificate this node does not trust.
_TRUST_HINT = ("give its certificate (or its CA's) with --tls-ca FILE, or pin it with "
               "--tls-fingerprint SHA256")


def certificate_problem(wrapped_factory: object,
                        failure_text: str) -> CertificateRejectedError | None:
    """
    A CertificateRejectedError saying why the dial through
    ``wrapped_factory`` (from :func:`wrap_client_factory`) was refused, or
    None when its TLS did not refuse a certificate.
    """
    creator = getattr(wrapped_factory, "tls_creator", None)
    problem = getattr(creator, "problem", None)
    if problem is not None:
        return CertificateRejectedError(problem)
    if "certificate verify failed" in failure_text or "VerificationError" in failure_text:
        return CertificateRejectedError("no CA of this system signed it: " + _TRUST_HINT)
    return None


def _names(certificate: x509.Certificate) -> list[str]:
    """The host names and addresses a certificate names (its subjectAltName)."""
    from cryptography import x509

    extension: x509.SubjectAlternativeName
    try:
        extension = certificate.extensions.get_extension_for_class(
            x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return ([str(n) for n in extension.get_values_for_type(x509.DNSName)]
            + [str(n) for n in extension.get_values_for_type(x509.IPAddress)])


def _read(path: str, what: str) -> bytes:
    try:
        return FilePath(path).getContent()
    except OSError as e:
        raise TLSConfigError("cannot read {} {}: {}".format(what, path, e.strerror)) from None


def server_tls_options(cert_path: str, key_path: str) -> ssl.CertificateOptions:
    """A context factory for a TLS mesh listener from PEM files."""
    cert_pem = _read(cert_path, "certificate")
    key_pem = _read(key_path, "private key")
    if b"-----BEGIN CERTIFICATE-----" not in cert_pem:
        raise TLSConfigError("{} holds no PEM certificate (a '-----BEGIN CERTIFICATE-----' "
                             "block): give the certificate file, e.g. the cert.pem openssl "
                             "req -x509 writes".format(cert_path))
    if b"PRIVATE KEY-----" not in key_pem:
        raise TLSConfigError("{} holds no PEM private key (a '-----BEGIN PRIVATE KEY-----' "
                             "block): give the key file, e.g. the key.pem openssl req "
                             "-nodes writes".format(key_path))
    try:
        certificate = ssl.PrivateCertificate.loadPEM(cert_pem + b"\n" + key_pem)
        return ssl.CertificateOptions(
            privateKey=certificate.privateKey.original,
            certificate=certificate.original,
            raiseMinimumTo=ssl.TLSVersion.TLSv1_2,
            acceptableCiphers=ssl.AcceptableCiphers.fromOpenSSLCipherString(TLS12_CIPHERS),
        )
    except (crypto.Error, SSL.Error, VerifyError, ValueError) as e:
        text = str(e)
        if "do not match" in text:
            raise TLSConfigError("{} is not the private key of the certificate {}: give the "
                                 "key made with it".format(key_path, cert_path)) from None
        raise TLSConfigError("{} / {} cannot be used ({}): give an unencrypted PEM "
                             "certificate and its private key".format(
                                 cert_path, key_path, _ssl_words(e))) from None


def _ssl_words(error: BaseException) -> str:
    """OpenSSL's error list as its reasons only ('no start line'), not tuples."""
    reasons = [item[-1] for item in getattr(error, "args", [[]])[0] or ()
               if isinstance(item, tuple) and item and item[-1]]
    return ", ".join(reasons) or str(error) or type(error).__name__


#: The prefix of a pinned certificate fingerprint in ``tls_verify``.
FINGERPRINT_PREFIX = "sha256:"


def parse_fingerprint(text: str) -> str:
    """
    The SHA-256 fingerprint in ``text`` (64 hex digits, colons and case
    free, an optional ``sha256:`` prefix) as lowercase hex; TLSConfigError
    otherwise.
    """
    digits = text.strip().lower()
    if digits.startswith(FINGERPRINT_PREFIX):
        digits = digits[len(FINGERPRINT_PREFIX):]
    digits = digits.replace(":", "")
    if len(digits) != 64 or any(c not in "0123456789abcdef" for c in digits):
        raise TLSConfigError(
            "{!r} is not a SHA-256 fingerprint (64 hex digits, e.g. as 'openssl x509 -noout "
            "-fingerprint -sha256' prints it)".format(text[:100]))
    return digits


def tls_verify_setting(ca_file: str | None = None, fingerprint: str | None = None) -> str:
    """
    The ``TransportConfig.tls_verify`` for ``--tls-ca FILE`` and
    ``--tls-fingerprint SHA256``: the system's CAs without either.
    """
    if ca_file and fingerprint:
        raise TLSConfigError("give --tls-ca or --tls-fingerprint, not both")
    if fingerprint:
        return FINGERPRINT_PREFIX + parse_fingerprint(fingerprint)
    if ca_file:
        return ca_file
    return "system"


def client_tls_options(hostname: str,
                       verify: str = "system") -> IOpenSSLClientConnectionCreator:
    """
    Client TLS options for dialling ``hostname``.

    ``verify`` is ``"system"`` (system roots and host name, as the
    reference), ``"none"`` (encrypt only), ``"sha256:HEX"`` (the peer's
    certificate must have this fingerprint; names and signers are not
    checked), or the path of a PEM file of certificates to trust as roots
    (a self-signed node's own certificate, or a private CA), the host name
    checked against them.
    """
    if verify == "system":
        return ssl.optionsForClientTLS(hostname)
    if verify == "none":
        return ssl.CertificateOptions(verify=False, raiseMinimumTo=ssl.TLSVersion.TLSv1_2)
    if verify.startswith(FINGERPRINT_PREFIX):
        return _PinnedFingerprint(hostname, parse_fingerprint(verify))
    return _TrustedFile(hostname, _trust_root(verify))


def _trust_root(path: str) -> IOpenSSLTrustRoot:
    """The certificates of a PEM file, as a trust root; TLSConfigError if there are none."""
    import re

    blocks = re.findall(rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----",
                        _read(path, "CA file"), re.S)
    try:
        certificates = [ssl.Certificate.loadPEM(block) for block in blocks]
    except (crypto.Error, ValueError) as e:
        raise TLSConfigError("{} holds a certificate that cannot be read: {}".format(
            path, e)) from None
    if not certificates:
        raise TLSConfigError("--tls-ca {} holds no PEM certificate (a '-----BEGIN "
                             "CERTIFICATE-----' block): give the peer's certificate file (its "
                             "cert.pem) or your CA's".format(path))
    return ssl.trustRootFromCertificates(certificates)


class _ClientCreator:
    """TLS client connections from one context, with SNI for host names."""

    #: Why the peer's certificate was refused (a line saying what to do), or None.
    problem: str | None = None

    def __init__(self, hostname: str, options: ssl.CertificateOptions) -> None:
        from OpenSSL import SSL

        self.hostname = hostname
        self._context = options.getContext()
        self._context.set_verify(SSL.VERIFY_PEER, self._verify)

    def _verify(self, connection: SSL.Connection, certificate: crypto.X509, error_number: int,
                depth: int, ok: int) -> bool:
        raise NotImplementedError

    def clientConnectionForTLS(self, tlsProtocol: TLSMemoryBIOProtocol) -> SSL.Connection:
        from OpenSSL import SSL

        connection = SSL.Connection(self._context, None)
        connection.set_app_data(tlsProtocol)
        if not isIPAddress(self.hostname) and not isIPv6Address(self.hostname):
            connection.set_tlsext_host_name(self.hostname.encode("idna"))
        connection.set_connect_state()
        return connection


@implementer(IOpenSSLClientConnectionCreator)
class _TrustedFile(_ClientCreator):
    """
    TLS client connections that trust the certificates of a file (a
    self-signed node's own, or a private CA) and check the host name.

    Twisted's own options log a traceback when a certificate names no host
    at all (no subjectAltName) on every dial; here such a certificate is
    just not trusted, and the dial fails as any untrusted one does.
    """

    def __init__(self, hostname: str, trust_root: IOpenSSLTrustRoot) -> None:
        super().__init__(hostname, ssl.CertificateOptions(
            trustRoot=trust_root, raiseMinimumTo=ssl.TLSVersion.TLSv1_2))

    def _verify(self, connection: SSL.Connection, certificate: crypto.X509, error_number: int,
                depth: int, ok: int) -> bool:
        if not ok:
            self.problem = "no certificate of the --tls-ca file signed it: " + _TRUST_HINT
            return False
        if depth > 0:
            return True
        from service_identity import CertificateError, VerificationError
        from service_identity.cryptography import extract_patterns
        from service_identity.hazmat import DNS_ID, IPAddress_ID, verify_service_identity

        wanted: IPAddress_ID | DNS_ID
        try:
            if isIPAddress(self.hostname) or isIPv6Address(self.hostname):
                wanted = IPAddress_ID(self.hostname)
            else:
                wanted = DNS_ID(self.hostname)
            verify_service_identity(extract_patterns(certificate.to_cryptography()),
                                    [wanted], [])
        except (VerificationError, CertificateError, ValueError):
            # Another name, or none at all: not trusted (and no traceback).
            names = _names(certificate.to_cryptography())
            self.problem = (
                "it names {}, not {}: dial the node by a name the certificate names, give "
                "the node a certificate whose subjectAltName names {}, or pin it with "
                "--tls-fingerprint SHA256".format(
                    ", ".join(names[:5]) or "no host at all (no subjectAltName)",
                    self.hostname, self.hostname))
            return False
        return True


@implementer(IOpenSSLClientConnectionCreator)
class _PinnedFingerprint(_ClientCreator):
    """
    TLS client connections that accept exactly the certificate with one
    SHA-256 fingerprint (a peer without a CA), whatever signed it.
    """

    def __init__(self, hostname: str, fingerprint: str) -> None:
        self.fingerprint = fingerprint
        super().__init__(hostname, ssl.CertificateOptions(
            verify=False, raiseMinimumTo=ssl.TLSVersion.TLSv1_2))

    def _verify(self, connection: SSL.Connection, certificate: crypto.X509, error_number: int,
                depth: int, ok: int) -> bool:
        if depth > 0:
            return True  # only the peer's own certificate is pinned
        from cryptography.hazmat.primitives import hashes

        digest = certificate.to_cryptography().fingerprint(hashes.SHA256()).hex()
        if hmac.compare_digest(digest, self.fingerprint):
            return True
        self.problem = (
            "its SHA-256 fingerprint is {}, not the pinned {}: check "
            "--tls-fingerprint against 'openssl x509 -in cert.pem -noout -fingerprint "
            "-sha256' on that node".format(_colons(digest), _colons(self.fingerprint)))
        return False


def _colons(digest: str) -> str:
    return ":".join(digest[i:i + 2] for i in range(0, len(digest), 2)).upper()


def wrap_server_factory(factory: IProtocolFactory, cert_path: str,
                        key_path: str) -> TLSMemoryBIOFactory:
    """``factory`` behind TLS, for listening on a plain ``tcp:`` endpoint."""
    wrapped = TLSMemoryBIOFactory(server_tls_options(cert_path, key_path), False, factory)
    wrapped.noisy = False
    return wrapped


def wrap_client_factory(factory: IProtocolFactory, hostname: str,
                        verify: str = "system") -> TLSMemoryBIOFactory:
    """``factory`` behind TLS, for connecting with a plain ``tcp:`` endpoint."""
    creator = client_tls_options(hostname, verify)
    wrapped = TLSMemoryBIOFactory(creator, True, factory)
    wrapped.noisy = False
    #: Read by certificate_problem() when the dial fails.
    wrapped.tls_creator = creator  # type: ignore[attr-defined]
    return wrapped
