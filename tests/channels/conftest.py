"""Channel tests run on a runtime with every provider configured against test doubles."""

from tests.gateway.conftest import PROVIDER_SETTINGS, fixture, gw_rt  # noqa: F401
