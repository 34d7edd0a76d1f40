"""Data: sources, splitting, preprocessing and batch augmentation.

``load_data(config.data, target_kind=..., seed=...)`` returns a
:class:`DataBundle` of preprocessed train / val / test tensors. Sources are
named in ``DATASETS`` (``shendu list datasets``); augmentations in
``AUGMENTATIONS`` (``shendu list augmentations``).
"""

from shendu.data.registry import AUGMENTATIONS, DATASETS

# Family modules, imported explicitly so that every built-in registers.
from shendu.data import augmentation, catalog, formats_sources, image_table, images, sources, tabular, text_sources  # noqa: F401  (registration)
from shendu.data.augmentation import AugmentationSequence, build_augmentation
from shendu.data.preprocessing import (
    Imputation,
    MinMaxScaling,
    Normalization,
    Preprocessing,
    Standardization,
    TargetStandardization,
    fit_preprocessing,
)
from shendu.data.loading import DataBundle, load_data
from shendu.data.parquet_shards import ParquetShards
from shendu.data.shards import NpyShards, write_shards
from shendu.data.stream_loading import load_stream
from shendu.data.streaming import ShardStream
from shendu.data.sources import resolve_source
from shendu.data.folds import fold_plan
from shendu.data.splits import RawData, RawSplit, Split, SplitPlan
from shendu.data.encoding import TabularEncoding
from shendu.data.sequences import LanguageModelBatches, LengthBucketSampler, pad_sequences, trim_padding
from shendu.data.tokenizers import TOKENIZERS, Tokenizer, build_tokenizer, tokenizer_from_dict
from shendu.data.shapes import ShapesData, make_shapes, save_coco, save_masks, save_yolo

__all__ = [
    "TOKENIZERS",
    "Tokenizer",
    "build_tokenizer",
    "tokenizer_from_dict",
    "LanguageModelBatches",
    "LengthBucketSampler",
    "pad_sequences",
    "trim_padding",
    "write_shards",
    "NpyShards",
    "ParquetShards",
    "ShardStream",
    "load_stream",
    "DATASETS",
    "AUGMENTATIONS",
    "load_data",
    "resolve_source",
    "DataBundle",
    "Split",
    "RawData",
    "RawSplit",
    "Preprocessing",
    "Normalization",
    "Standardization",
    "Imputation",
    "MinMaxScaling",
    "SplitPlan",
    "fold_plan",
    "TargetStandardization",
    "TabularEncoding",
    "fit_preprocessing",
    "build_augmentation",
    "AugmentationSequence",
    "ShapesData",
    "make_shapes",
    "save_coco",
    "save_masks",
    "save_yolo",
]
