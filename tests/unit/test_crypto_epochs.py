"""Culling epochs (crypto.envelope format 2, crypto.keyring epochs): a data key wrapped inside its epoch's key
opens only while the ring holds that epoch; destroying it is erasure that reaches every database backup."""
from __future__ import annotations

import os
import uuid
from dataclasses import replace
from pathlib import Path

import pytest

from crypto.envelope import DataKey, WrappedKey, re_epoch, rewrap, unwrap, wrap
from crypto.errors import DecryptionFailed, KeyRingError
from crypto.keyring import FileKeyProvider
from tests.unit.test_crypto_envelope import BINDING, assert_fails, flip, make_ring, same_key


def ring_with(*epochs: str, versions: tuple[int, ...] = (1,)):
    return replace(make_ring(*versions), epochs={epoch: os.urandom(32) for epoch in epochs})


def test_an_epoch_wrap_round_trips_and_names_its_epoch() -> None:
    ring = ring_with("2031-12")
    key = DataKey.generate()
    wrapped = wrap(ring, key, binding=BINDING, epoch="2031-12")
    assert wrapped.epoch == "2031-12" and len(wrapped.ciphertext) == 89 and wrapped.ciphertext[0] == 2
    assert same_key(key, unwrap(ring, wrapped, binding=BINDING))


def test_without_its_epoch_key_the_wrap_does_not_open_whatever_the_kek() -> None:
    ring = ring_with("2031-12")
    wrapped = wrap(ring, DataKey.generate(), binding=BINDING, epoch="2031-12")
    destroyed = replace(ring, epochs={})
    assert_fails(lambda: unwrap(destroyed, wrapped, binding=BINDING))
    other_key = replace(ring, epochs={"2031-12": os.urandom(32)})
    assert_fails(lambda: unwrap(other_key, wrapped, binding=BINDING))


@pytest.mark.parametrize("change", [
    {"epoch": "2031-11"},  # relabelled with another epoch the ring holds
    {"epoch": None},  # stripped of its epoch
])
def test_a_relabelled_wrap_fails(change: dict) -> None:
    ring = ring_with("2031-12", "2031-11")
    wrapped = wrap(ring, DataKey.generate(), binding=BINDING, epoch="2031-12")
    assert_fails(lambda: unwrap(ring, replace(wrapped, **change), binding=BINDING))


def test_a_plain_wrap_claimed_as_an_epoch_wrap_fails() -> None:
    ring = ring_with("2031-12")
    plain = wrap(ring, DataKey.generate(), binding=BINDING)
    assert_fails(lambda: unwrap(ring, replace(plain, epoch="2031-12"), binding=BINDING))


def test_every_flipped_bit_fails() -> None:
    ring = ring_with("2031-12")
    wrapped = wrap(ring, DataKey.generate(), binding=BINDING, epoch="2031-12")
    for position in range(len(wrapped.ciphertext)):
        assert_fails(lambda: unwrap(ring, replace(wrapped, ciphertext=flip(wrapped.ciphertext, position, position % 8)),
                                    binding=BINDING))


def test_bound_to_the_document() -> None:
    ring = ring_with("2031-12")
    wrapped = wrap(ring, DataKey.generate(), binding=BINDING, epoch="2031-12")
    assert_fails(lambda: unwrap(ring, wrapped, binding=replace(BINDING, document_id=uuid.uuid4())))


def test_kek_rewrap_keeps_the_epoch_and_re_epoch_moves_it() -> None:
    ring = ring_with("2031-12", "2032-06", versions=(1, 2))
    old = replace(ring, keks={1: ring.keks[1]})
    key = DataKey.generate()
    wrapped = wrap(old, key, binding=BINDING, epoch="2031-12")
    moved = rewrap(ring, wrapped, binding=BINDING)
    assert (moved.kek_version, moved.epoch) == (2, "2031-12")
    later = re_epoch(ring, moved, binding=BINDING, epoch="2032-06")
    assert later.epoch == "2032-06" and same_key(key, unwrap(replace(ring, epochs={"2032-06": ring.epochs["2032-06"]}),
                                                            later, binding=BINDING))
    kept = re_epoch(ring, later, binding=BINDING, epoch=None)
    assert kept.epoch is None and kept.ciphertext[0] == 1 and same_key(key, unwrap(replace(ring, epochs={}), kept, binding=BINDING))
    assert re_epoch(ring, kept, binding=BINDING, epoch=None) is kept


def test_the_file_ring_makes_epochs_once_and_never_again_after_destroying(tmp_path: Path) -> None:
    provider = FileKeyProvider(tmp_path / "ring.json")
    provider.init()
    first = provider.ensure_epoch("2031-12")
    assert provider.ensure_epoch("2031-12").epochs == first.epochs  # the same key, not a new one
    wrapped = wrap(first, DataKey.generate(), binding=BINDING, epoch="2031-12")
    assert provider.destroy_epoch("2031-12") and not provider.destroy_epoch("2031-12")
    ring = provider.load()
    assert "2031-12" not in ring.epochs and "2031-12" in ring.destroyed_epochs
    assert b"2031-12" not in (tmp_path / "ring.json").read_bytes().split(b'"epochs"')[-1].split(b'"destroyed_epochs"')[0]
    with pytest.raises(DecryptionFailed):
        unwrap(ring, wrapped, binding=BINDING)
    with pytest.raises(KeyRingError, match="destroyed"):
        provider.ensure_epoch("2031-12")
    for bad in ("2031-13", "31-12", "2031/12", ""):
        with pytest.raises(KeyRingError):
            provider.ensure_epoch(bad)


def test_a_plain_wrapped_key_has_no_epoch() -> None:
    assert WrappedKey(1, b"x").epoch is None
