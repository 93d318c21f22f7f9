"""What the miner bundle tests share: a miner binary, fixed nonces, and a call's outcome."""

ELF = b"\x7fELF\x02\x01\x01" + bytes(300)
NONCES = dict(config_nonce=bytes(range(24)), rootfs_nonce=bytes(range(24, 48)))


def outcome(function, *args, **kwargs):
    """The value, or the error's type and text."""
    try:
        return "ok", function(*args, **kwargs)
    except Exception as e:
        return type(e), str(e)
