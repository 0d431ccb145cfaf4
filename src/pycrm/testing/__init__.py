"""Test support for pycrm users: the storage contract every adapter must pass.

::

    from pycrm.testing import StorageContract

    class TestMyBackend(StorageContract):
        @pytest.fixture
        def backend(self):
            return MyBackend(...)

Needs pytest and hypothesis (`pip install "pycrm-embedded[testing]"`). Each failing test names
the behaviour the adapter lacks.
"""

from pycrm.testing.contract import StorageContract
from pycrm.testing.samples import SAMPLES, Sample, make_world

__all__ = ["SAMPLES", "Sample", "StorageContract", "make_world"]
