"""TinyLM, the model the decoding checks and suites pass around: causal, deterministic,
serialisable as plain tensors."""
from __future__ import annotations

import pytest
import torch
from safetensors.torch import load, save

from autograder.tinylm import TinyLM


def make(seed=0, vocab_size=20, **kwargs):
    return TinyLM.random(vocab_size, dim=8, generator=torch.Generator().manual_seed(seed), **kwargs)


def ids(seed, *shape, vocab_size=20):
    return torch.randint(0, vocab_size, shape, generator=torch.Generator().manual_seed(seed))


def test_output_shape_dtype_device(device):
    logits = make()(ids(1, 3, 5).to(device))
    assert logits.shape == (3, 5, 20)
    assert logits.dtype == torch.float32 and logits.device.type == device.type


def test_causal_no_future_leakage():
    model, x = make(), ids(2, 4, 9)
    changed = x.clone()
    changed[:, 5:] = (changed[:, 5:] + 1) % 20
    assert torch.equal(model(x)[:, :5], model(changed)[:, :5])
    assert not torch.equal(model(x)[:, 5:], model(changed)[:, 5:])


def test_depends_on_more_than_the_last_token():
    model = make()
    a = torch.tensor([[1, 2, 3, 7]])
    b = torch.tensor([[4, 4, 9, 7]])  # same last token, different history
    assert not torch.allclose(model(a)[0, -1], model(b)[0, -1])


def test_same_prefix_same_logits_in_any_batch():
    model, x = make(), ids(3, 6, 7)
    whole = model(x)
    assert torch.equal(torch.cat([model(x[i : i + 1]) for i in range(6)]), whole)
    assert torch.equal(model(x[:, :4]), whole[:, :4])


def test_round_trip_through_safetensors():
    model, x = make(bias={3: 1.5}), ids(4, 2, 6)
    tensors = model.to_tensors()
    assert all(type(t) is torch.Tensor and t.device.type == "cpu" for t in tensors.values())
    rebuilt = TinyLM.from_tensors(load(save(tensors)))
    assert torch.equal(rebuilt(x), model(x))


def test_bias_and_scale_control_the_logits():
    model, x = make(), ids(5, 2, 6)
    raised = model.with_bias(3, 2.0)(x) - model(x)
    expected = torch.zeros(20)
    expected[3] = 2.0
    torch.testing.assert_close(raised, expected.expand(2, 6, 20), atol=1e-5, rtol=0)
    torch.testing.assert_close(model.with_scale(6.0)(x), 2 * model(x), atol=1e-5, rtol=1e-6)


def test_model_is_immutable():
    embedding = torch.randn(5, 4, dtype=torch.float64)
    model = TinyLM(embedding, torch.eye(4), torch.randn(5, 4), torch.zeros(5))
    before = model(torch.tensor([[0, 1, 2]]))
    embedding.zero_()
    model.to_tensors()["output"].zero_()
    assert torch.equal(model(torch.tensor([[0, 1, 2]])), before)


@pytest.mark.parametrize("bad, error", [
    (torch.tensor([[0, 20]]), ValueError),
    (torch.tensor([[-1, 2]]), ValueError),
    (torch.tensor([1, 2]), ValueError),
    (torch.tensor([[1.0, 2.0]]), TypeError),
    ([[1, 2]], TypeError),
])
def test_invalid_input_ids(bad, error):
    with pytest.raises(error):
        make()(bad)


def test_invalid_construction():
    with pytest.raises(ValueError):
        TinyLM.from_tensors({"embedding": torch.zeros(3, 2)})
    with pytest.raises(ValueError):
        TinyLM(torch.zeros(3, 2), torch.zeros(3, 3), torch.zeros(3, 2), torch.zeros(3))
    with pytest.raises(ValueError):
        make(scale=0.0)
