"""Values between the two grading kernels, as data only.

What a learner's function returns crosses from the learner kernel to the trusted kernel as
JSON built by :func:`encode`, and :func:`decode` rebuilds it there from plain values only
(numbers, strings, lists, tuples, dicts, numpy arrays read with ``allow_pickle=False``, torch
tensors made from them): nothing the learner sent can run code in the trusted kernel. Imported in
both kernels by :mod:`autograder.trusted_tests`.
"""
from __future__ import annotations

import base64
import builtins
import io

import numpy as np

__all__ = ["EXCEPTIONS", "WARNINGS", "LearnerError", "LearnerObject", "decode", "encode", "torch_if_loaded"]

MAX_DEPTH = 32
MAX_ITEMS = 100_000  # values in one reply, all containers together

# Exceptions a learner's function may raise that the trusted side rebuilds as themselves
# (so that a test expecting, say, a ValueError sees one). Anything else becomes LearnerError.
EXCEPTIONS = {
    name: cls for name, cls in vars(builtins).items()
    if isinstance(cls, type) and issubclass(cls, Exception) and not issubclass(cls, Warning)
}
WARNINGS = {name: cls for name, cls in vars(builtins).items() if isinstance(cls, type) and issubclass(cls, Warning)}


class LearnerError(Exception):
    """An exception of a type the trusted kernel does not rebuild, raised by a learner's code."""


class LearnerObject:
    """Something a learner's function returned that is not plain data (only its type is known)."""

    def __init__(self, type_name: str):
        self.type_name = type_name

    def __repr__(self) -> str:
        return f"<a {self.type_name} returned by your code: the grader compares data only " \
               "(numbers, arrays, tensors, strings and lists/tuples/dicts of them)>"


# -- data only: encode in the learner kernel, decode in the trusted one -------------------

def _array_bytes(array: np.ndarray) -> str:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def encode(value, _depth: int = 0):
    """A JSON-ready description of ``value``, for values that are data; anything else is
    described by its type name only."""
    if _depth > MAX_DEPTH:
        raise ValueError("the value is nested too deeply to be graded")
    if isinstance(value, np.generic) and value.dtype.kind in "biufcSU?mM":  # before float: float64 is one
        return {"scalar": _array_bytes(np.asarray(value))}
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return {"int": str(value)}  # any size, exactly
    if isinstance(value, float):
        return {"float": repr(value)}  # nan and inf included, exactly
    if isinstance(value, complex):
        return {"complex": [repr(value.real), repr(value.imag)]}
    if isinstance(value, (bytes, bytearray)):
        return {"bytes": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, (list, tuple)):
        return {"list" if isinstance(value, list) else "tuple": [encode(v, _depth + 1) for v in value]}
    if isinstance(value, dict):
        return {"dict": [[encode(k, _depth + 1), encode(v, _depth + 1)] for k, v in value.items()]}
    if isinstance(value, np.ndarray) and value.dtype.kind in "biufcSU?mM" and not value.dtype.fields:
        return {"ndarray": _array_bytes(value)}
    torch = torch_if_loaded()
    if torch is not None and isinstance(value, torch.Tensor):
        tensor = value.detach().cpu()
        dtype = str(tensor.dtype).removeprefix("torch.")
        if tensor.dtype == torch.bfloat16:
            tensor = tensor.float()  # numpy has no bfloat16; exact
        return {"tensor": _array_bytes(tensor.resolve_conj().resolve_neg().numpy()), "dtype": dtype,
                "requires_grad": bool(value.requires_grad)}
    return {"object": type(value).__qualname__}


class _Budget:
    def __init__(self):
        self.items = 0

    def take(self) -> None:
        self.items += 1
        if self.items > MAX_ITEMS:
            raise ValueError(f"the value has more than {MAX_ITEMS} parts: too large to be graded")


def _array(text: str) -> np.ndarray:
    return np.load(io.BytesIO(base64.b64decode(text, validate=True)), allow_pickle=False)


def decode(data, _depth: int = 0, _budget: _Budget | None = None):
    """The value that :func:`encode` described, built from plain data only."""
    budget = _budget or _Budget()
    budget.take()
    if _depth > MAX_DEPTH:
        raise ValueError("the value is nested too deeply to be graded")
    if data is None or isinstance(data, (bool, str)):
        return data
    if not isinstance(data, dict) or len(data) not in (1, 3):
        raise ValueError("malformed value from the learner kernel")
    kind, payload = next(iter(data.items()))
    if kind == "int":
        return int(payload)
    if kind == "float":
        return float(payload)
    if kind == "complex":
        return complex(float(payload[0]), float(payload[1]))
    if kind == "bytes":
        return base64.b64decode(payload, validate=True)
    if kind in ("list", "tuple"):
        items = [decode(v, _depth + 1, budget) for v in payload]
        return items if kind == "list" else tuple(items)
    if kind == "dict":
        return {decode(k, _depth + 1, budget): decode(v, _depth + 1, budget) for k, v in payload}
    if kind == "scalar":
        return _array(payload)[()]
    if kind == "ndarray":
        return _array(payload)
    if kind == "tensor":
        import torch

        tensor = torch.from_numpy(_array(payload).copy())
        dtype = getattr(torch, str(data.get("dtype", "")), None)
        if isinstance(dtype, torch.dtype):
            tensor = tensor.to(dtype)
        return tensor.requires_grad_(bool(data.get("requires_grad"))) if tensor.is_floating_point() else tensor
    if kind == "object":
        return LearnerObject(str(payload)[:200])
    raise ValueError(f"unknown kind of value {kind!r} from the learner kernel")


def torch_if_loaded():
    import sys

    return sys.modules.get("torch")
