"""GuestMemory: every access bounds-checked, FAULT instead of a Python exception."""
import pytest

from wasi.abi import FILESTAT, IOVEC, Errno
from wasi.errors import WasiError
from wasi.memory import IOV_MAX, GuestMemory

SIZE = 65536


@pytest.fixture
def mem():
    return GuestMemory(memoryview(bytearray(SIZE)))


def fault(fn, *args):
    with pytest.raises(WasiError) as info:
        fn(*args)
    assert info.value.errno == Errno.FAULT


def test_integers_round_trip_little_endian(mem):
    mem.write_u8(0, 0xAB)
    mem.write_u16(2, 0xBEEF)
    mem.write_u32(4, 0xDEADBEEF)
    mem.write_u64(8, 2**64 - 2)
    assert mem.read_bytes(4, 4) == bytes.fromhex("efbeadde")
    assert (mem.read_u8(0), mem.read_u16(2), mem.read_u32(4), mem.read_u64(8)) == \
        (0xAB, 0xBEEF, 0xDEADBEEF, 2**64 - 2)
    mem.write_u32(SIZE - 4, 1)          # the last word is in bounds
    assert mem.read_u32(SIZE - 4) == 1


@pytest.mark.parametrize("op", ["read_u8", "read_u16", "read_u32", "read_u64"])
@pytest.mark.parametrize("ptr", [SIZE, SIZE - 1, 2**32 - 1, 2**32 + 8])
def test_reads_past_the_end_fault(mem, op, ptr):
    if op == "read_u8" and ptr == SIZE - 1:
        return
    fault(getattr(mem, op), ptr)


def test_writes_past_the_end_fault_and_change_nothing(mem):
    fault(mem.write_u64, SIZE - 4, 0xFFFFFFFFFFFFFFFF)
    fault(mem.write_bytes, SIZE - 2, b"abc")
    fault(mem.pack, FILESTAT, SIZE - 63, *([0] * 8))
    assert mem.read_bytes(SIZE - 64, 64) == bytes(64)


def test_zero_length_access_at_end_is_fine(mem):
    assert mem.read_bytes(SIZE, 0) == b""
    fault(mem.read_bytes, SIZE + 1, 0)


def test_strings(mem):
    mem.write_bytes(100, "héllo".encode())
    assert mem.read_str(100, 6) == "héllo"
    mem.write_bytes(200, b"\xff\xfe")
    with pytest.raises(WasiError) as info:
        mem.read_str(200, 2)
    assert info.value.errno == Errno.ILSEQ
    fault(mem.read_str, SIZE - 1, 2)


def test_iovecs(mem):
    mem.pack(IOVEC, 0, 100, 5)
    mem.pack(IOVEC, 8, 200, 0)          # empty buffers are dropped
    mem.pack(IOVEC, 16, 300, 7)
    bufs = mem.iovecs(0, 3)
    assert [len(b) for b in bufs] == [5, 7]
    bufs[1][:] = b"written"             # views write through to guest memory
    assert mem.read_bytes(300, 7) == b"written"


def test_iovec_out_of_bounds(mem):
    fault(mem.iovecs, SIZE - 8, 2)      # the array itself
    mem.pack(IOVEC, 0, SIZE - 4, 8)     # a buffer
    fault(mem.iovecs, 0, 1)
    mem.pack(IOVEC, 0, SIZE + 10, 0)    # even an empty one must be in bounds
    fault(mem.iovecs, 0, 1)


def test_iovecs_are_capped_at_iov_max(mem):
    for i in range(IOV_MAX + 5):
        mem.pack(IOVEC, i * 8, 0, 1)
    assert len(mem.iovecs(0, IOV_MAX + 5)) == IOV_MAX


def test_non_byte_views_are_cast():
    view = memoryview(bytearray(16)).cast("I")
    assert len(GuestMemory(view)) == 16
