"""The pytest plugin, tested with pytester: --impl, the impl fixture, 'not implemented' outcome."""

pytest_plugins = ["pytester"]

CHECK = '''
import pytest

@pytest.mark.function("masks.causal_mask")
def test_causal(impl):
    m = impl.masks.causal_mask(3)
    assert m.shape == (3, 3)
'''


def test_stub_is_reported_not_implemented(pytester):
    pytester.makepyfile(test_check=CHECK)
    result = pytester.runpytest_inprocess("--impl", "exercises")
    result.assert_outcomes()  # neither passed nor failed nor skipped in the usual sense
    result.stdout.fnmatch_lines(["*not implemented yet: 1 functions*", "*masks.causal_mask*",
                                 "*1 not implemented in*"])
    assert result.ret == 0


def test_reference_passes(pytester):
    pytester.makepyfile(test_check=CHECK)
    result = pytester.runpytest_inprocess("--impl", "reference")
    result.assert_outcomes(passed=1)


def test_unknown_mistake_is_a_usage_error(pytester):
    pytester.makepyfile(test_check=CHECK)
    result = pytester.runpytest_inprocess("--impl", "mistake:masks.nope")
    assert result.ret != 0
    assert "unknown mistake id" in (result.stdout.str() + result.stderr.str())


def test_path_impl_loads_a_folder(pytester, tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "masks.py").write_text(
        "import torch\n"
        "def causal_mask(q_len, k_len=None, device=None):\n"
        "    return torch.ones(q_len, q_len, dtype=torch.bool).tril()\n"
    )
    pytester.makepyfile(test_check=CHECK)
    result = pytester.runpytest_inprocess("--impl", f"path:{folder}")
    result.assert_outcomes(passed=1)


def test_mistake_marker_lands_in_user_properties(pytester):
    pytester.makepyfile(test_judge='''
import torch, pytest

@pytest.mark.function("masks.causal_mask")
def test_causal(judge):
    judge.compare("masks.causal_mask", 4)
''')
    result = pytester.runpytest_inprocess("--impl", "mistake:masks.causal_diagonal", "--junitxml=out.xml")
    result.assert_outcomes(failed=1)
    assert 'name="mistake" value="masks.causal_diagonal"' in (pytester.path / "out.xml").read_text()
    result.stdout.fnmatch_lines(["*looks like mistake masks.causal_diagonal*"])


def test_seed_is_printed_and_replayable(pytester):
    pytester.makepyfile(test_seed='''
def test_seed(seed):
    print("SEED", seed)
''')
    first = pytester.runpytest_inprocess("--seed", "7", "-s")
    second = pytester.runpytest_inprocess("--seed", "7", "-s")
    first.stdout.fnmatch_lines(["*seed=7*"])
    def seeds(result):
        return [line.split("SEED", 1)[1] for line in result.stdout.lines if "SEED" in line]

    assert seeds(first) and seeds(first) == seeds(second)
