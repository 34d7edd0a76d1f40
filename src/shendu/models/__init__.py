"""Network architectures, one family per module, each registering its variants in ``MODELS``.

Every model is built by ``constructor(input_shape, num_outputs, **options)``
and maps a batch ``(B, *input_shape)`` to raw outputs ``(B, num_outputs)``;
:func:`build_model` is the one place the rest of shendu builds a model from a
config spec. ``shendu list models`` shows what is registered.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from torch import nn

from shendu.errors import ConfigError, Problem
from shendu.models.registry import MODELS, input_kind, models_for, unsupported_input

# Family modules register their built-ins on import; imported explicitly here.
from shendu.models import cnn as cnn
from shendu.models import mlp as mlp
from shendu.models import resnet as resnet

_SUPPLIED = ("input_shape", "num_outputs")  # set by shendu from the data, never by the config


def build_model(spec: Any, input_shape: Sequence[int], num_outputs: int) -> nn.Module:
    """Build a model from a name, a ``{name: ..., **options}`` mapping or a module.

    Checks, before building, that the model accepts the input kind
    (``(C, H, W)`` -> image, ``(F,)`` -> tabular, ``(T, F)`` -> sequence) and
    that every option is one the model takes. A module is returned unchanged.

    Args:
        spec: "cnn", {"name": "mlp", "hidden_sizes": [256, 128]}, or an nn.Module.
        input_shape: per-sample shape, without the batch axis.
        num_outputs: classes, or regression targets.
    """
    if isinstance(spec, nn.Module):
        return spec
    if not isinstance(spec, (str, Mapping)):
        expected = "a model name, a mapping with a 'name' key, or a torch.nn.Module"
        fix = "Set e.g. model=cnn or model={name: mlp, hidden_sizes: [256, 128]}."
        raise ConfigError([Problem("model", spec, expected, fix)])
    shape = tuple(input_shape)
    entry = MODELS.entry(MODELS.split_spec(spec)[0])
    accepted = entry.tags.get("inputs")
    if accepted is not None and input_kind(shape) not in accepted:
        raise unsupported_input(entry.name, shape, accepted)
    MODELS.check(spec, "model", supplied=_SUPPLIED)
    return MODELS.get(spec, input_shape=shape, num_outputs=num_outputs)


__all__ = ["MODELS", "build_model", "input_kind", "models_for"]
