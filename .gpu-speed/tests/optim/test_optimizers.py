"""Every optimizer steps, matches its reference, and resumes exactly from its state dict."""

from __future__ import annotations

import copy
import functools

import pytest
import torch

from fgtui.engine.errors import FgError
from fgtui.engine.optim import (
    Adafactor,
    AdamW,
    Muon,
    create_optimizer,
    grouped,
    make_param_groups,
    stochastic_round_to_bf16,
)


def _model(dtype=torch.float32):
    torch.manual_seed(0)
    model = torch.nn.ModuleDict(
        {
            "embed_tokens": torch.nn.Embedding(11, 8),
            "proj": torch.nn.Linear(8, 12),
            "out_norm": torch.nn.LayerNorm(12),
            "lm_head": torch.nn.Linear(12, 11, bias=False),
        }
    )
    return model.to(dtype)


def _loss(model, seed):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, 11, (4, 5), generator=g)
    h = model["out_norm"](torch.tanh(model["proj"](model["embed_tokens"](ids))))
    return torch.nn.functional.cross_entropy(model["lm_head"](h).float().flatten(0, 1), ids.flatten())


def _train(model, optimizer, steps, start=0):
    for i in range(start, start + steps):
        optimizer.zero_grad()
        _loss(model, i).backward()
        optimizer.step()


FACTORIES = {
    "adamw": lambda m: AdamW(make_param_groups(m.named_parameters(), 0.1), lr=1e-2),
    "adafactor": lambda m: Adafactor(m.parameters(), lr=1e-2),
    "adafactor_momentum_decay": lambda m: Adafactor(
        m.parameters(), lr=1e-2, beta1=0.9, weight_decay=0.1, scale_parameter=True
    ),
    "adafactor_bf16": lambda m: Adafactor(m.parameters(), lr=1e-2, beta1=0.9, momentum_dtype=torch.bfloat16),
    "muon": lambda m: Muon(m.named_parameters(), lr=0.02, adamw_lr=1e-2),
    "sgd_by_name": lambda m: create_optimizer("SGD", m.parameters(), lr=0.1, momentum=0.9),
}


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_steps_reduce_loss_and_resume_exactly(name, tmp_path):
    dtype = torch.bfloat16 if name.endswith("bf16") else torch.float32
    model = _model(dtype)
    optimizer = FACTORIES[name](model)
    with torch.no_grad():
        before = _loss(model, 0).item()
    _train(model, optimizer, 4)
    torch.save({"model": model.state_dict(), "optim": optimizer.state_dict()}, tmp_path / "ckpt.pt")
    _train(model, optimizer, 4, start=4)
    with torch.no_grad():
        assert _loss(model, 0).item() < before

    resumed = _model(dtype)
    saved = torch.load(tmp_path / "ckpt.pt", weights_only=False)
    resumed.load_state_dict(saved["model"])
    optimizer2 = FACTORIES[name](resumed)
    optimizer2.load_state_dict(saved["optim"])
    _train(resumed, optimizer2, 4, start=4)
    for (n, a), b in zip(model.state_dict().items(), resumed.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=lambda m: f"{name} {n}: {m}")


def test_param_groups_exclude_norms_and_biases_from_decay_and_apply_overrides():
    model = _model()
    groups = make_param_groups(model.named_parameters(), 0.1, overrides=[(r"^lm_head", {"lr": 1e-4})])
    by_name = {n: g for g in groups for n in g["param_names"]}
    assert by_name["proj.weight"]["weight_decay"] == 0.1
    assert by_name["proj.bias"]["weight_decay"] == 0.0
    assert by_name["out_norm.weight"]["weight_decay"] == 0.0
    assert by_name["lm_head.weight"]["lr"] == 1e-4 and "lr" not in by_name["proj.weight"]
    assert sum(len(g["params"]) for g in groups) == len(list(model.parameters()))
    optimizer = grouped(functools.partial(torch.optim.AdamW, lr=1e-3), model.named_parameters(), 0.1)
    assert {g["weight_decay"] for g in optimizer.param_groups} == {0.0, 0.1}


def test_muon_matches_torch_muon_and_adamw_per_parameter_kind():
    model = _model()
    ours = Muon(model.named_parameters(), lr=0.02, weight_decay=0.1, adamw_lr=1e-2, adamw_weight_decay=0.1)
    assert [g["param_names"] for g in ours.param_groups] == [
        ["proj.weight"],
        ["embed_tokens.weight", "lm_head.weight"],
        ["proj.bias", "out_norm.weight", "out_norm.bias"],
    ]
    reference = copy.deepcopy(model)
    ref_params = dict(reference.named_parameters())
    ref_muon = torch.optim.Muon([ref_params["proj.weight"]], lr=0.02, weight_decay=0.1)
    ref_adamw = torch.optim.AdamW(
        [
            {"params": [ref_params["embed_tokens.weight"], ref_params["lm_head.weight"]], "weight_decay": 0.1},
            {"params": [ref_params[n] for n in ("proj.bias", "out_norm.weight", "out_norm.bias")], "weight_decay": 0.0},
        ],
        lr=1e-2,
        betas=(0.9, 0.95),
        eps=1e-8,
    )
    for i in range(3):
        ours.zero_grad(), ref_muon.zero_grad(), ref_adamw.zero_grad()
        _loss(model, i).backward()
        _loss(reference, i).backward()
        ours.step(), ref_muon.step(), ref_adamw.step()
    for name, param in model.named_parameters():
        torch.testing.assert_close(param, ref_params[name], rtol=1e-6, atol=1e-7, msg=lambda m: f"{name}: {m}")


def test_muon_refuses_unnamed_parameters():
    with pytest.raises(FgError, match="named_parameters"):
        Muon(_model().parameters())


def test_adafactor_factored_state_is_rows_plus_columns():
    param = torch.nn.Parameter(torch.randn(6, 10))
    optimizer = Adafactor([param])
    param.grad = torch.randn(6, 10)
    optimizer.step()
    state = optimizer.state[param]
    assert state["exp_avg_sq_row"].shape == (6,) and state["exp_avg_sq_col"].shape == (10,)
    assert "exp_avg" not in state  # no momentum by default: no per-element state at all


def test_adafactor_factoring_is_exact_for_rank_one_squared_gradients():
    """With g = a b^T, the factored second moment equals the full one, so a matrix
    step equals the unfactored step of the same numbers as a vector."""
    a, b = torch.rand(5) + 0.5, torch.rand(7) + 0.5
    matrix = torch.nn.Parameter(torch.randn(5, 7))
    vector = torch.nn.Parameter(matrix.detach().flatten().clone())
    opt_m, opt_v = Adafactor([matrix], lr=0.1), Adafactor([vector], lr=0.1)
    for scale in (1.0, -2.0, 0.5):
        matrix.grad = scale * torch.outer(a, b)
        vector.grad = matrix.grad.flatten().clone()
        opt_m.step(), opt_v.step()
    torch.testing.assert_close(matrix.detach().flatten(), vector.detach(), rtol=1e-5, atol=1e-6)


def test_bf16_stochastic_rounding_keeps_updates_below_bf16_resolution():
    def run(rounding):
        param = torch.nn.Parameter(torch.ones(4096, dtype=torch.bfloat16))
        optimizer = Adafactor([param], lr=1e-3, bf16_stochastic_rounding=rounding)
        for _ in range(50):
            param.grad = -torch.ones_like(param)  # normalized update: +lr per step
            optimizer.step()
        return param.float().mean().item()

    assert run(False) == 1.0  # 1 + 1e-3 rounds back to 1 in bf16 every time
    assert run(True) == pytest.approx(1.05, abs=0.005)


def test_stochastic_rounding_is_unbiased_and_brackets_the_value():
    x = torch.full((20000,), 1.0 + 2**-9)  # a quarter of the way between two bf16 neighbours
    rounded = stochastic_round_to_bf16(x, torch.Generator().manual_seed(0)).float()
    assert set(rounded.unique().tolist()) == {1.0, 1.0 + 2**-7}
    assert rounded.mean().item() == pytest.approx(x[0].item(), abs=2e-4)


def test_adamw_helper_and_lookup_by_name():
    model = _model()
    assert AdamW(model.parameters()).defaults["fused"] is None  # CPU: no fused kernel
    assert type(create_optimizer("torch.optim.RMSprop", model.parameters(), lr=0.1)).__name__ == "RMSprop"
    assert isinstance(create_optimizer("Adafactor", model.parameters()), Adafactor)
    with pytest.raises(FgError, match="unknown optimizer 'Adamw'"):
        create_optimizer("Adamw", model.parameters())


@pytest.mark.gpu
def test_adamw_helper_picks_fused_on_cuda():
    param = torch.nn.Parameter(torch.randn(4, 4, device="cuda"))
    assert AdamW([param]).defaults["fused"] is True
