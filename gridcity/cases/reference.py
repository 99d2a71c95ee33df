"""The public reference (查询码) of a case: what a citizen is given to look the case up.

The internal number (20250910000001) is a date and a sequence: anyone can count through it. The
reference is 10 characters drawn at random from Crockford's base-32 alphabet (no I, L, O or U,
so nothing reads as 1 or 0): 32¹⁰ ≈ 10¹⁵ values, about 50 bits. A city with ten million cases
fills one value in a hundred million, so a guess finds nothing and a few hundred (all a
throttled client gets in a day) find nothing either."""

import secrets

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
LENGTH = 10
# What people type for the letters the alphabet leaves out.
_READS_AS = str.maketrans({"O": "0", "I": "1", "L": "1"})


def new_public_reference() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))


def normalize_reference(text: str) -> str | None:
    """The reference a citizen typed, however spaced, hyphenated or cased; None if it cannot
    be one."""
    ref = "".join(text.split()).replace("-", "").upper().translate(_READS_AS)
    if len(ref) != LENGTH or any(c not in ALPHABET for c in ref):
        return None
    return ref


def format_reference(ref: str) -> str:
    """Shown in two groups of five, easier to read out and copy: 7KQ2M-X9T4B."""
    return f"{ref[:5]}-{ref[5:]}" if len(ref) == LENGTH else ref
