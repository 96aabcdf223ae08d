"""autograder.trusted_tests: the data-only channel between the learner kernel and the trusted one.

The two kernels are simulated in one process: ``input()`` (the trusted side's request) is
answered by ``serve()`` (the learner side) directly, with the learner's names in __main__."""
from __future__ import annotations

import base64
import builtins
import io
import json
import math

import __main__
import numpy as np
import pytest

import course_lib
from autograder import trusted_tests, wire
from course_lib.grading import ReferenceCalledError, call_own_code

torch = pytest.importorskip("torch")


@pytest.fixture
def learner(monkeypatch):
    """Define learner functions in __main__ and route the trusted side's requests to serve()."""
    monkeypatch.setattr(builtins, "input", lambda prompt: trusted_tests.serve(prompt))
    defined = []

    def define(**functions):
        for name, fn in functions.items():
            monkeypatch.setattr(__main__, name, fn, raising=False)
            defined.append(name)
        return [trusted_tests.LearnerFunction(name) for name in functions]

    return define


@pytest.mark.parametrize("value", [
    None, True, 3, 2**100, -0.0, 1.5, complex(1, -2), "text", b"\x00\xff",
    [1, (2.0, "a")], {"k": [1, 2], 3: None},
    np.arange(6.0).reshape(2, 3), np.array([True, False]), np.float32(2.5), np.float64(-1.25), np.array(["ab", "c"]),
])
def test_plain_data_round_trips_exactly(value):
    back = trusted_tests.decode(json.loads(json.dumps(trusted_tests.encode(value))))
    if isinstance(value, np.ndarray):
        assert back.dtype == value.dtype and np.array_equal(back, value)
    else:
        assert back == value and type(back) is type(value)


def test_nan_inf_and_tensors_round_trip():
    back = trusted_tests.decode(trusted_tests.encode([math.nan, math.inf]))
    assert math.isnan(back[0]) and back[1] == math.inf
    tensor = torch.randn(3, 4, dtype=torch.bfloat16, requires_grad=True)
    back = trusted_tests.decode(trusted_tests.encode(tensor))
    assert back.dtype == torch.bfloat16 and back.requires_grad and torch.equal(back, tensor.detach())


def test_objects_come_back_as_their_type_name_only():
    class Sneaky:
        def __eq__(self, other):
            return True

    back = trusted_tests.decode(trusted_tests.encode(Sneaky()))
    assert isinstance(back, trusted_tests.LearnerObject) and back != 1
    assert trusted_tests.decode(trusted_tests.encode(np.array([object()])))  # object arrays: not data
    assert isinstance(trusted_tests.decode(trusted_tests.encode(np.array([object()]))), trusted_tests.LearnerObject)


def test_a_crafted_reply_cannot_run_code():
    # An .npy holding a pickled object array: np.load refuses it without allow_pickle.
    buffer = io.BytesIO()
    np.save(buffer, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    crafted = {"ndarray": base64.b64encode(buffer.getvalue()).decode()}
    with pytest.raises(ValueError):
        trusted_tests.decode(crafted)
    with pytest.raises(ValueError):
        trusted_tests.decode({"pickle": "anything"})
    deep = None
    for _ in range(wire.MAX_DEPTH + 5):
        deep = {"list": [deep]}
    with pytest.raises(ValueError):
        trusted_tests.decode(deep)


def test_a_call_returns_the_learners_result_as_data(learner):
    (softmax,) = learner(softmax=lambda x: np.exp(x) / np.exp(x).sum())
    np.testing.assert_allclose(softmax(np.zeros(4)), np.full(4, 0.25))
    assert repr(softmax) == "<your function softmax>"


def test_exceptions_warnings_and_errstate_cross_over(learner):
    def bad(x):
        raise ValueError("wrong shape")

    def overflow(x):
        return np.exp(x)

    def library_error(x):
        raise np.linalg.LinAlgError("singular")

    bad, overflow, library_error = learner(bad=bad, overflow=overflow, library_error=library_error)
    with pytest.raises(ValueError, match="wrong shape"):
        bad(1)
    with pytest.raises(trusted_tests.LearnerError, match="LinAlgError: singular"):
        library_error(1)
    with pytest.warns(RuntimeWarning, match="overflow"):
        overflow(np.array([1000.0]))
    with np.errstate(over="raise"), pytest.raises(FloatingPointError):  # the test's errstate applies there
        overflow(np.array([1000.0]))


def test_an_error_names_the_learners_own_line_and_a_hostile_message_is_harmless(learner):
    import linecache

    cell = "/tmp/ipykernel_7/3141592.py"  # where IPython compiles a notebook cell
    source = "def normalise(x):\n    total = x.sum()\n    return x / total.item(0, 0)\n"
    linecache.cache[cell] = (len(source), None, source.splitlines(True), cell)
    namespace = {}
    exec(compile(source, cell, "exec"), namespace)

    class Hostile(Exception):
        def __str__(self):
            return str(self)  # recurses without end

    def hostile(x):
        raise Hostile()

    normalise, hostile = learner(normalise=namespace["normalise"], hostile=hostile)
    with pytest.raises(ValueError) as raised:
        normalise(np.ones(3))
    assert "raised in your code: normalise, line 3: return x / total.item(0, 0)" in str(raised.value)
    with pytest.raises(trusted_tests.LearnerError, match="Hostile: .its message could not be read"):
        hostile(1)


def test_in_place_changes_to_state_are_copied_back_and_to_inputs_are_not(learner):
    def scale_in_place(a, rng):
        a *= 2
        rng.random()

    def train_step(model, optimizer, x):
        optimizer.zero_grad()
        loss = model(x).pow(2).mean()
        loss.backward()
        optimizer.step()
        return loss.item()

    scale_in_place, train_step = learner(scale_in_place=scale_in_place, train_step=train_step)
    a, rng = np.ones(3), np.random.default_rng(0)
    scale_in_place(a, rng)
    expected_rng = np.random.default_rng(0)
    expected_rng.random()
    # The values of an array are the test's inputs: never changed back (an answer that zeroes its
    # inputs would change what it is compared with). A random generator is state: it moves on.
    assert np.array_equal(a, [1, 1, 1]) and rng.random() == expected_rng.random()

    torch.manual_seed(0)
    model = torch.nn.Linear(3, 2)
    reference = torch.nn.Linear(3, 2)
    reference.load_state_dict(model.state_dict())
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.1)
    reference_optimizer = torch.optim.AdamW(reference.parameters(), lr=0.1)
    x = torch.randn(5, 3)
    for _ in range(2):  # the optimizer's state carries over between calls
        loss = train_step(model, optimizer, x)
        reference_optimizer.zero_grad()
        reference(x).pow(2).mean().backward()
        reference_optimizer.step()
    assert isinstance(loss, float)
    for ours, theirs in zip(model.parameters(), reference.parameters()):
        torch.testing.assert_close(ours, theirs)
        torch.testing.assert_close(ours.grad, theirs.grad)


def test_the_reference_stays_blocked_in_the_learner_kernel(learner):
    (cheat,) = learner(cheat=lambda ids, size: course_lib.one_hot(ids, size))
    with pytest.raises(ReferenceCalledError, match="course_lib.embeddings.one_hot"):
        call_own_code(cheat, np.array([1]), 3)
    assert cheat(np.array([1]), 3).shape == (1, 3)  # outside call_own_code nothing is blocked


def test_install_stands_in_for_the_answers_only(learner):
    learner(answer=lambda: 1)
    __main__.data_value = 7
    try:
        namespace = {"np": np, "answer": "the reference, which must not stay"}
        trusted_tests.install(namespace, ["np", "answer", "data_value", "missing"], ["answer", "gone"])
    finally:
        del __main__.data_value
    assert namespace["np"] is np  # the trusted kernel's own
    assert isinstance(namespace["answer"], trusted_tests.LearnerFunction) and namespace["answer"]() == 1
    assert namespace["data_value"] == 7 and "missing" not in namespace


def test_gradients_and_random_state_travel_with_the_arguments(learner):
    def step_without_zero_grad(model, x):
        model(x).sum().backward()  # adds to the gradients already there
        return [p.grad.clone() for p in model.parameters()]

    def noisy(x):
        return torch.nn.functional.dropout(x, 0.5, training=True)

    step_without_zero_grad, noisy = learner(step_without_zero_grad=step_without_zero_grad, noisy=noisy)
    model, x = torch.nn.Linear(3, 1), torch.ones(2, 3)
    model(x).sum().backward()  # an earlier step's gradients
    stale = [p.grad.clone() for p in model.parameters()]
    for got, before in zip(step_without_zero_grad(model, x), stale):
        torch.testing.assert_close(got, 2 * before)  # accumulated, as in one kernel
    torch.manual_seed(3)
    ours = noisy(torch.ones(100))
    torch.manual_seed(3)
    assert torch.equal(ours, torch.nn.functional.dropout(torch.ones(100), 0.5, training=True))
