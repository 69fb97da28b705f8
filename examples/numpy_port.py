"""NumPy code, differentiated: write gk. where NumPy code says np., and gradkit gives its exact derivatives.

Two programs written as one would write them with NumPy (Python floats are float64, as in NumPy):

1. The Black-Scholes price of a European call. gk.func.grad over the spot, expiry, rate and volatility gives
   delta, theta, rho and vega in one call, grad of grad gives gamma; all are compared with their closed forms.
2. A ball thrown against quadratic air drag, stepped by a leapfrog-style integrator. The landing distance is
   differentiated with respect to the launch angle, and a few Newton steps find the angle that lands on a target.

--check also compares the gradients with float64 central differences (gk.gradcheck); it exits with status 1 when
a derivative disagrees with its closed form or with the differences. About a second on a 2-core CPU.

    python examples/numpy_port.py [--target 45] [--check] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import math
import os
import sys

import numpy as np

try:
    import gradkit as gk
except ImportError:  # run from a checkout without installing
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    import gradkit as gk

GREEKS = ("delta", "gamma", "vega", "theta", "rho")
Real = gk.Tensor | float  # a float64 tensor or a Python float
SPEED, DRAG, GRAVITY = 30.0, 0.01, 9.81  # m/s, 1/m, m/s^2: the drag slows the ball by DRAG * speed^2


def call_price(S: Real, K: Real, T: Real, r: Real, sigma: Real) -> gk.Tensor:
    """The Black-Scholes call price: NumPy/SciPy code with gk. for np. and gk.special for scipy.special."""
    d1 = (gk.log(S / K) + (r + 0.5 * sigma**2) * T) / (sigma * gk.sqrt(T))
    d2 = d1 - sigma * gk.sqrt(T)
    return S * gk.special.ndtr(d1) - K * gk.exp(-r * T) * gk.special.ndtr(d2)


def greeks(S: float, K: float, T: float, r: float, sigma: float) -> dict[str, float]:
    """The greeks by automatic differentiation; theta is -dV/dT, the price's change per year as time passes."""
    delta, dT, rho, vega = gk.func.grad(call_price, argnums=(0, 2, 3, 4))(S, K, T, r, sigma)
    gamma = gk.func.grad(gk.func.grad(call_price))(S, K, T, r, sigma)
    return {"delta": delta.item(), "gamma": gamma.item(), "vega": vega.item(), "theta": -dT.item(), "rho": rho.item()}


def closed_form_greeks(S: float, K: float, T: float, r: float, sigma: float) -> dict[str, float]:
    """The textbook formulas, in plain Python floats."""
    d1 = (math.log(S / K) + (r + 0.5 * sigma**2) * T) / (sigma * math.sqrt(T))
    d2 = d1 - sigma * math.sqrt(T)
    cdf = lambda x: 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))  # noqa: E731
    pdf = math.exp(-0.5 * d1**2) / math.sqrt(2.0 * math.pi)
    discount = math.exp(-r * T)
    return {"delta": cdf(d1), "gamma": pdf / (S * sigma * math.sqrt(T)), "vega": S * pdf * math.sqrt(T),
            "theta": -S * pdf * sigma / (2.0 * math.sqrt(T)) - r * K * discount * cdf(d2),
            "rho": K * T * discount * cdf(d2)}


def landing_distance(angle: Real, speed: float = SPEED, drag: float = DRAG, dt: float = 0.01, steps: int = 500,
                     xp=gk) -> gk.Tensor:
    """Where a ball launched from the ground at ``angle`` (radians) lands; ``xp`` is gk or numpy. Kick-drift-kick
    steps, and the landing point interpolated between the last step above the ground and the first below it."""
    g = xp.asarray([0.0, -GRAVITY])
    pos = xp.asarray([0.0, 0.0])
    vel = speed * xp.stack([xp.cos(angle), xp.sin(angle)])
    path = [pos]
    for _ in range(steps):
        vel = vel + 0.5 * dt * (g - drag * xp.linalg.norm(vel) * vel)
        pos = pos + dt * vel
        vel = vel + 0.5 * dt * (g - drag * xp.linalg.norm(vel) * vel)
        path.append(pos)
    x, y = xp.stack(path).T
    i = int(xp.argmax(y[1:] < 0)) + 1  # the first step below the ground (a host read; no gradient flows here)
    return x[i - 1] + (x[i] - x[i - 1]) * y[i - 1] / (y[i - 1] - y[i])


def main(argv: list[str] | None = None) -> dict[str, dict[str, float]]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", type=float, default=45.0, help="distance (m) the ball should land at, 55 at most")
    parser.add_argument("--check", action="store_true", help="compare the derivatives with central differences")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: gradkit's default device)")
    args = parser.parse_args(argv)
    if not 0 < args.target <= 55:  # the farthest the ball goes against the drag is about 56 m
        parser.error(f"--target must lie in (0, 55], got {args.target}")
    with gk.device(args.device):
        option = dict(S=100.0, K=105.0, T=0.5, r=0.03, sigma=0.2)
        print(f"Black-Scholes call, {option}: price {call_price(**option).item():.4f}")
        auto, exact = greeks(**option), closed_form_greeks(**option)
        print(f"{'greek':>6} {'gradkit':>14} {'closed form':>14}")
        for name in GREEKS:
            print(f"{name:>6} {auto[name]:14.10f} {exact[name]:14.10f}")
        ok = all(math.isclose(auto[n], exact[n], rel_tol=1e-9, abs_tol=1e-12) for n in GREEKS)

        angle = 0.5 * math.asin(GRAVITY * args.target / SPEED**2)  # without drag; Newton corrects for it
        for step in range(8):
            distance, slope = gk.value_and_grad(landing_distance)(angle)
            print(f"Newton step {step}: angle {math.degrees(angle):8.4f} deg, lands at {distance.item():10.6f} m, "
                  f"d(distance)/d(angle) {slope.item():7.3f} m/rad")
            miss = distance.item() - args.target
            if abs(miss) < 1e-9:
                break
            angle -= miss / slope.item()
        print(f"the same code on NumPy arrays: lands at {landing_distance(angle, xp=np):.6f} m")

        if args.check:
            inputs = [gk.asarray(v).requires_grad_() for v in option.values()]
            ok &= gk.gradcheck(call_price, inputs, raise_exception=False)
            ok &= gk.gradcheck(lambda s: gk.func.grad(call_price)(s, *inputs[1:]), inputs[:1], raise_exception=False)
            ok &= gk.gradcheck(landing_distance, [gk.asarray(angle).requires_grad_()], raise_exception=False)
            print(f"check against closed forms and central differences: {'passed' if ok else 'FAILED'}")
            if not ok:
                sys.exit(1)
    return {"gradkit": auto, "closed form": exact}


if __name__ == "__main__":
    main()
