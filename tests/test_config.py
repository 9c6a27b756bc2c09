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
