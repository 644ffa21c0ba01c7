"""The pytest plugin: ``f2m`` gives each test a tenant of its own on one fake
per session, started from the binary on a free port (or ``F2M_BASE_URL``);
``scenario``, ``clock`` and ``journal`` are that tenant's.

    def test_my_client(f2m, scenario, clock, journal):
        client = MyClient(api_url=f2m.base_url, token=f2m.token)
        with scenario("refuse-fallback"):
            client.run()
        clock.advance("15m")
        journal.assert_clean()
"""

import os

import pytest

from .fake import Fake, start


def pytest_addoption(parser):
    group = parser.getgroup("flat2model", "flat2model-mock")
    group.addoption("--f2m-base-url", help="a running fake to use (default: F2M_BASE_URL, else start one)")
    group.addoption("--f2m-binary", help="the mock-server binary (default: F2M_MOCK_SERVER, else PATH)")
    group.addoption(
        "--f2m-strict",
        action="store_true",
        help="fail every test whose tenant's requests broke the contract (journal.assert_clean at teardown)",
    )


@pytest.fixture(scope="session")
def f2m_fake(request):
    """The fake of the session."""
    base = request.config.getoption("--f2m-base-url") or os.environ.get("F2M_BASE_URL")
    if base:
        fake = Fake(base, admin_token=os.environ.get("MOCK_ADMIN_TOKEN"))
    else:
        fake = start(request.config.getoption("--f2m-binary"))
    yield fake
    fake.close()


@pytest.fixture
def f2m(f2m_fake, request):
    """A tenant of this test alone, without the job rate limit; reset after it."""
    tenant = f2m_fake.new_tenant(job_rate_limit=0)
    yield tenant
    try:
        if request.config.getoption("--f2m-strict"):
            tenant.journal.assert_clean()
    finally:
        tenant.reset()


@pytest.fixture
def scenario(f2m):
    """``with scenario("refuse-fallback"): …`` runs the block under it."""
    return f2m.scenario


@pytest.fixture
def clock(f2m):
    """The fake's clock: ``clock.advance("15m")``."""
    return f2m.clock


@pytest.fixture
def journal(f2m):
    """This test's requests: ``journal.assert_clean()``."""
    return f2m.journal
