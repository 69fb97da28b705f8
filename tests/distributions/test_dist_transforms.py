"""gk.distributions.transforms (round trips, log |det J| against the Jacobian computed by gk.jacobian, shapes,
signs, caching, equality, repr), TransformedDistribution, the constraints' checks and the biject_to /
transform_to registries."""

from __future__ import annotations

import math

import numpy as np
import pytest

import gradkit as gk
import gradkit.distributions as D
from gradkit.distributions import constraints as C


def _t(x, device):
    return gk.tensor(np.asarray(x, dtype=np.float64), dtype=gk.float64, device=device)


# elementwise bijections: transform, a point of the domain
ELEMENTWISE = [
    (D.ExpTransform(), [-1.0, 0.2, 1.5]),
    (D.SigmoidTransform(), [-2.0, 0.1, 3.0]),
    (D.TanhTransform(), [-1.5, 0.0, 0.7]),
    (D.SoftplusTransform(), [-2.0, 0.5, 3.0]),
    (D.AffineTransform(0.5, -2.0), [-1.0, 0.0, 2.0]),
    (D.PowerTransform(2.5), [0.3, 1.0, 2.0]),
    (D.ExpTransform().inv, [0.3, 1.0, 2.0]),
    (D.ComposeTransform([D.ExpTransform(), D.AffineTransform(1.0, 3.0)]), [-0.5, 0.0, 0.5]),
]


@pytest.mark.parametrize(("t", "x"), ELEMENTWISE, ids=lambda v: type(v).__name__ if isinstance(v, D.Transform) else "")
def test_elementwise_bijections(t, x, device):
    x = _t(x, device)
    y = t(x)
    assert t.codomain.check(y).numpy().all() and t.bijective
    np.testing.assert_allclose(t.inv(y).numpy(), x.numpy(), rtol=1e-10, atol=1e-12)
    jac = gk.jacobian(lambda v: t(v))(x).numpy()
    np.testing.assert_allclose(t.log_abs_det_jacobian(x, y).numpy(), np.log(np.abs(np.diag(jac))), rtol=1e-10,
                               atol=1e-12)  # fmt: skip
    np.testing.assert_allclose(t.inv.log_abs_det_jacobian(y, x).numpy(), -np.log(np.abs(np.diag(jac))), rtol=1e-10)
    sign = t.sign if isinstance(t.sign, int) else t.sign.item()
    assert sign == np.sign(np.diag(jac)[0])
    assert t.inv.inv is t and t.forward_shape((2, 3)) == (2, 3) and t.inverse_shape((2, 3)) == (2, 3)


def _ladj_by_jacobian(f, x):
    jac = gk.jacobian(f)(x).numpy()
    return np.linalg.slogdet(jac)[1]


def test_stick_breaking(device):
    t = D.StickBreakingTransform()
    x = _t([0.3, -1.2, 0.8], device)
    y = t(x)
    assert y.shape == (4,) and C.simplex.check(y).item()
    np.testing.assert_allclose(t.inv(y).numpy(), x.numpy(), rtol=1e-10)
    # the Jacobian of x -> y[:-1] (the free coordinates)
    expected = _ladj_by_jacobian(lambda v: t(v)[:-1], x)
    np.testing.assert_allclose(t.log_abs_det_jacobian(x, y).item(), expected, rtol=1e-10)
    assert t.forward_shape((5, 3)) == (5, 4) and t.inverse_shape((5, 4)) == (5, 3)
    np.testing.assert_allclose(t(_t([0.0, 0.0, 0.0], device)).numpy(), [0.25] * 4, rtol=1e-12)


def test_corr_cholesky(device):
    t = D.CorrCholeskyTransform()
    x = _t([0.3, -0.7, 1.1], device)
    y = t(x)
    assert y.shape == (3, 3) and C.corr_cholesky.check(y).item()
    np.testing.assert_allclose(t.inv(y).numpy(), x.numpy(), rtol=1e-10)
    rows, cols = np.tril_indices(3, -1)
    expected = _ladj_by_jacobian(lambda v: t(v)[tuple(rows), tuple(cols)], x)
    np.testing.assert_allclose(t.log_abs_det_jacobian(x, y).item(), expected, rtol=1e-9)
    assert t.forward_shape((2, 6)) == (2, 4, 4) and t.inverse_shape((2, 4, 4)) == (2, 6)
    with pytest.raises(gk.ShapeError):
        t.forward_shape((5,))


def test_matrix_transforms(device):
    x = _t([[0.3, 0.0], [-1.0, -0.4]], device)
    low = D.LowerCholeskyTransform()(x)
    assert C.lower_cholesky.check(low).item()
    np.testing.assert_allclose(D.LowerCholeskyTransform().inv(low).numpy(), np.tril(x.numpy()), rtol=1e-12)
    pd = D.PositiveDefiniteTransform()(x)
    assert C.positive_definite.check(pd).item()
    np.testing.assert_allclose(D.PositiveDefiniteTransform().inv(pd).numpy(), np.tril(x.numpy()), rtol=1e-10)
    np.testing.assert_allclose(D.SoftmaxTransform()(x).numpy().sum(-1), [1.0, 1.0])
    assert not D.SoftmaxTransform().bijective
    r = D.ReshapeTransform((2, 2), (4,))
    assert r(x).shape == (4,) and r.inv(r(x)).shape == (2, 2) and r.log_abs_det_jacobian(x, r(x)).shape == ()
    assert r.forward_shape((3, 2, 2)) == (3, 4) and r.inverse_shape((3, 4)) == (3, 2, 2)
    with pytest.raises(gk.ShapeError):
        D.ReshapeTransform((2, 2), (3,))


def test_compose_and_independent_sum_their_terms(device):
    x = _t([[0.1, -0.3], [0.4, 0.2]], device)
    t = D.ComposeTransform([D.AffineTransform(1.0, 2.0), D.ExpTransform()])
    y = t(x)
    np.testing.assert_allclose(y.numpy(), np.exp(1 + 2 * x.numpy()))
    np.testing.assert_allclose(t.log_abs_det_jacobian(x, y).numpy(), math.log(2) + 1 + 2 * x.numpy(), rtol=1e-12)
    ind = D.IndependentTransform(t, 1)
    assert ind.domain.event_dim == 1 and ind.codomain.event_dim == 1
    np.testing.assert_allclose(ind.log_abs_det_jacobian(x, y).numpy(), (math.log(2) + 1 + 2 * x.numpy()).sum(-1))
    with_vec = D.ComposeTransform([D.ExpTransform(), D.StickBreakingTransform()])
    assert with_vec.domain.event_dim == 1 and with_vec.codomain.event_dim == 1
    z = with_vec(x)
    lad = with_vec.log_abs_det_jacobian(x, z).numpy()
    expected = [_ladj_by_jacobian(lambda v: with_vec(v)[:-1], x[i]) for i in range(2)]
    np.testing.assert_allclose(lad, expected, rtol=1e-10)
    aff = D.AffineTransform(_t([1.0, 2.0], device), _t([2.0, -3.0], device), event_dim=1)
    np.testing.assert_allclose(aff.log_abs_det_jacobian(x, aff(x)).numpy(), [math.log(6)] * 2, rtol=1e-12)
    assert D.identity_transform(x) is x
    np.testing.assert_array_equal(D.identity_transform.log_abs_det_jacobian(x, x).numpy(), np.zeros((2, 2)))


def test_caching_equality_and_repr(device):
    x = _t([0.1, 0.2], device)
    cached = D.ExpTransform(cache_size=1)
    y = cached(x)
    assert cached.inv(y) is x and cached(x) is y
    assert D.ExpTransform().with_cache(1)._cache_size == 1
    assert D.ExpTransform().inv(D.ExpTransform()(x)) is not x
    with pytest.raises(gk.InvalidArgumentError):
        D.ExpTransform(cache_size=2)
    assert D.ExpTransform() == D.ExpTransform() and D.ExpTransform() != D.SigmoidTransform()
    assert D.ExpTransform().inv == D.ExpTransform().inv
    assert D.AffineTransform(1.0, 2.0) == D.AffineTransform(1.0, 2.0) != D.AffineTransform(1.0, 3.0)
    assert D.ComposeTransform([D.ExpTransform()]) == D.ComposeTransform([D.ExpTransform()])
    assert repr(D.ExpTransform()) == "ExpTransform()"
    assert repr(D.ExpTransform().inv) == "_InverseTransform(ExpTransform())"
    assert repr(D.ComposeTransform([D.ExpTransform(), D.TanhTransform()])) == (
        "ComposeTransform(\n    ExpTransform(),\n    TanhTransform()\n)")
    assert repr(D.IndependentTransform(D.ExpTransform(), 1)) == "IndependentTransform(ExpTransform(), 1)"
    assert D.AffineTransform(0.0, -2.0).sign == -1
    assert D.ComposeTransform([D.AffineTransform(0.0, -1.0), D.AffineTransform(0.0, -2.0)]).sign == 1
    with pytest.raises(NotImplementedError):
        D.AbsTransform().log_abs_det_jacobian(x, x)


def test_transformed_distribution(device):
    base = D.Normal(_t([0.0, 1.0], device), _t([1.0, 2.0], device))
    t = D.TransformedDistribution(base, [D.AffineTransform(3.0, 0.5)])
    ref = D.Normal(_t([3.0, 3.5], device), _t([0.5, 1.0], device))
    v = _t([2.5, 4.0], device)
    np.testing.assert_allclose(t.log_prob(v).numpy(), ref.log_prob(v).numpy(), rtol=1e-12)
    np.testing.assert_allclose(t.cdf(v).numpy(), ref.cdf(v).numpy(), rtol=1e-12)
    np.testing.assert_allclose(t.icdf(_t([0.2, 0.7], device)).numpy(), ref.icdf(_t([0.2, 0.7], device)).numpy())
    flipped = D.TransformedDistribution(base, D.AffineTransform(3.0, -0.5))  # decreasing: the cdf flips
    ref2 = D.Normal(_t([3.0, 2.5], device), _t([0.5, 1.0], device))
    np.testing.assert_allclose(flipped.cdf(v).numpy(), ref2.cdf(v).numpy(), rtol=1e-12)
    np.testing.assert_allclose(flipped.icdf(_t([0.2, 0.7], device)).numpy(),
                               ref2.icdf(_t([0.2, 0.7], device)).numpy(), rtol=1e-12)  # fmt: skip
    assert t.support is C.real and t.has_rsample and t.batch_shape == (2,) and t.event_shape == ()
    vec = D.TransformedDistribution(base, D.StickBreakingTransform())  # the base's batch axis becomes the event
    assert vec.batch_shape == () and vec.event_shape == (3,) and isinstance(vec.base_dist, D.Independent)
    assert vec.support.event_dim == 1 and vec.sample((4,)).shape == (4, 3)
    expd = D.TransformedDistribution(D.Normal(_t(0.0, device), _t(1.0, device)),
                                     D.AffineTransform(_t([1.0, 2.0], device), 1.0))  # fmt: skip
    assert expd.batch_shape == (2,) and expd.base_dist.batch_shape == (2,)
    with pytest.raises(gk.ShapeError):
        D.TransformedDistribution(D.Normal(_t(0.0, device), _t(1.0, device)), D.StickBreakingTransform())


CHECKS = [
    (C.real, [0.0, -math.inf, math.nan], [True, True, False]),
    (C.positive, [1.0, 0.0, -1.0], [True, False, False]),
    (C.nonnegative, [1.0, 0.0, -1.0], [True, True, False]),
    (C.greater_than(2.0), [3.0, 2.0, 1.0], [True, False, False]),
    (C.greater_than_eq(2.0), [3.0, 2.0, 1.0], [True, True, False]),
    (C.less_than(2.0), [3.0, 2.0, 1.0], [False, False, True]),
    (C.unit_interval, [0.0, 1.0, 1.5], [True, True, False]),
    (C.interval(-1.0, 1.0), [-1.0, 1.0, 1.5], [True, True, False]),
    (C.half_open_interval(-1.0, 1.0), [-1.0, 1.0, 0.5], [True, False, True]),
    (C.boolean, [0.0, 1.0, 0.5], [True, True, False]),
    (C.nonnegative_integer, [0.0, 3.0, -1.0], [True, True, False]),
    (C.positive_integer, [0.0, 3.0, 2.5], [False, True, False]),
    (C.integer_interval(0, 3), [0.0, 3.0, 4.0], [True, True, False]),
]


def _constraint_id(v):
    return repr(v) if isinstance(v, C.Constraint) else ""


@pytest.mark.parametrize(("constraint", "values", "expected"), CHECKS, ids=_constraint_id)
def test_elementwise_constraints(constraint, values, expected, device):
    out = constraint.check(_t(values, device))
    assert out.dtype == gk.bool_
    np.testing.assert_array_equal(out.numpy(), expected)


def test_event_constraints(device):
    assert C.simplex.check(_t([[0.2, 0.8], [0.5, 0.6], [-0.1, 1.1]], device)).numpy().tolist() == [True, False, False]
    assert C.one_hot.check(_t([[0.0, 1.0], [1.0, 1.0]], device)).numpy().tolist() == [True, False]
    assert C.real_vector.check(_t([[0.0, 1.0], [math.nan, 1.0]], device)).numpy().tolist() == [True, False]
    assert C.independent(C.positive, 2).check(_t(np.ones((3, 2, 2)), device)).shape == (3,)
    assert C.multinomial(3).check(_t([[1.0, 2.0], [2.0, 2.0]], device)).numpy().tolist() == [True, False]
    mats = _t([[[1.0, 0.0], [0.5, 2.0]], [[1.0, 0.1], [0.5, 2.0]], [[-1.0, 0.0], [0.5, 2.0]]], device)
    assert C.lower_triangular.check(mats).numpy().tolist() == [True, False, True]
    assert C.lower_cholesky.check(mats).numpy().tolist() == [True, False, False]
    assert C.square.check(mats).numpy().tolist() == [True] * 3
    assert not C.square.check(_t(np.ones((2, 3)), device)).item()
    spd = _t([[[2.0, 1.0], [1.0, 2.0]], [[1.0, 2.0], [2.0, 1.0]]], device)
    assert C.symmetric.check(spd).numpy().tolist() == [True, True]
    assert C.positive_definite.check(spd).numpy().tolist() == [True, False]
    assert C.positive_semidefinite.check(spd).numpy().tolist() == [True, False]
    assert not C.positive_definite.check(_t([[1.0, 2.0], [0.0, 1.0]], device)).item()
    ident = _t(np.eye(3), device)
    assert C.corr_cholesky.check(ident).item() and not C.corr_cholesky.check(2 * ident).item()
    cat = C.cat([C.positive, C.real], dim=0, lengths=[1, 2])
    assert cat.check(_t([1.0, -1.0, -2.0], device)).numpy().tolist() == [True, True, True]
    assert cat.check(_t([-1.0, -1.0, -2.0], device)).numpy().tolist() == [False, True, True]
    st = C.stack([C.positive, C.real], dim=-1)
    assert st.check(_t([[1.0, -1.0], [-1.0, 0.0]], device)).numpy().tolist() == [[True, True], [False, True]]


def test_constraint_attributes_and_repr():
    assert repr(C.positive) == "GreaterThan(lower_bound=0.0)" and repr(C.real) == "Real()"
    assert repr(C.interval(0.0, 2.0)) == "Interval(lower_bound=0.0, upper_bound=2.0)"
    assert repr(C.real_vector) == "IndependentConstraint(Real(), 1)"
    assert repr(C.integer_interval(0, 3)) == "IntegerInterval(lower_bound=0, upper_bound=3)"
    assert C.simplex.event_dim == 1 and C.positive_definite.event_dim == 2 and C.real_vector.event_dim == 1
    assert C.nonnegative_integer.is_discrete and not C.real.is_discrete
    assert C.is_dependent(C.dependent) and not C.is_dependent(C.real)
    assert C.is_dependent(D.Uniform.support) and isinstance(D.Uniform(0.0, 1.0).support, C._Interval)
    dep = C.dependent(is_discrete=True, event_dim=1)
    assert dep.is_discrete and dep.event_dim == 1
    with pytest.raises(NotImplementedError):
        C.dependent.event_dim  # noqa: B018
    with pytest.raises(ValueError, match="dependent"):
        C.dependent.check(gk.zeros(1))
    with pytest.raises(gk.ArgumentTypeError):
        C.independent("real", 1)


REGISTRY = [C.real, C.real_vector, C.positive, C.nonnegative, C.greater_than(1.5), C.greater_than_eq(-1.0),
            C.less_than(2.0), C.unit_interval, C.interval(-2.0, 3.0), C.half_open_interval(0.0, 4.0), C.simplex,
            C.corr_cholesky, C.independent(C.positive, 1)]  # fmt: skip


@pytest.mark.parametrize("constraint", REGISTRY, ids=repr)
def test_biject_to_and_transform_to(constraint, device):
    rng = np.random.default_rng(0)
    shape = {C.simplex: (4, 3), C.corr_cholesky: (4, 3), C.real_vector: (4, 3)}.get(constraint, (4, 3))
    x = _t(rng.normal(size=shape), device)
    for registry in (D.biject_to, D.transform_to):
        t = registry(constraint)
        y = t(x)
        assert constraint.check(y).numpy().all()
        if registry is D.biject_to:
            assert t.bijective
            np.testing.assert_allclose(t.inv(y).numpy(), x.numpy(), rtol=1e-8, atol=1e-10)


def test_transform_to_matrix_constraints_and_unregistered(device):
    x = _t(np.random.default_rng(1).normal(size=(2, 3, 3)), device)
    for c in (C.lower_cholesky, C.positive_definite, C.positive_semidefinite):
        assert c.check(D.transform_to(c)(x)).numpy().all()
    with pytest.raises(D.DistributionNotImplementedError, match="Cannot transform _PositiveDefinite constraints"):
        D.biject_to(C.positive_definite)  # as PyTorch: no bijection registered
    with pytest.raises(NotImplementedError):
        D.transform_to(C.boolean)
    with pytest.raises(gk.ArgumentTypeError):
        D.biject_to.register(int, lambda c: D.ExpTransform())


def test_register_a_new_constraint():
    class _Odd(C.Constraint):
        def check(self, value):
            return value % 2 == 1

    from gradkit.distributions.constraint_registry import ConstraintRegistry

    registry = ConstraintRegistry()
    registry.register(_Odd)(lambda c: D.AffineTransform(1.0, 2.0))
    assert isinstance(registry(_Odd()), D.AffineTransform)
