"""Helpers for the exercises' tests.

The graded notebooks compare a learner's function with the reference in
``course_lib``. An answer that simply calls that reference must not earn the
points, so the tests call the learner's function inside :func:`reference_blocked`,
where every course_lib function raises instead of running.
"""
from __future__ import annotations

import contextlib
import inspect
import pkgutil
import sys
import types

import numpy as np


class ReferenceCalledError(AssertionError):
    """Raised when an answer calls course_lib's reference implementation."""


# The checking machinery itself: blocking it would stop the tests, not the answer.
_NEVER_BLOCKED = {"grading"}
_blocked_stack: list[list[str]] = []


def blocked_now() -> list[str]:
    """The functions blocked at this moment, as "module:qualname" (for autograder.trusted_tests,
    which blocks the same ones in the learner kernel while it runs a learner's function)."""
    return list(_blocked_stack[-1]) if _blocked_stack else []


def _course_functions():
    """Every plain function defined in a course_lib module (methods of its classes included).

    Modules that nothing has imported yet (the torch ones, imported on first use) are left
    alone: importing them here would make every numpy exercise pay for importing torch.
    """
    import course_lib

    seen = set()
    for info in pkgutil.iter_modules(course_lib.__path__):
        name = f"course_lib.{info.name}"
        if info.name in _NEVER_BLOCKED or name not in sys.modules:
            continue
        module = sys.modules[name]
        for obj in vars(module).values():
            members = vars(obj).values() if inspect.isclass(obj) else [obj]
            for fn in members:
                fn = inspect.unwrap(getattr(fn, "__func__", fn))  # classmethods, decorated functions
                if (
                    isinstance(fn, types.FunctionType)
                    and fn.__module__ == module.__name__
                    and not fn.__code__.co_freevars  # a stub can only replace closure-free code
                    and id(fn) not in seen
                ):
                    seen.add(id(fn))
                    yield fn


def _raising_code(name: str) -> types.CodeType:
    # The name is a constant of the code object, not a closure variable, so the code can
    # be swapped into any closure-free function.
    source = (
        "def stub(*args, **kwargs):\n"
        "    raise __import__('course_lib.grading', fromlist=['grading']).ReferenceCalledError(\n"
        f"        {('your answer calls course_lib.' + name + '; write the code yourself')!r})\n"
    )
    namespace = {}
    exec(compile(source, f"<reference blocked: {name}>", "exec"), namespace)
    return namespace["stub"].__code__


@contextlib.contextmanager
def reference_blocked(functions=None):
    """Within this block course_lib functions raise :class:`ReferenceCalledError`.

    All of them by default; only ``functions`` if given (when an answer legitimately uses
    other parts of course_lib, such as a model's ``encode`` and ``decode``). The code
    object of each function is swapped, so any alias the answer made
    (``from course_lib import one_hot as f``) is caught too. Restored on exit.
    """
    originals, pushed = {}, False
    try:
        for fn in _course_functions() if functions is None else functions:
            originals[fn] = fn.__code__
            fn.__code__ = _raising_code(f"{fn.__module__.removeprefix('course_lib.')}.{fn.__qualname__}")
        _blocked_stack.append([f"{fn.__module__}:{fn.__qualname__}" for fn in originals])
        pushed = True
        yield
    finally:
        if pushed:
            _blocked_stack.pop()
        for fn, code in originals.items():
            fn.__code__ = code


def inputs_copied(value):
    """``value`` with every numpy array and plain torch tensor in it copied (inside lists, tuples
    and dicts too); models, optimizers, generators and tensors that require gradients are passed
    as they are, since changing those is what some functions are for (a training step).

    A test computes its expected values from the same inputs it passes to the learner's function,
    often after the call: an answer that wrote zeros into its inputs and returned zeros would match
    them. With copies, what a test compares with is what it made.
    """
    torch = sys.modules.get("torch")
    if isinstance(value, np.ndarray):
        return value.copy()
    if torch is not None and isinstance(value, torch.Tensor) and not value.requires_grad:
        return value.clone()
    if type(value) in (list, tuple):
        return type(value)(inputs_copied(v) for v in value)
    if type(value) is dict:
        return {k: inputs_copied(v) for k, v in value.items()}
    return value


def call_own_code(fn, *args, **kwargs):
    """Call a learner's ``fn`` with course_lib's reference blocked, on copies of its array and tensor
    arguments (:func:`inputs_copied`), and return its result."""
    args, kwargs = inputs_copied(args), inputs_copied(kwargs)
    with reference_blocked():
        return fn(*args, **kwargs)


def call_without(references, fn, *args, **kwargs):
    """Call a learner's ``fn`` with only the given course_lib ``references`` blocked, on copies of its
    array and tensor arguments."""
    args, kwargs = inputs_copied(args), inputs_copied(kwargs)
    with reference_blocked([inspect.unwrap(getattr(r, "__func__", r)) for r in references]):
        return fn(*args, **kwargs)
