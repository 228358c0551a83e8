"""Text embedders for knowledge chunks and queries.

Only a lexical, model-free embedder ships today (:class:`HashingEmbedder`). Another embedder
(a sentence-transformer, Bedrock Titan, OpenAI...) plugs in by implementing :class:`Embedder`,
registering in :data:`_FACTORIES` and getting its own partial HNSW index for its dimension.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections import Counter
from functools import lru_cache
from typing import Callable, Protocol, runtime_checkable

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into fixed-length float vectors compared by cosine similarity.

    ``name`` identifies model *and* dimension (stored on each chunk as ``embedding_model``);
    vectors of different names must never be compared.
    """

    name: str
    dimensions: int

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """One vector of ``dimensions`` floats per text, in order."""
        ...

    def embed_query(self, text: str) -> list[float]:
        """The vector of a search query (some models embed queries differently)."""
        ...


# Function words carry no topic; without IDF they would make every English text look alike.
_STOPWORDS = frozenset(
    """a an and are as at be been but by can could did do does for from had has have how i if in
    into is it its me my of on or our so than that the their them then there these they this to
    us was we were what when where which who why will with would you your""".split()
)
_WORD_RE = re.compile(r"[^\W_]+")  # letters/digits; '_' splits (close_date -> close, date)

# Weight per feature family, keyed by the feature's prefix.
_WEIGHTS = {"w": 1.0, "b": 0.7, "c": 0.2}
_CHAR_NGRAM_SIZES = (3, 4, 5)


@lru_cache(maxsize=65536)
def _bucket(feature: str, dimensions: int) -> tuple[int, float]:
    # blake2b, not hash(): Python's str hash is salted per process, and stored vectors must be
    # reproducible across processes and releases.
    value = int.from_bytes(hashlib.blake2b(feature.encode("utf-8"), digest_size=8).digest(), "little")
    return value % dimensions, (1.0 if value >> 63 else -1.0)


class HashingEmbedder:
    """Lexical embedder using the hashing trick; needs no model, no network, no training.

    Features of the lower-cased text (words are runs of letters/digits; a short English stopword
    list is dropped unless the text has nothing else):

    - word unigrams, weight 1.0;
    - word bigrams of consecutive kept words, weight 0.7;
    - character 3-, 4- and 5-grams of each kept word with boundary markers (``<word>``),
      weight 0.2 each, so spelling variants and typos ("technolgy") still overlap.

    Each feature is hashed with BLAKE2b into one of ``dimensions`` buckets with a sign taken from
    the hash (so collisions cancel out on average rather than pile up), weighted by
    ``weight * (1 + ln tf)`` (sublinear term frequency), and the vector is L2-normalised. A text
    without any word gives the zero vector.

    This is honest keyword-and-spelling matching: it finds texts that share words, word pairs and
    word fragments with the query. It does not know meaning: "churn" and "attrition" are
    unrelated to it. The feature recipe is part of ``name``'s contract: change it, change the name
    (and re-index), or stored vectors become incomparable with new queries.
    """

    def __init__(self, dimensions: int = 384) -> None:
        if dimensions < 16:
            raise ImproperlyConfigured(f"HashingEmbedder needs at least 16 dimensions, got {dimensions}")
        self.dimensions = dimensions
        self.name = f"hashing-{dimensions}"

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Return one unit-length (or zero) vector of ``dimensions`` floats per text."""
        return [self._embed(text) for text in texts]

    def embed_query(self, text: str) -> list[float]:
        """Same features as documents (the scheme is symmetric)."""
        return self._embed(text)

    def _features(self, text: str) -> Counter[str]:
        words = _WORD_RE.findall(text.lower())
        kept = [w for w in words if w not in _STOPWORDS] or words
        features: Counter[str] = Counter()
        for word in kept:
            features["w:" + word] += 1
            marked = f"<{word}>"
            for size in _CHAR_NGRAM_SIZES:
                for start in range(len(marked) - size + 1):
                    features["c:" + marked[start : start + size]] += 1
        for first, second in zip(kept, kept[1:]):
            features[f"b:{first} {second}"] += 1
        return features

    def _embed(self, text: str) -> list[float]:
        vector = [0.0] * self.dimensions
        for feature, tf in self._features(text).items():
            index, sign = _bucket(feature, self.dimensions)
            vector[index] += sign * _WEIGHTS[feature[0]] * (1.0 + math.log(tf))
        norm = math.sqrt(sum(x * x for x in vector))
        if norm == 0.0:
            return vector
        return [x / norm for x in vector]


_FACTORIES: dict[str, Callable[[], Embedder]] = {
    "hashing": lambda: HashingEmbedder(384),
    "hashing-384": lambda: HashingEmbedder(384),
}


def get_embedder(name: str | None = None) -> Embedder:
    """Return the embedder called ``name`` (default: ``settings.KB_EMBEDDER``, else ``"hashing"``).

    Known names: ``hashing`` / ``hashing-384``.

    Raises:
        ImproperlyConfigured: unknown name.
    """
    name = name or getattr(settings, "KB_EMBEDDER", None) or "hashing"
    try:
        factory = _FACTORIES[name]
    except KeyError:
        known = ", ".join(sorted(_FACTORIES))
        raise ImproperlyConfigured(f"Unknown knowledge-base embedder {name!r}; known: {known}") from None
    return factory()
