"""SPD training on the micro preset: report, resume, refusal to overwrite, the notebook API."""

import dataclasses
import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from dashboard.decomposition import load_decomposition
from dashboard.decomposition.config import DecompositionConfig, LossConfig
from dashboard.decomposition.presets import PRESETS
from dashboard.decomposition.store import DecompositionExistsError, load_parameter_state
from dashboard.decomposition.train import decompose
from dashboard.models.loading import TargetLoadError

MICRO = PRESETS["micro"]
CPU = torch.device("cpu")


def short_micro(steps: int) -> DecompositionConfig:
    return dataclasses.replace(
        MICRO, train=dataclasses.replace(MICRO.train, steps=steps, checkpoint_every=10)
    )


def test_report_has_every_figure(micro_decomposition: Path) -> None:
    report = json.loads((micro_decomposition / "report.json").read_text())
    for key in (
        "target_loss",
        "ci_masked_loss",
        "stochastic_masked_loss",
        "ci_masked_kl",
        "stochastic_masked_kl",
    ):
        assert report[key] >= 0
    assert report["ci_masked_kl"] < 1.0
    modules = report["modules"]
    assert len(modules) == 14
    for figures in modules.values():
        assert set(figures) == {"C", "l0", "alive", "faithfulness_rel_error"}
        assert 0 <= figures["l0"] <= figures["C"]
        assert 0 <= figures["alive"] <= figures["C"]
        assert figures["faithfulness_rel_error"] < 0.5
    assert not (micro_decomposition / "checkpoints").exists()


def test_notebook_api(micro_decomposition: Path) -> None:
    dec = load_decomposition(micro_decomposition)
    assert len(dec.labels) == 4 * 2 * 16 + 3 * 2 * 24
    assert dec.labels[0] == "model.layers.0.self_attn.q_proj:0"
    ids = dec.encode("The river flows through the old town.")
    ci = dec.causal_importances(ids)
    assert ci["model.layers.1.mlp.down_proj"].shape == (1, ids.shape[1], 24)
    ones = {path: torch.ones(16 if "attn" in path else 24) for path in dec.module_paths}
    logits = dec.forward_masked(ids, ones)
    with torch.no_grad():
        target = dec.target(input_ids=ids).logits
    assert logits.shape == target.shape
    # with every subcomponent on, the decomposition stays close to the target
    probabilities = torch.softmax(target, -1)
    kl = (probabilities * (torch.log_softmax(target, -1) - torch.log_softmax(logits, -1))).sum(-1)
    assert kl.mean() < 0.5


def test_a_finished_decomposition_is_not_overwritten(
    micro_decomposition: Path, micro_data_dir: Path
) -> None:
    before = (micro_decomposition / "components.safetensors").stat().st_mtime_ns
    with pytest.raises(DecompositionExistsError, match="pass --force"):
        decompose(MICRO, micro_decomposition, micro_data_dir, CPU)
    assert (micro_decomposition / "components.safetensors").stat().st_mtime_ns == before


def test_an_interrupted_run_resumes_and_ends_where_an_unbroken_one_does(
    micro_data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = short_micro(steps=24)
    unbroken = tmp_path / "unbroken"
    decompose(config, unbroken, micro_data_dir, CPU)

    import dashboard.decomposition.train as train_module

    real_step = train_module.training_step

    def crash_at_step_15(model, cfg, input_ids, step, rng):
        if step == 15:
            raise KeyboardInterrupt("simulated crash")
        return real_step(model, cfg, input_ids, step, rng)

    broken = tmp_path / "broken"
    monkeypatch.setattr(train_module, "training_step", crash_at_step_15)
    with pytest.raises(KeyboardInterrupt):
        decompose(config, broken, micro_data_dir, CPU)
    assert sorted(p.name for p in (broken / "checkpoints").iterdir()) == ["step_0000010"]
    assert not (broken / "report.json").exists()

    monkeypatch.setattr(train_module, "training_step", real_step)
    report = decompose(config, broken, micro_data_dir, CPU)
    assert report["resumed_from_step"] == 10
    resumed = load_file(str(broken / "components.safetensors"))
    expected = load_file(str(unbroken / "components.safetensors"))
    assert resumed.keys() == expected.keys()
    for key in expected:
        torch.testing.assert_close(resumed[key], expected[key], rtol=1e-4, atol=1e-6)


def test_an_unfinished_run_with_other_options_is_not_mixed_in(
    micro_data_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    out.mkdir()
    short_micro(steps=24).save(out / "config.json")
    other = dataclasses.replace(short_micro(steps=24), loss=LossConfig(importance_minimality=0.5))
    with pytest.raises(DecompositionExistsError, match="different config"):
        decompose(other, out, micro_data_dir, CPU)


def test_unknown_target_is_named(tmp_path: Path) -> None:
    config = dataclasses.replace(MICRO, target=str(tmp_path / "no-such-model"))
    with pytest.raises(TargetLoadError, match="no-such-model: no such directory"):
        decompose(config, tmp_path / "out", tmp_path, CPU)


def test_checkpoint_shape_mismatch_names_the_key_and_both_shapes(micro_decomposition: Path) -> None:
    dec = load_decomposition(micro_decomposition)
    state = load_file(str(micro_decomposition / "components.safetensors"))
    key = "components.model-layers-0-mlp-up_proj.V"
    state[key] = torch.zeros(3, 3)
    with pytest.raises(
        ValueError, match=r"up_proj\.V has shape \(3, 3\), the model needs \(32, 24\)"
    ):
        load_parameter_state(dec.model, state, micro_decomposition)


def test_missing_parameters_file_is_named(micro_decomposition: Path, tmp_path: Path) -> None:
    copy = Path(shutil.copytree(micro_decomposition, tmp_path / "copy"))
    (copy / "components.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match=r"components\.safetensors: missing"):
        load_decomposition(copy)


def mean_l0_fraction(report: dict) -> float:
    """Mean over modules of L0 / C: the share of subcomponents a token needs."""
    return sum(m["l0"] / m["C"] for m in report["modules"].values()) / len(report["modules"])


def test_training_closes_the_masked_loss_gap_and_sparsifies(
    micro_decomposition: Path, micro_data_dir: Path, tmp_path: Path
) -> None:
    """What the micro preset's 60 steps must achieve against one step: the CI-masked model's
    loss gap to the target at least halves (measured: 0.57 to 0.16 nats), and a token needs
    under 40% of a module's subcomponents on average, at least 5 points fewer than after one
    step (measured: 44% to 33%; on a later fresh install, with no change to the code, 40% to
    29%: where one step lands moved, the drop did not)."""
    trained = json.loads((micro_decomposition / "report.json").read_text())
    one_step = decompose(short_micro(steps=1), tmp_path / "one-step", micro_data_dir, CPU)
    gap = trained["ci_masked_loss"] - trained["target_loss"]
    first_gap = one_step["ci_masked_loss"] - one_step["target_loss"]
    assert gap < first_gap / 2
    assert mean_l0_fraction(trained) < 0.4
    assert mean_l0_fraction(trained) < mean_l0_fraction(one_step) - 0.05
