"""The catalogue's datasets: one table per name, with its files, checksums and official URLs.

Every checksum was computed from a copy known to be byte-identical to the
upstream file at the pinned commit of the URL, or taken from the publisher
(Fashion-MNIST's md5, PyTorch's sha256 of hymenoptera_data.zip); none is
guessed. Files whose upstream layout differs from shendu's (coco128) carry no
URL: they are fetched by hand, or from ``$SHENDU_DATASET_MIRROR``. Long
per-file lists live in ``catalog.json`` beside this module.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from shendu.data.download import DataFile


@dataclass(frozen=True)
class DatasetEntry:
    """A named dataset: what it is, which reader reads it, and the files it needs.

    Args:
        name: the registry name (``data.source``).
        doc: the teaching docstring (``shendu explain NAME``; its first line is the
            ``shendu list datasets`` summary).
        input_kind: "image", "tabular", "text", or "environment".
        target_kinds: the targets it provides ("classification", "regression", ...).
        reader: the reader source its files resolve to ("csv", "idx", ...); None
            for bundled sets, environments, and sets no task reads yet.
        files: the files expected in its folder.
        reader_path: what the reader is given, relative to the folder ("" = the folder).
        hints: ``DataConfig`` settings the reader needs, applied unless the user set them.
        class_names: the name of each label index, where the files hold only indices.
        origin: where to get the files by hand (the offline message prints it).
        bundled_with: the package that ships it ("scikit-learn"): nothing to download.
        environment: a gymnasium environment id: not data at all.
        awaiting_task: the kind of task that will read it, where none does yet.
    """

    name: str
    doc: str
    input_kind: str
    target_kinds: tuple[str, ...]
    reader: str | None = None
    files: tuple[DataFile, ...] = ()
    reader_path: str = ""
    hints: Mapping[str, Any] = field(default_factory=dict)
    class_names: tuple[str, ...] | None = None
    origin: str = ""
    bundled_with: str | None = None
    environment: str | None = None
    awaiting_task: str | None = None


ARGS = """
    Args:
        config: the run's ``DataConfig`` ({options}).
        target_kind: {target_kind}.
    """
LOCATED = "path, download"
LICENCE_SKLEARN = "Licence: shipped inside scikit-learn (BSD-3-Clause); bundled with scikit-learn, nothing to download."


@dataclass(frozen=True)
class GitHubFolder:
    """A folder of a GitHub repository at a pinned commit, where a dataset's files are published.

    One value per home, so an entry's download URLs and its by-hand origin
    cannot drift apart when the commit is bumped.
    """

    repository: str
    commit: str
    folder: str = ""

    def files(self, sha256: Mapping[str, str]) -> tuple[DataFile, ...]:
        """One DataFile per ``name -> sha256``, fetched from raw.githubusercontent.com at the pinned commit."""
        base = "/".join(filter(None, ("https://raw.githubusercontent.com", self.repository, self.commit, self.folder)))
        return tuple(DataFile(name, f"sha256:{digest}", (f"{base}/{name}",)) for name, digest in sha256.items())

    @property
    def origin(self) -> str:
        """The folder's page on github.com, printed where files are fetched by hand."""
        return "/".join(filter(None, ("https://github.com", self.repository, "tree", self.commit, self.folder)))


@cache
def _catalog_json() -> dict[str, Any]:
    return json.loads(Path(__file__).with_name("catalog.json").read_text(encoding="utf-8"))


def _listed(name: str) -> tuple[DataFile, ...]:
    """A dataset's per-file list from ``catalog.json`` (sha256 per relative path; no base_url: manual)."""
    listing = _catalog_json()[name]
    base = listing["base_url"]
    return tuple(
        DataFile(path, f"sha256:{digest}", (base + path,) if base else ())
        for path, digest in listing["sha256"].items()
    )


# -- image sets ------------------------------------------------------------------------------
MNIST_CONTENT_SHA256 = {  # of the decompressed IDX bytes: any faithful copy, gzip or not, matches
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
MNIST = DatasetEntry(
    "mnist", input_kind="image", target_kinds=("classification",), reader="idx",
    class_names=tuple(str(d) for d in range(10)),
    files=tuple(
        DataFile(f"{stem}.gz", f"sha256:{digest}", (
            f"https://ossci-datasets.s3.amazonaws.com/mnist/{stem}.gz",
            f"http://yann.lecun.com/exdb/mnist/{stem}.gz",
        ), checksum_of="gunzipped", alternatives=(stem,))
        for stem, digest in MNIST_CONTENT_SHA256.items()
    ),
    origin="http://yann.lecun.com/exdb/mnist/ (or PyTorch's copy at https://ossci-datasets.s3.amazonaws.com/mnist/)",
    doc="""MNIST handwritten digits: 70,000 28x28 grayscale images, 10 classes (11 MB download).

    The classic first image-classification benchmark: 60,000 training and
    10,000 test images with their own test split (validation is carved from
    train). A small CNN passes 99% test accuracy in a few epochs.
    Files: the four gzip IDX files (plain, un-gzipped copies are accepted too).
    Their checksums are sha256 of the decompressed content, which every
    faithful copy shares whatever its gzip settings.
    Download: PyTorch's copy on S3, else Yann LeCun's page.
    Licence: none stated with the files.

    Reference: LeCun, Bottou, Bengio & Haffner (1998), "Gradient-based learning applied to document recognition".
    """ + ARGS.format(options=LOCATED, target_kind='"classification"'),
)

FASHION_MD5 = {  # published in the Fashion-MNIST README (it publishes no sha256)
    "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
    "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
    "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
    "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
}
FASHION_MNIST = DatasetEntry(
    "fashion-mnist", input_kind="image", target_kinds=("classification",), reader="idx",
    class_names=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                 "Ankle boot"),
    files=tuple(
        DataFile(name, f"md5:{digest}", (
            f"https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/{name}",
            f"http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/{name}",
        ))
        for name, digest in FASHION_MD5.items()
    ),
    origin="https://github.com/zalandoresearch/fashion-mnist (folder data/fashion)",
    doc="""Fashion-MNIST: 70,000 28x28 grayscale photos of clothing, 10 classes (30 MB download).

    A drop-in replacement for MNIST (same sizes, same IDX files) that is much
    harder: use it when MNIST is too easy to tell two models apart.
    Files: the four gzip IDX files, verified with the md5 digests the
    Fashion-MNIST README publishes (it publishes no sha256).
    Download: github zalandoresearch/fashion-mnist, data/fashion, else
    Zalando's S3 site (the md5 check holds either to the released files).
    Licence: MIT (Zalando Research).

    Reference: Xiao, Rasul & Vollgraf (2017), "Fashion-MNIST: a novel image dataset
    for benchmarking machine learning algorithms", arXiv:1708.07747.
    """ + ARGS.format(options=LOCATED, target_kind='"classification"'),
)

HYMENOPTERA = DatasetEntry(
    "hymenoptera", input_kind="image", target_kinds=("classification",), reader="image-folder",
    files=(DataFile(
        "hymenoptera_data.zip", "sha256:fbc41b31d544714d18dd1230b1e2b455e1557766e13e67f9f5a7a23af7c02209",
        ("https://download.pytorch.org/tutorial/hymenoptera_data.zip",),
        extract_prefix="hymenoptera_data/", provides=("train", "val"),
    ),),
    origin="https://download.pytorch.org/tutorial/hymenoptera_data.zip (unzip it; keep train/ and val/)",
    doc="""Ants vs. bees: 398 RGB photos in class folders, train 245 / val 153 (one zip download).

    A small ImageNet subset from PyTorch's transfer-learning tutorial: too
    few images to train a CNN from scratch, enough to fine-tune a pretrained
    one. Read by the image-folder reader (train/ and val/, one folder per class).
    Download: hymenoptera_data.zip, verified against the sha256 that PyTorch's
    tutorials record (pytorch/tutorials, .jenkins/download_data.py), then
    unpacked into train/ and val/. Any copy with that layout works, e.g. one
    downscaled to save space.
    Licence: none stated (ImageNet photos from Flickr).

    Reference: PyTorch tutorial "Transfer learning for computer vision" (Chilamkurthy, 2017).
    """ + ARGS.format(options=LOCATED + ", image_size, channels", target_kind='"classification"'),
)

ISBI_MEMBRANE = DatasetEntry(
    "isbi-membrane", input_kind="image", target_kinds=("segmentation",), awaiting_task="semantic segmentation",
    files=_listed("isbi-membrane"),
    origin="https://github.com/zhixuhao/unet/tree/b45af4d458437d8281cc218a07fd4380818ece4a/data/membrane",
    doc="""ISBI 2012 neuronal membranes: 30 electron-microscopy slices 512x512 with binary masks (13 MB).

    The dataset of the U-Net paper: train/image/N.png with train/label/N.png
    (masks of 0 and 255) and 30 unlabelled test/N.png slices. Files are
    located, verified and downloaded now; no task reads them yet (semantic
    segmentation arrives in a later release).
    Download: 90 PNGs from github zhixuhao/unet at commit b45af4d, data/membrane.
    Licence: MIT (the repository); the images come from the ISBI 2012 challenge.

    Reference: Arganda-Carreras et al. (2015), "Crowdsourcing the creation of image
    segmentation algorithms for connectomics"; Ronneberger, Fischer & Brox (2015), "U-Net".
    """ + ARGS.format(options=LOCATED, target_kind='"segmentation"'),
)

COCO128 = DatasetEntry(
    "coco128", input_kind="image", target_kinds=("detection", "segmentation"),
    awaiting_task="object detection and segmentation", files=_listed("coco128"),
    origin=("https://github.com/lightly-ai/coco128_yolo at commit 6d6f7a0 (the val2017 half), rearranged into "
            "images/, labels-detection/, labels-instance/, masks-semantic/ and classes-*.txt"),
    doc="""COCO128: 128 COCO val2017 images with YOLO boxes, instance polygons and semantic masks (22 MB).

    A tiny detection / segmentation set for checking a pipeline end to end:
    images/*.jpg; labels-detection/*.txt (class cx cy w h, normalised);
    labels-instance/*.txt (class and polygon, 100 images); masks-semantic/*.png
    (class-index masks, 100 images); class names in classes-*.txt. No task
    reads it yet (detection and segmentation arrive in a later release).
    Download: none automatic. shendu's layout rearranges lightly-ai/coco128_yolo,
    so its files are put in place by hand (the message lists each), or served
    by $SHENDU_DATASET_MIRROR; each is verified by sha256.
    Licence: COCO annotations CC BY 4.0; images under their Flickr licences.

    Reference: Lin et al. (2014), "Microsoft COCO: common objects in context".
    """ + ARGS.format(options=LOCATED, target_kind='"detection" or "segmentation"'),
)


# -- scikit-learn's bundled sets -------------------------------------------------------------------
def _bundled(name: str, input_kind: str, target_kind: str, doc: str) -> DatasetEntry:
    return DatasetEntry(name, doc + "\n" + ARGS.format(options="features" if input_kind == "tabular" else "no option",
                                                          target_kind=f'"{target_kind}"'),
                        input_kind=input_kind, target_kinds=(target_kind,), bundled_with="scikit-learn")


BUNDLED = (
    _bundled("digits", "image", "classification",
        """scikit-learn's digits: 1,797 images of 8x8 pixels, 10 classes; bundled, no download.

    The fastest real image set: a small CNN reaches ~97% accuracy in seconds
    on a CPU, which makes it shendu's demo and test workhorse. Pixel values are
    scaled from 0..16 to 0..255 so they are normalised like any other image.
    No own splits: test and validation are carved from it.
    """ + LICENCE_SKLEARN + """

    Reference: Alpaydin & Kaynak (1998), UCI "Optical recognition of handwritten digits".
    """),
    _bundled("iris", "tabular", "classification",
        """Fisher's iris flowers: 150 samples, 4 measurements, 3 species; bundled, no download.

    The smallest classic table: use it to check a tabular pipeline end to end.
    """ + LICENCE_SKLEARN + """

    Reference: Fisher (1936), "The use of multiple measurements in taxonomic problems".
    """),
    _bundled("wine", "tabular", "classification",
        """Wine recognition: 178 wines, 13 chemical measurements, 3 cultivars; bundled, no download.

    Features on very different scales (proline in the hundreds, hue near 1):
    shows why standardisation matters.
    """ + LICENCE_SKLEARN + """

    Reference: Forina et al., UCI "Wine" data set (1991).
    """),
    _bundled("breast-cancer", "tabular", "classification",
        """Wisconsin breast cancer: 569 samples, 30 features, malignant vs. benign; bundled, no download.

    A binary classification table with mild class imbalance (212 / 357).
    """ + LICENCE_SKLEARN + """

    Reference: Street, Wolberg & Mangasarian (1993), "Nuclear feature extraction for breast tumor diagnosis".
    """),
    _bundled("diabetes", "tabular", "regression",
        """Diabetes progression: 442 patients, 10 baseline measurements, one target; bundled, no download.

    The classic small regression table. The raw, unscaled version is used;
    shendu standardises features and the target ("disease_progression") on
    the training split.
    """ + LICENCE_SKLEARN + """

    Reference: Efron, Hastie, Johnstone & Tibshirani (2004), "Least angle regression".
    """),
)


# -- text sets -------------------------------------------------------------------------------------
SST2_HOME = GitHubFolder("forest-snow/alps", "3c7ef2c98249fc975a897b27f275695f97d5b7a9", "data/SST-2")
SST2 = DatasetEntry(
    "sst2", input_kind="text", target_kinds=("classification",), reader="text-tsv", hints={"target": "label"},
    files=SST2_HOME.files({
        "train.tsv": "920e317b2c52e12cd22db1da2c6708312bd7dc4f3712b9bbf1b50ee6c2c792ba",
        "dev.tsv": "92353770071a2a889f75d000a38a9e541ea8f0a5499e50f040b17917a5cbf66f",
        "test.tsv": "54a9c12c77e402fc14d6a66a506f24d999f596b0176eb777c972cccc2f9cc4b0",
    }),
    origin=SST2_HOME.origin,
    doc="""SST-2 movie-review sentiment: 68,221 sentences, positive vs. negative (TSV, 3.8 MB).

    The binary Stanford Sentiment Treebank as in GLUE: train.tsv 60,614 and
    dev.tsv 6,735 rows (GLUE's training set, split), test.tsv 872 rows
    (GLUE's labelled dev set); columns sentence and label. The standard first
    text-classification benchmark. Read by the text-tsv reader.
    Download: github forest-snow/alps at commit 3c7ef2c, data/SST-2.
    Licence: MIT (the repository); cite the treebank paper.

    Reference: Socher et al. (2013), "Recursive deep models for semantic compositionality over a sentiment treebank".
    """ + ARGS.format(options=LOCATED, target_kind='"classification"'),
)

CHAR_RNN = GitHubFolder("karpathy/char-rnn", "6f9487a6fe5b420b7ca9afb0d7c078e37c1d1b4e", "data/tinyshakespeare")
TINYSHAKESPEARE = DatasetEntry(
    "tinyshakespeare", input_kind="text", target_kinds=("language-model",), reader="text-lines",
    reader_path="input.txt",
    files=CHAR_RNN.files({"input.txt": "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"}),
    origin=CHAR_RNN.origin,
    doc="""Tiny Shakespeare: 1,115,394 characters of plays, 65 distinct characters (one 1.1 MB text file).

    The character-level language-modelling corpus of char-rnn and nanoGPT:
    small enough to train a model on a CPU, rich enough to show it learning
    words, names and verse. Read by the text-lines reader.
    Download: github karpathy/char-rnn at commit 6f9487a, data/tinyshakespeare.
    Licence: MIT (the repository); Shakespeare's text is in the public domain.

    Reference: Karpathy (2015), "The unreasonable effectiveness of recurrent neural networks".
    """ + ARGS.format(options=LOCATED, target_kind='"language-model"'),
)

MULTI30K_SHA256 = {
    "train.en.gz": "d79cfa999dd4c51d2cb42499b6796d5a882c3a8a961923c25a898c90f8bbd56f",
    "train.de.gz": "726e39b2fa9eb9ffb6dc763fb35a179f80fae06ffc5d28b6ace5faa883de28a6",
    "val.en.gz": "14f7d25ddd868909a9213e361768460edcacdd6ab9d1e77b92560dc10c10dc28",
    "val.de.gz": "f0cba2f995189cf5770f29a8a9a537a3ad3f51657ad873405082ff6863a5e75a",
    "test_2016_flickr.en.gz": "611d361c6334bc7246101d48097c13cf5c4413c5befc793cc629934359d532d9",
    "test_2016_flickr.de.gz": "9204244e408ccb38d2a55cfcd344df15005fc42a07a6e55ca6c52b6ababb8cc8",
}
MULTI30K_HOME = GitHubFolder("multi30k/dataset", "a3d2e0d", "data/task1/raw")
MULTI30K = DatasetEntry(
    "multi30k", input_kind="text", target_kinds=("sequence-to-sequence",), reader="text-pairs",
    files=MULTI30K_HOME.files(MULTI30K_SHA256), origin=MULTI30K_HOME.origin,
    doc="""Multi30K English-German: 31,014 aligned image captions for translation (6 gzip files, 1.3 MB).

    The small translation benchmark of many sequence-to-sequence tutorials:
    train 29,000, val 1,014 and test_2016_flickr 1,000 sentence pairs, one
    sentence per line, line N of the .en file aligned with line N of the .de
    file. Read by the text-pairs reader.
    Download: github multi30k/dataset at commit a3d2e0d, data/task1/raw.
    Licence: none stated; cite the paper.

    Reference: Elliott, Frank, Sima'an & Specia (2016), "Multi30K: multilingual English-German image descriptions".
    """ + ARGS.format(options=LOCATED, target_kind='"sequence-to-sequence"'),
)


# -- tables: series, multi-label, ranking ---------------------------------------------------------------
BROWNLEE = GitHubFolder("jbrownlee/Datasets", "d20fcb6402ae34e653d4513b00f39257bb37ed7f")
AIRLINE_PASSENGERS = DatasetEntry(
    "airline-passengers", input_kind="tabular", target_kinds=("regression",), reader="csv",
    reader_path="airline-passengers.csv", hints={"target": "Passengers", "split": "time", "time_column": "Month"},
    files=BROWNLEE.files({"airline-passengers.csv": "8cb51be753a718d9be5d76d7e238cc224792754676adc21faa59e954b0201621"}),
    origin=f"https://github.com/{BROWNLEE.repository}/blob/{BROWNLEE.commit}/airline-passengers.csv",
    doc="""Airline passengers: monthly international passengers (thousands), 1949-1960, 144 rows (CSV, 2 kB).

    The textbook forecasting series, with trend and multiplicative
    seasonality: the target is Passengers, splits follow time (Month).
    Read by the csv reader.
    Download: github jbrownlee/Datasets at commit d20fcb6.
    Licence: none stated.

    Reference: Box & Jenkins (1976), "Time series analysis: forecasting and control", series G.
    """ + ARGS.format(options=LOCATED + ", target, split", target_kind='"regression"'),
)

DAILY_MIN_TEMPERATURES = DatasetEntry(
    "daily-min-temperatures", input_kind="tabular", target_kinds=("regression",), reader="csv",
    reader_path="daily-min-temperatures.csv", hints={"target": "Temp", "split": "time", "time_column": "Date"},
    files=BROWNLEE.files(
        {"daily-min-temperatures.csv": "8b9de63ed6789492bf497625e7f9beb96a63d367b4b0a21754006f749fa5e5da"}),
    origin=f"https://github.com/{BROWNLEE.repository}/blob/{BROWNLEE.commit}/daily-min-temperatures.csv",
    doc="""Daily minimum temperatures in Melbourne, 1981-1990: 3,650 days in degrees Celsius (CSV, 68 kB).

    A longer, noisier series with yearly seasonality: the target is Temp,
    splits follow time (Date). Read by the csv reader.
    Download: github jbrownlee/Datasets at commit d20fcb6.
    Licence: none stated (source: Australian Bureau of Meteorology).

    Reference: Hyndman, Time Series Data Library, "Daily minimum temperatures in Melbourne".
    """ + ARGS.format(options=LOCATED + ", target, split", target_kind='"regression"'),
)

MEKA = GitHubFolder("Waikato/meka", "f9ffe23", "src/main/data")
SCENE = DatasetEntry(
    "scene", input_kind="tabular", target_kinds=("multilabel",), reader="arff", reader_path="Scene.arff.bz2",
    files=MEKA.files({"Scene.arff.bz2": "f560b40697d89803a6d260aa737e0879cf3699abb9a761f7cd3deab5c2a6d0a6"}),
    origin=MEKA.origin,
    doc="""Scene: 2,407 images as 294 colour features, 6 labels that may co-occur (ARFF, 2 MB).

    The classic multi-label benchmark (beach, sunset, fall foliage, field,
    mountain, urban): one image can be both beach and urban. The ARFF header
    "-C 6" marks the first 6 attributes as the labels. Read by the arff reader.
    Download: github Waikato/meka at commit f9ffe23, src/main/data.
    Licence: GPL-3.0 (the MEKA repository).

    Reference: Boutell, Luo, Shen & Brown (2004), "Learning multi-label scene classification".
    """ + ARGS.format(options=LOCATED, target_kind='"multilabel"'),
)

YEAST = DatasetEntry(
    "yeast", input_kind="tabular", target_kinds=("multilabel",), reader="arff", reader_path="Yeast.arff.bz2",
    files=MEKA.files({"Yeast.arff.bz2": "98da124ba009c4ee2f8323076d6ec13442e6eaedc66314e88f289375d3ef5ab5"}),
    origin=MEKA.origin,
    doc="""Yeast genes: 2,417 genes as 103 expression features, 14 functional classes that co-occur (ARFF, 0.7 MB).

    A multi-label set with many labels per sample (4.2 on average): where
    per-label thresholds and label correlations matter. The ARFF header
    "-C 14" marks the first 14 attributes as the labels. Read by the arff reader.
    Download: github Waikato/meka at commit f9ffe23, src/main/data.
    Licence: GPL-3.0 (the MEKA repository).

    Reference: Elisseeff & Weston (2001), "A kernel method for multi-labelled classification".
    """ + ARGS.format(options=LOCATED, target_kind='"multilabel"'),
)

MQ_RANK_SHA256 = {
    "rank.train": "a0c7201c89120879c14a5059e091f441cbf2a29b8aaef363885ccb1a530448df",
    "rank.train.query": "40cb5fef637229311cd30fab13cb7fb633b023e86a87ff04ec55db420143d6af",
    "rank.test": "3b1219ce117a0a36d2f76c02de7e7831c1d79af0d40f5195c03178bbe26c824b",
    "rank.test.query": "36dca82ba3bf99201bac3987b00a8fbf6fe5f563e9fa6d0da90e783710a32df4",
}
LAMBDARANK = GitHubFolder("microsoft/LightGBM", "bae0b7b", "examples/lambdarank")
MQ_RANK = DatasetEntry(
    "mq-rank", input_kind="tabular", target_kinds=("ranking",), reader="svmlight",
    files=LAMBDARANK.files(MQ_RANK_SHA256), origin=LAMBDARANK.origin,
    doc="""LightGBM's learning-to-rank example: 3,773 documents in 251 queries, 300 features, relevance 0-4 (3 MB).

    Train 3,005 documents / 201 queries and test 768 / 50, in SVMlight text
    ("relevance index:value ...") with .query files giving each query's
    document count: the smallest real set for LambdaRank-style training and
    NDCG evaluation. Read by the svmlight reader.
    Download: github microsoft/LightGBM at commit bae0b7b, examples/lambdarank.
    Licence: MIT (the LightGBM repository).

    Reference: Ke et al. (2017), "LightGBM: a highly efficient gradient boosting decision
    tree"; Burges (2010), "From RankNet to LambdaRank to LambdaMART".
    """ + ARGS.format(options=LOCATED, target_kind='"ranking"'),
)


# -- environments ------------------------------------------------------------------------------------------
CARTPOLE = DatasetEntry(
    "cartpole", input_kind="environment", target_kinds=("reinforcement",), environment="CartPole-v1",
    doc="""CartPole: balance a pole on a moving cart, a gymnasium environment (CartPole-v1), not a dataset.

    The first reinforcement-learning benchmark: 4 observations, 2 actions,
    reward 1 per step up to 500. Nothing to download or load as data: a
    reinforcement-learning task steps the environment itself.
    Licence: MIT (gymnasium).

    Reference: Barto, Sutton & Anderson (1983), "Neuronlike adaptive elements that can
    solve difficult learning control problems".
    """ + ARGS.format(options="no option", target_kind="none: environments have no targets"),
)

ENTRIES: tuple[DatasetEntry, ...] = (
    MNIST, FASHION_MNIST, *BUNDLED, SST2, TINYSHAKESPEARE, MULTI30K, ISBI_MEMBRANE, COCO128, HYMENOPTERA,
    AIRLINE_PASSENGERS, DAILY_MIN_TEMPERATURES, SCENE, YEAST, MQ_RANK, CARTPOLE,
)

__all__ = ["DatasetEntry", "ENTRIES", "GitHubFolder"]
