"""
Node identity: the X25519 keypair, the node id, ``node.json`` and the key
file, the shared secret between two nodes and the handshake challenge MAC.

:class:`NodeManager` loads or creates this node's :class:`LocalIdentity`;
:class:`NodeIdentity` is what peers exchange in the handshake.
"""

from lethean.identity._errors import (
    IdentityError,
    IdentityExistsError,
    IdentityWriteError,
    IdentityFileError,
    IdentityMismatchError,
    InsecureKeyFileError,
    InvalidIdentityError,
    InvalidNodeNameError,
    InvalidPublicKeyError,
    LowOrderPointError,
    NoIdentityError,
)
from lethean.identity._keys import (
    PrivateKey,
    decode_public_key,
    encode_public_key,
    generate_challenge,
    node_id_for,
    shared_secret,
    sign_challenge,
    verify_challenge,
)
from lethean.identity._node import (
    ROLE_CONTROLLER,
    ROLE_DUAL,
    ROLE_WORKER,
    ROLES,
    LocalIdentity,
    NodeIdentity,
    default_node_name,
    validate_node_name,
)
from lethean.identity._store import (
    REFUSE,
    REPAIR,
    NodeManager,
    default_identity_path,
    default_key_path,
)

__all__ = [
    "IdentityError",
    "IdentityExistsError",
    "IdentityWriteError",
    "IdentityFileError",
    "IdentityMismatchError",
    "InsecureKeyFileError",
    "InvalidIdentityError",
    "InvalidNodeNameError",
    "InvalidPublicKeyError",
    "LocalIdentity",
    "LowOrderPointError",
    "NoIdentityError",
    "NodeIdentity",
    "NodeManager",
    "PrivateKey",
    "REFUSE",
    "REPAIR",
    "ROLES",
    "ROLE_CONTROLLER",
    "ROLE_DUAL",
    "ROLE_WORKER",
    "decode_public_key",
    "default_identity_path",
    "default_key_path",
    "default_node_name",
    "encode_public_key",
    "generate_challenge",
    "node_id_for",
    "shared_secret",
    "sign_challenge",
    "validate_node_name",
    "verify_challenge",
]
