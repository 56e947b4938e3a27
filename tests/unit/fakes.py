"""The fakes of ``tests.support``, re-exported under their old name."""
# transitional: the worker tests import from here until they move

from tests.support.fakes import FakeClock, FakeObjectStore, FakeQueue, client_error, key_caller
from tests.support.job_table import WRITES, FakeJobTable

__all__ = ["WRITES", "FakeClock", "FakeJobTable", "FakeObjectStore", "FakeQueue", "client_error", "key_caller"]
