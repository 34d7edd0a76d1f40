"""Network architectures, one family per module, each registering its variants in ``MODELS``.

Every model is built by ``constructor(input_shape, num_outputs, **options)``
and maps a batch ``(B, *input_shape)`` to raw outputs ``(B, num_outputs)``, or
to what its ``role`` tag says (:func:`model_role`: per-token or per-pixel logits);
:func:`build_model` is the one place the rest of shendu builds a model from a
config spec. ``shendu list models`` shows what is registered.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from typing import Any

from torch import nn

from shendu.errors import ConfigError, Problem
from shendu.models.registry import MODELS, model_role, models_for, unsupported_input
from shendu.models.registry import input_kind as infer_input_kind
from shendu.nn import initialize

# Family modules register their built-ins on import; imported explicitly here.
from shendu.models import cnn as cnn
from shendu.models import fcn as fcn
from shendu.models import mlp as mlp
from shendu.models import recurrent as recurrent
from shendu.models import resnet as resnet
from shendu.models import seq2seq_rnn as seq2seq_rnn
from shendu.models import tcn as tcn
from shendu.models import textcnn as textcnn
from shendu.models import transformer as transformer
from shendu.models import unet as unet

BUILD_OPTIONS = ("init",)  # read by build_model itself, for every model


def build_model(spec: Any, input_shape: Sequence[int], num_outputs: int, input_kind: str | None = None,
                **supplied: Any) -> nn.Module:
    """Build a model from a name, a ``{name: ..., **options}`` mapping or a module.

    Checks, before building, that the model accepts the input kind
    (``(C, H, W)`` -> image, ``(F,)`` -> tabular, ``(T, F)`` -> sequence) and
    that every option is one the model takes. A module is returned unchanged.

    Every model also takes ``init``: an initializer for every layer it fits,
    or a per-layer-type mapping (``{default: he-normal, linear:
    xavier-uniform}``; see :func:`shendu.nn.initialize`). Without it each
    model keeps its own choice ("auto": He for relu-like activations, Xavier
    otherwise; Kaiming fan_out convolutions in ResNets).

    Token inputs (text) are named explicitly, since their shape ``(T,)``
    looks like a feature vector: ``input_kind="tokens"`` with ``vocab_size``
    and ``padding_id`` supplied; the model's ``role`` tag says what it
    returns ("classifier": (B, num_outputs); "language-model": (B, T, V);
    "sequence-to-sequence": (B, T, V) from (source, target_in);
    "segmentation": (B, C, H, W) logits per pixel, C = num_outputs, from
    (B, channels, H, W) images).

    Args:
        spec: "cnn", {"name": "mlp", "hidden_sizes": [256, 128]}, or an nn.Module.
        input_shape: per-sample shape, without the batch axis ((T,) for tokens: the longest sequence).
        num_outputs: classes, regression targets, or the (target) vocabulary size.
        input_kind: "image", "tabular", "sequence" or "tokens"; default: from the rank of ``input_shape``.
        **supplied: what the data fixes for token models: ``vocab_size``, ``padding_id``.
    """
    if isinstance(spec, nn.Module):
        return spec
    if not isinstance(spec, (str, Mapping)):
        expected = "a model name, a mapping with a 'name' key, or a torch.nn.Module"
        fix = "Set e.g. model=cnn or model={name: mlp, hidden_sizes: [256, 128]}."
        raise ConfigError([Problem("model", spec, expected, fix)])
    shape = tuple(input_shape)
    name, options = MODELS.split_spec(spec)
    entry = MODELS.entry(name)
    accepted = entry.tags.get("inputs")
    kind = input_kind or infer_input_kind(shape)
    if accepted is not None and kind not in accepted:
        raise unsupported_input(entry.name, shape, accepted, kind)
    init = options.pop("init", None)
    MODELS.check({"name": name, **options}, "model")
    model = entry.constructor(input_shape=shape, num_outputs=num_outputs, **supplied, **options)
    if init is not None:
        try:
            initialize(model, init, activation=options.get("activation", _default_activation(entry.constructor)))
        except (ValueError, KeyError) as error:
            raise ConfigError([Problem("model.init", init, "an initializer spec or a per-layer-type mapping",
                                       f"{error} See: shendu list initializers")]) from None
    return model


def _default_activation(constructor: Any) -> Any:
    parameter = inspect.signature(constructor).parameters.get("activation")
    return None if parameter is None else parameter.default


input_kind = infer_input_kind

__all__ = ["BUILD_OPTIONS", "MODELS", "build_model", "input_kind", "models_for", "model_role"]
