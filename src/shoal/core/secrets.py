"""The server master key and the encryption of account secrets at rest.

SigV4, SigV2 and COS signatures are HMACs keyed by the plain secret, so the server must be able
to recover it: secrets are stored encrypted (AES-256-GCM, random 96-bit nonce, the access key as
associated data so a sealed secret cannot be moved to another key), never hashed.

The master key is 32 random bytes: ``SHOAL_MASTER_KEY`` (base64) when set, else the base64 text
of ``<data dir>/master.key`` (mode 0600), generated on first use. Creation is atomic: the key is
written to a private temporary file and hard-linked into place, so processes racing to create it
all end up with the one that was linked first, and nobody ever reads a half-written file.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import os
import stat
import tempfile

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

log = logging.getLogger(__name__)

ENV_VAR = "SHOAL_MASTER_KEY"
KEY_FILE = "master.key"
KEY_BYTES = 32
NONCE_BYTES = 12
TOKEN_VERSION = "v1"
GENERATE_HINT = (
    "python -c 'import base64, os; print(base64.b64encode(os.urandom(32)).decode())'"
)


class SecretError(Exception):
    """A master key that is malformed, or a sealed secret that cannot be opened with it."""


def decode_key(text: str, where: str) -> bytes:
    """Base64 (standard or URL-safe, padding optional) of exactly 32 bytes."""
    cleaned = "".join(text.split())
    padded = cleaned + "=" * (-len(cleaned) % 4)
    try:
        raw = base64.b64decode(padded.replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != KEY_BYTES:
        raise SecretError(f"{where}: the master key must be {KEY_BYTES} bytes in base64; "
                          f"make one with: {GENERATE_HINT}")
    return raw


def encode_key(key: bytes) -> str:
    return base64.b64encode(key).decode()


def key_path(data_dir: str) -> str:
    return os.path.join(data_dir, KEY_FILE)


def load_master_key(data_dir: str, env: dict[str, str] | None = None) -> bytes:
    """``SHOAL_MASTER_KEY`` if set, else ``<data_dir>/master.key``, created once if missing."""
    environ = os.environ if env is None else env
    value = environ.get(ENV_VAR, "").strip()
    if value:
        return decode_key(value, ENV_VAR)
    path = key_path(data_dir)
    if not os.path.exists(path):
        _create_key_file(data_dir, path)
    return _read_key_file(path)


def _read_key_file(path: str) -> bytes:
    mode = stat.S_IMODE(os.stat(path).st_mode)
    if mode & 0o077:
        log.warning("%s is readable by other users (mode %o); it should be 0600", path, mode)
    with open(path, encoding="ascii") as f:
        return decode_key(f.read(), path)


def _create_key_file(data_dir: str, path: str) -> None:
    """Write a new key to a 0600 temporary file, then link it into place unless a racing
    process linked its own first (then ours is discarded and theirs is used)."""
    os.makedirs(data_dir, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".master.key.", dir=data_dir)  # mode 0600
    try:
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(encode_key(os.urandom(KEY_BYTES)) + "\n")
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            return
        _fsync_dir(data_dir)
        log.info("generated a new master key in %s", path)
    finally:
        os.unlink(tmp)


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def token_key_id(token: str) -> str:
    """The id of the master key a sealed secret was sealed with ("" if not a token)."""
    parts = token.split(":", 2)
    return parts[1] if len(parts) == 3 and parts[0] == TOKEN_VERSION else ""


class SecretBox:
    """Seals and opens account secrets with the master key.

    A sealed secret is the text ``v1:<key id>:<base64(nonce | ciphertext | tag)>``; the key id
    (8 hex digits of a hash of the master key) lets a wrong master key be told apart from a
    damaged or tampered token.
    """

    def __init__(self, master_key: bytes) -> None:
        if len(master_key) != KEY_BYTES:
            raise SecretError(f"the master key must be {KEY_BYTES} bytes")
        self._aead = AESGCM(master_key)
        self.key_id = hashlib.sha256(b"shoal-master-key-id\0" + master_key).hexdigest()[:8]

    def seal(self, secret: str, access_key: str) -> str:
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, secret.encode(), access_key.encode())
        return f"{TOKEN_VERSION}:{self.key_id}:{base64.b64encode(nonce + sealed).decode()}"

    def open(self, token: str, access_key: str) -> str:
        key_id = token_key_id(token)
        if not key_id:
            raise SecretError(f"secret of {access_key}: not a sealed secret")
        if key_id != self.key_id:
            raise SecretError(
                f"secret of {access_key} was sealed with master key {key_id}, but this process "
                f"has master key {self.key_id}: did {ENV_VAR} or {KEY_FILE} change?")
        try:
            raw = base64.b64decode(token.split(":", 2)[2], validate=True)
            plain = self._aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], access_key.encode())
        except (binascii.Error, ValueError, InvalidTag) as exc:
            raise SecretError(f"secret of {access_key} is damaged or was tampered with") from exc
        return plain.decode()
