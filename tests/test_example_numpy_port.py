"""examples/numpy_port.py: its greeks match the closed forms, its Newton steps hit the target, --check passes, and
it runs from a checkout that is not installed."""

from __future__ import annotations

import importlib.util
import math
import re
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "numpy_port.py"


def _example():
    spec = importlib.util.spec_from_file_location("numpy_port", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_numpy_port_greeks_and_newton(device, capsys):
    example = _example()
    r = example.main(["--check", "--device", device])
    out = capsys.readouterr().out
    assert "check against closed forms and central differences: passed" in out
    printed = dict(re.findall(r"^ *(\w+) +(-?[\d.]+ +-?[\d.]+)$", out, flags=re.M))
    assert sorted(printed) == sorted(example.GREEKS)
    option = dict(S=100.0, K=105.0, T=0.5, r=0.03, sigma=0.2)
    exact = example.closed_form_greeks(**option)
    assert exact["delta"] == pytest.approx(0.4332043705, abs=1e-10)  # the closed form itself, independently known
    for name in example.GREEKS:
        auto, closed = (float(v) for v in printed[name].split())
        assert auto == closed == pytest.approx(exact[name], abs=1e-10)
        assert math.isclose(r["gradkit"][name], exact[name], rel_tol=1e-9)
    final = re.search(r"^the same code on NumPy arrays: lands at ([\d.]+) m$", out, flags=re.M)
    assert final and float(final.group(1)) == pytest.approx(45.0, abs=1e-6)


def test_numpy_port_check_fails_on_a_wrong_greek(monkeypatch, capsys):
    example = _example()
    exact = example.closed_form_greeks

    def wrong(**option: float) -> dict[str, float]:
        return {**exact(**option), "vega": 0.0}

    monkeypatch.setattr(example, "closed_form_greeks", wrong)
    # the thrown ball, whose 500 steps make most of main's time, is test_numpy_port_greeks_and_newton's: a
    # smooth stand-in that Newton solves and gradcheck passes leaves the wrong greek the only failure
    monkeypatch.setattr(example, "landing_distance", lambda angle, xp=example.gk: 40.0 + 20.0 * xp.sin(angle))
    with pytest.raises(SystemExit) as info:
        example.main(["--check", "--device", "cpu"])
    assert info.value.code == 1 and "FAILED" in capsys.readouterr().out
