"""The tiny driver runs capsa's own conformance suites, as every storage driver does."""
from capsa.testing.drivers import DriverContract
from capsa.testing.storage import StorageConformance


class TestTinyDriver(DriverContract, StorageConformance):
    kind = "storage"
    name = "tiny"
