"""The kernel side of grading with two kernels: the tests never share a process with the answer.

A test cell that runs in the learner's own kernel can be fooled by the learner's code:
``np.testing.assert_allclose = lambda *a, **k: None`` in an answer cell, a replaced
``call_own_code``, or a patched IPython that hides tracebacks, and every test "passes".
No check written in Python can defend itself inside a process the learner controls. So the
course's autograder (:mod:`autograder.split_execute`) runs two sandboxed kernels per notebook:

* the **learner kernel** runs the learner's cells (and the course's locked set-up cells);
* the **trusted kernel** runs only instructor code, restored from nbgrader's gradebook: the
  locked cells and the test cells. Where a test names a learner's function, the trusted
  kernel holds a :class:`LearnerFunction` instead. Calling it sends the arguments to the
  learner kernel, which calls the learner's function there (with course_lib's reference
  blocked as :func:`course_lib.grading.call_own_code` would) and sends back **data only**.

This module is imported in both kernels. What crosses from the learner kernel to the trusted
one is decoded by :func:`decode`, which builds only plain values (numbers, strings, lists,
tuples, dicts, numpy arrays read with ``allow_pickle=False``, torch tensors made from
them): nothing the learner sent can run code in the trusted kernel. An exception is rebuilt
as a built-in exception of the same name (or :class:`LearnerError`), a warning as a warning
of a built-in category, and an argument the function may change in place (a model, an
optimizer, a random generator, a tensor's gradient) is changed in the same way on the trusted
side; the values of arrays and tensors are inputs, never changed back.

The grader carries the requests: the trusted kernel asks with ``input()`` (a request on the
kernel's stdin channel) and the grader runs ``serve(request)`` in the learner kernel.
"""
from __future__ import annotations

import base64
import builtins
import json
import pickle
import sys
import traceback
import warnings

import numpy as np

from autograder.wire import (EXCEPTIONS, WARNINGS, LearnerError, LearnerObject, decode, encode,
                             torch_if_loaded)

__all__ = ["LearnerError", "LearnerFunction", "LearnerObject", "decode", "encode", "install", "serve"]

# -- arguments changed in place ------------------------------------------------------------

def _state(value):
    """What of an argument a function may change in place, as data; None if nothing.

    The values of arrays and tensors are inputs, never carried back: a test computes its expected
    values from them, and an answer that overwrote them (zeros in, zeros out) would change what it
    is compared with. What a function may legitimately change is: a model, an optimizer, a random
    generator, and the gradient of a tensor that requires one (a backward pass)."""
    torch = torch_if_loaded()
    if isinstance(value, np.random.Generator):
        return value.bit_generator.state
    if torch is not None:
        if isinstance(value, torch.Tensor):
            return {"grad": value.grad} if value.requires_grad else None
        if isinstance(value, torch.nn.Module):
            return {"state": value.state_dict(),
                    "grads": {n: p.grad for n, p in value.named_parameters()},
                    "training": value.training}
        if isinstance(value, torch.optim.Optimizer):
            return value.state_dict()
    return None


def _restore(target, state) -> None:
    """Change ``target`` in place to the ``state`` its copy reached in the learner kernel."""
    torch = torch_if_loaded()
    if isinstance(target, np.random.Generator):
        target.bit_generator.state = state
    elif torch is not None and isinstance(target, torch.Tensor):
        grad = state.get("grad")
        if target.requires_grad and (grad is None or isinstance(grad, torch.Tensor) and grad.shape == target.shape):
            target.grad = grad
    elif torch is not None and isinstance(target, torch.nn.Module):
        target.load_state_dict(state["state"])
        for name, parameter in target.named_parameters():
            grad = state["grads"].get(name)
            parameter.grad = grad.to(parameter.dtype) if isinstance(grad, torch.Tensor) else None
        target.train(bool(state["training"]))
    elif torch is not None and isinstance(target, torch.optim.Optimizer):
        target.load_state_dict(state)


# -- what a copy of the arguments would lose ------------------------------------------------
# Pickling a model drops its parameters' gradients, and the learner kernel has random
# generators of its own: both are carried from the trusted kernel with the arguments, so a
# function that forgets optimizer.zero_grad() or uses dropout behaves as it would in one
# kernel. (Random states go one way only: the learner kernel never sets the trusted one's.)

def _gradients(args, kwargs) -> list:
    torch = torch_if_loaded()
    if torch is None:
        return []
    found = []
    for where, value in [*enumerate(args), *kwargs.items()]:
        if isinstance(value, torch.nn.Module):
            found.append((where, [p.grad for p in value.parameters()]))
        elif isinstance(value, torch.Tensor) and value.grad is not None:
            found.append((where, value.grad))
    return found


def _set_gradients(args, kwargs, gradients) -> None:
    for where, grads in gradients:
        target = args[where] if isinstance(where, int) else kwargs[where]
        if isinstance(grads, list):
            for parameter, grad in zip(target.parameters(), grads):
                parameter.grad = grad
        else:
            target.grad = grads


def _random_state() -> dict:
    import random

    state = {"numpy": np.random.get_state(), "random": random.getstate()}
    torch = torch_if_loaded()
    if torch is not None:
        state["torch"] = torch.get_rng_state()
    return state


def _set_random_state(state: dict) -> None:
    import random

    np.random.set_state(state["numpy"])
    random.setstate(state["random"])
    if "torch" in state:
        import torch

        torch.set_rng_state(state["torch"])


# -- the learner kernel ----------------------------------------------------------------------

def _blocked_functions(names):
    import importlib
    import inspect

    functions = []
    for qualified in names:
        module_name, _, qualname = qualified.partition(":")
        try:
            obj = importlib.import_module(module_name)
            for part in qualname.split("."):
                obj = getattr(obj, part)
            functions.append(inspect.unwrap(getattr(obj, "__func__", obj)))
        except (ImportError, AttributeError):
            continue
    return functions


def _namespace():
    import __main__

    return vars(__main__)


def _learner_global(name: str):
    return _namespace()[name]


def serve(request: str) -> str:
    """Answer one request of the trusted kernel, in the learner kernel; never raises."""
    try:
        message = json.loads(request)
        if message["op"] == "describe":
            namespace, found = _namespace(), {}
            for name in message["names"]:
                if name in namespace:
                    value = namespace[name]
                    found[name] = "callable" if callable(value) else encode(value)
            return json.dumps({"names": found})
        if message["op"] == "call":
            return _call(message)
        return json.dumps({"error": ["ValueError", f"unknown request {message.get('op')!r}"]})
    except BaseException as error:  # noqa: BLE001 (a learner's exception is the answer)
        return json.dumps({"error": [type(error).__name__, str(error)[:2000]]})


def _error_of(error: BaseException) -> list[str]:
    """[type name, message] of an exception the learner's code raised, the message ending with the
    line of the learner's own code that raised it (what the feedback shows, without the traceback,
    which would name the grader's files)."""
    try:
        text = str(error)[:2000]
    except BaseException:  # noqa: BLE001 (a __str__ that raises, or recurses without end)
        text = "(its message could not be read)"
    try:
        frames = [f for f in traceback.extract_tb(error.__traceback__)
                  if "ipykernel_" in f.filename or f.filename.startswith("<ipython-input")]
        if frames:
            frame = frames[-1]
            text += f"\n(raised in your code: {frame.name}, line {frame.lineno}: {(frame.line or '').strip()[:200]})"
    except Exception:  # noqa: BLE001 (the line is a courtesy)
        pass
    return [type(error).__name__, text]


def _call(message) -> str:
    from course_lib.grading import reference_blocked

    function = _namespace().get(message["name"])
    if not callable(function):
        return json.dumps({"error": ["NameError", f"name {message['name']!r} is not defined in your notebook"]})
    args, kwargs, carried = pickle.loads(base64.b64decode(message["arguments"]))
    _set_gradients(args, kwargs, carried["gradients"])
    _set_random_state(carried["random_state"])
    with warnings.catch_warnings(record=True) as caught, np.errstate(**message["errstate"]):
        warnings.simplefilter("always")
        blocked = _blocked_functions(message["blocked"])
        try:
            with reference_blocked(blocked):
                result = function(*args, **kwargs)
            reply = {"result": encode(result)}
        except BaseException as error:  # noqa: BLE001
            reply = {"error": _error_of(error)}
    reply["warnings"] = [[w.category.__name__, str(w.message)[:500]] for w in caught[:20]]
    reply["changed"] = [[where, encode(_state(value))] for where, value in
                        [*enumerate(args), *kwargs.items()] if _state(value) is not None]
    return json.dumps(reply, allow_nan=True)


# -- the trusted kernel ----------------------------------------------------------------------

def _ask(message: dict):
    # input() is a request on the kernel's stdin channel, answered by the grader.
    return json.loads(builtins.input(json.dumps(message)))


class LearnerFunction:
    """Stands, in the trusted kernel, for the learner's function ``name``."""

    def __init__(self, name: str):
        self.__name__ = self.__qualname__ = name

    def __repr__(self) -> str:
        return f"<your function {self.__name__}>"

    def __reduce__(self):
        # Passed as an argument (one answer given to another), it is the learner's own there.
        return _learner_global, (self.__name__,)

    def __call__(self, *args, **kwargs):
        from course_lib import grading

        try:
            carried = {"gradients": _gradients(args, kwargs), "random_state": _random_state()}
            arguments = base64.b64encode(pickle.dumps((args, kwargs, carried))).decode("ascii")
        except Exception as error:  # noqa: BLE001
            raise RuntimeError(f"the grader cannot send these arguments to {self.__name__}: {error}") from None
        reply = _ask({"op": "call", "name": self.__name__, "arguments": arguments,
                      "blocked": grading.blocked_now(), "errstate": np.geterr()})
        for where, state in reply.get("changed", []):
            target = args[where] if isinstance(where, int) else kwargs.get(where)
            _restore(target, decode(state))
        for category, text in reply.get("warnings", []):
            warnings.warn(text, WARNINGS.get(category, UserWarning), stacklevel=2)
        if "error" in reply:
            name, text = reply["error"]
            if name == "ReferenceCalledError":
                raise grading.ReferenceCalledError(text)
            if name in EXCEPTIONS and name not in ("SystemExit", "KeyboardInterrupt"):
                raise EXCEPTIONS[name](text)
            raise LearnerError(f"{name}: {text}")
        return decode(reply["result"])


def _warning_as_note(message, category, filename, lineno, file=None, line=None) -> None:
    """How the trusted kernel shows a warning (the learner's, carried over, or one its inputs cause
    in a test): a note on stdout. nbgrader gives 0 to a test cell with any stderr output, and a
    warning is not a wrong answer; the note names no file of the grader's machine."""
    print(f"Note (no points lost): your code warned: {category.__name__}: {message}", file=sys.stdout)


def install(namespace: dict, names: list[str], learner_names: list[str]) -> None:
    """Before a trusted cell: every name it uses that the learner kernel defines and the trusted
    kernel does not (and every name the answers define, always) stands for the learner's.
    Warnings shown while it runs become notes on stdout (:func:`_warning_as_note`); a test that
    checks for a warning still can (``warnings.catch_warnings``)."""
    warnings.showwarning = _warning_as_note
    wanted = [n for n in names if n in learner_names or n not in namespace]
    if not wanted:
        return
    found = _ask({"op": "describe", "names": wanted}).get("names", {})
    for name in wanted:
        if name not in found:
            if name in learner_names:
                namespace.pop(name, None)  # never the reference, nor a stale stand-in
            continue
        namespace[name] = LearnerFunction(name) if found[name] == "callable" else decode(found[name])


# -- what the learner kernel's code changed (for the instructor's report only) --------------

_WATCHED_NUMPY = ("allclose", "isclose", "array_equal", "testing.assert_allclose", "testing.assert_array_equal",
                  "testing.assert_array_almost_equal", "testing.assert_equal", "testing.assert_almost_equal")
_WATCHED_TORCH = ("allclose", "equal", "isclose", "testing.assert_close")
_WATCHED_SHELL = ("showtraceback", "_showtraceback", "run_cell", "run_cell_async", "run_ast_nodes", "showsyntaxerror")
_baseline: dict[str, object] = {}


def _watched() -> dict[str, object]:
    """The checking functions a test relies on, by name, as they are now."""
    import sys

    found = {}
    for module_name, names in (("numpy", _WATCHED_NUMPY), ("torch", _WATCHED_TORCH)):
        module = sys.modules.get(module_name)
        for name in names if module is not None else ():
            obj = module
            for part in name.split("."):
                obj = getattr(obj, part, None)
            found[f"{module_name}.{name}"] = obj
    for module_name, module in list(sys.modules.items()):
        if module_name.startswith(("course_lib", "autograder")) and module is not None:
            for name, obj in list(vars(module).items()):
                if callable(obj) and not name.startswith("__"):
                    found[f"{module_name}.{name}"] = obj
                    code = getattr(obj, "__code__", None)
                    if code is not None:
                        found[f"{module_name}.{name}.__code__"] = code
    try:
        shell = get_ipython()  # noqa: F821 (defined in an IPython kernel)
        for name in _WATCHED_SHELL:
            found[f"IPython shell.{name}"] = getattr(getattr(shell, name, None), "__func__", None)
    except NameError:
        pass
    return found


def record_baseline(new_only: bool = False) -> None:
    """Run by the grader in a new learner kernel before any learner code, and after each of
    the course's locked cells (for what they imported: ``new_only``)."""
    if not new_only:
        _baseline.clear()
    for name, obj in _watched().items():
        if not new_only or name.startswith(("course_lib", "autograder")):  # torch: see changed_checks
            _baseline.setdefault(name, obj)


def changed_checks() -> str:
    """Which watched functions the notebook replaced (by the grader, after the notebook ran).
    The answer's kernel can lie here: this only feeds the instructor's report, never a grade."""
    import sys

    now = _watched()
    changed = {name.removesuffix(".__code__") for name, obj in _baseline.items() if now.get(name) is not obj}
    torch = sys.modules.get("torch")
    if torch is not None and "torch.allclose" not in _baseline:  # imported by the notebook itself
        originals = {"torch.allclose": getattr(torch._C._VariableFunctions, "allclose", None),
                     "torch.testing.assert_close": getattr(sys.modules.get("torch.testing._comparison"),
                                                           "assert_close", None)}
        changed |= {name for name, original in originals.items() if now.get(name) is not original}
    return json.dumps(sorted(changed)[:30])
