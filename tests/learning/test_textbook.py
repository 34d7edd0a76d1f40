"""The textbook experiments, run with shendu's components and engine on real data.

- A single-layer perceptron cannot fit XOR; an MLP with one hidden layer can
  (Minsky & Papert 1969; Rumelhart, Hinton & Williams 1986).
- A 10-layer sigmoid MLP has vanishing gradients that ReLU with He
  initialisation removes, and the diagnostics callback says so only for the
  first (Glorot & Bengio 2010; He et al. 2015).
- Newton's method converges on logistic regression in far fewer iterations
  than gradient descent (Boyd & Vandenberghe 2004, 9.5).
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from sklearn.datasets import load_diabetes, load_digits

from shendu.config import TrainConfig
from shendu.engine import Trainer
from shendu.models import build_model
from shendu.optim import build_optimizer
from shendu.run import RunDirectory

pytestmark = pytest.mark.learning

XOR_INPUTS = torch.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
XOR_TARGETS = torch.tensor([0, 1, 1, 0])


def _cross_entropy_step(model, batch):
    inputs, targets = batch
    return F.cross_entropy(model(inputs), targets)


def _fit(model, data, optimizer, steps, *, run=None, batch_size=None, **train):
    config = TrainConfig(epochs=steps, batch_size=batch_size or len(data[0]), progress="none", **train)
    trainer = Trainer(model, _cross_entropy_step, data, optimizer, config=config, seed=0,
                      device=torch.device("cpu"), run=run)
    return trainer, trainer.fit()


def _xor_accuracy(spec, optimizer, steps) -> float:
    torch.manual_seed(0)
    model = build_model(spec, (2,), 2)
    _fit(model, (XOR_INPUTS, XOR_TARGETS), build_optimizer(optimizer, model), steps)
    with torch.no_grad():
        return float((model(XOR_INPUTS).argmax(1) == XOR_TARGETS).float().mean())


def test_perceptron_cannot_fit_xor_but_one_hidden_layer_can():
    optimizer = {"name": "adam", "lr": 0.05}
    perceptron = _xor_accuracy("perceptron", optimizer, 500)
    mlp = _xor_accuracy({"name": "mlp", "hidden_sizes": [8], "activation": "tanh"}, optimizer, 500)
    print(f"XOR accuracy: perceptron {perceptron:.2f}, mlp with one hidden layer {mlp:.2f}")
    assert perceptron <= 0.75
    assert mlp == 1.0


def _digits() -> tuple[torch.Tensor, torch.Tensor]:
    inputs, targets = load_digits(return_X_y=True)
    inputs = torch.tensor(inputs, dtype=torch.float32)
    inputs = (inputs - inputs.mean(0)) / (inputs.std(0) + 1e-6)
    return inputs[:512], torch.tensor(targets[:512])


@pytest.mark.parametrize(
    ("activation", "init", "vanishing"), [("sigmoid", "xavier-uniform", True), ("relu", "he-normal", False)]
)
def test_deep_sigmoid_network_has_vanishing_gradients_and_relu_with_he_does_not(tmp_path, activation, init, vanishing):
    torch.manual_seed(0)
    spec = {"name": "mlp", "hidden_sizes": [32] * 9, "activation": activation, "init": init}  # 10 linear layers
    model = build_model(spec, (64,), 10)
    run = RunDirectory.create(tmp_path, activation)
    optimizer = build_optimizer({"name": "sgd", "lr": 0.01}, model)
    trainer, _ = _fit(model, _digits(), optimizer, 2, run=run, batch_size=128,
                      diagnostics={"every_steps": 1})
    records = run.history("diagnostics")
    assert len(records) == 8  # 4 steps per epoch, 2 epochs
    ratio = records[0]["first_last_ratio"]
    print(f"{activation} + {init}: first/last layer gradient-norm ratio {ratio:.3g}")
    warned = [w for w in trainer.diagnostics.warnings if w["kind"] == "vanishing"]
    if vanishing:
        assert ratio < 1e-2
        assert len(warned) == 1 and "relu" in warned[0]["message"]
    else:
        assert ratio > 1e-1
        assert not warned


def _logistic_regression_data() -> tuple[torch.Tensor, torch.Tensor]:
    """Diabetes: is disease progression above the median? Real and not separable, so the optimum is finite."""
    inputs, progression = load_diabetes(return_X_y=True)
    inputs = torch.tensor(inputs, dtype=torch.float64)
    inputs = (inputs - inputs.mean(0)) / inputs.std(0)
    targets = torch.tensor(progression > torch.tensor(progression).median().item(), dtype=torch.int64)
    return inputs, targets


def _iterations_to_optimum(optimizer_spec, tolerance, max_steps) -> tuple[int, float]:
    torch.manual_seed(0)
    inputs, targets = _logistic_regression_data()
    model = build_model("perceptron", (inputs.shape[1],), 2).double()  # softmax regression, 22 parameters
    optimizer = build_optimizer(optimizer_spec, model)
    best = _optimum(inputs, targets)
    config = TrainConfig(epochs=1, batch_size=len(inputs), progress="none", diagnostics={"enabled": False})
    trainer = Trainer(model, _cross_entropy_step, (inputs, targets), optimizer, config=config, seed=0,
                      device=torch.device("cpu"))
    for step in range(1, max_steps + 1):
        trainer.config.epochs = step
        trainer.fit()
        with torch.no_grad():
            loss = float(F.cross_entropy(model(inputs), targets))
        if loss - best < tolerance:
            return step, loss
    return max_steps + 1, loss


def _optimum(inputs, targets) -> float:
    """The minimum of the same loss, found by scikit-learn's unregularised logistic regression."""
    from sklearn.linear_model import LogisticRegression

    fitted = LogisticRegression(C=float("inf"), tol=1e-10, max_iter=10_000).fit(inputs.numpy(), targets.numpy())
    logit = torch.tensor(fitted.decision_function(inputs.numpy()))
    return float(F.binary_cross_entropy_with_logits(logit, targets.double()))


def test_newton_reaches_the_logistic_regression_optimum_in_far_fewer_iterations_than_gradient_descent():
    tolerance = 1e-6
    newton_steps, newton_loss = _iterations_to_optimum({"name": "newton"}, tolerance, 20)
    gd_steps, gd_loss = _iterations_to_optimum({"name": "sgd", "lr": 1.0}, tolerance, 2000)
    print(f"iterations to within {tolerance:g} of the optimum: newton {newton_steps} (loss {newton_loss:.6f}), "
          f"gradient descent {gd_steps} (loss {gd_loss:.6f})")
    assert newton_steps <= 10
    assert gd_steps > 5 * newton_steps
