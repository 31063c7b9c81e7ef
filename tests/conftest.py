"""Fixtures for the whole suite: the test hosts (tests/host/fixtures.py) and the wizard harness."""

pytest_plugins = ["tests.host.fixtures", "tests.host.harness"]
