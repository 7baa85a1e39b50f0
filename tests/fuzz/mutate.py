"""The seeded mutation engine: input number `i` of a run is a pure function of (seed, i, seeds).

Each input starts from one seed (sometimes spliced with a second) and takes a few stacked
mutations: bit flips, random bytes, byte insert/delete, chunk duplication and copying,
interesting integers written at aligned offsets (little- and big-endian, 1/2/4/8 bytes), and
target-specific dictionary tokens. Offsets lean towards the first 4 KiB, where binary headers,
archive directories and file preambles live. A target may add a structured mutation (JSON
values, zip members) that runs instead of the byte mutations for part of the inputs.
"""

from __future__ import annotations

import random
import struct
from collections.abc import Callable, Sequence

MAX_INPUT = 4 << 20     # a mutated input never grows past this

INTERESTING = (0, 1, 2, 3, 4, 7, 8, 15, 16, 31, 32, 63, 64, 100, 127, 128, 255, 256, 512, 1000,
               1024, 4095, 4096, 0x7FFF, 0x8000, 0xFFFF, 0x10000, 0x7FFFFFFF, 0x80000000,
               0xFFFFFFFF, 0x100000000, 0x7FFFFFFFFFFFFFFF, 0x8000000000000000, 0xFFFFFFFFFFFFFFFF)

Structured = Callable[[random.Random, bytes], bytes]


def _offset(rng: random.Random, size: int) -> int:
    if size <= 0:
        return 0
    if rng.random() < 0.5:
        return rng.randrange(min(size, 4096))
    return rng.randrange(size)


def _interesting_int(rng: random.Random, data: bytearray) -> None:
    width = rng.choice((1, 2, 4, 8))
    if len(data) < width:
        return
    value = rng.choice(INTERESTING + (len(data), len(data) + 1, len(data) - 1))
    if rng.random() < 0.2:
        value = value + rng.choice((-1, 1))
    value &= (1 << (8 * width)) - 1
    offset = _offset(rng, len(data) - width + 1)
    offset -= offset % width
    fmt = {1: "B", 2: "H", 4: "I", 8: "Q"}[width]
    struct.pack_into(("<" if rng.random() < 0.7 else ">") + fmt, data, offset, value)


def _chunk(rng: random.Random, size: int) -> tuple[int, int]:
    start = _offset(rng, size)
    length = min(size - start, 1 + int(rng.expovariate(1 / 16)))
    return start, max(length, 0)


def mutate_bytes(rng: random.Random, data: bytearray, tokens: Sequence[bytes]) -> None:
    """One byte-level mutation of `data`, in place."""
    kind = rng.randrange(9 if tokens else 8)
    size = len(data)
    if kind == 0 and size:                                   # bit flip
        data[_offset(rng, size)] ^= 1 << rng.randrange(8)
    elif kind == 1 and size:                                 # random byte
        data[_offset(rng, size)] = rng.randrange(256)
    elif kind == 2:                                          # insert bytes
        at = _offset(rng, size + 1)
        data[at:at] = bytes(rng.randrange(256) for _ in range(1 + rng.randrange(8)))
    elif kind == 3 and size:                                 # delete a range
        start, length = _chunk(rng, size)
        del data[start:start + length]
    elif kind == 4 and size:                                 # duplicate a chunk in place
        start, length = _chunk(rng, size)
        data[start:start] = data[start:start + length] * (1 + rng.randrange(4))
    elif kind == 5 and size:                                 # copy a chunk elsewhere (overwrite)
        start, length = _chunk(rng, size)
        to = _offset(rng, size)
        data[to:to + length] = data[start:start + length]
    elif kind in (6, 7):                                     # interesting integer
        _interesting_int(rng, data)
    elif kind == 8:                                          # dictionary token
        token = rng.choice(tokens)
        at = _offset(rng, size + 1)
        if rng.random() < 0.5:
            data[at:at] = token
        else:
            data[at:at + len(token)] = token


def splice(rng: random.Random, first: bytes, second: bytes) -> bytes:
    """The head of one seed joined to the tail of another."""
    cut_a = rng.randrange(len(first) + 1)
    cut_b = rng.randrange(len(second) + 1)
    return first[:cut_a] + second[cut_b:]


class Mutator:
    def __init__(self, seed: int, seeds: Sequence[bytes], tokens: Sequence[bytes] = (),
                 structured: Structured | None = None) -> None:
        if not seeds:
            raise ValueError("a target needs at least one seed input")
        self.seed = seed
        self.seeds = list(seeds)
        self.tokens = list(tokens)
        self.structured = structured

    def input(self, index: int) -> bytes:
        """Input number `index`: deterministic for (seed, index, seeds)."""
        rng = random.Random(f"{self.seed}:{index}")
        if index < len(self.seeds):          # every run first checks the seeds themselves
            return self.seeds[index]
        base = rng.choice(self.seeds)
        if len(self.seeds) > 1 and rng.random() < 0.1:
            base = splice(rng, base, rng.choice(self.seeds))
        if self.structured is not None and rng.random() < 0.5:
            try:
                base = self.structured(rng, base)
            except Exception:  # noqa: BLE001, S110 - not structured enough to mutate that way (bad zip, not JSON)
                pass
            if rng.random() < 0.5:
                return base[:MAX_INPUT]
        data = bytearray(base)
        for _ in range(1 + min(int(rng.expovariate(0.5)), 15)):
            mutate_bytes(rng, data, self.tokens)
        return bytes(data[:MAX_INPUT])
