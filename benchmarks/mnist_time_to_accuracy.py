"""Wall time to 99.0% MNIST test accuracy: shendu's recipe against the classic tutorial recipe.

Both train the same network (the tutorial CNN: conv32-pool-conv64-pool-dense128-dropout-dense)
on 2 CPU cores.

- tutorial: per-sample ``Dataset`` (normalise one image per ``__getitem__``) and a
  ``DataLoader`` (batch 64, shuffle), Adam at lr 1e-3, test accuracy checked after
  every epoch until it reaches the target (at most ``--max-epochs``).
- shendu: ``shendu.train("configs/mnist-cnn.yaml")``: in-memory tensors batched by
  index, batch 128, AdamW with a one-cycle schedule over 3 epochs.

Times count data preparation and training, not the test evaluations.

    .venv/bin/python benchmarks/mnist_time_to_accuracy.py --data ../shared/data/mnist
"""

from __future__ import annotations

import argparse
import gzip
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

import shendu
from shendu.models import build_model

ROOT = Path(__file__).resolve().parents[1]


def read_idx(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as handle:
        data = handle.read()
    dimensions = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(dimensions))
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dimensions).reshape(shape)


class MNISTDataset(Dataset):
    """The tutorial way: one image converted and normalised per __getitem__."""

    def __init__(self, images: np.ndarray, labels: np.ndarray):
        self.images, self.labels = images, labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int):
        image = torch.from_numpy(self.images[index].astype(np.float32) / 255.0)
        return ((image - 0.1307) / 0.3081).unsqueeze(0), int(self.labels[index])


@torch.no_grad()
def accuracy(model: nn.Module, loader: DataLoader) -> float:
    model.eval()
    correct = total = 0
    for images, labels in loader:
        correct += int((model(images).argmax(1) == labels).sum())
        total += len(labels)
    model.train()
    return correct / total


def tutorial(data: Path, target: float, max_epochs: int) -> tuple[float | None, int, float]:
    started = time.perf_counter()
    train = MNISTDataset(read_idx(data / "train-images-idx3-ubyte.gz"), read_idx(data / "train-labels-idx1-ubyte.gz"))
    test = MNISTDataset(read_idx(data / "t10k-images-idx3-ubyte.gz"), read_idx(data / "t10k-labels-idx1-ubyte.gz"))
    train_loader = DataLoader(train, batch_size=64, shuffle=True)
    test_loader = DataLoader(test, batch_size=1000)
    torch.manual_seed(0)
    model = build_model({"name": "cnn", "channels": [32, 64], "hidden_size": 128, "dropout": 0.25}, (1, 28, 28), 10)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    elapsed = time.perf_counter() - started
    last = 0.0
    for epoch in range(1, max_epochs + 1):
        started = time.perf_counter()
        for images, labels in train_loader:
            optimizer.zero_grad()
            nn.functional.cross_entropy(model(images), labels).backward()
            optimizer.step()
        elapsed += time.perf_counter() - started
        last = accuracy(model, test_loader)
        print(f"  tutorial epoch {epoch}: test accuracy {last:.4f}, {elapsed:.1f} s so far")
        if last >= target:
            return elapsed, epoch, last
    return None, max_epochs, last


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "mnist"))
    parser.add_argument("--target", type=float, default=0.99)
    parser.add_argument("--max-epochs", type=int, default=10)
    args = parser.parse_args()
    data = Path(args.data)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; target test accuracy {args.target}")

    print("shendu recipe (configs/mnist-cnn.yaml):")
    with tempfile.TemporaryDirectory() as output:
        run = shendu.train(ROOT / "configs" / "mnist-cnn.yaml", output_dir=output, progress="lines",
                           overrides={"data.path": str(data)})
    seconds = run.summary["seconds"]
    shendu_time = seconds["data"] + seconds["train"]
    shendu_accuracy = run.metrics["test"]["accuracy"]
    print(f"  shendu: test accuracy {shendu_accuracy:.4f} after {run.summary['epochs_run']} epochs, "
          f"{shendu_time:.1f} s (data {seconds['data']:.1f} s + train {seconds['train']:.1f} s)")

    print("tutorial recipe (batch 64, Adam 1e-3, Dataset + DataLoader):")
    tutorial_time, epochs, tutorial_accuracy = tutorial(data, args.target, args.max_epochs)

    shendu_ok = shendu_accuracy >= args.target
    print(f"shendu:   {'%.1f s' % shendu_time if shendu_ok else 'did not reach the target'} "
          f"(test accuracy {shendu_accuracy:.4f})")
    print(f"tutorial: {'%.1f s' % tutorial_time if tutorial_time else 'did not reach the target in %d epochs' % epochs} "
          f"(test accuracy {tutorial_accuracy:.4f} after {epochs} epochs)")
    if shendu_ok and tutorial_time:
        print(f"ratio tutorial/shendu: {tutorial_time / shendu_time:.2f}x (shendu is faster when > 1)")


if __name__ == "__main__":
    main()
