"""shendu's engine against a hand-written PyTorch loop: same model, data, batch order.

Both train the tutorial CNN on MNIST images for one epoch from identical initial
weights, with AdamW and a one-cycle schedule, reading batches by index from the
same in-memory tensors in the same seeded order. Runs are paired and the order
inside a pair alternates (A B, B A, A B, ...) so machine drift hits both alike;
timings on these shared machines drift by up to 2x, so the figure printed is the
median of the per-pair ratios (and the ratio of the medians for reference).

    .venv/bin/python benchmarks/overhead.py --data ../shared/data/mnist [--samples 6000] [--rounds 12]

Target: ratio <= 1.02.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch import nn

from shendu.config import DataConfig, TrainConfig
from shendu.data import load_data
from shendu.data.batching import BatchSampler
from shendu.engine import Trainer
from shendu.models import build_model


def make(seed: int, shape: tuple[int, ...]):
    torch.manual_seed(seed)
    model = build_model({"name": "cnn", "channels": [32, 64], "hidden_size": 128, "dropout": 0.25}, shape, 10)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.01)
    return model, optimizer


def hand_loop(inputs, targets, batch_size: int, seed: int) -> float:
    model, optimizer = make(seed, tuple(inputs.shape[1:]))
    sampler = BatchSampler(len(inputs), batch_size, shuffle=True, seed=seed)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=3e-3, total_steps=len(sampler), pct_start=0.25)
    torch.manual_seed(seed)
    started = time.perf_counter()
    model.train()
    for indices in sampler.batches(0):
        x, y = inputs.index_select(0, indices), targets.index_select(0, indices)
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        schedule.step()
    return time.perf_counter() - started


def engine_loop(inputs, targets, batch_size: int, seed: int, progress: str) -> float:
    model, optimizer = make(seed, tuple(inputs.shape[1:]))
    config = TrainConfig(epochs=1, batch_size=batch_size, progress=progress)
    loss_fn = nn.CrossEntropyLoss()
    trainer = Trainer(model, lambda m, b: loss_fn(m(b[0]), b[1]), (inputs, targets), optimizer,
                      config=config, seed=seed, device=torch.device("cpu"))
    trainer.schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=3e-3, total_steps=trainer.steps_per_epoch, pct_start=0.25)
    torch.manual_seed(seed)
    started = time.perf_counter()
    trainer.fit()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="../shared/data/mnist")
    parser.add_argument("--samples", type=int, default=6000)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--progress", default="lines", choices=["lines", "bar", "none"])
    args = parser.parse_args()
    bundle = load_data(DataConfig(source="mnist", path=args.data, limit=args.samples), target_kind="classification", seed=0)
    inputs, targets = bundle.train.inputs, bundle.train.targets
    print(f"{len(inputs)} MNIST training images, batch {args.batch_size}, {torch.get_num_threads()} threads, "
          f"{args.rounds} interleaved rounds (+1 warm-up each)")
    hand_loop(inputs, targets, args.batch_size, 0)
    engine_loop(inputs, targets, args.batch_size, 0, args.progress)
    hand_times, engine_times, ratios = [], [], []
    for round_number in range(args.rounds):
        run_hand = lambda: hand_times.append(hand_loop(inputs, targets, args.batch_size, round_number))  # noqa: E731
        run_engine = lambda: engine_times.append(engine_loop(inputs, targets, args.batch_size, round_number, args.progress))  # noqa: E731
        for run in ((run_hand, run_engine) if round_number % 2 == 0 else (run_engine, run_hand)):
            run()
        ratios.append(engine_times[-1] / hand_times[-1])
        print(f"round {round_number + 1}: hand {hand_times[-1]:.2f} s  engine {engine_times[-1]:.2f} s  ratio {ratios[-1]:.3f}", flush=True)
    hand, engine = statistics.median(hand_times), statistics.median(engine_times)
    print(f"median: hand-written loop {hand:.2f} s, shendu engine {engine:.2f} s (ratio of medians {engine / hand:.3f})")
    print(f"ratio engine/hand, median of {args.rounds} paired rounds: {statistics.median(ratios):.3f} (target <= 1.02)")


if __name__ == "__main__":
    main()
