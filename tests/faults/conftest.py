"""The flow test's Prefect server and demo config, shared rather than rebuilt."""

from tests.test_flow import demo_config, prefect_server

__all__ = ["demo_config", "prefect_server"]
