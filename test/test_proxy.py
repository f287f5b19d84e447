"""Requests through Configuration.proxy reach the proxy with an absolute target."""

from recording import RecordingServer, Reply

from litepolis_client import ApiClient, Configuration, DefaultApi, UserApi

# Never contacted: the proxy on 127.0.0.1 responds in its place.
TARGET = "http://127.0.0.1:9"
KEY = "0b9f7c3e-5d1a-4e8b-9c2f-6a7d8e9f0a1b"


def test_proxy_gets_absolute_target():
    with RecordingServer(Reply(body=b'{"detail": "OK"}')) as proxy:
        configuration = Configuration(host=TARGET, proxy=proxy.url)
        with ApiClient(configuration) as client:
            data = DefaultApi(client).get_testroute_api_v1_public_get()

    assert data == {"detail": "OK"}
    assert [request.path for request in proxy.requests] == [TARGET + "/api/v1/public/"]


def test_proxy_forwards_api_key():
    body = b'{"detail": {"id": 1, "email": "ada@example.org", "role": "user"}}'
    with RecordingServer(Reply(body=body)) as proxy:
        configuration = Configuration(host=TARGET, proxy=proxy.url, api_key={"APIKeyHeader": KEY})
        with ApiClient(configuration) as client:
            UserApi(client).get_testroute_api_v1_secure_get()

    assert proxy.requests[0].values_of("X-API-Key") == [KEY]
