"""Conformance suites that every driver, built-in or third-party, runs.

Subclass a suite in your own tests and name the driver under test::

    from capsa.testing.drivers import DriverContract
    from capsa.testing.storage import StorageConformance

    class TestMyDriver(DriverContract, StorageConformance):
        kind = "storage"
        name = "mydriver"

The suites load the driver through its entry point, exactly as capsa does, with a temporary
root and runroot per test. They need pytest.
"""
