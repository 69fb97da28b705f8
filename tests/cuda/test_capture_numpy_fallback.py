"""gk.cuda.capture on the CPU (plain execution): calls copy the batch into the static inputs, as on a GPU."""

from __future__ import annotations

import numpy as np
import pytest

import gradkit as gk


def _step_and_log():
    seen = []

    def step(a, b):
        seen.append((a.numpy().copy(), b.numpy().copy()))
        return (a * b).sum()

    return step, seen


def test_a_call_copies_its_batch_into_the_static_inputs_and_sets_outputs():
    step, seen = _step_and_log()
    x, y = gk.ones(3, device="cpu"), gk.full((3,), 2.0, device="cpu")
    captured = gk.cuda.capture(step, x, y)
    assert captured.graphed is False and captured.outputs is None and not seen  # no warm-up on NumPy
    versions = [t._version[0] for t in captured.inputs]
    out = captured(gk.full((3,), 3.0, device="cpu"), y)
    assert out.item() == 18.0 and captured.outputs is out
    np.testing.assert_array_equal(captured.inputs[0].numpy(), np.full(3, 3.0, np.float32))
    assert [t._version[0] for t in captured.inputs] == [versions[0] + 1, versions[1] + 1]
    np.testing.assert_array_equal(x.numpy(), np.ones(3, np.float32))  # the example batch is left alone
    again = captured.replay()  # runs on the last batch, as a GPU replay does
    assert again.item() == 18.0 and captured.outputs is again
    np.testing.assert_array_equal(seen[-1][0], np.full(3, 3.0, np.float32))


def test_host_arrays_and_the_static_inputs_themselves_are_accepted():
    step, seen = _step_and_log()
    captured = gk.cuda.capture(step, gk.ones(2, device="cpu"), gk.ones(2, device="cpu"))
    captured(np.array([4.0, 5.0], np.float32), np.array([1.0, 1.0], np.float32))
    np.testing.assert_array_equal(captured.inputs[0].numpy(), [4.0, 5.0])
    before = captured.inputs[1]._version[0]
    assert captured(*captured.inputs).item() == 9.0
    assert captured.inputs[1]._version[0] == before  # nothing to copy


def test_gradients_reach_the_static_inputs_as_on_a_gpu():
    x = gk.tensor([1.0, 2.0], device="cpu", dtype="float64", requires_grad=True)
    captured = gk.cuda.capture(lambda a: (a * a).sum(), x)
    loss = captured(gk.tensor([3.0, -1.0], device="cpu", dtype="float64"))
    loss.backward()
    np.testing.assert_array_equal(captured.inputs[0].grad.numpy(), [6.0, -2.0])
    assert x.grad is None


def test_a_new_batch_invalidates_a_graph_that_saved_the_old_one():
    captured = gk.cuda.capture(lambda a: a * a, gk.tensor([1.0, 2.0], device="cpu", requires_grad=True))
    first = captured(gk.tensor([1.0, 2.0], device="cpu"))
    captured(gk.tensor([5.0, 6.0], device="cpu"))
    with pytest.raises(gk.AutogradError, match="modified in place"):
        first.sum().backward()


def test_enabled_false_runs_the_same_way():
    step, seen = _step_and_log()
    captured = gk.cuda.capture(step, gk.ones(2, device="cpu"), gk.ones(2, device="cpu"), enabled=False)
    captured(gk.full((2,), 2.0, device="cpu"), gk.full((2,), 3.0, device="cpu"))
    assert captured.replay().item() == 12.0
    np.testing.assert_array_equal(captured.inputs[1].numpy(), [3.0, 3.0])


def test_enabled_false_copies_host_batches_on_either_device(device):
    step, seen = _step_and_log()
    captured = gk.cuda.capture(step, gk.ones(2, device=device), gk.ones(2, device=device), enabled=False)
    assert captured.graphed is False and captured.device.startswith(device)
    out = captured(np.array([2.0, 4.0], np.float32), gk.full((2,), 3.0, device=device))
    assert out.item() == 18.0 and out.device == captured.device
    np.testing.assert_array_equal(captured.inputs[0].numpy(), [2.0, 4.0])
