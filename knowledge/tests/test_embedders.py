import math
import subprocess
import sys

import pytest
from django.core.exceptions import ImproperlyConfigured

from knowledge.embedders import Embedder, HashingEmbedder, get_embedder


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b))  # vectors are unit length


@pytest.fixture
def embedder() -> HashingEmbedder:
    return HashingEmbedder()


def test_name_dimensions_and_protocol(embedder):
    assert embedder.name == "hashing-384"
    assert embedder.dimensions == 384
    assert isinstance(embedder, Embedder)
    assert len(embedder.embed_query("deal")) == 384


def test_deterministic_across_calls_and_processes(embedder):
    text = "Negotiate stage requires the paper process"
    vector = embedder.embed_documents([text])[0]
    assert vector == embedder.embed_query(text)
    # A fresh interpreter has a different str-hash salt; blake2b keeps vectors identical.
    code = (
        "from knowledge.embedders import HashingEmbedder;"
        f"print(repr(HashingEmbedder().embed_query({text!r})))"
    )
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert eval(output) == vector  # noqa: S307 - our own subprocess printing a list of floats


def test_unit_norm_and_zero_vector(embedder):
    for vector in embedder.embed_documents(["Deal health score bands", "a", "x" * 500]):
        assert math.isclose(math.sqrt(sum(x * x for x in vector)), 1.0, rel_tol=1e-9)
    assert embedder.embed_query("") == [0.0] * 384
    assert embedder.embed_query("?! -- ...") == [0.0] * 384


def test_query_closer_to_text_sharing_its_words(embedder):
    query = embedder.embed_query("deal health score")
    related, unrelated = embedder.embed_documents(
        [
            "The deal health score is the sum of four components of 25 points.",
            "Churn risk for PLG customers depends on product usage trends.",
        ]
    )
    assert cosine(query, related) > cosine(query, unrelated) + 0.2


def test_misspelling_is_closer_to_the_right_word(embedder):
    typo = embedder.embed_query("technolgy")
    assert cosine(typo, embedder.embed_query("technology")) > 0.25
    assert cosine(typo, embedder.embed_query("technology")) > cosine(typo, embedder.embed_query("forecast")) + 0.2


def test_word_order_matters_through_bigrams(embedder):
    query = embedder.embed_query("economic buyer")
    assert cosine(query, embedder.embed_query("the economic buyer signed")) > cosine(
        query, embedder.embed_query("the buyer economic signed")
    )


def test_get_embedder_default_and_errors(settings):
    assert get_embedder().name == "hashing-384"
    assert get_embedder("hashing-384").name == "hashing-384"
    settings.KB_EMBEDDER = "hashing"
    assert get_embedder().name == "hashing-384"
    settings.KB_EMBEDDER = "nope"
    with pytest.raises(ImproperlyConfigured, match="nope"):
        get_embedder()
    with pytest.raises(ImproperlyConfigured):
        get_embedder("word2vec")
