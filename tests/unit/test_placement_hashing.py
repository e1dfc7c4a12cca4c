"""Hash functions: the hashlib wrappers, and H(x) = f(x mod p) mod q by hand."""

from __future__ import annotations

import hashlib
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cluster.core.placement.hashing import (
    HASHES,
    MAX_KEY_BYTES,
    MERSENNE_61,
    ModHash,
    hash_function,
    is_prime,
    key_bytes,
    md5,
    sha1,
    sha256,
)


def test_cryptographic_hashes_are_the_digest_read_as_an_integer() -> None:
    assert sha256(b"abc") == int(
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", 16
    )
    assert md5(b"abc") == int(hashlib.md5(b"abc").hexdigest(), 16)
    assert sha1(b"abc") == int(hashlib.sha1(b"abc").hexdigest(), 16)
    assert set(HASHES) == {"md5", "sha1", "sha256", "mod"}
    with pytest.raises(ValueError, match="unknown hash 'crc'"):
        hash_function("crc")


def test_mod_hash_by_hand() -> None:
    h = ModHash(p=13, a=5, b=3, q=7)
    # x = 32; 32 mod 13 = 6; f = (5·6 + 3) mod 13 = 7; H = 7 mod 7 = 0.
    assert h(bytes([32])) == 0
    # x = 0x0102 = 258; 258 mod 13 = 11; (55 + 3) mod 13 = 6; 6 mod 7 = 6.
    assert h(b"\x01\x02") == 6
    assert "H = f mod q = 6" in h.explain(b"\x01\x02")


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"p": 2**61}, "p must be a prime"),
        ({"p": 561, "a": 5, "b": 1, "q": 7}, "p must be a prime"),  # a Carmichael number
        ({"a": 0}, "a must be in 1..p-1"),
        ({"b": MERSENNE_61}, "b must be in 0..p-1"),
        ({"q": 2**62}, "q must be in 2..p"),
    ],
)
def test_mod_hash_refuses_bad_parameters(params: dict[str, int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ModHash(**params)


def test_is_prime_agrees_with_trial_division() -> None:
    def slow(n: int) -> bool:
        return n >= 2 and all(n % d for d in range(2, int(n**0.5) + 1))

    assert [n for n in range(3000) if is_prime(n)] == [n for n in range(3000) if slow(n)]
    assert is_prime(MERSENNE_61) and not is_prime(2**61 + 1) and not is_prime(3215031751)


@given(st.binary(max_size=64), st.integers(0, 2**32))
def test_mod_hash_outputs_lie_in_0_to_q(data: bytes, seed: int) -> None:
    h = ModHash.random(random.Random(seed), q=1000)
    assert 0 <= h(data) < 1000
    assert h(data) == h(data)


def test_prime_modulus_keeps_multiples_of_a_factor_apart() -> None:
    # Keys that are all multiples of 8: with a prime p they spread over all of q...
    keys = [(8 * i).to_bytes(4, "big") for i in range(1, 400)]
    prime = ModHash(p=521, a=3, b=0, q=8)
    assert len({prime(k) for k in keys}) == 8
    # ...whereas reducing mod a power of two (what a composite p would do) keeps
    # only multiples of 8: one bucket out of eight.
    assert len({(3 * int.from_bytes(k, "big")) % 512 % 8 for k in keys}) == 1


def test_keys_are_bounded() -> None:
    assert key_bytes("é") == b"\xc3\xa9"
    with pytest.raises(ValueError, match="at most"):
        key_bytes(b"x" * (MAX_KEY_BYTES + 1))
