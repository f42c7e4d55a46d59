"""Pseudonymisation of the acting user.

Analysts need to count distinct actors and follow one actor across events, not
to know who they are, so the user id is replaced by a keyed HMAC. The key is
scoped by root account because Canvas user ids are only unique per shard.
"""
from __future__ import annotations

import hashlib
import hmac
import os

HMAC_KEY_ENV = "RETRY_LINEAGE_HMAC_KEY"
PSEUDONYMIZATION_ON = "hmac-sha256"
PSEUDONYMIZATION_OFF = "disabled"


def actor_user_hmac(key: bytes | None, root_account_uuid: str | None, user_id: str | None) -> str | None:
    """Hex HMAC-SHA256 of ``"{root_account_uuid}:{user_id}"``; None without key or user."""
    if not key or not user_id:
        return None
    message = f"{root_account_uuid or ''}:{user_id}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def load_hmac_key(key_file: str | None, environ: dict[str, str] | None = None) -> bytes | None:
    """The key file's bytes as they are, else the environment variable's UTF-8 bytes.

    The key file may live on any Beam filesystem (``gs://...``). Returns None
    when no key is configured; an empty key counts as none.
    """
    if key_file:
        from apache_beam.io.filesystems import FileSystems

        with FileSystems.open(key_file, compression_type="uncompressed") as handle:
            key = handle.read()
        if not key:
            raise ValueError(f"HMAC key file {key_file} is empty")
        return key
    value = (environ if environ is not None else os.environ).get(HMAC_KEY_ENV)
    return value.encode("utf-8") if value else None
