"""runner.names against the real names rustc put in examples/fib.wasm."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from runner import names
from runner.names import demangle, display_name

FIB_WASM = Path(__file__).resolve().parents[1] / "examples" / "fib.wasm"


def _leb(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return result, pos


def _function_names(data: bytes) -> dict[int, str]:
    """Subsection 1 of the custom "name" section, read without the runner's decoder."""
    pos = 8
    while pos < len(data):
        section_id = data[pos]
        size, pos = _leb(data, pos + 1)
        end = pos + size
        if section_id == 0:
            length, p = _leb(data, pos)
            if data[p:p + length] == b"name":
                p += length
                while p < end:
                    sub, p = data[p], p + 1
                    sub_size, p = _leb(data, p)
                    if sub == 1:
                        count, p = _leb(data, p)
                        result = {}
                        for _ in range(count):
                            index, p = _leb(data, p)
                            length, p = _leb(data, p)
                            result[index] = data[p:p + length].decode()
                            p += length
                        return result
                    p += sub_size
        pos = end
    return {}


@pytest.fixture(scope="module")
def fib_names() -> dict[int, str]:
    found = _function_names(FIB_WASM.read_bytes())
    assert len(found) > 200
    return found


def _raw(fib_names: dict[int, str], predicate) -> str:
    return next(n for n in fib_names.values() if predicate(n))


def test_user_functions(fib_names):
    fib = _raw(fib_names, lambda n: n.startswith("_ZN3fib3fib17h"))
    main = _raw(fib_names, lambda n: n.startswith("_ZN3fib4main17h"))
    assert demangle(fib) == "fib::fib"
    assert demangle(main) == "fib::main"


def test_llvm_suffix_is_dropped(fib_names):
    raw = _raw(fib_names, lambda n: n.startswith("_ZN3std2rt10lang_start28_$u7b$") and ".llvm." in n)
    assert demangle(raw) == "std::rt::lang_start::{{closure}}"
    with_suffix = [n for n in fib_names.values() if ".llvm." in n]
    assert with_suffix and all(".llvm." not in demangle(n) for n in with_suffix)


def test_escapes(fib_names):
    any_impl = _raw(fib_names, lambda n: n.startswith("_ZN36_$LT$T$u20$as$u20$core..any..Any$GT$7type_id"))
    assert demangle(any_impl) == "<T as core::any::Any>::type_id"
    drop = _raw(fib_names, lambda n: "drop_in_place$LT$$RF$mut$u20$std..io..Write..write_fmt" in n)
    assert demangle(drop) == ("core::ptr::drop_in_place<&mut std::io::Write::write_fmt::"
                              "Adapter<alloc::vec::Vec<u8>>>")
    result = _raw(fib_names, lambda n: "Result$LT$$LP$$RP$$C$std..io..error..Error$GT$" in n)
    assert demangle(result) == "core::ptr::drop_in_place<core::result::Result<(),std::io::error::Error>>"


def test_every_rust_name_loses_hash_and_escapes(fib_names):
    for raw in fib_names.values():
        out = demangle(raw)
        if raw.startswith("_ZN"):
            assert "$" not in out and ".." not in out and not out.startswith("_ZN"), raw
            assert not re.search(r"::h[0-9a-f]{16}$", out), raw


def test_c_names_unchanged(fib_names):
    for raw in ("dlmalloc", "main", "__rust_alloc", "_start", "memcpy"):
        assert raw in fib_names.values()
        assert demangle(raw) == raw


def test_cxx_names_use_cxxfilt():
    assert demangle("_Z3fooi") == "foo(int)"
    # _ZN without a Rust hash is C++, not Rust.
    assert demangle("_ZN2ns3barEv") == "ns::bar()"
    assert demangle("_ZN2ns3barEv.llvm.1234") == "ns::bar()"


def test_rust_v0_stays_raw_without_pyderust(monkeypatch):
    raw = "_RNvCseO8rOhBdU83_3fib3fib"
    monkeypatch.setitem(names._LIBRARIES, "pyderust", None)
    assert demangle(raw) == raw


def test_rust_v0_with_pyderust(monkeypatch):
    pyderust = pytest.importorskip("pyderust", reason="optional v0 demangler not installed")
    monkeypatch.setitem(names._LIBRARIES, "pyderust", pyderust)
    assert demangle("_RNvCseO8rOhBdU83_3fib3fib") == "fib::fib"
    assert demangle("_RNvCseO8rOhBdU83_3fib3fib.llvm.42") == "fib::fib"
    assert demangle("_Rbogus") == "_Rbogus"


@pytest.mark.parametrize("raw", [
    "", "_ZN", "_ZNE", "_ZN3fibE", "_ZN99fib17h0123456789abcdefE", "_ZN3fib17h0123456789abcdef",
    "_ZN3fib$u110000$3fib17h0123456789abcdefE", "_Z", "_R", "_RNv", "\x00", "_ZN٣fib17h0123456789abcdefE",
    "_ZN3f$XX$17h0123456789abcdefE",
])
def test_never_raises(raw):
    assert isinstance(demangle(raw), str)


def test_unknown_escape_kept():
    assert demangle("_ZN7f$XX$oo17h0123456789abcdefE") == "f$XX$oo"


def test_display_name():
    assert display_name(10, "_ZN3fib3fib17h5f33d3a143f09873E") == "fib::fib"
    assert display_name(3, None) == "wasm-function[3]"
    assert display_name(4, "") == "wasm-function[4]"
    assert display_name(5, "dlmalloc") == "dlmalloc"
