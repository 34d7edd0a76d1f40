"""The command line: each verb parses its arguments, calls one API function and prints.

    shendu train configs/mnist-cnn.yaml --data ../shared/data/mnist train.epochs=3
    shendu train --resume runs/mnist-cnn-0001
    shendu evaluate runs/mnist-cnn-0001 [--data PATH] [--split test]
    shendu predict runs/mnist-cnn-0001 img1.png img2.png [--out preds.csv]
    shendu list [models|losses|...]
    shendu validate configs/my.yaml
    shendu explain adam [--kind optimizer] [--out DIR]
    shendu demo
    shendu env
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from shendu.errors import ShenduError


def _registries() -> dict:
    from shendu.api import registries

    return registries()


def _table(rows: Sequence[Sequence[str]], header: Sequence[str]) -> str:
    rows = [list(header)] + [list(r) for r in rows]
    widths = [max(len(r[i]) for r in rows) for i in range(len(header) - 1)]
    lines = ["  ".join([c.ljust(w) for c, w in zip(r[:-1], widths)] + [r[-1]]) for r in rows]
    lines.insert(1, "  ".join(["-" * w for w in widths] + ["-" * len(header[-1])]))
    return "\n".join(lines)


def command_list(args: argparse.Namespace) -> int:
    registries = _registries()
    if args.markdown:
        from shendu.api import component_table

        print(component_table(), end="")
        return 0
    if args.kind is None:
        print(_table([(k, str(len(r)), ", ".join(r.names()[:6]) + (", ..." if len(r) > 6 else "")) for k, r in registries.items()],
                     ("kind", "count", "names")))
        print("\nshendu list <kind> shows one kind with summaries.")
        return 0
    if args.kind not in registries:
        import difflib

        close = difflib.get_close_matches(args.kind, list(registries), n=2)
        hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        print(f"error: unknown kind {args.kind!r}.{hint} Kinds: {', '.join(registries)}", file=sys.stderr)
        return 2
    print(_table(registries[args.kind].table(), ("name", "summary")))
    return 0


def _split_overrides(values: Sequence[str]) -> tuple[str | None, list[str]]:
    config = None
    overrides = []
    for value in values:
        if "=" in value:
            overrides.append(value)
        elif config is None:
            config = value
        else:
            raise ShenduError(
                f"expected one config file and key=value overrides; received a second file {value!r}. "
                "Write overrides as key.path=value (no spaces around '='), e.g. train.epochs=3."
            )
    return config, overrides


def command_train(args: argparse.Namespace) -> int:
    from shendu import api
    from shendu.config import override_pairs

    config_path, overrides = _split_overrides(args.arguments)
    merged: dict = {}
    if args.task:
        merged["task"] = args.task
    if args.model:
        merged["model"] = args.model
    if args.data is not None:
        merged.update(api.data_overrides(args.data))
    merged.update(override_pairs(overrides))  # key=value is the most explicit: it wins over --task/--model/--data
    if args.folds is not None:
        if args.resume:
            raise ShenduError("--folds and --resume cannot be combined; expected one of them. "
                              "Resume a single fold's run directory with --resume RUN instead.")
        from shendu.crossval import cross_validate, crossval_table

        result = cross_validate(config_path, folds=args.folds, overrides=merged, output_dir=args.output_dir,
                                progress=args.progress)
        print(crossval_table(result.summary))
        print(f"cross-validation directory: {result.path}")
        return 0
    run = api.train(config_path, overrides=merged, resume=args.resume, output_dir=args.output_dir, progress=args.progress)
    print(api.summary_table(run.summary))
    print(f"run directory: {run.path}")
    return 0


def command_evaluate(args: argparse.Namespace) -> int:
    from shendu import api
    from shendu.engine.progress import format_metrics

    metrics = api.evaluate(args.run, data=args.data, split=args.split)
    matrix = metrics.pop("confusion_matrix", None)
    print(f"{args.split or ('all' if args.data else 'test')}: {format_metrics(metrics)}")
    if matrix is not None:
        print("confusion matrix (rows true, columns predicted):")
        for row in matrix:
            print("  " + " ".join(f"{v:5d}" for v in row))
    return 0


TABLE_SUFFIXES = tuple(f".{name}{packed}" for name in ("csv", "tsv", "parquet", "jsonl", "arff")
                       for packed in ("", ".gz", ".bz2"))
TEXT_OPTIONS = ("prompt", "max_tokens", "temperature", "top_k", "top_p", "num_samples", "text", "beam_size",
                "length_penalty")


def command_predict(args: argparse.Namespace) -> int:
    from shendu import api
    from shendu.data.images import list_images

    run = api.load(args.run, checkpoint=args.checkpoint)
    options = {key: getattr(args, key) for key in TEXT_OPTIONS if getattr(args, key) is not None}
    if options or run.config.task in ("text-generation", "sequence-to-sequence"):
        return _predict_text(run, args, options)
    if not args.inputs:
        print("error: give the inputs to predict: image files, a CSV of rows, or (text tasks) strings", file=sys.stderr)
        return 2
    inputs: object = args.inputs
    names: list[str] | None = args.inputs
    if len(args.inputs) == 1 and (args.inputs[0].lower().endswith(TABLE_SUFFIXES) or Path(args.inputs[0]).is_dir()):
        inputs = args.inputs[0]  # one table of rows, or a folder of images: read whole
        names = [str(p) for p in list_images(Path(inputs))] if Path(inputs).is_dir() else None
    predictions = run.predict(inputs)
    names = names or [str(i) for i in range(len(predictions))]
    if any(isinstance(value, list) for prediction in predictions for value in prediction.values()):
        return _write_json(run, args, [{"input": name, **p} for name, p in zip(names, predictions)])
    rows = []
    for name, prediction in zip(names, predictions):
        row = {"input": name}
        row.update({k: v for k, v in prediction.items() if k != "probabilities"})
        rows.append(row)
    out = Path(args.out) if args.out else run.path / "predictions" / "predictions.csv"
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    for row in rows[:50]:
        print("  ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()))
    if len(rows) > 50:
        print(f"... {len(rows) - 50} more")
    print(f"predictions written to {out}")
    return 0


def _write_json(run: object, args: argparse.Namespace, predictions: list[dict]) -> int:
    """Label sets (multilabel): one line each printed, and JSON written (a CSV cell cannot hold a list)."""
    for prediction in predictions[:50]:
        print(f"input={prediction['input']}  labels={'|'.join(prediction['labels']) or '(none)'}")
    if len(predictions) > 50:
        print(f"... {len(predictions) - 50} more")
    out = Path(args.out) if args.out else run.path / "predictions" / "predictions.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(predictions, indent=2, ensure_ascii=False))
    print(f"predictions written to {out}")
    return 0


def _predict_text(run: object, args: argparse.Namespace, options: dict) -> int:
    """Generated text or translations: printed in full and written as JSON."""
    if "text" in options:
        options["text"] = " ".join(options["text"])
    predictions = run.predict(args.inputs or None, **options)
    for prediction in predictions:
        for key, value in prediction.items():
            print(f"{key}:" + ("\n" + value if isinstance(value, str) and "\n" in value else f" {value}"))
        print()
    out = Path(args.out) if args.out else run.path / "predictions" / "predictions.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(predictions, indent=2, ensure_ascii=False))
    print(f"predictions written to {out}")
    return 0


def command_validate(args: argparse.Namespace) -> int:
    from shendu import api

    config = api.validate(args.config, overrides=args.overrides)
    print(f"{args.config}: valid ({config.task}, model {(config.model or {}).get('name', 'task default')})")
    return 0


def command_data(args: argparse.Namespace) -> int:
    from shendu.data import catalog

    if args.action == "where":
        print(catalog.where(args.name, args.path))
        return 0
    if args.action == "download":
        print(catalog.locate(args.name, args.path))
        return 0
    report = catalog.verify(args.name, args.path)
    for path, status in report.items():
        print(f"{path}: {status}")
    return 0 if catalog.verify_passed(report) else 1


def command_demo(args: argparse.Namespace) -> int:
    from shendu import api

    run = api.demo(output_dir=args.output_dir, progress=args.progress)
    print(api.summary_table(run.summary))
    accuracy = run.metrics.get("test", {}).get("accuracy")
    print(f"digits test accuracy: {accuracy:.4f}")
    print(f"report: {run.path} (summary.json, plots/, metrics.jsonl, checkpoints/)")
    return 0


def command_explain(args: argparse.Namespace) -> int:
    from shendu import api

    explanation = api.explain(args.name, kind=args.kind, out=args.out)
    print(explanation.text)
    if explanation.plot is not None:
        print(f"\nplot: {explanation.plot}")
    return 0


def command_env(args: argparse.Namespace) -> int:
    from shendu.run import environment

    for key, value in environment().items():
        print(f"{key}: {value}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="shendu", description="Deep learning end to end: train, evaluate, predict.")
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="{train,evaluate,predict,list,validate,explain,data,demo,env}")

    train = verbs.add_parser("train", help="train from a config file and/or key=value overrides")
    train.add_argument("arguments", nargs="*", help="CONFIG.yaml and/or key.path=value overrides")
    train.add_argument("--task", help="task name (shendu list tasks)")
    train.add_argument("--data", help="dataset name (shendu list datasets) or a path")
    train.add_argument("--model", help="model name (shendu list models)")
    train.add_argument("--resume", metavar="RUN", help="continue a run directory exactly where it stopped")
    train.add_argument("--output-dir", help="parent directory of the run (output.dir)")
    train.add_argument("--progress", choices=["auto", "bar", "lines", "none"])
    train.add_argument("--folds", type=int, metavar="K",
                       help="k-fold cross-validation: train K runs (fold i validates) and report mean ± std")
    train.set_defaults(handler=command_train)

    evaluate = verbs.add_parser("evaluate", help="metrics of a run's best model on a split")
    evaluate.add_argument("run")
    evaluate.add_argument("--data", help="other data to evaluate on (a path or dataset name)")
    evaluate.add_argument("--split", choices=["train", "val", "test", "all"],
                          help="default: test for the run's own data, all for --data")
    evaluate.set_defaults(handler=command_evaluate)

    predict = verbs.add_parser("predict", help="predict for image files or a CSV of rows")
    predict.add_argument("run")
    predict.add_argument("inputs", nargs="*", help="image files or a folder of them, one CSV / ARFF file of feature "
                         "rows (or a series' history), "
                         "or strings to classify / translate")
    predict.add_argument("--prompt", help="text-generation: the text to continue, e.g. 'ROMEO:'")
    predict.add_argument("--max-tokens", dest="max_tokens", type=int, help="text-generation: tokens to generate")
    predict.add_argument("--temperature", type=float, help="text-generation: sampling temperature (0 = greedy)")
    predict.add_argument("--top-k", dest="top_k", type=int, help="text-generation: sample among the k likeliest")
    predict.add_argument("--top-p", dest="top_p", type=float, help="text-generation: nucleus sampling mass")
    predict.add_argument("--samples", dest="num_samples", type=int, help="text-generation: samples per prompt")
    predict.add_argument("--text", nargs="+", help="sequence-to-sequence: the sentence to translate")
    predict.add_argument("--beam-size", dest="beam_size", type=int, help="sequence-to-sequence: beams (1 = greedy)")
    predict.add_argument("--length-penalty", dest="length_penalty", type=float, help="sequence-to-sequence: GNMT alpha")
    predict.add_argument("--out", help="file to write (default RUN/predictions/predictions.csv; "
                         "predictions.json for multilabel label sets)")
    predict.add_argument("--checkpoint", default="best", choices=["best", "last"])
    predict.set_defaults(handler=command_predict)

    listing = verbs.add_parser("list", help="registered components of a kind")
    listing.add_argument("kind", nargs="?")
    listing.add_argument("--markdown", action="store_true", help="every kind as markdown tables (README's catalogue)")
    listing.set_defaults(handler=command_list)

    validate = verbs.add_parser("validate", help="report every problem of a config at once; runs nothing")
    validate.add_argument("config")
    validate.add_argument("overrides", nargs="*")
    validate.set_defaults(handler=command_validate)

    explain = verbs.add_parser("explain", help="what a component does: summary, formula, options, and a plot")
    explain.add_argument("name", help="a registered name, e.g. adam, cosine, gelu (shendu list)")
    explain.add_argument("--kind", help="the registry to look in when the name is in several, e.g. loss or metric")
    explain.add_argument("--out", help="directory for explain-<name>.png (default: the current directory)")
    explain.set_defaults(handler=command_explain)

    data = verbs.add_parser("data", help="catalogue datasets: where their files are, download them, verify checksums")
    data.add_argument("action", choices=["where", "download", "verify"])
    data.add_argument("name", help="a catalogue dataset (shendu list datasets)")
    data.add_argument("--path", help="folder holding the files (default $SHENDU_DATA/NAME, then ~/.cache/shendu/NAME)")
    data.set_defaults(handler=command_data)

    demo = verbs.add_parser("demo", help="train a CNN on the bundled digits and print where its report is")
    demo.add_argument("--output-dir", default="runs")
    demo.add_argument("--progress", choices=["auto", "bar", "lines", "none"])
    demo.set_defaults(handler=command_demo)

    env = verbs.add_parser("env", help="versions to paste into a bug report")
    env.set_defaults(handler=command_env)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    # key=value overrides may come after options (`train CONFIG --data X train.epochs=3`),
    # which argparse alone rejects once the positionals were consumed.
    args, extra = parser.parse_known_args(argv)
    positional = getattr(args, "arguments", None) if args.verb == "train" else getattr(args, "overrides", None)
    if extra and (positional is None or any(e.startswith("-") for e in extra)):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if extra:
        positional.extend(extra)
    try:
        return args.handler(args)
    except BrokenPipeError:  # output piped into e.g. `head`, which stopped reading
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (ShenduError, KeyError, ValueError, FileNotFoundError) as error:
        message = error.args[0] if isinstance(error, KeyError) and error.args else str(error)
        print(f"error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
