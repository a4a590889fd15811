from __future__ import annotations

import json

import pytest

from events.models import Event, Run
from events.redaction import redact
from tests.helpers import load_event

# (text as a host sends it, the same text redacted, the secret that must be gone)
LEAKS = [
    (
        "Cannot fetch https://mirror:s3cr3t-pw@cdn.example.com/repodata/repomd.xml",
        "Cannot fetch https://mirror:[redacted]@cdn.example.com/repodata/repomd.xml",
        "s3cr3t-pw",
    ),
    (
        "HTTPConnectionPool: http://admin:hunter2@10.0.0.5:8080/pulp/api/v2/",
        "HTTPConnectionPool: http://admin:[redacted]@10.0.0.5:8080/pulp/api/v2/",
        "hunter2",
    ),
    (
        "550 ftp://anon:ftp-pass-77@ftp.example.org/pub/epel/",
        "550 ftp://anon:[redacted]@ftp.example.org/pub/epel/",
        "ftp-pass-77",
    ),
    (
        "https://user%40corp:p%40ss%3Aw0rd@host.example.com/x",
        "https://user%40corp:[redacted]@host.example.com/x",
        "p%40ss%3Aw0rd",
    ),
    (
        "401 for https://deploy:p@ss@w0rd-raw@host.example.com/x",
        "401 for https://deploy:[redacted]@host.example.com/x",
        "w0rd-raw",
    ),
    (
        "https://x-access-token:ghs_16C7e42F292c6912E7710c838347Ae178B4a@github.com/org/repo",
        "https://x-access-token:[redacted]@github.com/org/repo",
        "ghs_16C7e42F292c6912E7710c838347Ae178B4a",
    ),
    (
        "Error 111 connecting to redis://:redis-pw-9@cache:6379/0",
        "Error 111 connecting to redis://:[redacted]@cache:6379/0",
        "redis-pw-9",
    ),
    (
        "ProxyError('Cannot connect to proxy.', 'http://proxyuser:proxy-pw-3@proxy.corp:3128')",
        "ProxyError('Cannot connect to proxy.', 'http://proxyuser:[redacted]@proxy.corp:3128')",
        "proxy-pw-3",
    ),
    (
        "could not connect to postgresql://pulp:db-pw-4@db.internal/pulp?sslmode=require",
        "could not connect to postgresql://pulp:[redacted]@db.internal/pulp?sslmode=require",
        "db-pw-4",
    ),
    (
        "feed https:\\/\\/u:escaped-slash-pw@host\\/path",
        "feed https:\\/\\/u:[redacted]@host\\/path",
        "escaped-slash-pw",
    ),
    (
        "GET /content?user=me&password=hunter2-q&arch=x86_64",
        "GET /content?user=me&password=[redacted]&arch=x86_64",
        "hunter2-q",
    ),
    ("login with passwd=abc123xyz failed", "login with passwd=[redacted] failed", "abc123xyz"),
    (
        "https://cdn.example.com/repo?token=eyJhbGciOi.eyJzdWIi.sig-5&x=1",
        "https://cdn.example.com/repo?token=[redacted]&x=1",
        "eyJhbGciOi.eyJzdWIi.sig-5",
    ),
    ("client secret=s3cr3t-value rejected", "client secret=[redacted] rejected", "s3cr3t-value"),
    ("api_key=AKIA1234567890", "api_key=[redacted]", "AKIA1234567890"),
    ("X-Api-Key: k-0123456789", "X-Api-Key: [redacted]", "k-0123456789"),
    ("access_token=ya29.a0AfH6SM-tok", "access_token=[redacted]", "ya29.a0AfH6SM-tok"),
    ("proxy_password: pp-yaml-secret\n", "proxy_password: [redacted]\n", "pp-yaml-secret"),
    (
        "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG",
        "aws_secret_access_key = [redacted]",
        "wJalrXUtnFEMI/K7MDENG",
    ),
    ('DB_PASSWORD="shell-quoted-pw"', 'DB_PASSWORD="[redacted]"', "shell-quoted-pw"),
    ("--passphrase=gpg-phrase-1", "--passphrase=[redacted]", "gpg-phrase-1"),
    (
        "Authorization: Basic dXNlcjpwYXNzd29yZA==",
        "Authorization: [redacted]",
        "dXNlcjpwYXNzd29yZA==",
    ),
    (
        "sent Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.e30.abc-sig",
        "sent Authorization: [redacted]",
        "eyJhbGciOiJIUzI1NiJ9.e30.abc-sig",
    ),
    (
        "headers={'Authorization': 'Bearer eyJ0eXAi.tok', 'User-Agent': 'python-requests/2.6'}",
        "headers={'Authorization': '[redacted]', 'User-Agent': 'python-requests/2.6'}",
        "eyJ0eXAi.tok",
    ),
    (
        "Proxy-Authorization: Basic Zm9vOmJhcg==",
        "Proxy-Authorization: [redacted]",
        "Zm9vOmJhcg==",
    ),
    (
        "Cookie: sessionid=sess-abc-123; csrftoken=csrf-def-456",
        "Cookie: [redacted]; csrftoken=[redacted]",
        "sess-abc-123",
    ),
    ("X-Auth-Token: 0123456789abcdef", "X-Auth-Token: [redacted]", "0123456789abcdef"),
    (
        '{\\"Authorization\\": \\"Basic dXNlcjpwYXNz\\"}',
        '{\\"Authorization\\": \\"[redacted]\\"}',
        "dXNlcjpwYXNz",
    ),
    (
        "{'password': 'repr-pw-1', 'username': 'admin'}",
        "{'password': '[redacted]', 'username': 'admin'}",
        "repr-pw-1",
    ),
    (
        "{u'proxy_password': u'py2-unicode-pw', u'proxy_port': 3128}",
        "{u'proxy_password': u'[redacted]', u'proxy_port': 3128}",
        "py2-unicode-pw",
    ),
    (
        "Connection(host='db', password='kwarg-pw-2', port=5432)",
        "Connection(host='db', password='[redacted]', port=5432)",
        "kwarg-pw-2",
    ),
    (
        "requests.get(url, auth=('admin', 'tuple-pw-3'))",
        "requests.get(url, auth=('admin', '[redacted]'))",
        "tuple-pw-3",
    ),
    (
        '{"basic_auth_password": "config pw with spaces"}',
        '{"basic_auth_password": "[redacted]"}',
        "config pw with spaces",
    ),
    (
        '{"token": "tok-\\"escaped\\"-9", "n": 1}',
        '{"token": "[redacted]", "n": 1}',
        "escaped",
    ),
    (
        "ssl_client_key: -----BEGIN RSA PRIVATE KEY-----\\nMIIEpAIBAAKCAQEA7s3cr3tKeyBody\\n"
        "-----END RSA PRIVATE KEY-----",
        "ssl_client_key: -----BEGIN RSA PRIVATE KEY-----[redacted]-----END RSA PRIVATE KEY-----",
        "MIIEpAIBAAKCAQEA7s3cr3tKeyBody",
    ),
    (
        "-----BEGIN ENCRYPTED PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nMIIFHzBJBgkq\n"
        "-----END ENCRYPTED PRIVATE KEY-----",
        "-----BEGIN ENCRYPTED PRIVATE KEY-----[redacted]-----END ENCRYPTED PRIVATE KEY-----",
        "MIIFHzBJBgkq",
    ),
]

# The leaks above that are values as a host holds them, not fragments of already escaped text.
PLAIN_LEAKS = [leak for leak in LEAKS if "\\" not in leak[0]]

HARMLESS = [
    "tokenizer error at line 3",
    "token bucket exhausted, retrying in 5 seconds",
    "password policy requires 12 characters",
    "passwords do not match",
    "max_tokens: 100, token_count=42",
    "secrets_dir=/etc/pulp/secrets",
    "Authorization failed for user admin",
    "TokenExpiredError raised by the secret sauce",
    "ssl_client_cert: /etc/pki/pulp/client.crt",
    "ssl_client_key: /etc/pki/pulp/client.key",
    "https://cdn.example.com:443/content/dist/rhel/server/7/x86_64/os/",
    "http://[::1]:8080/pulp/api/v2/",
    "http://cdn.example.com:8080/path?next=a@b",
    "git@github.com:org/repo.git and ssh://git@github.com/org/repo.git",
    "Email admin@example.com for help",
    "Downloading https://cdn.example.com/a@b/pkg-1.0.rpm",
    '{"password": 5, "token": null, "secret": {"a": 1}, "api_key": ""}',
    "-----BEGIN CERTIFICATE-----\nMIIDdzCCAl+gAwIBAgIE\n-----END CERTIFICATE-----",
]


@pytest.mark.parametrize(("text", "expected", "secret"), LEAKS)
def test_it_redacts_each_leak(text, expected, secret):
    redacted = redact(text)

    assert redacted == expected
    assert secret not in redacted


@pytest.mark.parametrize("text", HARMLESS)
def test_it_leaves_ordinary_text_alone(text):
    assert redact(text) == text


@pytest.mark.parametrize(("text", "expected", "secret"), PLAIN_LEAKS)
@pytest.mark.parametrize("ensure_ascii", [True, False])
def test_it_keeps_a_json_body_valid_and_redacts_every_value(text, expected, secret, ensure_ascii):
    body = {
        "error_message": text,
        "traceback": [f'  File "x.py", line 1, in f\n    {text}\n'],
        "details": {"step": {"error": text, "nested": [text, {"k": text}]}},
    }
    raw = json.dumps(body, ensure_ascii=ensure_ascii)

    parsed = json.loads(redact(raw))

    assert secret not in json.dumps(parsed, ensure_ascii=False)
    assert parsed.keys() == body.keys()
    assert "[redacted]" in parsed["error_message"]


def test_it_keeps_the_case_of_what_it_does_not_mask():
    assert redact("PASSWORD=Secret1 X-Api-KEY: Abc AUTHORIZATION: Basic Zm9v") == (
        "PASSWORD=[redacted] X-Api-KEY: [redacted] AUTHORIZATION: [redacted]"
    )


def test_it_redacts_text_whose_lower_case_is_longer():
    # "İ" lower-cases to two characters, so the fast path's positions would not line up.
    assert redact("İstanbul mirror: Password=hunter2, auth=('u', 'p2')") == (
        "İstanbul mirror: Password=[redacted], auth=('u', '[redacted]')"
    )


def test_it_is_idempotent():
    for text, expected, _ in LEAKS:
        assert redact(expected) == expected, text


def test_it_redacts_a_string_value_of_a_json_key_whatever_it_holds():
    raw = json.dumps({"importer_config": {"proxy_password": 'a\\b"c d', "proxy_port": 3128}})

    assert json.loads(redact(raw)) == {
        "importer_config": {"proxy_password": "[redacted]", "proxy_port": 3128}
    }


def test_it_redacts_a_multi_megabyte_body_of_leaks():
    line = "GET https://u:pw-{0}@h/x?token=t-{0} Authorization: Basic b-{0}"
    raw = json.dumps({"details": [line.format(n) for n in range(40_000)]})

    parsed = json.loads(redact(raw))

    assert len(raw) > 2_000_000
    assert parsed["details"][123] == (
        "GET https://u:[redacted]@h/x?token=[redacted] Authorization: [redacted]"
    )
    assert not any("pw-" in item or "t-" in item or "b-" in item for item in parsed["details"])


LEAKY_FINISH = {
    "error_message": "Error retrieving https://mirror:url-pw-1@cdn.example.com/repomd.xml",
    "exception": "HTTPError('401 for https://deploy:exc-pw-2@cdn.example.com')",
    "traceback": [
        '  File "/usr/lib/python2.7/site-packages/nectar/downloaders/threaded.py", line 202\n'
        "    session.get(url, auth=('admin', 'tb-pw-3'))\n",
        "  File \"x.py\", line 9, in fetch\n    headers={'Authorization': 'Bearer tb-tok-4'}\n",
    ],
    "summary": {"content": {"state": "FAILED", "error": "proxy http://pu:sum-pw-5@proxy:3128"}},
    "details": {
        "importer_config": {"basic_auth_password": "cfg-pw-6", "proxy_password": "cfg-pw-7"},
        "errors": ["GET /repo?token=det-tok-8 answered 403"],
    },
}
SECRETS = [
    "url-pw-1",
    "exc-pw-2",
    "tb-pw-3",
    "tb-tok-4",
    "sum-pw-5",
    "cfg-pw-6",
    "cfg-pw-7",
    "det-tok-8",
]


def _leaky_event() -> dict:
    event = load_event("sync-finished-error-traceback")
    event["payload"].update(LEAKY_FINISH)
    event["call_report"]["progress_report"] = {"note": "feed password=rep-pw-9"}
    return event


def _assert_clean(text: str) -> None:
    for secret in [*SECRETS, "rep-pw-9"]:
        assert secret not in text


def test_it_stores_nothing_secret_from_an_ingested_event(post):
    post(_leaky_event(), status=200)

    event = Event.objects.get()
    run = Run.objects.get()
    _assert_clean(event.body)
    stored = [
        run.error_message,
        run.exception,
        run.traceback,
        json.dumps(run.summary),
        json.dumps(run.details),
        json.dumps(run.error_report),
    ]
    _assert_clean("\n".join(stored))
    assert run.error_message == (
        "Error retrieving https://mirror:[redacted]@cdn.example.com/repomd.xml"
    )
    assert "auth=('admin', '[redacted]')" in run.traceback
    assert run.details["importer_config"]["basic_auth_password"] == "[redacted]"
    assert json.loads(event.body)["payload"]["details"] == run.details


def test_it_shows_only_redacted_text_in_the_api(post, admin_client):
    post(_leaky_event(), status=200)
    run = Run.objects.get()

    response = admin_client.get(f"/api/runs/{run.pk}/")

    assert response.status_code == 200
    _assert_clean(response.content.decode())
    assert response.json()["explanation"] == (
        "Error retrieving https://mirror:[redacted]@cdn.example.com/repomd.xml"
    )


def test_it_shows_only_redacted_text_on_the_run_page(post, admin_client):
    post(_leaky_event(), status=200)
    run = Run.objects.get()

    response = admin_client.get(f"/runs/{run.pk}/")

    assert response.status_code == 200
    page = response.content.decode()
    _assert_clean(page)
    assert "https://mirror:[redacted]@cdn.example.com/repomd.xml" in page


def test_it_shows_only_redacted_text_on_the_event_page(post, admin_client):
    post(_leaky_event(), status=200)

    response = admin_client.get(f"/events/{Event.objects.get().pk}/")

    assert response.status_code == 200
    _assert_clean(response.content.decode())


def test_it_redacts_before_fingerprinting(post):
    first = _leaky_event()
    second = _leaky_event()
    second["payload"]["id"] = "6571c0291c2d4e0012ab9999"
    second["call_report"]["task_id"] = "b2c4e6f8-1b3d-4f5a-8c7e-9d0b1a2c3e4f"
    second["payload"]["error_message"] = first["payload"]["error_message"].replace(
        "url-pw-1", "other-pw"
    )

    post(first, status=200)
    post(second, status=200)

    fingerprints = set(Run.objects.values_list("fingerprint", flat=True))
    assert len(fingerprints) == 1
    assert fingerprints != {""}
