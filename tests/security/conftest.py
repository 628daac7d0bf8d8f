"""Fixtures shared with the fault tests: a gateway runtime with every provider against test
doubles, and the recording Africa's Talking send API."""

from tests.reliability.conftest import at_api, gw_rt  # noqa: F401
