"""shendu's batching against torch DataLoaders over the same MNIST-sized tensors: samples per second.

Every contender delivers the same thing, shuffled (inputs, targets) batches of
64 covering one epoch of 60,000 x 1 x 28 x 28 float32 images (MNIST's training
set, read from IDX files, or random pixels with --data none); the batches are
only produced, not trained on, so the figure is the data path alone:

  (a) shendu in memory: ``TensorBatches``, one ``index_select`` per tensor per batch
  (b) torch DataLoader over a TensorDataset (batch_size=64, shuffle=True)
  (c) torch DataLoader over a per-sample map-style Dataset, num_workers=0
  (d) the same with num_workers=2
  (e) shendu streaming: ``ShardStream`` over the same tensors written as .npy shards
      (shuffle buffer 8192; memory-mapped reads, page cache warm after the first epoch)
  (f) the per-sample pipeline of PyTorch's MNIST example (torchvision's MNIST Dataset with
      ToTensor + Normalize): uint8 images kept, each sample turned into a PIL image, converted
      to a float tensor / 255 and normalised in ``__getitem__``; DataLoader, num_workers=0.
      torchvision cannot load on this machine, so the three steps are written out with Pillow
      and torch exactly as torchvision performs them.

(c)/(d) are the cheapest possible per-sample Dataset (a tensor slice per sample);
(f) is the one the tutorials teach, which does the preprocessing per sample that
shendu does once, before training.

Contenders run in a rotated order in each round so that machine drift hits all
alike; the figure printed is the median over rounds.

    .venv/bin/python benchmarks/batching.py --data ../shared/data/mnist [--rounds 5] [--batch-size 64]

Target (the data issue): (a) >= 20x a per-sample DataLoader.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset, TensorDataset

from shendu.data.batching import TensorBatches
from shendu.data.formats import read_idx
from shendu.data.shards import NpyShards, write_shards
from shendu.data.streaming import ShardStream


class PerSampleDataset(Dataset):
    """The common hand-written Dataset: ``__getitem__`` returns one (image, label) pair."""

    def __init__(self, inputs: torch.Tensor, targets: torch.Tensor):
        self.inputs, self.targets = inputs, targets

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.inputs[index], self.targets[index]


class TutorialMNIST(Dataset):
    """torchvision.datasets.MNIST + transforms.Compose([ToTensor(), Normalize((0.1307,), (0.3081,)))]."""

    def __init__(self, pixels: torch.Tensor, targets: torch.Tensor):
        self.pixels, self.targets = pixels, targets  # uint8 (N, 28, 28), as torchvision stores MNIST

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        image = Image.fromarray(self.pixels[index].numpy(), mode="L")  # torchvision: Image.fromarray(img.numpy(), mode="L")
        tensor = torch.from_numpy(np.array(image, np.uint8, copy=True)).view(28, 28, 1).permute(2, 0, 1)
        tensor = tensor.contiguous().float().div(255)  # ToTensor
        tensor = (tensor - 0.1307) / 0.3081  # Normalize
        return tensor, int(self.targets[index])


def load_tensors(data: str) -> tuple[torch.Tensor, torch.Tensor, str]:
    folder = Path(data)
    images, labels = folder / "train-images-idx3-ubyte.gz", folder / "train-labels-idx1-ubyte.gz"
    if data != "none" and images.is_file() and labels.is_file():
        pixels = torch.from_numpy(read_idx(images, 3).copy()).unsqueeze(1).float().div_(255.0)
        return pixels, torch.from_numpy(read_idx(labels, 1).astype(np.int64)), f"MNIST from {folder}"
    generator = torch.Generator().manual_seed(0)
    pixels = torch.rand(60000, 1, 28, 28, generator=generator)
    return pixels, torch.randint(0, 10, (60000,), generator=generator), "random MNIST-shaped tensors"


def epoch_seconds(batches: Iterable) -> tuple[float, int]:
    """Time to draw every batch of one epoch; returns (seconds, samples seen)."""
    started, samples = time.perf_counter(), 0
    for inputs, targets in batches:
        samples += len(targets)
    return time.perf_counter() - started, samples


def contenders(inputs: torch.Tensor, targets: torch.Tensor, batch_size: int, shard_folder: Path) -> dict[str, Callable]:
    tensors = TensorBatches((inputs, targets), batch_size, shuffle=True, seed=0)
    stream = ShardStream(NpyShards(shard_folder), None, batch_size=batch_size, seed=0, shuffle_buffer=8192)
    per_sample = PerSampleDataset(inputs, targets)
    tutorial = TutorialMNIST((inputs[:, 0] * 255).round().to(torch.uint8), targets)
    epochs = {"epoch": 0}

    def next_epoch() -> int:
        epochs["epoch"] += 1
        return epochs["epoch"]

    # Workers are started once and kept, as a training run would (persistent_workers): their start-up
    # is not charged to each epoch.
    workers = DataLoader(per_sample, batch_size=batch_size, shuffle=True, num_workers=2, persistent_workers=True)
    return {
        "(a) shendu TensorBatches (in memory)": lambda: tensors.batches(next_epoch()),
        "(b) DataLoader(TensorDataset)": lambda: DataLoader(TensorDataset(inputs, targets), batch_size=batch_size, shuffle=True),
        "(c) DataLoader(per-sample Dataset), 0 workers": lambda: DataLoader(per_sample, batch_size=batch_size, shuffle=True),
        "(d) DataLoader(per-sample Dataset), 2 workers": lambda: workers,
        "(e) shendu ShardStream (.npy shards on disk)": lambda: stream.batches(next_epoch()),
        "(f) PyTorch MNIST example pipeline, 0 workers": lambda: DataLoader(tutorial, batch_size=batch_size, shuffle=True),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="../shared/data/mnist", help="folder with MNIST IDX files, or 'none'")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads (default: torch's choice); 1 on a machine shared with other work, where "
                             "OpenMP threads spin-waiting on busy cores make every op milliseconds slow")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    inputs, targets, what = load_tensors(args.data)
    shard_folder = Path(tempfile.mkdtemp(prefix="shendu-batching-"))
    try:
        write_shards(shard_folder / "train", [(inputs.numpy(), targets.numpy())], rows_per_shard=8192)
        runs = contenders(inputs, targets, args.batch_size, shard_folder / "train")
        print(f"{what}: {tuple(inputs.shape)} float32, batch {args.batch_size}, shuffled, "
              f"{torch.get_num_threads()} threads, {args.rounds} rounds (+1 warm-up), one epoch each")
        names = list(runs)
        times: dict[str, list[float]] = {name: [] for name in names}
        for name in names:  # warm-up: page cache, worker start-up, allocator
            epoch_seconds(runs[name]())
        for round_number in range(args.rounds):
            shift = round_number % len(names)
            for name in names[shift:] + names[:shift]:
                seconds, samples = epoch_seconds(runs[name]())
                assert samples == len(targets), (name, samples)
                times[name].append(seconds)
        rates = {name: len(targets) / statistics.median(values) for name, values in times.items()}
        reference = rates[names[0]]
        print(f"{'':48s} {'samples/s':>12s}  {'shendu (a) is':>14s}")
        for name in names:
            print(f"{name:48s} {rates[name]:12,.0f}  {reference / rates[name]:13.1f}x")
        print("shendu in-memory (a) vs per-sample DataLoaders (target >= 20x): "
              f"{reference / rates[names[2]]:.1f}x the cheapest per-sample Dataset with 0 workers (c), "
              f"{reference / rates[names[3]]:.1f}x with 2 workers (d), "
              f"{reference / rates[names[5]]:.1f}x the tutorial pipeline (f)")
    finally:
        shutil.rmtree(shard_folder, ignore_errors=True)


if __name__ == "__main__":
    main()
