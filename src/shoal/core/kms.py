"""The keys that seal object data: SSE-S3's, named KMS keys, and the check of SSE-C keys.

All derive from the server master key (``core.secrets``):

* SSE-S3 uses a key derived from the master key (HKDF-SHA256, its own label).
* A KMS key is 32 random bytes stored sealed with the master key (``SecretBox``, the key id as
  associated data) in the metadata store; ``shoal kms create`` makes one, and a request for
  SSE-KMS without a key id uses the key ``default``, created on first use.
* An SSE-C key is never stored. An object keeps a random salt and HMAC-SHA256(check key,
  salt | customer key), the check key derived from the master key, to tell later requests that
  bring the right key from those that do not.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import threading
import time
import uuid
import weakref
from dataclasses import dataclass
from typing import Any, Protocol

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from .crypto import KEY_BYTES, Kek
from .errors import ShoalError
from .secrets import SecretBox, SecretError, load_master_key

DEFAULT_KEY_ID = "default"
_KEY_ID = re.compile(r"[A-Za-z0-9][!-~]{0,255}")  # printable ASCII, no spaces
SALT_BYTES = 16


@dataclass(frozen=True, slots=True)
class KmsKey:
    """A named key; ``material`` is sealed with the master key, never plain."""

    key_id: str
    created: float
    material: str


class KmsStore(Protocol):
    def create_kms_key(self, key: KmsKey) -> bool:
        """Insert; False (and nothing inserted) when the key id exists."""

    def get_kms_key(self, key_id: str) -> KmsKey | None: ...

    def list_kms_keys(self) -> list[KmsKey]:
        """All keys, ordered by (created, key id)."""


class KmsError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


def _derive(master_key: bytes, label: bytes) -> bytes:
    return HKDF(hashes.SHA256(), KEY_BYTES, salt=None, info=label).derive(master_key)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def check_key_id(key_id: str) -> str:
    if not _KEY_ID.fullmatch(key_id):
        raise KmsError("InvalidKeyId", f"invalid key id {key_id!r}: 1-256 printable ASCII "
                       "characters, no spaces, starting with a letter or digit")
    return key_id


def not_found(key_id: str) -> ShoalError:
    return ShoalError("KMS.NotFoundException", f"Invalid keyId {key_id}", KeyId=key_id)


class KeyService:
    """KEKs for the three kinds of server-side encryption, from one master key and a store."""

    def __init__(self, master_key: bytes, store: KmsStore) -> None:
        self._box = SecretBox(master_key)
        self._store = store
        self._sse_s3 = Kek(_derive(master_key, b"shoal sse-s3 kek v1"), b"sse-s3")
        self._check = _derive(master_key, b"shoal sse-c key check v1")
        self._kms: dict[str, bytes] = {}  # key id -> material (keys are never changed)
        self._lock = threading.Lock()

    # -- SSE-S3 and SSE-C ------------------------------------------------------------------
    def sse_s3(self) -> Kek:
        return self._sse_s3

    @staticmethod
    def customer(key: bytes) -> Kek:
        return Kek(key, b"sse-c")

    def key_check(self, key: bytes) -> dict[str, str]:
        """What an SSE-C object keeps to recognise its key: a salt and a keyed hash."""
        salt = os.urandom(SALT_BYTES)
        return {"key_salt": _b64(salt), "key_hmac": _b64(self._hmac(salt, key))}

    def key_matches(self, key: bytes, sse: dict[str, Any]) -> bool:
        try:
            salt = base64.b64decode(sse["key_salt"], validate=True)
            want = base64.b64decode(sse["key_hmac"], validate=True)
        except (KeyError, TypeError, ValueError):
            return False
        return hmac.compare_digest(self._hmac(salt, key), want)

    def _hmac(self, salt: bytes, key: bytes) -> bytes:
        return hmac.new(self._check, salt + key, hashlib.sha256).digest()

    # -- KMS -------------------------------------------------------------------------------
    def kms_cached(self, key_id: str | None, context: str | None = None) -> Kek | None:
        """The KEK of a key already in memory (no store access), else None."""
        material = self._kms.get(key_id or DEFAULT_KEY_ID)
        return None if material is None else self._kms_kek(key_id or DEFAULT_KEY_ID,
                                                            material, context)

    def kms(self, key_id: str | None, context: str | None = None) -> tuple[str, Kek]:
        """(key id, KEK) of a KMS key (``default`` when None, created on first use). Blocking:
        may read the store. An unknown key id is KMS.NotFoundException."""
        key_id = key_id or DEFAULT_KEY_ID
        material = self._kms.get(key_id)
        if material is None:
            material = self._load(key_id)
        return key_id, self._kms_kek(key_id, material, context)

    @staticmethod
    def _kms_kek(key_id: str, material: bytes, context: str | None) -> Kek:
        return Kek(material, b"kms\0" + key_id.encode() + b"\0" + (context or "").encode())

    def _load(self, key_id: str) -> bytes:
        key = self._store.get_kms_key(key_id) if _KEY_ID.fullmatch(key_id) else None
        if key is None and key_id == DEFAULT_KEY_ID:
            self._store.create_kms_key(self._new(key_id))  # False: a racing process won
            key = self._store.get_kms_key(key_id)
        if key is None:
            raise not_found(key_id)
        try:
            material = base64.b64decode(self._box.open(key.material, _aad(key_id)))
        except SecretError as exc:
            raise ShoalError("InternalError", f"KMS key {key_id} cannot be opened") from exc
        with self._lock:
            self._kms[key_id] = material
        return material

    def _new(self, key_id: str) -> KmsKey:
        material = _b64(os.urandom(KEY_BYTES))
        return KmsKey(key_id, time.time(), self._box.seal(material, _aad(key_id)))

    def create(self, key_id: str | None = None) -> KmsKey:
        """A new named key (a random UUID as its id when None); KmsError if the id is taken."""
        key = self._new(check_key_id(key_id) if key_id else str(uuid.uuid4()))
        if not self._store.create_kms_key(key):
            raise KmsError("KeyExists", f"a KMS key {key.key_id} exists already")
        return key

    def list_keys(self) -> list[KmsKey]:
        return self._store.list_kms_keys()

    # -- one per store -----------------------------------------------------------------------
    @classmethod
    def shared(cls, store: KmsStore, data_dir: str) -> KeyService:
        """The service of ``store`` in this process (the master key of ``data_dir`` or
        SHOAL_MASTER_KEY, loaded once)."""
        with _shared_lock:
            svc = _shared.get(store)
            if svc is None:
                svc = _shared[store] = cls(load_master_key(data_dir), store)
            return svc


def _aad(key_id: str) -> str:
    return f"kms:{key_id}"


_shared: weakref.WeakKeyDictionary[Any, KeyService] = weakref.WeakKeyDictionary()
_shared_lock = threading.Lock()
