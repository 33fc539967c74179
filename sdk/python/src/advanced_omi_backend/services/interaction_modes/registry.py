"""`normalize_interaction_text`, the original's normaliser for matching spoken commands."""

import re
import string

# A leading "hermes" / "hey hermes" (and the Hindi spellings speech-to-text gives for it) is
# the wake word, not part of the command.
_WAKE_PREFIX = re.compile(r"^(?:(?:hey+|हे)\s+)?(?:hermes|हर्मेश|हरमिस)(?:\s+|$)")
_PUNCTUATION_TO_SPACE = str.maketrans(string.punctuation, " " * len(string.punctuation))


def normalize_interaction_text(text: str, *, strip_hermes: bool = True) -> str:
    """Lower case, ASCII punctuation turned into spaces, runs of white space made one; and, by
    default, a leading "(hey) hermes" removed. `"Hey, Hermes: Order Swiggy!"` → `"order swiggy"`."""
    normalized = re.sub(r"\s+", " ", (text or "").lower().translate(_PUNCTUATION_TO_SPACE)).strip()
    if strip_hermes:
        normalized = _WAKE_PREFIX.sub("", normalized, count=1).strip()
    return normalized


__all__ = ["normalize_interaction_text"]
