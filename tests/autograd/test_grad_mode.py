"""no_grad / enable_grad / set_grad_enabled: context managers, decorators, per thread."""

from __future__ import annotations

import threading

import numpy as np

import gradkit as gk


def _leaf(device):
    return gk.tensor(np.array([1.0, 2.0]), device=device, requires_grad=True)


def test_no_grad_context(device):
    x = _leaf(device)
    assert gk.is_grad_enabled()
    with gk.no_grad():
        assert not gk.is_grad_enabled()
        y = x * 2.0
        with gk.enable_grad():
            assert gk.is_grad_enabled()
            z = x * 2.0
        assert not gk.is_grad_enabled()
    assert gk.is_grad_enabled()
    assert not y.requires_grad and y.grad_fn is None
    assert z.requires_grad and z.grad_fn is not None


def test_decorators(device):
    x = _leaf(device)

    @gk.no_grad()
    def infer(t):
        return t * 2.0, gk.is_grad_enabled()

    @gk.enable_grad()
    def train(t):
        return t * 2.0

    y, enabled = infer(x)
    assert not enabled and not y.requires_grad
    assert gk.is_grad_enabled()
    with gk.no_grad():
        assert train(x).requires_grad
    assert infer.__name__ == "infer"


def test_set_grad_enabled(device):
    x = _leaf(device)
    with gk.set_grad_enabled(False):
        assert not (x * 1.0).requires_grad
    with gk.set_grad_enabled(True):
        assert (x * 1.0).requires_grad
    assert gk.is_grad_enabled()


def test_mode_restored_after_exception(device):
    try:
        with gk.no_grad():
            raise KeyError("boom")
    except KeyError:
        pass
    assert gk.is_grad_enabled()


def test_backward_restores_grad_mode(device):
    x = _leaf(device)
    (x * x).sum().backward()
    assert gk.is_grad_enabled()
    with gk.no_grad():
        y = x * 1.0
    assert gk.is_grad_enabled() and not y.requires_grad


def test_no_grad_in_one_thread_does_not_affect_another(device):
    x = _leaf(device)
    entered, checked = threading.Event(), threading.Event()
    results = {}

    def inside_no_grad():
        with gk.no_grad():
            entered.set()
            checked.wait(10)
            results["worker_enabled"] = gk.is_grad_enabled()
            results["worker_out"] = (x * 2.0).requires_grad

    def recording():
        entered.wait(10)
        results["other_enabled"] = gk.is_grad_enabled()
        results["other_out"] = (x * 2.0).requires_grad
        checked.set()

    threads = [threading.Thread(target=inside_no_grad), threading.Thread(target=recording)]
    for t in threads:
        t.start()
    entered.wait(10)
    results["main_out"] = (x * 2.0).requires_grad  # the main thread too, while the worker is in no_grad
    for t in threads:
        t.join(10)
    assert results == {
        "worker_enabled": False,
        "worker_out": False,
        "other_enabled": True,
        "other_out": True,
        "main_out": True,
    }


def test_new_threads_start_with_grad_enabled(device):
    seen = []
    with gk.no_grad():
        t = threading.Thread(target=lambda: seen.append(gk.is_grad_enabled()))
        t.start()
        t.join()
    assert seen == [True]


def test_backward_in_threads_concurrently(device):
    errors, grads = [], {}

    def work(i):
        try:
            x = gk.tensor(np.full(3, float(i)), device=device, requires_grad=True)
            for _ in range(50):
                x.grad = None
                (x * x * float(i)).sum().backward()
            grads[i] = x.grad.numpy()
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(1, 5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors
    for i in range(1, 5):
        np.testing.assert_allclose(grads[i], np.full(3, 2.0 * i * i))


def test_set_grad_enabled_called_alone_switches_the_mode():
    try:
        gk.set_grad_enabled(False)  # as PyTorch: a plain call sets the mode
        assert not gk.is_grad_enabled()
        gk.set_grad_enabled(True)
        assert gk.is_grad_enabled()
        with gk.set_grad_enabled(False):
            assert not gk.is_grad_enabled()
        assert gk.is_grad_enabled()

        @gk.set_grad_enabled(False)
        def inside() -> bool:
            return gk.is_grad_enabled()

        assert gk.is_grad_enabled()  # decorating does not switch the mode
        assert inside() is False
        assert gk.is_grad_enabled()
    finally:
        gk.set_grad_enabled(True)


def test_no_grad_on_a_generator_covers_its_body_only():
    @gk.no_grad()
    def gen():
        got = yield gk.is_grad_enabled()
        yield got, gk.is_grad_enabled()
        return "done"

    it = gen()
    assert next(it) is False
    assert gk.is_grad_enabled()  # the caller's mode between items
    assert it.send(5) == (5, False)
    try:
        next(it)
    except StopIteration as stop:
        assert stop.value == "done"
    assert gk.is_grad_enabled()

    closed = []

    @gk.no_grad
    def tidy():
        try:
            yield 1
        finally:
            closed.append(gk.is_grad_enabled())

    t = tidy()
    next(t)
    t.close()
    assert closed == [False] and gk.is_grad_enabled()
