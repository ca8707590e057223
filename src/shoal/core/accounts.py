"""Accounts (users) and their access keys: records, key generation and the admin operations.

A user has a unique name (what the admin CLI uses), a random 64-hex canonical id (the owner id
of its buckets and objects, and the grantee id in ACLs) and a display name. It has any number of
access keys; a revoked key stays listed (active = False) but no longer authenticates. Removing a
user deletes its keys; it is refused while the user owns buckets unless forced, and a forced
removal leaves those buckets owned by a canonical id no account has (only root can reach them).
The root credentials of the server configuration are not accounts and never stored.
"""

from __future__ import annotations

import re
import secrets
import string
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .auth import Principal, canonical_id
from .secrets import SecretBox, SecretError, token_key_id

if TYPE_CHECKING:
    from .ports import Store

ACCESS_KEY_CHARS = string.ascii_uppercase + string.digits
SECRET_CHARS = string.ascii_letters + string.digits + "+/"
ACCESS_KEY_LENGTH = 20
SECRET_LENGTH = 40
RESERVED_NAMES = frozenset({"root"})  # the display name of the server's root credentials
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9+=,.@_-]{0,63}$")
_ACCESS_KEY = re.compile(r"^[A-Za-z0-9._-]{3,128}$")
_SECRET = re.compile(r"^[\x21-\x7e]{8,128}$")  # printable ASCII, no spaces
_GENERATE_ATTEMPTS = 5


@dataclass(frozen=True, slots=True)
class User:
    name: str
    user_id: str  # canonical id: 64 lowercase hex digits
    display_name: str
    created: float


@dataclass(frozen=True, slots=True)
class AccessKey:
    access_key: str
    user_id: str
    secret: str  # sealed by SecretBox, never the plain secret
    created: float
    active: bool = True


@dataclass(frozen=True, slots=True)
class NewKey:
    """A key just created: the only time its plain secret is shown."""

    user: User
    access_key: str
    secret_key: str
    created: float


class AccountError(Exception):
    """An admin operation that cannot be done; ``code`` names the reason."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def generate_access_key() -> str:
    """20 uppercase letters and digits, like an AWS access key id."""
    return "".join(secrets.choice(ACCESS_KEY_CHARS) for _ in range(ACCESS_KEY_LENGTH))


def generate_secret_key() -> str:
    """40 characters of the base64 alphabet (about 238 bits), like an AWS secret key."""
    return "".join(secrets.choice(SECRET_CHARS) for _ in range(SECRET_LENGTH))


def new_canonical_id() -> str:
    return secrets.token_hex(32)


def check_name(name: str) -> None:
    if not _NAME.match(name):
        raise AccountError("InvalidName", f"invalid user name {name!r}: 1-64 letters, digits "
                           "and +=,.@_- starting with a letter or digit")
    if name.lower() in RESERVED_NAMES:
        raise AccountError("InvalidName", f"the user name {name!r} is reserved")


def check_key_pair(access_key: str | None, secret_key: str | None) -> None:
    if (access_key is None) != (secret_key is None):
        raise AccountError("InvalidKey", "give both --access-key and --secret-key, or neither")
    if access_key is not None and not _ACCESS_KEY.match(access_key):
        raise AccountError("InvalidKey", "an access key is 3-128 letters, digits and ._-")
    if secret_key is not None and not _SECRET.match(secret_key):
        raise AccountError("InvalidKey", "a secret key is 8-128 printable ASCII characters "
                           "without spaces")


class AccountService:
    """Admin operations on accounts (used by the CLI) and key resolution (used by the server).

    ``box`` is needed only to create keys and to resolve them; ``reserved_keys`` are access keys
    that must not be given to accounts (the server's root keys, which would shadow them).
    """

    def __init__(self, store: Store, box: SecretBox | None = None,
                 reserved_keys: frozenset[str] = frozenset()) -> None:
        self.store = store
        self.box = box
        self.reserved_keys = reserved_keys

    # -- users ------------------------------------------------------------------------------
    def add_user(self, name: str, display_name: str | None = None,
                 access_key: str | None = None, secret_key: str | None = None) -> NewKey:
        """A new user with one key (generated unless given)."""
        check_name(name)
        check_key_pair(access_key, secret_key)
        self._check_unused(access_key)
        display = display_name if display_name is not None else name
        if not display.strip() or len(display) > 128:
            raise AccountError("InvalidName", "a display name is 1-128 characters")
        box = self._checked_box()
        user = User(name, new_canonical_id(), display, time.time())
        if not self.store.create_user(user):
            raise AccountError("UserExists", f"user {name!r} already exists")
        try:
            return self._add_key(box, user, access_key, secret_key)
        except BaseException:
            self.store.delete_user(name)
            raise

    def remove_user(self, name: str, force: bool = False) -> tuple[User, list[AccessKey]]:
        """Delete the user and its keys; refused while it owns buckets unless ``force``."""
        user = self.user(name)
        owned = self.store.list_buckets(user.user_id)
        if owned and not force:
            names = ", ".join(b.name for b in owned[:5]) + (", ..." if len(owned) > 5 else "")
            raise AccountError("UserOwnsBuckets", f"user {name!r} owns {len(owned)} bucket(s) "
                               f"({names}); delete them first, or use --force")
        keys = self.store.delete_user(name)
        if keys is None:
            raise AccountError("NoSuchUser", f"no user {name!r}")
        return user, keys

    def user(self, name: str) -> User:
        found = self.store.get_user(name)
        if found is None:
            raise AccountError("NoSuchUser", f"no user {name!r}")
        return found

    def list_users(self) -> list[User]:
        return self.store.list_users()

    def display_name(self, user_id: str) -> str:
        """The display name of a canonical id: an account's, "root" for the root credentials,
        else the id itself (an owner whose account was removed)."""
        if user_id == canonical_id("root"):
            return "root"
        user = self.store.get_user_by_id(user_id)
        return user.display_name if user is not None else user_id

    # -- keys -------------------------------------------------------------------------------
    def create_key(self, name: str, access_key: str | None = None,
                   secret_key: str | None = None) -> NewKey:
        check_key_pair(access_key, secret_key)
        self._check_unused(access_key)
        user = self.user(name)
        return self._add_key(self._checked_box(), user, access_key, secret_key)

    def list_keys(self, name: str | None = None) -> list[tuple[AccessKey, User]]:
        """Keys (of user ``name`` when given) with their users, oldest first."""
        users = {u.user_id: u for u in self.store.list_users()}
        user_id = None if name is None else self.user(name).user_id
        return [(k, users[k.user_id]) for k in self.store.list_keys(user_id)
                if k.user_id in users]

    def revoke_key(self, access_key: str) -> tuple[AccessKey, User | None]:
        """Deactivate a key (idempotent); it stops authenticating within the server's cache
        lifetime. Returns the key as it was before."""
        key = self.store.get_key(access_key)
        if key is None or not self.store.set_key_active(access_key, False):
            raise AccountError("NoSuchKey", f"no access key {access_key!r}")
        return key, self.store.get_user_by_id(key.user_id)

    def resolve(self, access_key: str) -> tuple[str, Principal] | None:
        """The plain secret and principal of an active key, or None (the server's lookup)."""
        found = self.store.lookup_key(access_key)
        if found is None:
            return None
        key, user = found
        if not key.active:
            return None
        secret = self._box().open(key.secret, key.access_key)
        return secret, Principal(key.access_key, user.user_id, user.display_name)

    # -- helpers ----------------------------------------------------------------------------
    def _box(self) -> SecretBox:
        if self.box is None:
            raise RuntimeError("AccountService needs the master key for this operation")
        return self.box

    def _check_unused(self, access_key: str | None) -> None:
        if access_key is None:
            return
        if access_key in self.reserved_keys or self.store.get_key(access_key) is not None:
            raise AccountError("KeyExists", f"access key {access_key!r} is already in use")

    def _checked_box(self) -> SecretBox:
        """The box, after making sure the stored keys were sealed with the same master key (a
        CLI run without the server's SHOAL_MASTER_KEY would otherwise seal keys it can't open)."""
        box = self._box()
        for key in self.store.list_keys():
            if token_key_id(key.secret) != box.key_id:
                raise SecretError(
                    f"the stored keys were sealed with master key {token_key_id(key.secret)}, "
                    f"but this process has master key {box.key_id}: run with the server's "
                    "SHOAL_MASTER_KEY or data directory")
            break
        return box

    def _add_key(self, box: SecretBox, user: User, access_key: str | None,
                 secret_key: str | None) -> NewKey:
        secret = secret_key if secret_key is not None else generate_secret_key()
        for _ in range(_GENERATE_ATTEMPTS if access_key is None else 1):
            ak = access_key if access_key is not None else generate_access_key()
            if ak in self.reserved_keys:
                continue
            now = time.time()
            if self.store.add_key(AccessKey(ak, user.user_id, box.seal(secret, ak), now)):
                return NewKey(user, ak, secret, now)
        raise AccountError("KeyExists", f"access key {access_key!r} is already in use")
