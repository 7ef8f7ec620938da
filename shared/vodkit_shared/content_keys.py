"""The AES-128 content keys of encrypted videos, sealed at rest (collection `content_keys`).

A video is encrypted when its owner asks for it at creation (`"encryption": "aes-128"`, or the
gateway's default): the gateway records its policy here, the packager encrypts its segments with a
new key every `rotation_segments` segments, and the gateway hands each key, under the video's playback
token, to the player that reads the `EXT-X-KEY` tag. Every other service only asks `policy`, to know
the video is not to leave clear media about (the transcoder's early preview).

Each key is 16 bytes from the operating system's CSPRNG (`secrets`), made when the packager first
needs it, and stored sealed with AES-256-GCM under the content master key (from `VODKIT_CONTENT_KEY`, a
setting, never stored beside the keys), with the video id and key index as associated data: a sealed
key copied to another video's record, or to another index, no longer opens. Keys never go into the
object store, where the segments they open lie.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import re
import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.padding import PKCS7
from pydantic import BaseModel, Field

from vodkit_shared.metadata import Collection, Document, DuplicateKey

KEY_BYTES = 16  # AES-128, as HLS's METHOD=AES-128 uses
MASTER_KEY_BYTES = 32  # AES-256-GCM seals the keys
MIN_SETTING_CHARS = 32
_NONCE_BYTES = 12
# Where a player fetches key N: `/videos/{videoId}/keys/{name}` (the gateway's route), which a rung's
# playlist (`/videos/{videoId}/{rung}/playlist.m3u8`) names as `../keys/{name}`.
KEY_NAME_PATTERN = r"[0-9]{5}\.key"


_MEDIA_SEQUENCE = re.compile(r"^#EXT-X-MEDIA-SEQUENCE:(\d+)$", re.MULTILINE)
_KEY_TAG = re.compile(r'^#EXT-X-KEY:METHOD=AES-128,URI="\.\./keys/([0-9]{5})\.key')


def key_name(index: int) -> str:
    return f"{index:05d}.key"


def key_index(name: str) -> int:
    return int(name.removesuffix(".key"))


def key_tag(index: int) -> str:
    """The playlist tag naming key `index` for the segments after it."""
    return f'#EXT-X-KEY:METHOD=AES-128,URI="../keys/{key_name(index)}"'


def tagged_key(line: str) -> int | None:
    """The key a playlist line's `key_tag` names (its URI may carry a token since), else None."""
    found = _KEY_TAG.match(line)
    return int(found.group(1)) if found else None


def media_sequence(playlist: str) -> int:
    """The first segment's media sequence number (the IV of an encrypted segment counts from it)."""
    found = _MEDIA_SEQUENCE.search(playlist)
    return int(found.group(1)) if found else 0


class SealedKeyError(Exception):
    """A sealed key does not open under this master key: the wrong key is configured, or the record was altered."""


class KeySealer:
    """Seals and opens content keys with the master key."""

    def __init__(self, master_key: bytes) -> None:
        if len(master_key) != MASTER_KEY_BYTES:
            raise ValueError(f"the content master key must be {MASTER_KEY_BYTES} bytes")
        self._aead = AESGCM(master_key)

    @classmethod
    def from_setting(cls, value: str) -> KeySealer:
        """From the setting, a random string of at least 32 characters (as `VODKIT_AUTH_SECRET` is): its
        SHA-256, under a label of its own, is the AES-256 key."""
        if len(value) < MIN_SETTING_CHARS:
            raise ValueError(f"VODKIT_CONTENT_KEY must be at least {MIN_SETTING_CHARS} random characters")
        return cls(hashlib.sha256(b"vodkit:content-master-key:" + value.encode()).digest())

    def seal(self, video_id: str, index: int, key: bytes) -> str:
        nonce = secrets.token_bytes(_NONCE_BYTES)
        return base64.b64encode(nonce + self._aead.encrypt(nonce, key, _context(video_id, index))).decode()

    def open(self, video_id: str, index: int, sealed: str) -> bytes:
        raw = base64.b64decode(sealed)
        try:
            return self._aead.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], _context(video_id, index))
        except InvalidTag:
            raise SealedKeyError(f"key {index} of video {video_id} does not open under this master key") from None


def new_master_key() -> str:
    """A fresh master key in the setting's form."""
    return secrets.token_urlsafe(48)


class EncryptionPolicy(BaseModel):
    """How one video is encrypted, fixed when it is created."""

    method: str = Field("aes-128", description="HLS's METHOD: whole segments, AES-128-CBC.")
    rotation_segments: int = Field(ge=1, description="Segments under one key before the next key.")
    keys: list[str] = Field(default_factory=list, description="Sealed keys, in the order the segments use them.")


class ContentKeys:
    """Per-video encryption policy and keys. `policy` needs no master key; the keys themselves do."""

    def __init__(self, collection: Collection, sealer: KeySealer | None = None) -> None:
        self._c = collection
        self._sealer = sealer

    async def protect(self, video_id: str, rotation_segments: int) -> None:
        """The video's segments are to be encrypted, with a new key every `rotation_segments`."""
        with contextlib.suppress(DuplicateKey):  # a request sent again
            await self._c.insert(video_id, EncryptionPolicy(rotation_segments=rotation_segments).model_dump())

    async def policy(self, video_id: str) -> EncryptionPolicy | None:
        """None for a video in the clear."""
        doc = await self._c.get(video_id)
        return EncryptionPolicy.model_validate(doc) if doc else None

    async def keys_for(self, video_id: str, count: int) -> list[bytes]:
        """The video's first `count` keys, made now where they do not exist yet.

        Packagers of several rungs ask at once; the compare-and-set keeps the keys one of them made.
        """
        sealer = self._sealing()

        def extend(doc: Document) -> Document | None:
            have = len(doc["keys"])
            if have >= count:
                return None
            made = [sealer.seal(video_id, i, secrets.token_bytes(KEY_BYTES)) for i in range(have, count)]
            return {**doc, "keys": [*doc["keys"], *made]}

        doc = await self._c.update(video_id, extend)
        if doc is None:
            raise LookupError(f"video {video_id} is not encrypted")
        return [sealer.open(video_id, i, sealed) for i, sealed in enumerate(doc["keys"][:count])]

    async def key(self, video_id: str, index: int) -> bytes | None:
        """Key `index` of the video; None if it has no such key."""
        policy = await self.policy(video_id)
        if policy is None or not 0 <= index < len(policy.keys):
            return None
        return self._sealing().open(video_id, index, policy.keys[index])

    async def forget(self, video_id: str) -> None:
        """The video is deleted: its keys go with it."""
        await self._c.delete(video_id)

    def _sealing(self) -> KeySealer:
        if self._sealer is None:
            raise RuntimeError("this service has no content master key")
        return self._sealer


def encrypt_segment(data: bytes, key: bytes, sequence: int) -> bytes:
    """A whole segment as HLS's METHOD=AES-128 has it: AES-128-CBC, PKCS#7 padding, and the IV the
    playlist leaves implicit, the segment's media sequence number (RFC 8216, 5.2)."""
    padder = PKCS7(128).padder()
    encryptor = Cipher(algorithms.AES(key), modes.CBC(_iv(sequence))).encryptor()
    return encryptor.update(padder.update(data) + padder.finalize()) + encryptor.finalize()


def decrypt_segment(data: bytes, key: bytes, sequence: int) -> bytes:
    """What a player does with a segment and its key; ValueError if the key is not the segment's."""
    decryptor = Cipher(algorithms.AES(key), modes.CBC(_iv(sequence))).decryptor()
    unpadder = PKCS7(128).unpadder()
    return unpadder.update(decryptor.update(data) + decryptor.finalize()) + unpadder.finalize()


def _iv(sequence: int) -> bytes:
    return sequence.to_bytes(16, "big")


def _context(video_id: str, index: int) -> bytes:
    return f"vodkit:content-key:{video_id}:{index}".encode()
