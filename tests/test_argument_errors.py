"""Bad arguments get a GradkitError that names the operation and what was wrong (found by an audit).

One row per case: what is called, the error class, and a fragment of the message.
"""

from __future__ import annotations

import numpy as np
import pytest

import gradkit as gk


def _param() -> gk.nn.Parameter:
    p = gk.nn.Parameter(gk.ones(3))
    p.grad = gk.ones(3)
    return p


def _sgd() -> gk.optim.Optimizer:
    return gk.optim.SGD([_param()], lr=0.1)


def _step_with(groups):
    opt = _sgd()
    opt.param_groups = groups
    opt.step()


def _cyclic() -> dict:
    d: dict = {}
    d["self"] = d
    return d


def _setitem(index, value):
    def call():
        t = gk.ones((3, 3))
        t[index] = value

    return call


CASES = {
    # indexing
    "slice step 0": (lambda: gk.ones((3, 3))[::0], gk.InvalidArgumentError, "step 0"),
    "float slice bound": (lambda: gk.ones((3, 3))[0.5:2], gk.ArgumentTypeError, "integer"),
    "index arrays that do not broadcast": (lambda: gk.ones((3, 3))[[0, 1], [0, 1, 2]], gk.ShapeError, "getitem"),
    "ragged index list": (lambda: gk.ones((3, 3))[[[0], [0, 1]]], gk.ShapeError, "ragged"),
    "setitem slice step 0": (_setitem(slice(None, None, 0), 1.0), gk.InvalidArgumentError, "__setitem__"),
    "setitem complex": (_setitem(0, 1j), gk.DTypeError, "complex"),
    "setitem str": (_setitem(0, "x"), gk.DTypeError, "str"),
    # creation
    "rand negative": (lambda: gk.rand(-3), gk.ShapeError, "rand: negative dimension"),
    "arange str": (lambda: gk.arange("5"), gk.ArgumentTypeError, "arange: start"),
    "arange nan": (lambda: gk.arange(float("nan")), gk.InvalidArgumentError, "finite"),
    "eps nan": (lambda: gk.nn.functional.poisson_nll_loss(gk.ones(2), gk.ones(2), eps=float("nan")),
                gk.InvalidArgumentError, "poisson_nll_loss: eps must be a number >= 0.0, not NaN"),
    "linspace float num": (lambda: gk.linspace(0, 1, 2.5), gk.ArgumentTypeError, "linspace: num"),
    "full with an array": (lambda: gk.full((3,), np.array([1.0, 2.0, 3.0])), gk.ArgumentTypeError, "single number"),
    "from_dlpack list": (lambda: gk.from_dlpack([1]), gk.ArgumentTypeError, "from_dlpack"),
    "keepdims not a bool": (lambda: gk.ones((2, 3)).sum(keepdims="no"), gk.ArgumentTypeError, "sum: keepdims"),
    "clip with a str bound": (lambda: gk.clip(gk.ones(3), "a", 1), gk.ArgumentTypeError, "clip: lo"),
    "clip bounds that do not broadcast": (lambda: gk.clip(gk.ones((2, 3)), gk.ones(4), None), gk.ShapeError, "clip"),
    "einsum without subscripts": (lambda: gk.einsum(5, gk.ones(2)), gk.ArgumentTypeError, "einsum"),
    "pad with a str value": (lambda: gk.pad(gk.ones(3), 1, constant_values="x"), gk.ArgumentTypeError, "pad"),
    "pad by 1.5": (lambda: gk.pad(gk.ones(3), 1.5), gk.ArgumentTypeError, "pad_width"),
    "reflect-pad an empty axis": (lambda: gk.pad(gk.zeros((0, 3)), 1, mode="reflect"), gk.ShapeError, "length 0"),
    # nn
    "BatchNorm1d momentum": (lambda: gk.nn.BatchNorm1d(3, momentum="a"), gk.ArgumentTypeError, "momentum"),
    "LeakyReLU slope": (lambda: gk.nn.LeakyReLU("a"), gk.ArgumentTypeError, "negative_slope"),
    "layer_norm eps": (lambda: gk.nn.functional.layer_norm(gk.ones((2, 3)), (3,), eps=-1.0),
                       gk.InvalidArgumentError, "layer_norm: eps"),
    "clip max_norm": (lambda: gk.nn.utils.clip_grad_norm_([_param()], "a"), gk.ArgumentTypeError, "max_norm"),
    "clip norm_type": (lambda: gk.nn.utils.clip_grad_norm_([_param()], 1.0, norm_type="x"),
                       gk.ArgumentTypeError, "norm_type"),
    "layer_norm weight shape": (lambda: gk.nn.functional.layer_norm(gk.ones((2, 3)), (3,), weight=gk.ones(4)),
                                gk.ShapeError, "layer_norm: weight"),
    "pos_weight shape": (
        lambda: gk.nn.functional.binary_cross_entropy_with_logits(
            gk.ones((2, 3)), gk.ones((2, 3)), pos_weight=gk.ones(4)
        ),
        gk.ShapeError,
        "pos_weight",
    ),
    "init of an int tensor": (lambda: gk.nn.init.normal_(gk.zeros(3, dtype="int64")), gk.DTypeError, "normal_"),
    "save of a cyclic dict": (lambda: gk.save(_cyclic(), "unused.safetensors"), gk.InvalidArgumentError, "cycle"),
    # data
    "samples of different shapes": (lambda: list(gk.data.DataLoader([(np.ones(2), 0), (np.ones(3), 1)], batch_size=2)),
                                    gk.ShapeError, "same shape"),
    "set_epoch str": (lambda: gk.data.DataLoader(gk.data.TensorDataset(gk.ones((4, 2))), batch_size=2).set_epoch("x"),
                      gk.ArgumentTypeError, "epoch"),
    # optimisers and schedulers
    "SGD over a set": (lambda: gk.optim.SGD({gk.nn.Parameter(gk.ones(2))}, lr=0.1), gk.ArgumentTypeError, "set"),
    "scheduler state None": (lambda: gk.optim.lr_scheduler.StepLR(_sgd(), 2).load_state_dict(None),
                             gk.ArgumentTypeError, "expected a dict"),
    "scheduler state with an optimizer": (
        lambda: gk.optim.lr_scheduler.StepLR(_sgd(), 2).load_state_dict({"optimizer": 1}),
        gk.InvalidArgumentError,
        "optimizer",
    ),
    # transforms and hooks
    "grad of a number": (lambda: gk.grad(5), gk.ArgumentTypeError, "grad: expected a function"),
    "vjp of a number": (lambda: gk.vjp(5, gk.ones(2)), gk.ArgumentTypeError, "vjp"),
    "hook that is not a function": (lambda: gk.ones(2, requires_grad=True).register_hook(3),
                                    gk.ArgumentTypeError, "register_hook"),
    # modules and their functions (this session's fuzzing leftovers)
    "state_dict prefix": (lambda: gk.nn.Linear(2, 2).state_dict(prefix=1), gk.ArgumentTypeError, "prefix"),
    "apply non-callable": (lambda: gk.nn.Linear(2, 2).apply(5), gk.ArgumentTypeError, "apply: fn"),
    "clear_grads int": (lambda: gk.nn.utils.clear_grads(5), gk.ArgumentTypeError, "clear_grads"),
    "clear_grads mixed": (lambda: gk.nn.utils.clear_grads([_param(), 3]), gk.ArgumentTypeError,
                          "expected Tensors, got int"),
    "batch_norm list stats": (lambda: gk.nn.functional.batch_norm(gk.ones((4, 2)), [0.0, 0.0], [1.0, 1.0]),
                              gk.ArgumentTypeError, "running_mean must be a Tensor"),
    "batch_norm stat shape": (lambda: gk.nn.functional.batch_norm(gk.ones((4, 2)), gk.zeros(3), gk.ones(3),
                                                                   training=True),
                              gk.ShapeError, r"running_mean has shape \(3,\)"),
    "gemm numbers": (lambda: gk.cuda.gemm(1, 2), gk.ArgumentTypeError, "gemm: expected two"),
    "take uint64 beyond int64": (lambda: gk.take(gk.ones((3, 4)), np.uint64(2**64 - 1), axis=1),
                                 gk.IndexOutOfRangeError, "beyond int64"),
    "take string index": (lambda: gk.take(gk.ones((3, 4)), "", axis=1), gk.DTypeError, "take: index arrays"),
    "getitem string array": (lambda: gk.ones(3)[np.array(["a", "b"])], gk.DTypeError, "getitem: index arrays"),
    "manual_seed too big": (lambda: gk.manual_seed(2**64), gk.InvalidArgumentError, "2\\*\\*64"),
    "device_info str": (lambda: gk.cuda.device_info(""), gk.ArgumentTypeError, "device_info: index"),
    "gemm 0-d": (lambda: gk.cuda.gemm(np.array(2.0), np.ones((3, 2))), gk.ShapeError, "at least one axis"),
    "data= ragged": (lambda: setattr(gk.ones(2), "data", [[1, 2], [3]]), gk.ShapeError, "Tensor.data: .*ragged"),
    "permute int": (lambda: gk.permute(gk.ones((2, 3)), 0), gk.ShapeError, "permute"),
    "enable_grad non-callable": (lambda: gk.enable_grad()(0), gk.ArgumentTypeError, "enable_grad: can only"),
    "render_graph path": (lambda: gk.render_graph(gk.ones(2, requires_grad=True).sum(), 0), gk.ArgumentTypeError,
                          "render_graph: the path"),
    "from_dlpack strings": (lambda: gk.from_dlpack(np.array(["a", "b"])), gk.DTypeError, "from_dlpack"),
    "outer object array": (lambda: gk.outer(gk.ones(3), np.array([1, 2], dtype=object)), gk.DTypeError, "outer"),
    "mse_loss string target": (lambda: gk.nn.functional.mse_loss(gk.ones(2), np.array(["a", "b"])), gk.DTypeError,
                               "mse_loss"),
    "layer_norm shape": (lambda: gk.nn.functional.layer_norm(gk.ones((2, 3)), 1j), gk.ArgumentTypeError,
                         "layer_norm: a shape"),
    "one_hot huge": (lambda: gk.nn.functional.one_hot(gk.tensor([1, 2]), 10**30), gk.InvalidArgumentError,
                     "too large"),
    "one_hot uint64": (lambda: gk.nn.functional.one_hot(np.uint64(2**64 - 1)), gk.IndexOutOfRangeError, "int64"),
    "embedding padding_idx": (lambda: gk.nn.functional.embedding(gk.tensor([0, 1]), gk.ones((5, 3)), -7),
                              gk.IndexOutOfRangeError, "padding_idx -7"),
    "cross_entropy ragged weight": (lambda: gk.nn.functional.cross_entropy(gk.ones((2, 3)), gk.tensor([0, 2]),
                                                                          weight=[[1, 2], [3]]),
                                    gk.ShapeError, "ragged"),
    "batch_norm momentum": (lambda: gk.nn.functional.batch_norm(gk.ones((4, 3)), gk.zeros(3), gk.ones(3),
                                                                training=True, momentum=""),
                            gk.ArgumentTypeError, "momentum"),
    "DataLoader 0-d array": (lambda: gk.data.DataLoader(np.array(2.0), batch_size=2), gk.ArgumentTypeError,
                             "__len__"),
    "DataLoader.order epoch": (lambda: gk.data.DataLoader(gk.data.TensorDataset(gk.ones(4)), 2).order(1j),
                               gk.ArgumentTypeError, "epoch"),
    "SGD over an array": (lambda: gk.optim.SGD(np.array(2.0), lr=0.1), gk.ArgumentTypeError, "iterable"),
    "Optimizer defaults": (lambda: gk.optim.Optimizer([_param()], 0), gk.ArgumentTypeError, "defaults"),
    "param_groups replaced": (lambda: _step_with(0), gk.ArgumentTypeError,
                              "param_groups must be a list"),
    "clip_grad_norm_ array": (lambda: gk.nn.utils.clip_grad_norm_(np.array(2.0), 1.0), gk.ArgumentTypeError,
                              "clip_grad_norm_"),
    "state_dict destination": (lambda: gk.nn.Linear(2, 2).state_dict(destination=0), gk.ArgumentTypeError,
                               "destination"),
    "named_modules memo": (lambda: list(gk.nn.Linear(2, 2).named_modules(memo=[])), gk.ArgumentTypeError, "memo"),
    "ModuleList array": (lambda: gk.nn.ModuleList(np.array(2.0)), gk.ArgumentTypeError, "ModuleList"),
    "cuda index": (lambda: gk.ones(2).cuda((-1,)), gk.ArgumentTypeError, "cuda: index"),
    "to a malformed device": (lambda: gk.ones(2).to("cuda:(-1,)"), gk.DeviceError, "unknown device"),
    "CounterRNG size": (lambda: gk.cuda.CounterRNG(1).random("abc"), gk.ArgumentTypeError, "shape must be integers"),
    "CounterRNG dtype": (lambda: gk.cuda.CounterRNG(1).random((2, 3), dtype=0), gk.DTypeError, "CounterRNG.random"),
    "arange start None": (lambda: gk.arange(None, 5), gk.ArgumentTypeError, "arange: start"),
    "gemm shapes": (lambda: gk.cuda.gemm(np.ones((2, 3)), np.ones((2, 3))), gk.ShapeError, "gemm: cannot multiply"),
    "bool tensor as a slice bound": (lambda: gk.arange(5)[gk.tensor(True):], gk.ArgumentTypeError,
                                     "must have integer"),
    "an int beyond the float range": (
        lambda: gk.optim.lr_scheduler.PolynomialLR(gk.optim.SGD([_param()], lr=0.1), power=10**400),
        gk.InvalidArgumentError, "PolynomialLR: power must be a number within the float range"),
    "an int of more digits than str() writes": (
        lambda: gk.optim.lr_scheduler.StepLR(gk.optim.SGD([_param()], lr=0.1), 1, gamma=10**5000),
        gk.InvalidArgumentError, "StepLR: gamma must be a number within the float range, got an int of 16610 bits"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_argument_is_a_clear_gradkit_error(case):
    call, error, fragment = CASES[case]
    with pytest.raises(error, match=fragment):
        call()


def test_numpy_numbers_and_the_inf_string_are_accepted():
    sched = gk.optim.lr_scheduler.StepLR(_sgd(), np.int64(2), gamma=np.float32(0.5))
    assert sched.step_size == 2
    p = _param()
    p.grad = gk.tensor([3.0, -4.0, 0.0])
    assert float(gk.nn.utils.clip_grad_norm_([p], 1.0, norm_type="inf").item()) == 4.0
    assert gk.full((2,), np.float32(3.0)).tolist() == [3.0, 3.0]


@pytest.mark.parametrize(
    ("call", "error", "fragment"),
    [
        (lambda: gk.gradcheck(5, gk.ones(2)), gk.ArgumentTypeError, "expected a function"),
        (lambda: gk.gradcheck(lambda a: a * 2, gk.ones(2, dtype="float64", requires_grad=True), atol=-1),
         gk.InvalidArgumentError, "atol"),
        (lambda: gk.gradcheck(lambda a: a * 2, gk.ones(2, dtype="float64", requires_grad=True), rtol="a"),
         gk.ArgumentTypeError, "rtol"),
    ],
)
def test_gradcheck_arguments(call, error, fragment):
    with pytest.raises(error, match=fragment):
        call()


def test_gather_refuses_negative_indices_as_pytorch(device):
    x = gk.tensor([[1.0, 2.0], [3.0, 4.0]], device=device)
    with pytest.raises(gk.IndexOutOfRangeError, match="gather: index -1"):
        gk.gather(x, 1, gk.tensor([[-1, 0], [0, 1]], device=device))
    assert gk.gather(x, 1, gk.tensor([[1, 0], [0, 1]], device=device)).tolist() == [[2.0, 1.0], [3.0, 4.0]]


def test_zero_d_arrays_and_tensors_count_as_numbers():
    x = gk.arange(5)
    assert x[: np.array(2)].tolist() == [0, 1]
    assert x[: gk.tensor(2)].tolist() == [0, 1]
    assert gk.arange(np.array(3)).tolist() == [0, 1, 2]
    assert gk.arange(gk.tensor(3)).tolist() == [0, 1, 2]
    p = _param()
    assert float(gk.nn.utils.clip_grad_norm_([p], gk.tensor(10.0)).item()) == pytest.approx(np.sqrt(3))
    assert gk.nn.BatchNorm1d(3, eps=np.array(1e-3)).eps == pytest.approx(1e-3)
    assert gk.nn.LeakyReLU(np.float32(0.5)).negative_slope == 0.5


def test_lenient_forms_numpy_and_pytorch_accept():
    t = gk.ones((2, 3))
    assert t.max(0, keepdims=0).shape == (3,)
    assert t.sum(0, keepdims=np.True_).shape == (1, 3)
    loader = gk.data.DataLoader(gk.data.TensorDataset(gk.ones((4, 2))), batch_size=2, shuffle=True)
    loader.set_epoch(2.0)
    assert loader.epoch == 2
    # PyTorch documents pos_weight of shape (C, 1, 1) for an (N, C, H, W) input.
    x = gk.ones((2, 3, 4, 5))
    loss = gk.nn.functional.binary_cross_entropy_with_logits(x, x, pos_weight=gk.ones((3, 1, 1)))
    assert np.isfinite(loss.item())


def test_a_pytorch_style_scheduler_state_dict_loads():
    sched = gk.optim.lr_scheduler.StepLR(_sgd(), 2)
    state = sched.state_dict()
    state.update({"_is_initial": False, "_get_lr_called_within_step": False, "verbose": False})  # torch's own keys
    sched.load_state_dict(state)
    assert sched.step_size == 2


def test_ragged_pad_width_is_a_shape_error():
    with pytest.raises(gk.ShapeError, match="ragged"):
        gk.pad(gk.ones((2, 2)), [(1, 2), 3])


@pytest.mark.parametrize(
    ("call", "op"),
    [
        (lambda: gk.tensor([1.0], device="tpu"), "tensor"),
        (lambda: gk.zeros(2, device="tpu"), "zeros"),
        (lambda: gk.randn(2, device="tpu"), "randn"),
        (lambda: gk.arange(3, device="tpu"), "arange"),
        (lambda: gk.ones(2).to("tpu"), "to"),
        (lambda: gk.nn.Linear(2, 2).to("tpu"), "Module.to"),
        (lambda: gk.data.DataLoader(gk.data.TensorDataset(gk.ones(2)), 1, device="tpu"), "DataLoader"),
    ],
)
def test_unknown_device_names_the_operation(call, op):
    with pytest.raises(gk.DeviceError, match=rf"^{op}: unknown device 'tpu'; expected 'cpu', 'cuda' or 'cuda:N'"):
        call()


@pytest.mark.skipif(gk.cuda_available(), reason="needs a machine without a usable GPU")
def test_missing_gpu_names_the_operation():
    with pytest.raises(gk.BackendError, match=r"^randn: the cupy backend needs"):
        gk.randn(2, device="cuda")


# ------------------------------------------------------------------ flags and names given an array
# An array is not True or False: NumPy's "truth value ... is ambiguous" did not say which call or argument.
_A = np.ones((2, 3))


def _model() -> gk.nn.Module:
    return gk.nn.Sequential(gk.nn.Linear(3, 2))


def _scheduler_with_last_epoch(value):
    def call():
        s = gk.optim.lr_scheduler.StepLR(_sgd(), 2)
        s.last_epoch = value
        s.step()

    return call


FLAG_CASES = {
    "Tensor requires_grad": (lambda: gk.Tensor([1.0], requires_grad=_A), "requires_grad"),
    "non-leaf requires_grad": (lambda: setattr(gk.ones(2, requires_grad=True) * 2, "requires_grad", _A),
                               "requires_grad"),
    "Parameter requires_grad": (lambda: gk.nn.Parameter(gk.ones(2), requires_grad=_A), "requires_grad"),
    "set_grad_enabled": (lambda: gk.set_grad_enabled(_A), "set_grad_enabled: mode"),
    "backward retain_graph": (lambda: (gk.ones(2, requires_grad=True) * 2).sum().backward(retain_graph=_A),
                              "backward: retain_graph"),
    "backward create_graph": (lambda: (gk.ones(2, requires_grad=True) * 2).sum().backward(create_graph=_A),
                              "backward: create_graph"),
    "__array__ copy": (lambda: gk.ones(2).__array__(copy=_A), "__array__: copy"),
    "linspace endpoint": (lambda: gk.linspace(0, 1, 3, endpoint=_A), "linspace: endpoint"),
    "to_dot show_values": (lambda: gk.to_dot(gk.ones(2, requires_grad=True).sum(), show_values=_A),
                           "to_dot: show_values"),
    "Linear bias": (lambda: gk.nn.Linear(3, 4, bias=_A), "Linear: bias"),
    "LayerNorm elementwise_affine": (lambda: gk.nn.LayerNorm(3, elementwise_affine=_A), "elementwise_affine"),
    "BatchNorm1d affine": (lambda: gk.nn.BatchNorm1d(3, affine=_A), "BatchNorm1d: affine"),
    "BatchNorm1d track_running_stats": (lambda: gk.nn.BatchNorm1d(3, track_running_stats=_A),
                                        "track_running_stats"),
    "load_state_dict strict": (lambda: _model().load_state_dict(_model().state_dict(), strict=_A),
                               "load_state_dict: strict"),
    "state_dict keep_vars": (lambda: _model().state_dict(keep_vars=_A), "state_dict: keep_vars"),
    "register_buffer persistent": (lambda: _model().register_buffer("b", gk.ones(2), persistent=_A),
                                   "register_buffer: persistent"),
    "parameters recurse": (lambda: list(_model().parameters(recurse=_A)), "named_parameters: recurse"),
    "named_modules remove_duplicate": (lambda: list(_model().named_modules(remove_duplicate=_A)),
                                       "named_modules: remove_duplicate"),
    "dropout training": (lambda: gk.nn.functional.dropout(gk.ones(3), 0.5, _A), "dropout: training"),
    "batch_norm training": (lambda: gk.nn.functional.batch_norm(gk.ones((2, 3)), gk.zeros(3), gk.ones(3),
                                                                training=_A), "batch_norm: training"),
    "clip_grad_norm_ error_if_nonfinite": (lambda: gk.nn.utils.clip_grad_norm_([_param()], 1.0, error_if_nonfinite=_A),
                                           "error_if_nonfinite"),
    "clear_grads set_to_none": (lambda: gk.nn.utils.clear_grads([_param()], set_to_none=_A),
                                "clear_grads: set_to_none"),
    "zero_grad set_to_none": (lambda: _sgd().zero_grad(_A), "SGD.zero_grad: set_to_none"),
    "SGD nesterov": (lambda: gk.optim.SGD([_param()], lr=0.1, momentum=0.9, nesterov=_A), "SGD: nesterov"),
    "RMSprop centered": (lambda: gk.optim.RMSprop([_param()], centered=_A), "RMSprop: centered"),
    "DataLoader shuffle": (lambda: gk.data.DataLoader(np.ones((4, 2)), batch_size=2, shuffle=_A),
                           "DataLoader: shuffle"),
    "use_direct_gemm": (lambda: gk.cuda.use_direct_gemm(_A), "use_direct_gemm: enabled"),
    # strings
    "pad mode": (lambda: gk.pad(gk.ones((2, 3)), 1, mode=_A), "pad: mode must be a str"),
    "GELU approximate": (lambda: gk.nn.GELU(approximate=_A), "GELU: approximate"),
    "gelu approximate": (lambda: gk.nn.functional.gelu(gk.ones(2), approximate=_A), "gelu: approximate"),
    "kaiming mode": (lambda: gk.nn.init.kaiming_uniform_(gk.nn.Parameter(gk.ones((4, 3))), mode=_A), "mode"),
    "calculate_gain": (lambda: gk.nn.init.calculate_gain(_A), "calculate_gain: nonlinearity"),
    "named_parameters prefix": (lambda: list(_model().named_parameters(prefix=_A)), "named_parameters: prefix"),
    "format spec": (lambda: gk.ones(2).__format__(_A), "format"),
    # numbers
    "one_hot num_classes": (lambda: gk.nn.functional.one_hot(gk.tensor([0, 1]), _A), "one_hot: num_classes"),
    "label_smoothing": (lambda: gk.nn.functional.cross_entropy(gk.ones((2, 3)), gk.tensor([0, 2]),
                                                               label_smoothing=_A), "label_smoothing"),
    "scheduler last_epoch": (lambda: gk.optim.lr_scheduler.StepLR(_sgd(), 2, last_epoch=_A), "StepLR: last_epoch"),
    "scheduler last_epoch set to a str": (_scheduler_with_last_epoch(""), "StepLR.step: last_epoch"),
    "scheduler last_epoch set to an array": (_scheduler_with_last_epoch(_A), "StepLR.step: last_epoch"),
    "permute complex": (lambda: gk.permute(gk.ones((2, 3)), 1j), "permute: axis"),
    "CounterRNG integers low": (lambda: gk.cuda.CounterRNG(1).integers([], 5, size=(2,)), "CounterRNG.integers: low"),
    "CounterRNG permutation": (lambda: gk.cuda.CounterRNG(1).permutation(float("inf")), "CounterRNG.permutation: n"),
}


@pytest.mark.parametrize("case", list(FLAG_CASES))
def test_an_array_or_wrong_type_where_a_flag_or_name_goes(case):
    call, fragment = FLAG_CASES[case]
    with pytest.raises(gk.GradkitError, match=fragment):
        call()


@pytest.mark.parametrize(
    ("call", "error", "fragment"),
    [
        (lambda: gk.arange(0, 5, dtype=bool), gk.DTypeError, "arange"),
        (lambda: gk.zeros_like(""), gk.DTypeError, "^zeros_like: "),
        (lambda: gk.ones_like([[1, 2], [3]]), gk.ShapeError, "^ones_like: "),
        (lambda: gk.from_numpy(np.array([1], dtype=np.uint64)), gk.DTypeError, "^from_numpy: "),
        (lambda: gk.from_dlpack(np.ones(2, dtype=np.complex64)), gk.DTypeError, "^from_dlpack: "),
        (lambda: gk.nn.functional.batch_norm(gk.ones((2, 3)), gk.tensor([1, 2, 3]), gk.ones(3), training=True),
         gk.DTypeError, "batch_norm: running_mean must be a float tensor"),
        (lambda: gk.cuda.CounterRNG(1).integers(5, size=(2,), dtype="float32"), gk.DTypeError, "integer dtype"),
        (lambda: gk.ones(2).__array__(dtype="no such dtype"), gk.DTypeError, "__array__"),
    ],
)
def test_wrong_kinds_of_values(call, error, fragment):
    with pytest.raises(error, match=fragment):
        call()


def test_flags_take_numpy_bools_and_0_or_1():
    assert gk.nn.Linear(3, 2, bias=np.bool_(False)).bias is None
    assert gk.nn.Linear(3, 2, bias=0).bias is None
    loader = gk.data.DataLoader(np.arange(4.0), batch_size=2, shuffle=1, seed=0)
    assert loader.shuffle is True
    assert gk.ones(2).__array__(copy=np.bool_(True)).tolist() == [1.0, 1.0]
    assert gk.to_dot(gk.ones(2, requires_grad=True).sum(), show_values=gk.tensor(True))


def test_cosine_annealing_reaches_any_epoch():
    opt = gk.optim.SGD([_param()], lr=1.0)
    s = gk.optim.lr_scheduler.CosineAnnealingLR(opt, 10)
    s.step(10**308)  # pi * epoch would overflow a float: the cosine's period is used first
    assert s.get_last_lr() == [pytest.approx(1.0)]  # an even multiple of T_max: back at the base lr
    s.step()
    assert 0 < s.get_last_lr()[0] < 1
    s.step(15)
    assert s.get_last_lr() == [pytest.approx(0.5)]
