"""Judging the commands of one script against a fresh engine and registry (in a child process).

The rules are shared/docs/spectest-judging.md's (2.0) and shared/spectest3/README.md's (3.0):

* module / register / action / assert_return / get: as in the spec, values as raw bits
  (``values``); a ``module`` of ``module_type: text`` that has a ``binary_filename`` (3.0:
  ``module quote`` forms wasm-tools could encode) is judged on that binary;
* module_definition (3.0): compile only, bound to its name; module_instance: instantiate a
  definition (the last one when unnamed) under the instance name, which ``register`` and
  actions can then use, and it becomes current;
* assert_trap / assert_uninstantiable: a Trap whose spec message starts with the expected
  text; assert_exhaustion: "call stack exhausted"; assert_exception (3.0): the call ends in an
  uncaught wasm exception (``runner.errors.WasmException``), not a trap;
* assert_invalid: decoding succeeds and validation rejects (a text one with a
  ``binary_filename`` is judged on the binary); assert_malformed: binary modules must be
  rejected by the decoder, text (``.wat``) ones are skipped -- they test the text parser;
* assert_unlinkable: compile succeeds, instantiation fails with a LinkError;
* assert_invalid_custom (3.0, binary): the module must still be accepted -- an error in a custom
  section never invalidates a module (the spec's custom-section appendix; wasmtime accepts it
  too); assert_malformed_custom: all text (annotation syntax), skipped like assert_malformed.

GC inside a non-GC script (3.0): a module the engine rejects with its "the GC proposal is not
supported" error is skipped, not failed, and so is every command that needs it -- actions on
it, ``register`` of it, modules importing from the name it was registered under -- and every
command whose values use a GC value type (``values.needs_gc``).
"""
from __future__ import annotations

import gc
import os
from pathlib import Path

from .values import Failure, Values, fmt_value, needs_gc

GC_MESSAGE = "GC proposal"        # in every error the engine raises for a GC construct
TEXT_SKIP = "text module (.wat): it tests the text parser, which a binary engine does not have"


class Skip(Exception):
    """The command is not judged; the message says why (counted as skipped, never passed)."""


class _Unavailable:
    """Stands for a module whose command failed (or was skipped for GC): later uses fail too
    (or are skipped too).  ``what`` names the command ("the module at line 12"); ``cause`` is
    its error, the root reason of the dependents' failures in the summary."""

    def __init__(self, what: str, cause: str = "", gc: bool = False):
        self.what, self.cause, self.gc = what, cause, gc

    @property
    def why(self) -> str:
        if not self.what:
            return self.cause
        return f"{self.what}, which {'needs GC' if self.gc else 'failed'}"


class CommandFailure(Failure):
    """A failure caused by an earlier one (a module that did not load): ``cause`` is the root."""

    def __init__(self, message: str, cause: str):
        super().__init__(message)
        self.cause = cause


def wasm_exception_class(errors):
    """runner.errors.WasmException (the exceptions engineer adds it); until then None."""
    return getattr(errors, "WasmException", None)


def is_wasm_exception(exc: BaseException, cls) -> bool:
    if cls is not None:
        return isinstance(exc, cls)
    return any(c.__name__ == "WasmException" for c in type(exc).__mro__)


class ScriptRunner:
    """Executes the commands of one script against a fresh engine and registry."""

    def __init__(self, json_path: Path, opt_level: int = 0, on_result=None, wasm3: bool = False,
                 tier: str | None = None):
        from runner.api import Config, Engine
        from runner import errors
        from runner.binary import module as wm
        from runner.runtime import instance as wi, store as ws
        from .spectest_host import spectest_exports

        self.errors, self.wm, self.wi, self.ws = errors, wm, wi, ws
        self.exception_class = wasm_exception_class(errors)
        self.path = json_path
        self.dir = json_path.parent
        # tier "first" (or WASIRUN_SPECTEST_TIER=first): modules start on first-tier code
        # (calls through the function records, counters) and tier up when hot; default: the
        # top tier only.
        first = (tier or os.environ.get("WASIRUN_SPECTEST_TIER")) == "first"
        # 2.0 judges the 2.0 language: 3.0 made some of its malformed/invalid modules valid.
        from runner.binary.features import WASM2, WASM3
        self.engine = Engine(Config(cache=False, opt_level=opt_level, tiering=first,
                                    features=WASM3 if wasm3 else WASM2))
        self.values = Values(wm, wi.externref_handle, wi.externref_object)
        self.registry: dict[str, dict] = {"spectest": spectest_exports()}
        self.failed_registered: dict[str, _Unavailable] = {}   # register name -> the module it lacks
        self.named: dict[str, object] = {}
        self.current: object = _Unavailable("", "no module defined yet")
        self.definitions: dict[str | None, object] = {}   # module_definition name -> compiled
        self.on_result = on_result or (lambda index, cmd, outcome, reason, cause: None)

    def _resolve(self, module: str, name: str):
        return self.registry.get(module, {}).get(name)

    # --- modules and actions ----------------------------------------------------------------
    def _module_file(self, cmd: dict) -> str:
        """The binary of a module command: a text one is judged on its ``binary_filename``."""
        if cmd.get("module_type", "binary") == "binary":
            return cmd["filename"]
        if "binary_filename" in cmd:
            return cmd["binary_filename"]
        raise Skip(TEXT_SKIP)

    def _compile(self, filename: str):
        E = self.errors
        try:
            return self.engine.compile((self.dir / filename).read_bytes(), name=filename)
        except (E.DecodeError, E.ValidationError) as exc:
            if GC_MESSAGE in str(exc):
                raise Skip(f"needs GC: {exc}") from exc
            raise

    def _instantiate(self, compiled):
        for imp in compiled.module.imports:
            failed = self.failed_registered.get(imp.module)
            if failed is not None:
                # Judging the link against a module that is not there would pass or fail by accident.
                message = f"imports {imp.module}.{imp.name}, registered from {failed.why}"
                if failed.gc:
                    raise Skip(f"needs GC: {message}")
                raise CommandFailure(message, failed.cause)
        return self.engine.instantiate(compiled, self._resolve)

    def _target(self, name: str | None):
        if name is not None and name not in self.named:
            raise Failure(f"unknown module {name}")
        inst = self.named.get(name) if name is not None else self.current
        if isinstance(inst, _Unavailable):
            if inst.gc:
                raise Skip(f"needs GC: uses {inst.why}")
            raise CommandFailure(f"module unavailable: {inst.why}", inst.cause)
        return inst

    def _bind(self, name: str | None, value) -> None:
        self.current = value
        if name is not None:
            self.named[name] = value

    def _load(self, cmd: dict, name: str | None):
        """Compile and instantiate a module command's binary; when that fails (or needs GC), bind
        an _Unavailable saying why as current and under ``name``."""
        line = cmd["line"]
        try:
            return self._instantiate(self._compile(self._module_file(cmd)))
        except Skip as s:
            self._bind(name, _Unavailable(f"the module at line {line}", str(s), gc=True))
            raise
        except BaseException as exc:
            self._bind(name, _Unavailable(f"the module at line {line}", _reason(exc)))
            raise

    def action(self, a: dict) -> tuple[list[int], tuple]:
        """Perform an invoke/get; returns (raw results, their wasm types). Traps propagate."""
        inst = self._target(a.get("module"))
        for v in a.get("args", []):
            if needs_gc(v):
                raise Skip(f"needs GC: argument of type {v['type']}")
        field_name = a["field"]
        ext = inst.exports.get(field_name)
        if ext is None:
            raise Failure(f"no export {field_name!r}")
        if a["type"] == "invoke":
            if not isinstance(ext, self.wi.Function):
                raise Failure(f"export {field_name!r} is not a function")
            args = [self.values.arg_bits(v) for v in a.get("args", [])]
            if len(args) != len(ext.type.params):
                raise Failure(f"{field_name!r} takes {len(ext.type.params)} arguments, script passes {len(args)}")
            return ext.call_raw(args), ext.type.results
        if a["type"] == "get":
            if not isinstance(ext, self.ws.GlobalCell):
                raise Failure(f"export {field_name!r} is not a global")
            return [ext.bits], (ext.type.val_type,)
        raise Failure(f"unknown action type {a['type']}")

    def _expect_trap(self, exc: BaseException, text: str) -> None:
        if not isinstance(exc, self.errors.Trap):
            raise Failure(f"expected trap {text!r}, got {type(exc).__name__}: {exc}")
        msg = exc.kind.message
        if not text.startswith(msg):   # "uninitialized element 2" starts with "uninitialized element"
            raise Failure(f"expected trap {text!r}, got trap {msg!r}")

    def _returned(self, results, types) -> str:
        return "[" + ", ".join(self.values.describe(t, b) for t, b in zip(types, results)) + "]"

    # --- commands --------------------------------------------------------------------------
    def run_command(self, cmd: dict) -> str:
        """Judge one command: returns "pass" (or "note: ..." for a pass worth a remark); raises
        Skip when it is not judged, Failure (or anything) when it fails."""
        E = self.errors
        kind = cmd["type"]
        if kind == "module":
            self._bind(cmd.get("name"), self._load(cmd, cmd.get("name")))
            return "pass"
        if kind == "module_definition":
            name, line = cmd.get("name"), cmd["line"]
            try:
                compiled = self._compile(self._module_file(cmd))
            except BaseException as exc:
                self.definitions[name] = self.definitions[None] = _Unavailable(
                    f"the definition at line {line}", _reason(exc), gc=isinstance(exc, Skip))
                raise
            self.definitions[name] = self.definitions[None] = compiled
            return "pass"
        if kind == "module_instance":
            definition = self.definitions.get(cmd.get("module"))
            if definition is None:
                raise Failure(f"unknown module definition {cmd.get('module')}")
            name = cmd.get("instance")
            if isinstance(definition, _Unavailable):
                self._bind(name, definition)
                self._target(name)          # raises: skip (GC) or failure
            try:
                self._bind(name, self._instantiate(definition))
            except BaseException as exc:
                self._bind(name, _Unavailable(f"the instance at line {cmd['line']}", _reason(exc),
                                              gc=isinstance(exc, Skip)))
                raise
            return "pass"
        if kind == "register":
            try:
                inst = self._target(cmd.get("name"))
            except (Skip, CommandFailure):
                self.failed_registered[cmd["as"]] = self.named[cmd["name"]] if cmd.get("name") else self.current
                raise
            self.registry[cmd["as"]] = inst.exports
            self.failed_registered.pop(cmd["as"], None)
            return "pass"
        if kind == "action":
            self.action(cmd["action"])
            return "pass"
        if kind == "assert_return":
            expected = cmd["expected"]
            for v in expected:
                if needs_gc(v):
                    raise Skip(f"needs GC: result of type {needs_gc(v)}")
            results, types = self.action(cmd["action"])
            if len(results) != len(expected) or len(types) != len(expected):
                raise Failure(f"expected {len(expected)} results, got {self._returned(results, types)}")
            for i, (exp, t, bits) in enumerate(zip(expected, types, results)):
                if not self.values.matches(exp, t, bits):
                    raise Failure(f"result {i}: expected {fmt_value(exp)}, got {self.values.describe(t, bits)}")
            return "pass"
        if kind in ("assert_trap", "assert_exhaustion", "assert_exception"):
            text = cmd.get("text", "")
            try:
                results, types = self.action(cmd["action"])
            except (Failure, Skip):
                raise
            except BaseException as exc:  # noqa: BLE001 - judged below
                if kind != "assert_exception":
                    self._expect_trap(exc, text)
                elif not is_wasm_exception(exc, self.exception_class):
                    raise Failure(f"expected an uncaught wasm exception, got {type(exc).__name__}: {exc}")
                return "pass"
            want = f"trap {text!r}" if kind != "assert_exception" else "an uncaught wasm exception"
            raise Failure(f"expected {want}, returned {self._returned(results, types)}")
        if kind in ("assert_invalid", "assert_malformed"):
            # The module must be rejected by compile() with a DecodeError or ValidationError (any
            # other exception is a bug and fails).  Rejection by the "other" stage still passes, as
            # the judging rules say ("module rejected" is enough; wast2json writes a few binaries
            # that are both, e.g. memory.init without a data count section), but it is reported
            # as a note so misclassifications stay visible.
            if kind == "assert_malformed" and cmd.get("module_type", "binary") != "binary":
                raise Skip(TEXT_SKIP)     # a text-level rule, even where the text could be encoded
            filename = self._module_file(cmd)
            want, other = ((E.ValidationError, E.DecodeError) if kind == "assert_invalid"
                           else (E.DecodeError, E.ValidationError))
            try:
                self._compile(filename)
            except want:
                return "pass"
            except other as exc:
                return f"note: {type(exc).__name__} where a {want.__name__} was expected ({cmd['text']!r}): {exc}"
            raise Failure(f"expected {'invalid' if kind == 'assert_invalid' else 'malformed'} module "
                          f"({cmd['text']!r}), compiled fine")
        if kind in ("assert_invalid_custom", "assert_malformed_custom"):
            if cmd.get("module_type", "binary") != "binary":
                raise Skip(TEXT_SKIP)
            self._compile(cmd["filename"])     # must be accepted: see the module docstring
            return "pass"
        if kind == "assert_unlinkable":
            compiled = self._compile(self._module_file(cmd))
            try:
                self._instantiate(compiled)
            except (Skip, Failure):
                raise
            except E.LinkError:
                return "pass"
            except BaseException as exc:  # noqa: BLE001
                raise Failure(f"expected link error ({cmd['text']!r}), got {type(exc).__name__}: {exc}")
            raise Failure(f"expected link error ({cmd['text']!r}), instantiated fine")
        if kind == "assert_uninstantiable":
            compiled = self._compile(self._module_file(cmd))
            try:
                self._instantiate(compiled)
            except (Skip, Failure):
                raise
            except BaseException as exc:  # noqa: BLE001
                self._expect_trap(exc, cmd["text"])
                return "pass"
            raise Failure(f"expected instantiation trap ({cmd['text']!r}), instantiated fine")
        raise Failure(f"unknown command type {kind}")

    def run(self, commands: list[dict]) -> None:
        for index, cmd in enumerate(commands):
            if index and commands[index - 1]["type"] in ("assert_uninstantiable", "assert_unlinkable"):
                # Free the failed instance now, so a runtime that unloads code still referenced
                # from a shared table (linking.wast keeps partial writes) fails here,
                # deterministically, not whenever Python's cyclic GC happens to run.
                gc.collect()
            cause = ""
            try:
                outcome = self.run_command(cmd)
                reason = ""
                if outcome.startswith("note: "):
                    outcome, reason = "pass", outcome[len("note: "):]
            except Skip as s:
                outcome, reason = "skip", str(s)
            except CommandFailure as f:
                outcome, reason, cause = "fail", str(f), f.cause
            except Failure as f:
                outcome, reason = "fail", str(f)
            except RecursionError as exc:
                outcome, reason = "fail", f"RecursionError: {exc}"
            except Exception as exc:  # noqa: BLE001 - any unexpected exception fails the command
                outcome, reason = "fail", _reason(exc)
            self.on_result(index, cmd, outcome, reason, cause or reason)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, Failure):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"
