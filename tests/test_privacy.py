"""Unit tests of transforms/privacy.py: the actor HMAC and how its key is loaded."""
from __future__ import annotations

import hashlib
import hmac

import pytest

from transforms.privacy import HMAC_KEY_ENV, actor_user_hmac, load_hmac_key


def expected_hmac(key: bytes, message: str) -> str:
    return hmac.new(key, message.encode("utf-8"), hashlib.sha256).hexdigest()


ROOT = "8H3aGjEatiLI42zzV0ly8t5UGQAxYfvrI3MDlrCx"


# --- actor_user_hmac -------------------------------------------------------------------

HMAC_CASES = [
    (b"secret", ROOT, "10000000000001", f"{ROOT}:10000000000001", "root-and-user"),
    (b"secret", None, "10000000000001", ":10000000000001", "missing-root-is-empty-prefix"),
    (b"secret", "", "10000000000001", ":10000000000001", "empty-root-is-empty-prefix"),
    (b"secret\n", ROOT, "42", f"{ROOT}:42", "key-with-trailing-newline"),
    (b"\x00\xff\x80binary", ROOT, "42", f"{ROOT}:42", "binary-key"),
    (b"k" * 200, ROOT, "42", f"{ROOT}:42", "key-longer-than-block"),
    (b"secret", "r\u00e9gion", "\u00fcser", "r\u00e9gion:\u00fcser", "non-ascii-utf8-message"),
    (b"secret", "a:b", "c", "a:b:c", "colon-in-root"),
]


@pytest.mark.parametrize(
    "key, root, user, message", [c[:4] for c in HMAC_CASES], ids=[c[4] for c in HMAC_CASES]
)
def test_hmac_matches_independent_computation(key, root, user, message):
    assert actor_user_hmac(key, root, user) == expected_hmac(key, message)


def test_hmac_is_lowercase_hex_sha256():
    digest = actor_user_hmac(b"secret", ROOT, "1")
    assert len(digest) == 64
    assert digest == digest.lower()
    int(digest, 16)


def test_key_bytes_are_used_as_they_are():
    with_newline = actor_user_hmac(b"secret\n", ROOT, "1")
    without = actor_user_hmac(b"secret", ROOT, "1")
    assert with_newline != without
    assert with_newline == expected_hmac(b"secret\n", f"{ROOT}:1")


def test_root_account_scopes_the_pseudonym():
    assert actor_user_hmac(b"k", "root-a", "1") != actor_user_hmac(b"k", "root-b", "1")
    assert actor_user_hmac(b"k", None, "1") != actor_user_hmac(b"k", "root-a", "1")


def test_deterministic():
    assert actor_user_hmac(b"k", ROOT, "7") == actor_user_hmac(b"k", ROOT, "7")


NULL_CASES = [
    (None, ROOT, "1", "no-key"),
    (b"", ROOT, "1", "empty-key"),
    (b"secret", ROOT, None, "no-user"),
    (b"secret", ROOT, "", "empty-user"),
    (b"secret", None, None, "no-root-no-user"),
    (None, None, None, "nothing"),
]


@pytest.mark.parametrize("key, root, user", [c[:3] for c in NULL_CASES], ids=[c[3] for c in NULL_CASES])
def test_hmac_is_null_without_key_or_user(key, root, user):
    assert actor_user_hmac(key, root, user) is None


# --- load_hmac_key ---------------------------------------------------------------------

def test_key_file_bytes_are_returned_as_they_are(tmp_path):
    key_file = tmp_path / "key"
    key_file.write_bytes(b"s3cret value\n")
    assert load_hmac_key(str(key_file), environ={}) == b"s3cret value\n"


def test_key_file_binary_content(tmp_path):
    key_file = tmp_path / "key.bin"
    key_file.write_bytes(b"\x00\xff\xfe\r\n")
    assert load_hmac_key(str(key_file), environ={}) == b"\x00\xff\xfe\r\n"


def test_key_file_takes_precedence_over_environment(tmp_path):
    key_file = tmp_path / "key"
    key_file.write_bytes(b"from-file")
    assert load_hmac_key(str(key_file), environ={HMAC_KEY_ENV: "from-env"}) == b"from-file"


def test_environment_variable_utf8_bytes():
    assert load_hmac_key(None, environ={HMAC_KEY_ENV: "cl\u00e9 \u2603"}) == "cl\u00e9 \u2603".encode("utf-8")


def test_environment_variable_is_not_stripped():
    assert load_hmac_key(None, environ={HMAC_KEY_ENV: " key\n"}) == b" key\n"


def test_no_key_configured():
    assert load_hmac_key(None, environ={}) is None
    assert load_hmac_key("", environ={}) is None


def test_empty_environment_variable_is_no_key():
    assert load_hmac_key(None, environ={HMAC_KEY_ENV: ""}) is None


def test_reads_process_environment_by_default(monkeypatch):
    monkeypatch.setenv(HMAC_KEY_ENV, "env-key")
    assert load_hmac_key(None) == b"env-key"
    monkeypatch.delenv(HMAC_KEY_ENV)
    assert load_hmac_key(None) is None


def test_empty_key_file_is_an_error(tmp_path):
    key_file = tmp_path / "empty"
    key_file.write_bytes(b"")
    with pytest.raises(ValueError):
        load_hmac_key(str(key_file), environ={HMAC_KEY_ENV: "from-env"})


def test_missing_key_file_is_an_error(tmp_path):
    with pytest.raises(OSError):
        load_hmac_key(str(tmp_path / "does-not-exist"), environ={HMAC_KEY_ENV: "from-env"})


def test_loaded_key_feeds_the_hmac(tmp_path):
    key_file = tmp_path / "key"
    key_file.write_bytes(b"secret\n")
    key = load_hmac_key(str(key_file), environ={})
    assert actor_user_hmac(key, ROOT, "1") == expected_hmac(b"secret\n", f"{ROOT}:1")
