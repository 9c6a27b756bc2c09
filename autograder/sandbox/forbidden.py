"""Forbidden APIs inside the worker: named guards, and a fence on the ATen operators behind them.

This file runs INSIDE the sandbox (standard library and torch only). Two layers, both installed
in the zygote before any student code is imported:

- :func:`install_guards` wraps each forbidden dotted name (``torch.nn.functional.gelu``)
  wherever the same object is reachable from a loaded torch module, so a call by name raises
  :class:`ForbiddenAPIError` while the module's functions run;
- :class:`OpFence` watches the ATen operators a call actually executes (a
  ``TorchDispatchMode``, entered around each call of a module with forbidden APIs) and refuses
  the ones that compute a forbidden API, whatever route led there: ``torch.ops.aten.X`` and
  its overloads, ``torch._C`` bindings, an original dug out from behind a guard.
  :data:`ATEN_OPS` is the one table from forbidden API to operators; :func:`aten_ops_for`
  derives the operators of an API that is not in it from its name.

A dispatch mode is per thread, so while a fenced call runs, starting a thread is refused too.
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

    :meth:`prepare` resolves the operators in the zygote (before student code could rebind
    anything in ``torch.ops``); :meth:`watch` enters a dispatch mode for one call.
    """

    def __init__(self):
        self._ops: dict[str, dict[object, tuple[str, str]]] = {}  # api -> {packet: (api, op)}

    def prepare(self, apis) -> None:
        import torch

        _mode_class()  # defined now, before any student code has run
        for api in apis:
            if api in self._ops:
                continue
            packets = {}
            for name in aten_ops_for(api):
                try:
                    packets[getattr(torch.ops.aten, name)] = (api, f"aten::{name}")
                except (AttributeError, RuntimeError):
                    continue
            self._ops[api] = packets

    def refused(self, apis) -> dict[object, tuple[str, str]]:
        """``{operator packet: (api, "aten::name")}`` for a module's forbidden APIs."""
        self.prepare(apis)
        out: dict[object, tuple[str, str]] = {}
        for api in apis:
            out.update(self._ops.get(api, {}))
        return out

    def watch(self, refused: dict, where: str, state: _GuardState):
        """A context manager: the dispatch mode that refuses `refused` during one call."""
        return _FencedCall(refused, where, state)


class _FencedCall:
    def __init__(self, refused: dict, where: str, state: _GuardState):
        self.refused, self.where, self.state = refused, where, state
        self.mode = None

    def __enter__(self):
        if not self.refused:
            return self
        self.mode = _make_mode(self.refused, self.where, self.state)
        self.mode.__enter__()
        self.state.fenced = True
        return self

    def __exit__(self, *exc):
        self.state.fenced = False
        if self.mode is None:
            return False
        dispatch = _DISPATCH[0]
        stack = dispatch._get_current_dispatch_mode_stack()
        if not stack or stack[-1] is not self.mode:  # the student popped or pushed modes
            if self.state.violation is None:
                self.state.violation = (f"the forbidden-API fence was removed in {self.where} "
                                        "(dispatch modes changed during the call)")
            while dispatch._get_current_dispatch_mode_stack():
                dispatch._pop_mode()
            return False
        self.mode.__exit__(None, None, None)
        return False


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
                    api, op = hit
                    message = f"{api} is not allowed in {self.where} (its ATen operator {op} ran)"
                    if self.state.violation is None:
                        self.state.violation = message
                    raise ForbiddenAPIError(message)
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
