"""Unit tests of transforms/privacy.py: the actor HMAC and how its key is loaded."""
from __future__ import annotations

import pytest

from transforms.privacy import HMAC_KEY_ENV, actor_user_hmac, load_hmac_key

ROOT = "8H3aGjEatiLI42zzV0ly8t5UGQAxYfvrI3MDlrCx"


# --- actor_user_hmac -------------------------------------------------------------------

# Known answers: HMAC-SHA256 of "{root}:{user}" computed once, outside the code under test
# (Python's hmac module, and `printf %s MESSAGE | openssl dgst -sha256 -hmac KEY` for the first).
HMAC_CASES = [
    (b"secret", ROOT, "10000000000001",
     "cb6fc1456f876b58b91e1ddebc91e7a90323e843cdb3d795682ab847ea5fe13b", "root-and-user"),
    (b"secret", None, "10000000000001",
     "2a90c8fc9e28c06092cc0730a359669e80578becca1287fa82837155479268bb", "missing-root-is-empty-prefix"),
    (b"secret", "", "10000000000001",
     "2a90c8fc9e28c06092cc0730a359669e80578becca1287fa82837155479268bb", "empty-root-is-empty-prefix"),
    (b"secret\n", ROOT, "42",
     "f90d063e3b011eded9bb2aa3666de83828ebbe09495f708b35f41b91c236d96c", "key-with-trailing-newline"),
    (b"\x00\xff\x80binary", ROOT, "42",
     "62b7a63632e2c388a4043e620c9ed59ead2388a96295a3cf71f413f0e00f62ae", "binary-key"),
    (b"k" * 200, ROOT, "42",
     "da7eadfb2001bdd693d0fc7230be07bd3b02d348a728bd26442e9d613c668ad0", "key-longer-than-block"),
    (b"secret", "r\u00e9gion", "\u00fcser",
     "dcb52c53e07e7431fc6287db03119653af47195ab7b43be50b36e3d9577e8c23", "non-ascii-utf8-message"),
    (b"secret", "a:b", "c",
     "ac07d992bc01b05dfc8c7834d76c11aab3c79c67ce88c1b43535174faaaacdd0", "colon-in-root"),
]


@pytest.mark.parametrize("key, root, user, expected", [c[:4] for c in HMAC_CASES], ids=[c[4] for c in HMAC_CASES])
def test_hmac_known_answers(key, root, user, expected):
    assert actor_user_hmac(key, root, user) == expected


def test_hmac_is_lowercase_hex_sha256():
    digest = actor_user_hmac(b"secret", ROOT, "1")
    assert len(digest) == 64
    assert digest == digest.lower()
    int(digest, 16)


def test_key_bytes_are_used_as_they_are():
    with_newline = actor_user_hmac(b"secret\n", ROOT, "1")
    without = actor_user_hmac(b"secret", ROOT, "1")
    assert with_newline != without
    assert with_newline == "405bdadf0900cf39a172cb2e6cfd08cb0872a7a58db12f0ea7eccf0b473445d7"


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
    with pytest.raises(ValueError, match="is empty"):
        load_hmac_key(str(key_file), environ={HMAC_KEY_ENV: "from-env"})


def test_missing_key_file_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_hmac_key(str(tmp_path / "does-not-exist"), environ={HMAC_KEY_ENV: "from-env"})


def test_loaded_key_feeds_the_hmac(tmp_path):
    key_file = tmp_path / "key"
    key_file.write_bytes(b"secret\n")
    key = load_hmac_key(str(key_file), environ={})
    assert actor_user_hmac(key, ROOT, "1") == "405bdadf0900cf39a172cb2e6cfd08cb0872a7a58db12f0ea7eccf0b473445d7"
