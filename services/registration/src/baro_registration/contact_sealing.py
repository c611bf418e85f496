"""Contacts sealed for the event store: AES-256-GCM under the registration's own data key.

An envelope names its key (the registration id) and is bound to it (the id is the
authenticated data), so a ciphertext copied into another registration does not open.
Deleting the key leaves the envelope in the immutable events, unreadable by anyone.
"""

from __future__ import annotations

import base64
import json
import os
from typing import Any
from uuid import UUID

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

SCHEME = "aes-256-gcm"
NONCE_BYTES = 12


def new_data_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)


def is_sealed(contacts: dict[str, Any]) -> bool:
    """Whether recorded contacts are an envelope (else the plain text recorded before
    contacts were encrypted)."""
    return contacts.get("scheme") == SCHEME


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


class Sealer:
    """Seals one registration's contacts with its data key."""

    def __init__(self, key: bytes, registration_id: UUID) -> None:
        self._aead = AESGCM(key)
        self.registration_id = registration_id

    def __call__(self, contacts: dict[str, Any]) -> dict[str, str]:
        nonce = os.urandom(NONCE_BYTES)
        plaintext = json.dumps(contacts, sort_keys=True, separators=(",", ":")).encode()
        ciphertext = self._aead.encrypt(nonce, plaintext, self.registration_id.bytes)
        return {
            "scheme": SCHEME,
            "key_id": str(self.registration_id),
            "nonce": _b64(nonce),
            "ciphertext": _b64(ciphertext),
        }


def unseal(key: bytes, envelope: dict[str, Any]) -> dict[str, Any]:
    """The contacts in `envelope`; raises cryptography's InvalidTag for a wrong key or an
    altered envelope."""
    nonce = base64.b64decode(envelope["nonce"])
    ciphertext = base64.b64decode(envelope["ciphertext"])
    plaintext = AESGCM(key).decrypt(nonce, ciphertext, UUID(envelope["key_id"]).bytes)
    contacts: dict[str, Any] = json.loads(plaintext)
    return contacts
