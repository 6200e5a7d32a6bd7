"""Fixtures shared by the test modules."""
import pytest

from wasi.testing import GuestFactory


@pytest.fixture(params=["wasirun", "wasmtime"])
def make(request):
    """A factory of guest contexts on wasirun's WASI host and, for comparison, on wasmtime's."""
    if request.param == "wasmtime":
        pytest.importorskip("wasmtime")
    factory = GuestFactory(request.param)
    yield factory
    factory.close()
