"""Hash functions that turn a key (a file chunk's name) into a big integer.

Every placement strategy starts by hashing: the key's hash decides which
node stores it. Three are cryptographic (MD5, SHA-1, SHA-256 from hashlib):
their output looks uniformly random for any input, including keys that
differ by one character. The fourth is the course's own, written out so it
can be computed by hand:

    H(x) = f(x mod p) mod q,  with  f(y) = (a·y + b) mod p

* ``x`` is the key read as one big-endian integer (its UTF-8 bytes);
* ``p`` is a prime larger than any ``q`` we use; default 2^61 − 1, a Mersenne
  prime, so ``x mod p`` is cheap and every residue 0..p−1 can occur;
* ``f`` mixes: ``a`` (1 ≤ a < p) stretches, ``b`` (0 ≤ b < p) shifts;
* ``q`` is the size of the output space: the number of buckets, or of
  positions on a hash ring (default 2^32).

Why p must be prime: the integers mod a prime form a field, so multiplying
by any a ≠ 0 is a bijection — no two residues collide inside f. Over a
composite p, a that shares a factor with p folds many residues onto few
(with p = 2^k and even a, the top bit is lost), and keys that share a
factor with p — e.g. sizes or counters that are all multiples of 4 — pile
into a few buckets. Drawing a and b at random gives the Carter–Wegman
universal family: two different keys collide with probability about 1/q.

It is *linear*, though: keys that differ only in their last byte land at
evenly spaced points. That spreads sequential keys beautifully over a ring,
but it also means H(node ‖ key) orders nodes almost the same way for every
key, which ruins rendezvous hashing (an exercise in docs/placement-core.md).
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable
from dataclasses import dataclass

Key = bytes | str
HashFunction = Callable[[bytes], int]

MERSENNE_61 = 2**61 - 1
RING_BITS = 32
MAX_KEY_BYTES = 4096  # keys are names and hashes, never contents; bounds x in ModHash


def key_bytes(key: Key) -> bytes:
    data = key.encode("utf-8") if isinstance(key, str) else key
    if len(data) > MAX_KEY_BYTES:
        raise ValueError(
            f"key of {len(data)} bytes; at most {MAX_KEY_BYTES} (hash the content first)"
        )
    return data


def md5(data: bytes) -> int:
    return int.from_bytes(hashlib.md5(data, usedforsecurity=False).digest(), "big")


def sha1(data: bytes) -> int:
    return int.from_bytes(hashlib.sha1(data, usedforsecurity=False).digest(), "big")


def sha256(data: bytes) -> int:
    return int.from_bytes(hashlib.sha256(data).digest(), "big")


def is_prime(n: int) -> bool:
    """Deterministic Miller–Rabin, exact for every n below 3.3·10^24 (so any p we accept)."""
    if n < 2:
        return False
    small = (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41)
    for s in small:
        if n % s == 0:
            return n == s
    d, r = n - 1, 0
    while d % 2 == 0:
        d, r = d // 2, r + 1
    for base in small:
        x = pow(base, d, n)
        if x in (1, n - 1):
            continue
        for _ in range(r - 1):
            x = x * x % n
            if x == n - 1:
                break
        else:
            return False
    return True


MAX_P = 3 * 10**24  # the Miller–Rabin bases above are proven exact below this


@dataclass(frozen=True, slots=True)
class ModHash:
    """H(x) = ((a·(x mod p) + b) mod p) mod q; see the module doc for each parameter."""

    p: int = MERSENNE_61
    a: int = 0x2545F4914F6CDD1D % MERSENNE_61  # a fixed multiplier; any 1 ≤ a < p works
    b: int = 0x9E3779B97F4A7C15 % MERSENNE_61  # golden-ratio constant: "no pattern" shift
    q: int = 2**RING_BITS

    def __post_init__(self) -> None:
        if not 2 < self.p < MAX_P or not is_prime(self.p):
            raise ValueError(f"p must be a prime between 3 and {MAX_P:.1e}, got {self.p}")
        if not 1 <= self.a < self.p:
            raise ValueError(f"a must be in 1..p-1, got {self.a}")
        if not 0 <= self.b < self.p:
            raise ValueError(f"b must be in 0..p-1, got {self.b}")
        if not 2 <= self.q <= self.p:
            # Above p, the outputs p..q-1 could never occur: part of the ring stays empty.
            raise ValueError(f"q must be in 2..p, got {self.q}")

    @staticmethod
    def random(rng: random.Random, p: int = MERSENNE_61, q: int = 2**RING_BITS) -> ModHash:
        """A member of the universal family, drawn from a seeded generator."""
        return ModHash(p, rng.randrange(1, p), rng.randrange(p), q)

    def __call__(self, data: bytes) -> int:
        x = int.from_bytes(data, "big")
        return ((self.a * (x % self.p) + self.b) % self.p) % self.q

    def explain(self, data: bytes) -> str:
        """The computation step by step, for the dashboard's "how was this placed?"."""
        x = int.from_bytes(data, "big")
        y = x % self.p
        f = (self.a * y + self.b) % self.p
        return (
            f"x = {x}; x mod p = {y}; f = (a·{y} + b) mod p = {f}; "
            f"H = f mod q = {f % self.q} (p={self.p}, a={self.a}, b={self.b}, q={self.q})"
        )


HASHES: dict[str, HashFunction] = {"md5": md5, "sha1": sha1, "sha256": sha256, "mod": ModHash()}


def hash_function(name: str) -> HashFunction:
    try:
        return HASHES[name]
    except KeyError:
        raise ValueError(f"unknown hash {name!r}; known: {', '.join(HASHES)}") from None
