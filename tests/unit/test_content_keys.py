"""Content keys: random per video and per rotation period, sealed under the master key and bound to their place;
segments encrypted as HLS's AES-128 has them; the playlist names each key before its first segment."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from tests.unit.conftest import Adapters
from vodkit_packager.encryption import keyed_playlist
from vodkit_shared.content_keys import (
    ContentKeys,
    KeySealer,
    SealedKeyError,
    decrypt_segment,
    encrypt_segment,
    key_tag,
    media_sequence,
    new_master_key,
    tagged_key,
)

pytestmark = pytest.mark.unit


def keys(adapters: Adapters, master: str | None = None) -> ContentKeys:
    return ContentKeys(adapters.metadata.collection("content_keys"), KeySealer.from_setting(master or MASTER))


MASTER = new_master_key()


async def test_a_video_in_the_clear_has_no_policy_and_no_keys(adapters: Adapters) -> None:
    store = keys(adapters)
    assert await store.policy("v1") is None
    assert await store.key("v1", 0) is None
    with pytest.raises(LookupError):
        await store.keys_for("v1", 1)


async def test_keys_are_random_kept_and_the_same_for_every_packager_asking_at_once(adapters: Adapters) -> None:
    store = keys(adapters)
    await store.protect("v1", rotation_segments=3)
    await store.protect("v1", rotation_segments=5)  # a request sent again changes nothing
    policy = await store.policy("v1")
    assert policy is not None
    assert policy.rotation_segments == 3
    answers = await asyncio.gather(*(store.keys_for("v1", n) for n in (2, 4, 3, 4)))
    whole = answers[1]
    assert all(answer == whole[: len(answer)] for answer in answers)
    assert len(set(whole)) == 4
    assert all(len(key) == 16 for key in whole)
    assert [await store.key("v1", i) for i in range(4)] == whole
    assert await store.key("v1", 4) is None
    await store.protect("v2", rotation_segments=3)
    assert not set(await store.keys_for("v2", 4)) & set(whole)  # each video its own


async def test_keys_are_sealed_at_rest_and_open_only_under_their_master_key_and_place(adapters: Adapters) -> None:
    store = keys(adapters)
    await store.protect("v1", rotation_segments=1)
    [key, _] = await store.keys_for("v1", 2)
    doc = await adapters.metadata.collection("content_keys").get("v1")
    assert doc is not None
    assert key.hex() not in str(doc)
    assert key not in str(doc).encode()
    with pytest.raises(SealedKeyError):
        await keys(adapters, new_master_key()).key("v1", 0)
    sealer = KeySealer.from_setting(MASTER)
    sealed = doc["keys"][0]
    assert sealer.open("v1", 0, sealed) == key
    for video, index in (("v2", 0), ("v1", 1)):  # a sealed key moved to another video or index does not open
        with pytest.raises(SealedKeyError):
            sealer.open(video, index, sealed)


def test_a_master_key_too_short_to_be_random_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 32 random characters"):
        KeySealer.from_setting("password")


def test_a_segment_decrypts_only_with_its_key_and_sequence_number() -> None:
    data = bytes(range(256)) * 50 + b"tail"
    key, other = bytes(16), bytes([1] * 16)
    sealed = encrypt_segment(data, key, 7)
    assert len(sealed) % 16 == 0
    assert data[:64] not in sealed
    assert decrypt_segment(sealed, key, 7) == data
    for wrong_key, sequence in ((other, 7), (key, 8)):
        with contextlib.suppress(ValueError):  # bad padding: as likely as wrong bytes
            assert decrypt_segment(sealed, wrong_key, sequence) != data


def test_the_playlist_names_a_new_key_every_rotation() -> None:
    playlist = (
        '#EXTM3U\n#EXT-X-MAP:URI="init.mp4"\n'
        + "".join(f"#EXTINF:6.0,\nseg_{i:05d}.m4s\n" for i in range(5))
        + "#EXT-X-ENDLIST\n"
    )
    keyed = keyed_playlist(playlist, 2).splitlines()
    tags = [(i, line) for i, line in enumerate(keyed) if line.startswith("#EXT-X-KEY")]
    assert [line for _, line in tags] == [f'#EXT-X-KEY:METHOD=AES-128,URI="../keys/{n:05d}.key"' for n in range(3)]
    assert [keyed[i + 2] for i, _ in tags] == ["seg_00000.m4s", "seg_00002.m4s", "seg_00004.m4s"]
    assert keyed.index('#EXT-X-MAP:URI="init.mp4"') < tags[0][0]  # the init segment stays in the clear


def test_a_key_tag_is_read_back_as_the_player_gets_it_with_its_token() -> None:
    signed = key_tag(7).replace('.key"', '.key?token=abc"')
    assert [tagged_key(line) for line in (key_tag(0), signed, '#EXT-X-KEY:METHOD=NONE', "#EXTINF:6.0,")] == [
        0, 7, None, None,
    ]  # fmt: skip
    assert media_sequence("#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:4\n") == 4
    assert media_sequence("#EXTM3U\n") == 0
