"""Images from folders and files: the ``image-folder`` source and Pillow decoding.

Decoding is done once, up front, into one uint8 tensor (N, C, H, W) of pixel
values 0..255; normalisation comes later (``shendu.data.preprocessing``). The
same decoding path serves training data and ``Preprocessing.encode_inputs`` at
predict time, so a model sees identical pixels in both.
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageOps

from shendu.data.formats_io import combined_fingerprint
from shendu.data.registry import DATASETS
from shendu.data.splits import RawData, RawSplit
from shendu.errors import DataError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp")
SPLIT_FOLDERS = {"train": "train", "val": "val", "valid": "val", "validation": "val", "test": "test"}
GRAYSCALE_MODES = {"1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"}
LUMA_WEIGHTS = (0.299, 0.587, 0.114)  # ITU-R 601, what Pillow's convert("L") uses


# -- files and layout ----------------------------------------------------------
def is_image_file(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in IMAGE_EXTENSIONS and not path.name.startswith(".")


def list_images(folder: Path) -> list[Path]:
    """Image files under ``folder`` (recursively), sorted by path."""
    return sorted(p for p in folder.rglob("*") if is_image_file(p))


def _subfolders(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def find_layout(root: Path) -> dict[str, Path]:
    """``{"train": root}`` for ``root/<class>/*``, or the split folders of ``root/{train,val,test}/<class>/*``."""
    splits = {SPLIT_FOLDERS[p.name.lower()]: p for p in _subfolders(root) if p.name.lower() in SPLIT_FOLDERS}
    if "train" in splits and _subfolders(splits["train"]):
        return splits
    return {"train": root}


def looks_like_image_folder(root: Path) -> bool:
    """True when some class subfolder of ``root`` (or of ``root/train``) holds an image."""
    for folder in find_layout(root).values():
        for class_folder in _subfolders(folder):
            if any(is_image_file(p) for p in class_folder.iterdir()):
                return True
    return False


def image_size_pair(image_size: Any) -> tuple[int, int] | None:
    """``128`` -> ``(128, 128)``; ``[96, 128]`` -> ``(96, 128)`` as (H, W); None stays None."""
    if image_size is None:
        return None
    pair = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
    if len(pair) != 2 or not all(isinstance(s, (int, np.integer)) and s > 0 for s in pair):
        raise DataError(
            f"data.image_size must be a positive integer or a pair [height, width]; received {image_size!r}. "
            "Set data.image_size=128, for example."
        )
    return int(pair[0]), int(pair[1])


# -- decoding ------------------------------------------------------------------
def prepare_image(image: Image.Image, size: tuple[int, int] | None, channels: str) -> np.ndarray:
    """Convert to ``channels``, resize the shorter side and center-crop to ``size`` (H, W).

    Returns uint8 (C, H, W).
    """
    if size is not None:
        height, width = size
        scale = max(height / image.height, width / image.width)
        # JPEG can decode at 1/2, 1/4 or 1/8 scale for free; only when that stays >= the target.
        image.draft(None, (int(image.width * scale) + 1, int(image.height * scale) + 1))
    image = image.convert("L" if channels == "grayscale" else "RGB")
    if size is not None and (image.height, image.width) != size:
        image = ImageOps.fit(image, (size[1], size[0]), method=Image.Resampling.BILINEAR)
    array = np.asarray(image, dtype=np.uint8)
    return array[None] if array.ndim == 2 else array.transpose(2, 0, 1)


def _probe(path: Path) -> tuple[tuple[int, int], str]:
    with Image.open(path) as image:
        return (image.height, image.width), image.mode


def _decode(item: Any, size: tuple[int, int] | None, channels: str) -> tuple[np.ndarray, str | None]:
    if isinstance(item, Image.Image):
        return prepare_image(item, size, channels), None
    with Image.open(item) as image:  # opened by path so Pillow's errors name the file
        array = prepare_image(image, size, channels)
    return array, hashlib.sha256(Path(item).read_bytes()).hexdigest()


def _attempt(function: Callable[..., Any], *args: Any) -> tuple[Any, str | None]:
    try:
        return function(*args), None
    except Exception as error:  # Pillow raises many types for bad files; each is reported per file
        return None, f"{type(error).__name__}: {error}"


def _run_all(function: Callable[..., Any], items: Sequence[Any], *args: Any) -> list[tuple[Any, str | None]]:
    # Pillow releases the GIL while decoding, so threads decode in parallel.
    with ThreadPoolExecutor() as pool:
        return list(pool.map(lambda item: _attempt(function, item, *args), items))


SKIP_HINT = "Fix or remove the file, or set data.on_error=skip to skip unreadable images."


def _handle_failures(
    items: Sequence[Any], results: list[tuple[Any, str | None]], on_error: str, fix: str = SKIP_HINT,
    where: Mapping[str, str] | None = None,
) -> list[str]:
    failed = [(str(item), reason) for item, (_, reason) in zip(items, results) if reason is not None]
    if failed and on_error == "raise":
        name, reason = failed[0]
        listed = f" (listed on {where[name]})" if where and name in where else ""
        raise DataError(f"Cannot read image {name}{listed}: {reason}. {fix}")
    for name, reason in failed:
        warnings.warn(f"Skipped unreadable image {name}: {reason}", stacklevel=3)
    return [name for name, _ in failed]


def decode_images(
    items: Sequence[Any], *, size: tuple[int, int] | None, channels: str, on_error: str = "raise",
    fix: str = SKIP_HINT, where: Mapping[str, str] | None = None,
) -> tuple[torch.Tensor, list[int], list[str | None]]:
    """Decode image files (or PIL images) into uint8 (N, C, H, W), in parallel.

    Returns the tensor, the positions in ``items`` that were kept (all of them
    unless ``on_error="skip"``) and each kept file's sha256. ``where`` names
    where a file was listed, for errors (see :func:`load_image_files`).
    """
    results = _run_all(_decode, items, size, channels)
    _handle_failures(items, results, on_error, fix, where)
    kept = [i for i, (_, reason) in enumerate(results) if reason is None]
    arrays = [results[i][0][0] for i in kept]
    shapes = {a.shape for a in arrays}
    if len(shapes) > 1:  # only possible with size=None and files that lied in their headers
        raise DataError(f"Images decoded to different shapes {sorted(shapes)}; set data.image_size=128 (for example).")
    num_channels = 1 if channels == "grayscale" else 3
    height, width = size if size is not None else (arrays[0].shape[1:] if arrays else (0, 0))
    tensor = torch.from_numpy(np.stack(arrays)) if arrays else torch.zeros(0, num_channels, height, width, dtype=torch.uint8)
    return tensor, kept, [results[i][0][1] for i in kept]


# -- predict-time inputs -------------------------------------------------------
def _as_item_list(raw: Any) -> list[Any] | None:
    """A list of files / PIL images, or None when ``raw`` is an array."""
    if isinstance(raw, (str, Path)):
        path = Path(raw)
        if path.is_dir():
            files = list_images(path)
            if not files:
                raise DataError(f"No image files found in {path}; expected files ending in {', '.join(IMAGE_EXTENSIONS)}.")
            return files
        return [path]
    if isinstance(raw, Image.Image):
        return [raw]
    if isinstance(raw, (list, tuple)) and all(isinstance(r, (str, Path, Image.Image)) for r in raw):
        for item in raw:
            if isinstance(item, (str, Path)) and not Path(item).is_file():
                raise DataError(f"Image file {item} does not exist. Check the path.")
        return list(raw)
    return None


def _array_layout(tensor: torch.Tensor, size: tuple[int, int], num_channels: int) -> torch.Tensor:
    """(N, H, W), (N, C, H, W) or (N, H, W, C) -> (N, C, H, W)."""
    if tensor.ndim == 3:
        return tensor[:, None]
    if tensor.ndim == 4:
        shape = tuple(tensor.shape[1:])
        if shape == (num_channels, *size) or (shape[0] in (1, 3) and shape != (*size, num_channels)):
            return tensor
        if shape[2] in (1, 3):
            return tensor.permute(0, 3, 1, 2)
    raise DataError(
        f"Expected images shaped (N, H, W), (N, C, H, W) or (N, H, W, C) with C = 1 or 3; "
        f"received an array of shape {tuple(tensor.shape)}. Reshape it, or pass image file paths."
    )


def images_from_array(array: Any, size: tuple[int, int], channels: str) -> torch.Tensor:
    """Raw pixel arrays (values 0..255) -> (N, C, H, W), converted and resized like training images."""
    if isinstance(array, np.ndarray):  # copy read-only arrays (np.frombuffer) that torch cannot share
        array = np.array(array) if not array.flags.writeable else np.ascontiguousarray(array)
    tensor = torch.from_numpy(array) if isinstance(array, np.ndarray) else array
    if not isinstance(tensor, torch.Tensor) or not (tensor.dtype.is_floating_point or tensor.dtype == torch.uint8):
        raise DataError(
            f"Expected image files, PIL images, or a numeric array of pixels 0..255; received {type(array).__name__}"
            f"{' of dtype ' + str(tensor.dtype) if isinstance(tensor, torch.Tensor) else ''}."
        )
    num_channels = 1 if channels == "grayscale" else 3
    tensor = _array_layout(tensor, size, num_channels)
    if tensor.dtype.is_floating_point and tensor.numel() and float(tensor.max()) <= 1.0:
        warnings.warn("The image values are all <= 1; encode_inputs expects raw pixels 0..255.", stacklevel=3)
    if tensor.shape[1] != num_channels:
        if num_channels == 1:
            weights = torch.tensor(LUMA_WEIGHTS, device=tensor.device).view(1, 3, 1, 1)
            tensor = (tensor.float() * weights).sum(dim=1, keepdim=True)
        else:
            tensor = tensor.expand(-1, 3, -1, -1)
    if tuple(tensor.shape[2:]) != size:
        # Resize through Pillow, as the training images were, so predictions see the same pixels.
        pixels = tensor.float().round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
        mode = "L" if num_channels == 1 else "RGB"
        items = [Image.fromarray(p[..., 0] if num_channels == 1 else p, mode=mode) for p in pixels]
        tensor = torch.from_numpy(np.stack([prepare_image(i, size, channels) for i in items]))
    return tensor


def images_from_inputs(raw: Any, size: tuple[int, int], channels: str) -> torch.Tensor:
    """Files, PIL images or pixel arrays -> (N, C, H, W) pixels 0..255, as the run was trained on."""
    items = _as_item_list(raw)
    if items is None:
        return images_from_array(raw, size, channels)
    tensor, _, _ = decode_images(items, size=size, channels=channels, fix="Pass a readable image file.")
    return tensor


# -- the image-folder source -------------------------------------------------------
def _files_by_split(root: Path) -> tuple[dict[str, list[tuple[Path, str]]], list[str]]:
    """(split -> [(file, class name)], sorted class names) for an image folder."""
    layout = find_layout(root)
    files: dict[str, list[tuple[Path, str]]] = {}
    for split, folder in layout.items():
        classes = _subfolders(folder)
        if not classes:
            loose = [p.name for p in folder.iterdir() if is_image_file(p)][:3]
            found = f"images directly in it ({', '.join(loose)}...)" if loose else "no class subfolders"
            raise DataError(
                f"{folder} has {found}; expected one subfolder per class holding its images "
                "(root/<class>/*.jpg or root/train/<class>/*.jpg)."
            )
        files[split] = [(path, c.name) for c in classes for path in list_images(c)]
        if not files[split]:
            raise DataError(
                f"No images found under {folder}; expected files ending in {', '.join(IMAGE_EXTENSIONS)} "
                "inside its class subfolders."
            )
    class_names = sorted({name for entries in files.values() for _, name in entries})
    return files, class_names


def _choose_size(paths: list[Path], probes: list[tuple[Any, str | None]], image_size: Any) -> tuple[int, int]:
    size = image_size_pair(image_size)
    if size is not None:
        return size
    sizes: dict[tuple[int, int], Path] = {}
    for path, (probe, _) in zip(paths, probes):
        if probe is not None:
            sizes.setdefault(probe[0], path)
    if not sizes:
        raise DataError(f"None of the {len(paths)} image files could be read; see the warnings above.")
    if len(sizes) > 1:
        (size_a, file_a), (size_b, file_b) = list(sizes.items())[:2]
        raise DataError(
            f"The images have different sizes, e.g. {file_a} is {size_a[1]}x{size_a[0]} and {file_b} is "
            f"{size_b[1]}x{size_b[0]} (width x height); expected one size or a target size. "
            "Set data.image_size=128 (for example) to resize them all."
        )
    return next(iter(sizes))


def load_image_files(
    paths: list[Path], *, image_size: Any, channels: str | None, on_error: str,
    where: Mapping[str, str] | None = None,
) -> tuple[torch.Tensor, list[Path], list[str | None], tuple[int, int], str, list[str]]:
    """Probe, then decode image files into one uint8 tensor: the shared core of the image sources.

    Channels default to "rgb" if any image is colour, else "grayscale"; the
    size to ``image_size`` or, when unset, the one size all images share.
    ``where`` maps a file to where it was listed ("line 7 of labels.csv") for
    error messages. Returns (tensor (N, C, H, W), kept paths, their sha256s,
    size, channels, skipped file names).
    """
    probes = _run_all(_probe, paths)
    skipped = _handle_failures(paths, probes, on_error, where=where)
    channels = channels or (
        "rgb" if any(p is not None and p[1] not in GRAYSCALE_MODES for p, _ in probes) else "grayscale"
    )
    size = _choose_size(paths, probes, image_size)
    readable = [path for path, (_, reason) in zip(paths, probes) if reason is None]
    tensor, kept, hashes = decode_images(readable, size=size, channels=channels, on_error=on_error, where=where)
    kept_paths = [readable[i] for i in kept]
    skipped += [str(p) for p in sorted(set(readable) - set(kept_paths))]
    return tensor, kept_paths, hashes, size, channels, skipped


@DATASETS.register("image-folder", input_kind="image", target_kinds=("classification",))
def image_folder(config: Any, *, target_kind: str = "classification") -> RawData:
    """Images in class subfolders: ``root/<class>/*`` or ``root/{train,val,test}/<class>/*``.

    Use it for your own photos: one folder per class (the torchvision
    ImageFolder layout). Files ending in jpg, jpeg, png, bmp, gif or webp are
    decoded once with Pillow (in parallel threads), converted to
    ``data.channels`` (default: "rgb" if any image is colour, else "grayscale")
    and, when ``data.image_size`` is set, resized on the shorter side and
    center-cropped to it. Unreadable files raise, or with ``data.on_error=skip``
    are skipped with a warning. Class names are the sorted subfolder names.

    Args:
        config: the run's ``DataConfig`` (path, image_size, channels, on_error).
        target_kind: must be "classification".
    """
    if not config.path:
        raise DataError("The image-folder source needs data.path; received none. Set data.path=path/to/images.")
    root = Path(config.path).expanduser().resolve()
    if not root.is_dir():
        raise DataError(f"data.path {root} is not a directory; expected a folder of class subfolders of images.")
    files, class_names = _files_by_split(root)
    paths = [path for entries in files.values() for path, _ in entries]
    tensor, kept_paths, hashes, size, channels, skipped = load_image_files(
        paths, image_size=config.image_size, channels=config.channels, on_error=config.on_error
    )
    if skipped:
        warnings.warn(f"Skipped {len(skipped)} unreadable image(s) of {len(paths)} under {root}.", stacklevel=2)
    description = {
        "source": "image-folder", "path": str(root),
        "layout": "class subfolders" if find_layout(root) == {"train": root} else "split folders " + ", ".join(files),
        "image_size": list(size), "channels": channels, "num_files": len(kept_paths), "skipped_files": skipped,
    }
    return _folder_data(root, files, class_names, kept_paths, tensor, hashes, description)


def _folder_data(
    root: Path, files: dict[str, list[tuple[Path, str]]], class_names: list[str], kept_paths: list[Path],
    tensor: torch.Tensor, hashes: list[str | None], description: dict[str, Any],
) -> RawData:
    """Assemble the splits (rows of ``tensor`` in ``kept_paths`` order) and the description."""
    row_of = {path: row for row, path in enumerate(kept_paths)}
    class_index = {name: i for i, name in enumerate(class_names)}
    splits, counts = {}, {}
    for split, entries in files.items():
        rows = [row_of[p] for p, _ in entries if p in row_of]
        labels = np.array([class_index[c] for p, c in entries if p in row_of], dtype=np.int64)
        splits[split] = RawSplit(tensor[torch.tensor(rows, dtype=torch.long)], labels)
        counts[split] = {name: int((labels == i).sum()) for i, name in enumerate(class_names)}
    description["class_counts"] = counts
    description["fingerprints"] = {  # one digest over relative paths and file sha256s
        "images": combined_fingerprint((p.relative_to(root).as_posix(), h) for p, h in zip(kept_paths, hashes))
    }
    return RawData("image", splits, class_names=class_names, description=description)


__all__ = [
    "IMAGE_EXTENSIONS", "image_folder", "decode_images", "prepare_image", "images_from_inputs",
    "images_from_array", "image_size_pair", "find_layout", "looks_like_image_folder", "list_images",
    "load_image_files", "is_image_file",
]
