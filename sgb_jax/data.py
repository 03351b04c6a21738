"""Image data sets (MNIST, Fashion-MNIST, CIFAR-10) as NumPy arrays, online or from raw archives.

`load(name, split)` returns images float32 in [0, 1] shaped (N, H, W, C) and labels int32.

Sources, in order of preference:
  * a cached `.npz` under `<data_dir>/sgb_arrays/` written by an earlier call (fast path, no TF);
  * offline raw folder (`raw_dir` argument or env `SGB_RAW_DATA`): the stock tfds builders prepare
    MNIST / Fashion-MNIST from the original archives in `<raw>/<name>/` with checksums validated;
    CIFAR-10 is decoded from `<raw>/cifar10_jpeg.tar.gz` (JPEG re-encodings of the originals,
    labelled "CIFAR-10 (JPEG)", sha256 checked);
  * otherwise the stock tfds builder downloads as usual.
`data_dir` defaults to env `SGB_DATA_DIR`, else `~/tensorflow_datasets`.
"""

from __future__ import annotations

import hashlib
import io
import os
import socket
import tarfile
import tempfile
from pathlib import Path
from types import ModuleType
from urllib.parse import urlparse

import numpy as np

NAMES = ("mnist", "fashion_mnist", "cifar10")
SPLITS = ("train", "test")
RAW_ENV = "SGB_RAW_DATA"
DATA_ENV = "SGB_DATA_DIR"

# Standard CIFAR-10 label order (index = label).
CIFAR10_CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer",
    "dog", "frog", "horse", "ship", "truck",
)  # fmt: skip
CIFAR10_JPEG_ARCHIVE = "cifar10_jpeg.tar.gz"
CIFAR10_JPEG_SHA256 = "d34c68f61cca57aa9144c8f25bda427abb9921bd642d5857a2fc1a6b4416f965"

IDX_FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)
_LABELS = {"mnist": "MNIST", "fashion_mnist": "Fashion-MNIST", "cifar10": "CIFAR-10"}
# One host per data set to probe before an online download, so a machine without internet
# fails in seconds instead of waiting on tfds' retries.
_DOWNLOAD_URLS = {
    "mnist": "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "fashion_mnist": "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    "cifar10": "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz",
}
_PROBE_TIMEOUT_S = 5.0


class DataError(RuntimeError):
    """A data set is neither prepared nor obtainable; the message says how to supply it."""


def _how_to(name: str, reason: str) -> str:
    layout = (
        f"       <raw>/{CIFAR10_JPEG_ARCHIVE}  (train/<class>/*.jpg, test/<class>/*.jpg)"
        if name == "cifar10"
        else "\n".join(f"       <raw>/{name}/{f}" for f in IDX_FILES)
    )
    return (
        f"Data set '{name}' is not available: {reason}\n"
        "Supply it in one of two ways:\n"
        f"  1. offline: set {RAW_ENV}=<raw> (or pass raw_dir=<raw>) to a folder with the original"
        " archives laid out as\n"
        f"{layout}\n"
        "     (in this project ../shared/data/README.md lists the files and their sha256 sums);\n"
        f"  2. online: run with internet access and without {RAW_ENV}; tensorflow-datasets"
        " downloads the data itself.\n"
        f"Prepared data is stored under data_dir (env {DATA_ENV}, default ~/tensorflow_datasets)."
    )


def _validate(name: str, split: str | None = None) -> None:
    if name not in NAMES:
        raise ValueError(f"data set name must be one of {NAMES}, got {name!r}")
    if split is not None and split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")


def default_data_dir() -> Path:
    """Where prepared data lives: env SGB_DATA_DIR, else ~/tensorflow_datasets."""
    return Path(os.environ.get(DATA_ENV) or Path.home() / "tensorflow_datasets").expanduser()


def resolve_raw_dir(raw_dir: str | os.PathLike | None = None) -> Path | None:
    """The offline raw folder: the argument, else env SGB_RAW_DATA, else None (online)."""
    raw = raw_dir if raw_dir is not None else os.environ.get(RAW_ENV) or None
    return Path(raw).expanduser() if raw is not None else None


def dataset_label(name: str, raw_dir: str | os.PathLike | None = None) -> str:
    """Human-readable name for reports; CIFAR-10 read from the JPEG copy is labelled as such."""
    _validate(name)
    if name == "cifar10" and resolve_raw_dir(raw_dir) is not None:
        return "CIFAR-10 (JPEG)"
    return _LABELS[name]


def _import_tfds() -> ModuleType:
    # Lazy: TF costs seconds to import, and the cached-array path needs none of it.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf
    import tensorflow_datasets as tfds

    # TF is only a data reader here; keep it off accelerators so it cannot grab JAX's GPU memory.
    try:
        tf.config.set_visible_devices([], "GPU")
    except RuntimeError:  # TF already initialised its devices elsewhere; leave them as they are
        pass
    tfds.disable_progress_bar()  # per-file bars flood the training logs
    return tfds


def _cache_path(data_dir: Path, name: str, split: str, jpeg: bool) -> Path:
    tag = f"{name}_jpeg" if jpeg else name
    return data_dir / "sgb_arrays" / tag / f"{split}.npz"


def _save_npz(path: Path, images: np.ndarray, labels: np.ndarray) -> None:
    # Write-then-rename so an interrupted run never leaves a truncated cache behind.
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npz.tmp")
    os.close(fd)
    os.chmod(tmp, 0o644)  # mkstemp's 0600 would hide a shared data dir from other users
    try:
        with open(tmp, "wb") as f:  # a file object stops savez from appending ".npz"
            np.savez(f, images=images, labels=labels)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _to_arrays(batch: dict) -> tuple[np.ndarray, np.ndarray]:
    images = np.asarray(batch["image"], dtype=np.uint8)
    labels = np.asarray(batch["label"], dtype=np.int32)
    if images.ndim != 4 or labels.shape != (images.shape[0],):
        raise DataError(f"unexpected array shapes images {images.shape}, labels {labels.shape}")
    return images, labels


def _check_online(name: str) -> None:
    url = urlparse(_DOWNLOAD_URLS[name])
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        socket.create_connection((url.hostname, port), timeout=_PROBE_TIMEOUT_S).close()
    except OSError as err:
        raise DataError(
            _how_to(name, f"no {RAW_ENV} / raw_dir given and {url.hostname} is unreachable ({err})")
        ) from err


def _prepare_tfds(name: str, split: str, data_dir: Path, raw: Path | None) -> dict:
    """Stock tfds builder; offline from `<raw>/<name>/` archives with checksums validated."""
    prepared = any((data_dir / name).glob("*/dataset_info.json"))
    if raw is not None and not prepared:
        folder = raw / name
        missing = [f for f in IDX_FILES if not (folder / f).is_file()]
        if missing:
            raise DataError(_how_to(name, f"{folder} lacks {', '.join(missing)}"))
    tfds = _import_tfds()
    builder = tfds.builder(name, data_dir=str(data_dir))
    try:
        if raw is not None and not prepared:
            config = tfds.download.DownloadConfig(
                manual_dir=str(raw / name),
                # tfds reuses extractions by file name: MNIST and Fashion-MNIST share file
                # names, so each data set needs its own extract dir or they silently mix.
                extract_dir=str(data_dir / "downloads" / "extracted" / name),
                force_checksums_validation=True,
            )
            builder.download_and_prepare(download_config=config)
        else:
            if not prepared:
                _check_online(name)
            builder.download_and_prepare()
    except DataError:
        raise
    except Exception as err:  # tfds raises many types (network, checksum, missing file)
        raise DataError(_how_to(name, f"tensorflow-datasets failed: {err}")) from err
    return tfds.as_numpy(builder.as_dataset(split=split, batch_size=-1, shuffle_files=False))


def _read_cifar_jpeg(split: str, raw: Path) -> dict:
    """CIFAR-10 JPEG re-encodings (`split/<class>/*.jpg`) decoded straight from the archive.

    Streaming the tar replaces extract-then-ImageFolder: writing 60k small files took 10-40 s
    here, while one pass over the 20 MB archive takes a few; the arrays are cached afterwards.
    """
    archive = raw / CIFAR10_JPEG_ARCHIVE
    if not archive.is_file():
        raise DataError(_how_to("cifar10", f"{archive} does not exist"))
    blob = archive.read_bytes()
    digest = hashlib.sha256(blob).hexdigest()
    if digest != CIFAR10_JPEG_SHA256:
        raise DataError(
            _how_to("cifar10", f"{archive} has sha256 {digest}, expected {CIFAR10_JPEG_SHA256}")
        )
    encoded: dict[str, bytes] = {}
    classes: set[str] = set()
    with tarfile.open(fileobj=io.BytesIO(blob), mode="r:gz") as tar:
        for member in tar:
            parts = member.name.strip("/").split("/")
            if len(parts) == 3 and parts[0] == split and member.isfile():
                classes.add(parts[1])
                encoded[member.name] = tar.extractfile(member).read()  # type: ignore[union-attr]
    # Labels come from folder names, so they must be exactly the ten CIFAR-10 classes.
    if classes != set(CIFAR10_CLASSES):
        raise DataError(
            _how_to("cifar10", f"{archive}:{split}/ has class folders {sorted(classes)}")
        )
    _import_tfds()  # configures TF (CPU only, quiet) before it decodes
    import tensorflow as tf

    paths = sorted(encoded)
    images = np.stack([tf.io.decode_jpeg(encoded[p], channels=3).numpy() for p in paths])
    labels = np.array([CIFAR10_CLASSES.index(p.split("/")[-2]) for p in paths], dtype=np.int32)
    # Fixed shuffle so that a prefix x[:n] is not a single class (the archive is class-sorted).
    order = np.random.default_rng(0).permutation(len(paths))
    return {"image": images[order], "label": labels[order]}


def load(
    name: str,
    split: str,
    *,
    data_dir: str | os.PathLike | None = None,
    raw_dir: str | os.PathLike | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Images float32 in [0, 1] shaped (N, H, W, C) and labels int32 for `name`/`split`.

    Raises ValueError for an unknown name/split and DataError when the data cannot be supplied.
    """
    _validate(name, split)
    data = Path(data_dir).expanduser() if data_dir is not None else default_data_dir()
    raw = resolve_raw_dir(raw_dir)
    jpeg = name == "cifar10" and raw is not None
    cache = _cache_path(data, name, split, jpeg)
    if cache.is_file():
        with np.load(cache) as f:
            images, labels = f["images"], f["labels"]
    else:
        if jpeg:
            batch = _read_cifar_jpeg(split, raw)  # type: ignore[arg-type]
        else:
            batch = _prepare_tfds(name, split, data, raw)
        images, labels = _to_arrays(batch)
        _save_npz(cache, images, labels)
    # Cached as uint8 (4x smaller); scaled on every load.
    return images.astype(np.float32) / np.float32(255.0), labels.astype(np.int32)
