"""grading.yaml: every key typed and documented (pydantic); errors name key, file and line."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from autograder.contract import contract
from autograder.yamlsource import YamlError, format_validation_error, load_with_lines

if TYPE_CHECKING:
    import torch

_CONTRACT = contract()  # the modules and functions the stubs define; modules: keys must be among them
DEFAULT_PATH = Path(__file__).resolve().parent.parent / "grading.yaml"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Limits(Strict):
    """Resource limits of the sandboxed worker."""

    call_timeout_s: float = Field(10.0, gt=0, le=600, description="wall-clock limit of one call")
    submission_timeout_s: float = Field(
        180.0, gt=0, le=3600, description="wall-clock limit for grading one whole submission"
    )
    memory_mb: int = Field(
        2048, ge=1024, description="address-space limit of the worker (MiB); torch alone maps ~0.65 GiB"
    )
    call_cpu_s: float = Field(25.0, gt=0, description="CPU seconds one call may use")
    max_processes: int = Field(64, ge=1, description="processes/threads of the worker")
    max_open_files: int = Field(256, ge=16, description="open file descriptors of the worker")
    max_output_kb: int = Field(64, ge=1, description="captured stdout/stderr per call (KiB)")


class Tolerance(Strict):
    atol: float = Field(ge=0)
    rtol: float = Field(ge=0)


FloatDtype = Literal["float64", "float32", "float16", "bfloat16"]
Visibility = Literal["hidden", "after_due_date", "after_published", "visible"]

# Per-dtype defaults live in autograder/checking.py (the public checks use them too; grading.yaml
# `tolerances` overrides them). These are the functions whose bfloat16 outputs legitimately
# differ from the reference by more than that default (1e-2, 1.6e-2), measured between correct
# implementations; grading.yaml `function_tolerances` overrides them entry by entry. Every
# mistake is also caught in float64, where the default applies.
FUNCTION_TOLERANCE_DEFAULTS: dict[str, dict[str, tuple[float, float]]] = {
    # scores, weights and outputs each rounded to an 8-bit mantissa wherever they are stored;
    # scaling q or the scores, upcasting or not: up to ~1e-2 beyond 1.6e-2 relative
    "attention.scaled_dot_product_attention": {"bfloat16": (3e-2, 3e-2)},
    # twice that once the four projections are added
    "attention.multi_head_attention": {"bfloat16": (6e-2, 6e-2)},
    # a layer norm in bfloat16 throughout vs one in float32 rounded once (as PyTorch does)
    "transformer.layer_norm": {"bfloat16": (3e-2, 3e-2)},
    "transformer.gelu": {"bfloat16": (3e-2, 3e-2)},
    "transformer.feed_forward": {"bfloat16": (3e-2, 3e-2)},
    "transformer.pool_hidden_states": {"bfloat16": (3e-2, 3e-2)},
    # a whole encoder layer chains two matmul sub-layers and two norms
    "transformer.encoder_block": {"bfloat16": (1e-1, 1e-1)},
}


class ModuleConfig(Strict):
    """Points per function and the APIs a module's functions must not call."""

    functions: dict[str, float] = Field(description="points per function of the module")
    forbidden: list[str] = Field(
        default_factory=list,
        description="dotted names of APIs that raise inside the worker while the module runs",
    )

    @field_validator("functions")
    @classmethod
    def _positive(cls, value: dict[str, float]) -> dict[str, float]:
        for name, points in value.items():
            if points < 0:
                raise ValueError(f"points of {name} must be >= 0, got {points}")
        return value

    @field_validator("forbidden")
    @classmethod
    def _dotted(cls, value: list[str]) -> list[str]:
        for api in value:
            if "." not in api or not all(part.isidentifier() for part in api.split(".")):
                raise ValueError(f"{api!r} is not a dotted API name such as torch.nn.functional.softmax")
        return value


class GradingConfig(Strict):
    """The whole of grading.yaml."""

    version: Literal[1] = 1
    device: Literal["auto", "cpu", "cuda"] = Field(
        "auto", description="where suites run: auto = CUDA when present, else CPU"
    )
    sandbox: Literal["auto", "bubblewrap", "rlimits"] = Field(
        "auto", description="auto = bubblewrap when it works here, else plain rlimits"
    )
    limits: Limits = Limits()
    tolerances: dict[FloatDtype, Tolerance] = Field(
        default_factory=dict, description="overrides of the default (atol, rtol) per dtype (checking.py)"
    )
    function_tolerances: dict[str, dict[FloatDtype, Tolerance]] = Field(
        default_factory=dict,
        description="<module>.<function> -> dtype -> (atol, rtol), over FUNCTION_TOLERANCE_DEFAULTS",
    )
    hidden_visibility: Visibility = Field(
        "after_published", description="Gradescope visibility of hidden-suite results"
    )
    modules: dict[Literal[tuple(_CONTRACT)], ModuleConfig]  # type: ignore[valid-type]

    @model_validator(mode="after")
    def _known_functions(self) -> GradingConfig:
        for module, settings in self.modules.items():
            unknown = sorted(set(settings.functions) - set(_CONTRACT[module]))
            if unknown:
                raise ValueError(
                    f"modules.{module}.functions: {', '.join(unknown)} not in the contract; "
                    f"expected some of {', '.join(_CONTRACT[module])}"
                )
        for qualname in self.function_tolerances:
            module, _, function = qualname.partition(".")
            if function not in _CONTRACT.get(module, ()):
                raise ValueError(f"function_tolerances: {qualname!r} is not a <module>.<function> of the contract")
        return self

    def points(self, qualname: str) -> float:
        module, function = qualname.split(".")
        return self.modules[module].functions.get(function, 0.0) if module in self.modules else 0.0

    def tolerance_map(self) -> dict[torch.dtype, tuple[float, float]]:
        import torch  # here, not at the top: reading grading.yaml must not cost a torch import

        return {getattr(torch, name): (t.atol, t.rtol) for name, t in self.tolerances.items()}

    def function_tolerance_map(self) -> dict[str, dict[torch.dtype, tuple[float, float]]]:
        """qualname -> dtype -> (atol, rtol): the defaults above, with grading.yaml's entries over them."""
        import torch

        merged = {q: dict(by_dtype) for q, by_dtype in FUNCTION_TOLERANCE_DEFAULTS.items()}
        for qualname, by_dtype in self.function_tolerances.items():
            merged.setdefault(qualname, {}).update({name: (t.atol, t.rtol) for name, t in by_dtype.items()})
        return {q: {getattr(torch, name): pair for name, pair in by_dtype.items()} for q, by_dtype in merged.items()}

    @property
    def total_points(self) -> float:
        return sum(sum(m.functions.values()) for m in self.modules.values())


def load_config(path: Path | str | None = None) -> GradingConfig:
    """Read and validate grading.yaml (default: the project's own)."""
    path = Path(path) if path else DEFAULT_PATH
    data, node = load_with_lines(path)
    if not isinstance(data, dict):
        raise YamlError(f"{path}:1: expected a mapping of grading settings at the top level")
    try:
        return GradingConfig.model_validate(data)
    except ValidationError as exc:
        raise YamlError(format_validation_error(path, node, exc)) from None
