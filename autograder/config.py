"""grading.yaml: every key typed and documented (pydantic); errors name key, file and line."""
from __future__ import annotations

from pathlib import Path
from typing import Literal

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


Visibility = Literal["hidden", "after_due_date", "after_published", "visible"]


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
    tolerances: dict[Literal["float64", "float32", "float16", "bfloat16"], Tolerance] = Field(
        default_factory=dict, description="overrides of the default (atol, rtol) per dtype"
    )
    hidden_visibility: Visibility = Field(
        "after_published", description="Gradescope visibility of hidden-suite results"
    )
    modules: dict[Literal[tuple(_CONTRACT)], ModuleConfig]  # type: ignore[valid-type]

    @model_validator(mode="after")
    def _known_functions(self) -> "GradingConfig":
        for module, settings in self.modules.items():
            unknown = sorted(set(settings.functions) - set(_CONTRACT[module]))
            if unknown:
                raise ValueError(
                    f"modules.{module}.functions: {', '.join(unknown)} not in the contract; "
                    f"expected some of {', '.join(_CONTRACT[module])}"
                )
        return self

    def points(self, qualname: str) -> float:
        module, function = qualname.split(".")
        return self.modules[module].functions.get(function, 0.0) if module in self.modules else 0.0

    def tolerance_map(self) -> dict["torch.dtype", tuple[float, float]]:
        import torch  # here, not at the top: reading grading.yaml must not cost a torch import

        return {getattr(torch, name): (t.atol, t.rtol) for name, t in self.tolerances.items()}

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
