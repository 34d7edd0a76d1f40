"""The engine: resume, NaN handling, accumulation, clipping, early stopping, checkpoints."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from shendu.config import TrainConfig
from shendu.engine import Trainer
from shendu.errors import CheckpointError, TrainingDivergedError
from shendu.run import RunDirectory, load_checkpoint, save_checkpoint


def make_model(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Dropout(0.2), nn.Linear(32, 10))


def cross_entropy_step(model, batch):
    inputs, targets = batch
    return nn.functional.cross_entropy(model(inputs), targets)


def make_trainer(tmp_path, data, step=cross_entropy_step, run=None, **train):
    model = make_model()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    config = TrainConfig(progress="none", **{"epochs": 3, "batch_size": 64, **train})
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=1e-2, total_steps=3 * 30)
    run = run or RunDirectory.create(tmp_path, "engine")
    evaluate = lambda m: {"loss": float(nn.functional.cross_entropy(m.eval()(data[0][:200]), data[1][:200]).detach())}  # noqa: E731
    trainer = Trainer(model, step, data, optimizer, config=config, seed=3, device=torch.device("cpu"),
                      schedule=schedule, evaluate=evaluate, monitor="val.loss", monitor_mode="min", run=run)
    return trainer


class Interrupt(Exception):
    pass


def test_resume_in_process_is_bitwise_equal(tmp_path, digits_tensors):
    reference = make_trainer(tmp_path, digits_tensors)
    reference.fit()
    expected = reference.model.state_dict()

    calls = {"n": 0}

    def interrupted_step(model, batch):
        calls["n"] += 1
        if calls["n"] == 45:  # mid epoch 2, after the step-40 checkpoint
            raise Interrupt
        return cross_entropy_step(model, batch)

    first = make_trainer(tmp_path, digits_tensors, interrupted_step, checkpoint_every_steps=10)
    with pytest.raises(Interrupt):
        first.fit()
    state = json.loads((first.run.checkpoint("last") / "state.json").read_text())["state"]
    assert state["epoch"] == 1 and state["batch"] == 11  # 29 steps/epoch -> step 40 is batch 11 of epoch 2
    resumed = make_trainer(tmp_path, digits_tensors, run=first.run, checkpoint_every_steps=10)
    resumed.fit(resume=True)
    for name, tensor in resumed.model.state_dict().items():
        assert torch.equal(tensor, expected[name]), name
    assert [r["epoch"] for r in first.run.history()] == [1, 2, 3]


def test_validation_every_n_steps_logs_within_epochs_and_leaves_training_unchanged(tmp_path, digits_tensors):
    reference = make_trainer(tmp_path, digits_tensors)
    reference.fit()
    trainer = make_trainer(tmp_path, digits_tensors, val_every_steps=10)
    trainer.fit()
    # Evaluating puts the model in eval mode; training must go on exactly as without it (dropout included).
    for name, tensor in trainer.model.state_dict().items():
        assert torch.equal(tensor, reference.model.state_dict()[name]), name
    within = trainer.run.history("validation")
    assert [r["step"] for r in within] == [10, 20, 30, 40, 50, 60, 70, 80]  # 29 steps/epoch: none at an epoch end
    assert within[0]["epoch"] == pytest.approx(10 / 29) and 1 < within[2]["epoch"] < 2
    epochs = trainer.run.history()
    assert [r["epoch"] for r in epochs] == [1, 2, 3] and trainer.state.best_epoch == reference.state.best_epoch
    times = sorted([r["elapsed"] for r in within] + [r["elapsed"] for r in epochs])
    assert times == [r["elapsed"] for r in sorted(within + epochs, key=lambda r: r["step"])]  # one clock, rising
    assert all(set(r["val"]) == {"loss"} for r in within)
    from shendu.report.plots import plot_history  # the val curve takes the within-epoch points too

    (path,) = plot_history(epochs, tmp_path / "plots", within)
    assert path.name == "loss.png" and path.stat().st_size > 0


def test_nan_loss_stops_with_step_and_keeps_last_good_checkpoint(tmp_path, digits_tensors):
    calls = {"n": 0}

    def exploding_step(model, batch):
        calls["n"] += 1
        loss = cross_entropy_step(model, batch)
        return loss * float("nan") if calls["n"] == 40 else loss

    trainer = make_trainer(tmp_path, digits_tensors, exploding_step)
    with pytest.raises(TrainingDivergedError) as caught:
        trainer.fit()
    message = str(caught.value)
    assert "step 40" in message and "epoch 2" in message
    assert "learning rate" in message and "clip_grad_norm" in message
    assert str(trainer.run.checkpoint("last")) in message
    model_state, _, state = load_checkpoint(trainer.run.checkpoint("last"))
    assert state["epoch"] == 1
    assert all(torch.isfinite(t).all() for t in model_state.values())


def test_gradient_accumulation_matches_a_larger_batch(tmp_path, digits_tensors):
    inputs, targets = digits_tensors[0][:256], digits_tensors[1][:256]

    def linear_trainer(batch_size, accumulate):
        torch.manual_seed(0)
        model = nn.Linear(64, 10)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        config = TrainConfig(progress="none", epochs=1, batch_size=batch_size, accumulate_steps=accumulate)
        Trainer(model, cross_entropy_step, (inputs, targets), optimizer, config=config, seed=0,
                device=torch.device("cpu")).fit()
        return model

    big, accumulated = linear_trainer(64, 1), linear_trainer(32, 2)
    # same samples per optimizer step in the same order: (32+32)/2 averages equal the 64-mean
    for a, b in zip(big.parameters(), accumulated.parameters()):
        assert torch.allclose(a, b, atol=1e-6)


def test_gradient_clipping_by_norm_and_value(tmp_path, digits_tensors):
    seen = {}

    class Spy(torch.optim.SGD):
        def step(self, closure=None):
            grads = [p.grad for group in self.param_groups for p in group["params"]]
            seen.setdefault("norm", []).append(float(torch.linalg.vector_norm(torch.stack([g.norm() for g in grads]))))
            seen.setdefault("max", []).append(max(float(g.abs().max()) for g in grads))
            return super().step(closure)

    for clip in ({"clip_grad_norm": 0.05}, {"clip_grad_value": 0.001}):
        seen.clear()
        model = make_model()
        config = TrainConfig(progress="none", epochs=1, batch_size=64, **clip)
        Trainer(model, cross_entropy_step, digits_tensors, Spy(model.parameters(), lr=0.1), config=config,
                seed=0, device=torch.device("cpu")).fit()
        if "clip_grad_norm" in clip:
            assert max(seen["norm"]) <= 0.05 + 1e-5
        else:
            assert max(seen["max"]) <= 0.001 + 1e-9


def test_early_stopping_stops_after_patience(tmp_path, digits_tensors):
    from shendu.config import EarlyStoppingConfig

    trainer = make_trainer(tmp_path, digits_tensors, epochs=30,
                           early_stopping=EarlyStoppingConfig(monitor="val.loss", patience=2, min_delta=10.0))
    trainer.schedule = None
    result = trainer.fit()
    # min_delta=10 means no epoch after the first counts as an improvement
    assert result.stopped_early and len(result.history) == 3


def test_checkpoint_checksum_is_verified(tmp_path):
    model = nn.Linear(3, 2)
    path = save_checkpoint(tmp_path / "last", model.state_dict(), {"rng": torch.get_rng_state()}, {"epoch": 1})
    data = bytearray((path / "model.safetensors").read_bytes())
    data[-1] ^= 0xFF
    (path / "model.safetensors").write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="failed its checksum"):
        load_checkpoint(path)


def test_checkpoint_interrupted_between_renames_is_recovered(tmp_path):
    model = nn.Linear(3, 2)
    path = save_checkpoint(tmp_path / "last", model.state_dict(), {"x": torch.ones(2)}, {"epoch": 4})
    path.rename(tmp_path / ".last.old")  # as if killed after moving the old one away
    state, training, progress = load_checkpoint(tmp_path / "last")
    assert progress == {"epoch": 4} and torch.equal(training["x"], torch.ones(2))


def test_optimizer_state_round_trips_exactly(tmp_path, digits_tensors):
    model = make_model()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    cross_entropy_step(model, digits_tensors).backward()
    optimizer.step()
    save_checkpoint(tmp_path / "c", model.state_dict(), {"optimizer": optimizer.state_dict()}, {})
    _, training, _ = load_checkpoint(tmp_path / "c")
    fresh = torch.optim.Adam(make_model().parameters(), lr=1e-3)
    fresh.load_state_dict(training["optimizer"])
    for key, value in optimizer.state_dict()["state"][0].items():
        assert torch.equal(fresh.state_dict()["state"][0][key], value)


# -- components the engine applies: closure optimizers, plateau schedules, regularizers, diagnostics --------
def _small_trainer(digits_tensors, optimizer_spec, tmp_path=None, schedule=None, **train):
    from shendu.optim import build_optimizer

    inputs, targets = digits_tensors[0][:256], digits_tensors[1][:256]
    torch.manual_seed(0)
    model = nn.Linear(64, 10)
    optimizer = build_optimizer(optimizer_spec, model)
    config = TrainConfig(progress="none", **{"epochs": 2, "batch_size": 64, **train})
    run = RunDirectory.create(tmp_path, "components") if tmp_path is not None else None
    evaluate = lambda m: {"loss": float(nn.functional.cross_entropy(m(inputs), targets).detach())}  # noqa: E731
    trainer = Trainer(model, cross_entropy_step, (inputs, targets), optimizer, config=config, seed=0,
                      device=torch.device("cpu"), evaluate=evaluate, monitor="val.loss", run=run)
    if schedule is not None:
        from shendu.optim import build_schedule

        trainer.schedule = build_schedule(schedule, optimizer, trainer.steps_per_epoch * config.epochs, trainer.steps_per_epoch)
    return trainer


@pytest.mark.parametrize("name", ["lbfgs", "newton"])
def test_closure_optimizers_train_through_the_engine(digits_tensors, name):
    # Full batch: both re-evaluate the same loss many times per step, which mini-batch noise would defeat.
    trainer = _small_trainer(digits_tensors, {"name": name, "max_parameters": 1000} if name == "newton" else name,
                             epochs=3, batch_size=256)
    if name == "newton":  # 650 parameters: the full Hessian is 650 x 650
        assert sum(p.numel() for p in trainer.model.parameters()) == 650
    before = trainer.evaluate(trainer.model)["loss"]
    result = trainer.fit()
    assert result.global_step == 3
    assert result.history == [] and trainer.evaluate(trainer.model)["loss"] < 0.5 * before
    assert torch.isfinite(trainer.losses).all() and float(trainer.losses.min()) > 0


def test_closure_optimizers_refuse_gradient_accumulation(digits_tensors):
    from shendu.errors import ConfigError

    with pytest.raises(ConfigError, match="accumulate_steps"):
        _small_trainer(digits_tensors, "lbfgs", accumulate_steps=2)


def test_reduce_on_plateau_steps_once_per_epoch_on_the_monitor(digits_tensors):
    trainer = _small_trainer(digits_tensors, {"name": "sgd", "lr": 0.1}, epochs=4,
                             schedule={"name": "reduce-on-plateau", "patience": 1, "factor": 0.5})
    trainer.evaluate = lambda m: {"loss": 1.0}  # never improves
    trainer.fit()
    # epoch 1 sets the best, epoch 2 is the first bad epoch, epoch 3 exceeds patience 1 -> halve.
    assert trainer.optimizer.param_groups[0]["lr"] == pytest.approx(0.05)


def test_l1_penalty_shrinks_weights_but_the_logged_loss_is_the_data_loss(digits_tensors):
    plain = _small_trainer(digits_tensors, {"name": "sgd", "lr": 0.1})
    plain.fit()
    sparse = _small_trainer(digits_tensors, {"name": "sgd", "lr": 0.1}, regularizers=[{"name": "l1", "strength": 0.1}])
    sparse.fit()
    assert sparse.model.weight.abs().sum() < 0.7 * plain.model.weight.abs().sum()
    assert float((sparse.model.weight.abs() < 1e-2).float().mean()) > 0.3  # L1 drives weights to ~0
    penalty = 0.1 * float(sparse.model.weight.detach().abs().sum())
    data_loss = float(nn.functional.cross_entropy(sparse.model(digits_tensors[0][:64]), digits_tensors[1][:64]).detach())
    assert float(sparse.losses[-1]) < data_loss + penalty / 2  # the logged value has no penalty in it


def test_max_norm_holds_after_every_step(digits_tensors):
    trainer = _small_trainer(digits_tensors, {"name": "sgd", "lr": 1.0}, regularizers=[{"name": "max-norm", "max_norm": 0.5}])
    trainer.fit()
    assert float(trainer.model.weight.detach().norm(dim=1).max()) <= 0.5 + 1e-6


def test_diagnostics_log_gradient_norms_every_n_steps_and_survive_resume(tmp_path, digits_tensors):
    trainer = _small_trainer(digits_tensors, {"name": "sgd", "lr": 0.1}, tmp_path, epochs=3,
                             diagnostics={"every_steps": 5})
    trainer.fit()
    records = trainer.run.history("diagnostics")
    assert [r["step"] for r in records] == [1, 6, 11]  # 4 steps per epoch, 12 in all
    assert [r["epoch"] for r in records] == [1, 2, 3]
    assert set(records[0]["grad_norms"]) == {"Linear"}
    assert [r["epoch"] for r in trainer.run.history()] == [1, 2, 3]  # epoch records stay separate
    trainer.run.truncate_log(1, 4)
    assert [r["step"] for r in trainer.run.history("diagnostics")] == [1]


def test_diagnostics_can_be_switched_off(digits_tensors):
    trainer = _small_trainer(digits_tensors, "sgd", diagnostics={"enabled": False})
    assert trainer.diagnostics is None
    assert trainer.fit().warnings == []


def test_reduce_on_plateau_follows_the_runs_monitor_direction(digits_tensors):
    trainer = _small_trainer(digits_tensors, {"name": "sgd", "lr": 0.1}, epochs=5,
                             schedule={"name": "reduce-on-plateau", "patience": 1, "factor": 0.5})
    scores = iter([0.5, 0.6, 0.7, 0.8, 0.9])
    trainer.evaluate = lambda m: {"accuracy": next(scores)}  # rising accuracy: improving every epoch
    trainer.monitor = "val.accuracy"
    trainer.fit()
    assert trainer.schedule.monitor == "val.accuracy"
    assert trainer.optimizer.param_groups[0]["lr"] == pytest.approx(0.1)


def test_closure_calls_replay_the_same_random_draws():
    """lbfgs evaluates its closure several times per step: dropout/augmentation must not change between calls."""
    from shendu.config import TrainConfig
    from shendu.engine.loop import Trainer

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Dropout(0.5), torch.nn.Linear(8, 1))
    inputs, targets = torch.randn(32, 4), torch.randn(32, 1)

    def step(net, batch):
        x, y = batch
        return torch.nn.functional.mse_loss(net(x + 0.1 * torch.randn_like(x)), y)  # noise stands for augmentation

    trainer = Trainer(model, step, (inputs, targets), torch.optim.LBFGS(model.parameters()),
                      config=TrainConfig(epochs=1, batch_size=32, progress="none"), seed=0, device=torch.device("cpu"))
    closure = trainer._closure((inputs, targets))
    assert torch.equal(closure(backward=False), closure(backward=False))
