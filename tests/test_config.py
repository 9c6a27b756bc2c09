"""grading.yaml validation: the project's file loads; mistakes name file, line and key."""
import pytest

from autograder.config import load_config
from autograder.contract import contract
from autograder.yamlsource import YamlError


def test_project_config_loads_and_covers_the_contract():
    config = load_config()
    for module, functions in contract().items():
        assert set(config.modules[module].functions) == set(functions), module
    assert config.total_points > 0


def write(tmp_path, text):
    path = tmp_path / "grading.yaml"
    path.write_text(text)
    return path


BASE = """\
version: 1
limits:
  call_timeout_s: 5
modules:
  masks:
    functions:
      causal_mask: 2
"""


def test_unknown_key_names_file_line_and_key(tmp_path):
    path = write(tmp_path, BASE.replace("  call_timeout_s: 5", "  call_timeout_s: 5\n  memroy_mb: 10"))
    with pytest.raises(YamlError) as info:
        load_config(path)
    message = str(info.value)
    assert f"{path}:4: limits.memroy_mb" in message
    assert "Extra inputs are not permitted" in message


def test_bad_value_names_the_line_and_shows_the_value(tmp_path):
    path = write(tmp_path, BASE.replace("call_timeout_s: 5", "call_timeout_s: -1"))
    with pytest.raises(YamlError) as info:
        load_config(path)
    assert f"{path}:3: limits.call_timeout_s" in str(info.value)
    assert "-1" in str(info.value)


def test_function_outside_the_contract_is_refused(tmp_path):
    path = write(tmp_path, BASE.replace("causal_mask: 2", "causal_mask: 2\n      causal_mask_v2: 1"))
    with pytest.raises(YamlError, match="causal_mask_v2 not in the contract"):
        load_config(path)


def test_forbidden_api_must_be_dotted(tmp_path):
    path = write(tmp_path, BASE + "    forbidden: [softmax]\n")
    with pytest.raises(YamlError, match=r":8: modules.masks.forbidden"):
        load_config(path)


def test_broken_yaml_names_the_line(tmp_path):
    path = write(tmp_path, BASE + "  bad: [unclosed\n")
    with pytest.raises(YamlError, match=r"grading.yaml:\d+: not valid YAML"):
        load_config(path)


def test_function_tolerances_override_the_defaults_entry_by_entry(tmp_path):
    import torch

    from autograder.config import FUNCTION_TOLERANCE_DEFAULTS

    path = write(tmp_path, BASE + "function_tolerances:\n"
                 "  attention.multi_head_attention: {float32: {atol: 0.5, rtol: 0.25}}\n"
                 "  transformer.gelu: {bfloat16: {atol: 0.125, rtol: 0}}\n")
    merged = load_config(path).function_tolerance_map()
    mha = merged["attention.multi_head_attention"]
    assert mha[torch.float32] == (0.5, 0.25)  # added
    assert mha[torch.bfloat16] == FUNCTION_TOLERANCE_DEFAULTS["attention.multi_head_attention"]["bfloat16"]  # kept
    assert merged["transformer.gelu"][torch.bfloat16] == (0.125, 0)  # replaced


def test_every_default_function_tolerance_names_a_contract_function():
    from autograder.config import FUNCTION_TOLERANCE_DEFAULTS

    functions = {f"{m}.{f}" for m, fs in contract().items() for f in fs}
    assert set(FUNCTION_TOLERANCE_DEFAULTS) <= functions


def test_function_tolerance_of_an_unknown_function_is_refused_with_its_line(tmp_path):
    path = write(tmp_path, BASE + "function_tolerances:\n"
                 "  attention.softmax_attention: {bfloat16: {atol: 0.1, rtol: 0.1}}\n")
    with pytest.raises(YamlError, match=r"grading.yaml.*attention.softmax_attention"):
        load_config(path)
