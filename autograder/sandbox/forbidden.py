"""Forbidden APIs inside the worker: named guards, and a fence on the ATen operators behind them.

This file runs INSIDE the sandbox (standard library and torch only). Two layers, both installed
in the zygote before any student code is imported:

- :func:`install_guards` wraps each forbidden dotted name (``torch.nn.functional.gelu``)
  wherever the same object is reachable from a loaded torch module, so a call by name raises
  :class:`ForbiddenAPIError` while the module's functions run;
- :class:`OpFence` refuses the ATen operators that compute a forbidden API while a call of a
  module with forbidden APIs runs, whatever route led there: ``torch.ops.aten.X`` and its
  overloads, ``torch._C`` bindings, an original dug out from behind a guard. It does so with a
  kernel of its own in front of each such operator (at the ``ADInplaceOrView`` dispatch key),
  and with a ``TorchDispatchMode`` for calls in inference mode, which skips that key.
  :data:`ATEN_OPS` is the one table from forbidden API to operators; :func:`aten_ops_for`
  derives the operators of an API that is not in it from its name.

The refusing kernels read which call is running from state of this thread, and a dispatch mode
is per thread, so while a fenced call runs, starting a thread is refused too.
Both layers are best effort by nature (code in the same process can tamper with them); the
trusted side's static check (:mod:`autograder.forbidden_static`) is the layer the student's code
cannot reach.
"""
from __future__ import annotations

import importlib
import sys
import types


class ForbiddenAPIError(RuntimeError):
    """Raised inside the worker when student code calls an API grading.yaml forbids."""


_SDPA_OPS = ("scaled_dot_product_attention", "_scaled_dot_product_attention_math",
             "_scaled_dot_product_flash_attention", "_scaled_dot_product_flash_attention_for_cpu",
             "_scaled_dot_product_efficient_attention", "_scaled_dot_product_cudnn_attention",
             "_scaled_dot_product_fused_attention_overrideable", "_flash_attention_forward",
             "_efficient_attention_forward",
             "_safe_softmax")  # the math route's own softmax (F.softmax runs _softmax)
_MHA_OPS = ("_native_multi_head_attention",)
_LAYER_NORM_OPS = ("layer_norm", "native_layer_norm")
_GELU_OPS = ("gelu", "gelu_")
# Forbidden API -> the ATen operators that compute it (names in torch.ops.aten). A dispatch mode
# sees the operators below the composite ones (native_layer_norm, not layer_norm; the flash
# kernel or _safe_softmax, not scaled_dot_product_attention); both are listed.
ATEN_OPS: dict[str, tuple[str, ...]] = {
    "torch.nn.functional.scaled_dot_product_attention": _SDPA_OPS,
    "torch.nn.functional.multi_head_attention_forward": _MHA_OPS,
    "torch.nn.MultiheadAttention": _MHA_OPS,
    "torch.nn.functional.layer_norm": _LAYER_NORM_OPS,
    "torch.nn.LayerNorm": _LAYER_NORM_OPS,
    "torch.layer_norm": _LAYER_NORM_OPS,
    "torch.nn.functional.gelu": _GELU_OPS,
    "torch.nn.GELU": _GELU_OPS,
    "torch.nn.TransformerEncoderLayer": ("_transformer_encoder_layer_fwd",),
    "torch.nn.functional.softmax": ("softmax", "_softmax", "_safe_softmax"),
    "torch.softmax": ("softmax", "_softmax", "_safe_softmax"),
    "torch.nn.functional.log_softmax": ("log_softmax", "_log_softmax"),
}


def aten_ops_for(api: str) -> tuple[str, ...]:
    """The ATen operator names that compute `api` (may be empty: a pure-Python API).

    From :data:`ATEN_OPS`, else by the API's last name (``torch.nn.Softmax`` and
    ``torch.nn.functional.softmax`` share their operators): ``x``, ``_x``, ``native_x``,
    ``x_`` where torch has them.
    """
    if api in ATEN_OPS:
        return ATEN_OPS[api]
    leaf = api.rsplit(".", 1)[-1]
    for known, ops in ATEN_OPS.items():
        if known.rsplit(".", 1)[-1].lower() == leaf.lower():
            return ops
    import torch

    snake = leaf.lower()
    return tuple(name for name in (snake, f"_{snake}", f"native_{snake}", f"{snake}_")
                 if _has_op(torch, name))


def _has_op(torch, name: str) -> bool:
    try:
        getattr(torch.ops.aten, name)
    except (AttributeError, RuntimeError):
        return False
    return True



class _GuardState:
    """Which APIs are refused right now, and the first refusal seen during the current call."""

    def __init__(self):
        self.active: frozenset[str] = frozenset()
        self.where = ""
        self.violation: str | None = None
        self.fenced = False  # the operator fence is watching this call
        self.refused_ops: dict = {}  # {operator packet: (api, "aten::name")} refused right now
        self.modes: list = []  # the dispatch modes the fence entered during this call


GUARD = _GuardState()
_GUARDED: set[str] = set()


def _resolve(dotted: str):
    """``(parent, attribute, object)`` for a dotted name such as torch.nn.functional.softmax."""
    parts = dotted.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        try:
            for part in parts[cut:-1]:
                obj = getattr(obj, part)
            return obj, parts[-1], getattr(obj, parts[-1])
        except AttributeError:
            return None
    return None


def _make_guard(name: str, original, state: _GuardState):
    def guard(*args, **kwargs):
        if name in state.active:
            message = f"{name} is not allowed in {state.where}"
            if state.violation is None:
                state.violation = message
            raise ForbiddenAPIError(message)
        return original(*args, **kwargs)

    for attr in ("__name__", "__qualname__", "__doc__", "__module__"):
        try:
            setattr(guard, attr, getattr(original, attr))
        except (AttributeError, TypeError):
            pass
    return guard


def install_guards(names) -> list[str]:
    """Wrap each dotted API so it raises while it is active; returns the names not found.

    Functions are replaced wherever the same object is reachable from a loaded torch module
    (``F.scaled_dot_product_attention`` is also ``torch._C._nn.scaled_dot_product_attention``);
    classes get a guarded ``__init__``, so subclasses are caught too. Installed before the
    student's modules are imported, so ``from torch.nn.functional import x`` binds the guard.
    Best effort by nature: code in the same process can always dig out an original.
    """
    missing = []
    for name in names:
        if name in _GUARDED:
            continue
        found = _resolve(name)
        if found is None:
            missing.append(name)
            continue
        parent, attr, original = found
        if isinstance(original, type):
            init = original.__dict__.get("__init__", original.__init__)
            try:
                original.__init__ = _make_guard(name, init, GUARD)
                _GUARDED.add(name)
                continue
            except (TypeError, AttributeError):
                pass
        guard = _make_guard(name, original, GUARD)
        try:
            setattr(parent, attr, guard)
        except (TypeError, AttributeError):
            missing.append(name)
            continue
        for mod in list(sys.modules.values()):
            mod_name = getattr(mod, "__name__", "") or ""
            if not mod_name.startswith("torch") or not isinstance(mod, types.ModuleType):
                continue
            try:
                items = list(vars(mod).items())
            except TypeError:  # pragma: no cover
                continue
            for key, value in items:
                if value is original:
                    try:
                        setattr(mod, key, guard)
                    except (TypeError, AttributeError):  # pragma: no cover
                        pass
        _GUARDED.add(name)
    return missing


class OpFence:
    """Refuses the ATen operators of forbidden APIs while a fenced call runs.

    :meth:`prepare` (in the zygote, before student code could rebind anything in ``torch.ops``)
    puts a kernel in front of each such operator at the ``ADInplaceOrView`` dispatch key, which
    every call on an ordinary tensor passes: it refuses the operator while a call that forbids it
    runs and otherwise hands it on unchanged. Every other operator runs at full speed (a dispatch
    mode would cost each of them a Python call, about a fifth of a warm grade). An inference
    tensor skips that key while inference mode is on, so a fenced call made in inference mode, or
    entering it, is watched by the dispatch mode instead. :meth:`watch` arms the kernels for one
    call.
    """

    def __init__(self):
        self._ops: dict[str, dict[object, tuple[str, str]]] = {}  # api -> {packet: (api, op)}
        self._library = None  # the kernels live as long as this torch.library.Library
        self._kernels: set[str] = set()  # "name.overload" with a refusing kernel
        # the kernels whose removal shows: no kernel of torch's own at that key behind them
        self._sentinels: list[str] = []

    def prepare(self, apis) -> None:
        import torch

        _mode_class()  # defined now, before any student code has run
        if self._library is None:
            self._library = torch.library.Library("aten", "IMPL")
            _HAS_KERNEL.append(torch._C._dispatch_has_kernel_for_dispatch_key)
            _fence_inference_mode(GUARD)
        for api in apis:
            if api in self._ops:
                continue
            packets = {}
            for name in aten_ops_for(api):
                try:
                    packet = getattr(torch.ops.aten, name)
                except (AttributeError, RuntimeError):
                    continue
                packets[packet] = (api, f"aten::{name}")
                self._install(torch, name, packet)
            self._ops[api] = packets

    def _install(self, torch, name: str, packet) -> None:
        import warnings

        for overload_name in packet.overloads():
            qualified = name if overload_name == "default" else f"{name}.{overload_name}"
            if qualified in self._kernels:
                continue
            overload = getattr(packet, overload_name)
            kernel = _refusing_kernel(torch, overload, packet, GUARD)
            if kernel is None:
                continue
            if not torch._C._dispatch_has_kernel_for_dispatch_key(f"aten::{qualified}",
                                                                  "ADInplaceOrView"):
                self._sentinels.append(qualified)
            with warnings.catch_warnings():  # out= variants: "overriding a registered kernel"
                warnings.simplefilter("ignore")
                self._library.impl(qualified, kernel, "ADInplaceOrView", with_keyset=True)
            self._kernels.add(qualified)

    def refused(self, apis) -> dict[object, tuple[str, str]]:
        """``{operator packet: (api, "aten::name")}`` for a module's forbidden APIs."""
        self.prepare(apis)
        out: dict[object, tuple[str, str]] = {}
        for api in apis:
            out.update(self._ops.get(api, {}))
        return out

    def watch(self, refused: dict, where: str, state: _GuardState):
        """A context manager: `refused` is refused during one call."""
        return _FencedCall(self, refused, where, state)

    def kernels_removed(self) -> str:
        """Names a refusing kernel that is gone (the student destroyed the library), else ""."""
        has_kernel = _HAS_KERNEL[0]
        for qualified in self._sentinels:
            if not has_kernel(f"aten::{qualified}", "ADInplaceOrView"):
                return f"the kernel refusing aten::{qualified} was unregistered"
        return ""


def _refuse(state: _GuardState, hit: tuple[str, str]):
    api, op = hit
    message = f"{api} is not allowed in {state.where} (its ATen operator {op} ran)"
    if state.violation is None:
        state.violation = message
    raise ForbiddenAPIError(message)


def _refusing_kernel(torch, overload, packet, state: _GuardState):
    """The ADInplaceOrView kernel of one operator overload, or None where it must not get one.

    An overload that writes to an argument (``out=``, in-place) already has a kernel at that key,
    which bumps the written tensors' version counters (autograd's check that a saved tensor did
    not change); ours replaces it, so it bumps them too. A view overload is left alone (its
    kernel also records the view's base).
    """
    schema = overload._schema
    if any(r.alias_info is not None and not r.alias_info.is_write for r in schema.returns):
        return None
    written = [(i, a.name) for i, a in enumerate(schema.arguments)
               if a.alias_info is not None and a.alias_info.is_write]
    redispatch = overload._handle.redispatch_boxed  # bound now: student code cannot swap it
    below = torch._C._after_ADInplaceOrView_keyset
    bump = torch.autograd.graph.increment_version

    def kernel(keyset, *args, **kwargs):
        hit = state.refused_ops.get(packet) if state.refused_ops else None
        if hit is not None:
            _refuse(state, hit)
        out = redispatch(keyset & below, *args, **kwargs)
        for index, arg_name in written:
            tensor = args[index] if index < len(args) else kwargs.get(arg_name)
            if tensor is not None:
                bump(tensor)
        return out

    return kernel


class _FencedCall:
    def __init__(self, fence: OpFence, refused: dict, where: str, state: _GuardState):
        self.fence, self.refused, self.where, self.state = fence, refused, where, state

    def __enter__(self):
        if not self.refused:
            return self
        self.state.refused_ops = self.refused
        self.state.fenced = True
        self.state.modes = []
        if _inference_mode_enabled():  # left on by the student's code: the kernels are skipped
            _push_watch(self.state)
        return self

    def __exit__(self, *exc):
        self.state.fenced = False
        self.state.refused_ops = {}
        if not self.refused:
            return False
        removed = self.fence.kernels_removed()
        dispatch = _DISPATCH[0]
        stack = dispatch._get_current_dispatch_mode_stack()
        if any(mode not in stack for mode in self.state.modes):
            removed = removed or "dispatch modes changed during the call"
        while any(mode in dispatch._get_current_dispatch_mode_stack()
                  for mode in self.state.modes):
            dispatch._pop_mode()  # ours, left on, and whatever the student pushed above them
        self.state.modes = []
        if removed and self.state.violation is None:
            self.state.violation = f"the forbidden-API fence was removed in {self.where} ({removed})"
        return False


def _push_watch(state: _GuardState):
    """Enter the dispatch mode that refuses ``state.refused_ops`` (the inference-mode watch)."""
    mode = _make_mode(state.refused_ops, state.where, state)
    mode.__enter__()
    state.modes.append(mode)
    return mode


_HAS_KERNEL: list = []  # torch._C._dispatch_has_kernel_for_dispatch_key, bound likewise
_INFERENCE_MODE: list = []  # torch.is_inference_mode_enabled, bound before student code runs


def _inference_mode_enabled() -> bool:
    return bool(_INFERENCE_MODE) and _INFERENCE_MODE[0]()


def _fence_inference_mode(state: _GuardState) -> None:
    """Inference mode entered during a fenced call also enters the dispatch-mode fence.

    Inference tensors (made in inference mode) do not carry the ADInplaceOrView key, and while
    inference mode is on it is not added to them, so the refusing kernels would not run on them;
    ``torch.inference_mode`` (context manager and decorator) enters ``torch._C._InferenceMode``,
    which is replaced here by one that watches the operators while it is on.
    """
    import torch

    _INFERENCE_MODE.append(torch.is_inference_mode_enabled)
    original = torch._C._InferenceMode

    class _WatchedInferenceMode:
        def __init__(self, mode: bool = True):
            self._inner = original(mode)
            self._on = bool(mode)
            self._mode = None

        def __enter__(self):
            self._inner.__enter__()
            if self._on and state.refused_ops:
                self._mode = _push_watch(state)
            return self

        def __exit__(self, *exc):
            mode, self._mode = self._mode, None
            stack = _DISPATCH[0]._get_current_dispatch_mode_stack()
            if mode is not None and stack and stack[-1] is mode:
                mode.__exit__(None, None, None)
                state.modes.remove(mode)
            # otherwise the mode stays listed: the fenced call's end pops it or reports it gone
            return self._inner.__exit__(*exc)

    torch._C._InferenceMode = _WatchedInferenceMode


_MODE_CLASS: list = []   # the dispatch mode class, made once by _mode_class()
_DISPATCH: list = []     # torch.utils._python_dispatch, bound before student code runs


def _make_mode(refused: dict, where: str, state: _GuardState):
    return _mode_class()(refused, where, state)


def _mode_class():
    if not _MODE_CLASS:
        from torch.utils import _python_dispatch
        from torch.utils._python_dispatch import TorchDispatchMode

        class _RefuseForbiddenOps(TorchDispatchMode):
            @classmethod
            def _should_skip_dynamo(cls):
                # Otherwise __torch_dispatch__ is wrapped by torch._disable_dynamo, whose first
                # call imports torch._dynamo (~0.9 s in every forked child).
                return False

            def __init__(self, refused, where, state):
                super().__init__()
                self.refused_ops, self.where, self.state = refused, where, state

            def __torch_dispatch__(self, func, types, args=(), kwargs=None):
                hit = self.refused_ops.get(func.overloadpacket)
                if hit is not None:
                    _refuse(self.state, hit)
                return func(*args, **(kwargs or {}))

        _MODE_CLASS.append(_RefuseForbiddenOps)
        _DISPATCH.append(_python_dispatch)
    return _MODE_CLASS[0]


def guard_thread_start(state: _GuardState) -> None:
    """Refuse starting threads while a fenced call runs (a dispatch mode is per thread)."""
    import _thread
    import threading

    def wrap(original):
        def start(*args, **kwargs):
            if state.fenced:
                message = (f"starting a thread is not allowed in {state.where} (its forbidden "
                           "APIs are checked on the calling thread)")
                if state.violation is None:
                    state.violation = message
                raise ForbiddenAPIError(message)
            return original(*args, **kwargs)
        return start

    for module, name in ((_thread, "start_new_thread"), (_thread, "start_joinable_thread"),
                         (threading, "_start_new_thread"),
                         (threading, "_start_joinable_thread")):
        if hasattr(module, name):
            setattr(module, name, wrap(getattr(module, name)))
