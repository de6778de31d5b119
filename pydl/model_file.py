"""The model file: a network's whole state as data, never code.

Layout (the `safetensors <https://github.com/huggingface/safetensors>`_ layout, written and
read with NumPy alone):

    8 bytes     N, the header's length, unsigned little-endian
    N bytes     the header: UTF-8 JSON, padded with spaces to a multiple of 8 bytes
    the rest    every array's raw little-endian C-order bytes, back to back

The header maps each array's name to ``{"dtype": "F32"|"F64"|"I64", "shape": [...],
"data_offsets": [begin, end]}`` and holds ``"__metadata__"``: ``format`` ("pydl.model"),
``format_version``, ``pydl`` (the network's description and training state as JSON, built
only from numbers, strings and names from pydl's fixed vocabularies) and ``sha256`` (a
checksum of everything else in the file). Readers bound every size by the file's size,
reject duplicate keys, unknown names and versions, and copy into owned arrays; nothing in a
file is ever executed or unpickled. Writers go through a temporary file in the same
directory, flushed and fsync'ed, renamed over the target: a file on disk is always complete.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import struct
import tempfile

import numpy as np

FORMAT = "pydl.model"
FORMAT_VERSION = 1
_MAX_HEADER = 16 << 20          # the header holds no arrays: 16 MiB is far more than enough
_DTYPES = {"F32": np.dtype("<f4"), "F64": np.dtype("<f8"), "I64": np.dtype("<i8")}
_DTYPE_NAMES = {np.dtype(np.float32): "F32", np.dtype(np.float64): "F64",
                np.dtype(np.int64): "I64"}
_HISTORY_FLOATS = ("cost", "learning_rate", "step_cost", "step_learning_rate", "dev_cost",
                   "dev_accuracy")


class ModelFileError(ValueError):
    """A model file (or bytes) that pydl cannot load: the message says what is wrong."""


# ---- writing ------------------------------------------------------------------------------

def to_bytes(net, training_state=True):
    """The model file of `net` as bytes (see the module docstring)."""
    description, arrays = _network_state(net, training_state)
    tensors, offset, chunks = {}, 0, []
    for name, a in arrays.items():
        kind = _DTYPE_NAMES[a.dtype]
        raw = np.ascontiguousarray(a, dtype=_DTYPES[kind]).tobytes()  # little-endian, C order
        tensors[name] = {"dtype": kind,
                         "shape": list(a.shape), "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    data = b"".join(chunks)
    header = {"__metadata__": {"format": FORMAT, "format_version": str(FORMAT_VERSION),
                               "pydl": json.dumps(description, allow_nan=False,
                                                  separators=(",", ":"))},
              **tensors}
    header["__metadata__"]["sha256"] = _checksum(header, data)
    text = json.dumps(header, allow_nan=False, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + data


def save(net, file, training_state=True):
    """Write `net` to `file` (a path, atomically, or a binary file-like object)."""
    blob = to_bytes(net, training_state)
    if hasattr(file, "write"):
        file.write(blob)
    else:
        write_atomic(file, blob)


def write_atomic(path, blob):
    """Write bytes to `path` so that a crash at any instant leaves the old complete file or
    the new complete one: a temporary file in the same directory, flushed and fsync'ed, then
    renamed over `path` (and the directory fsync'ed, so the rename itself is durable)."""
    try:
        path = os.fspath(path)
    except TypeError:
        raise TypeError(f"file must be a path or a binary file-like object, "
                        f"got {type(path).__name__}") from None
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".pydl-", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(blob)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    if hasattr(os, "O_DIRECTORY"):  # POSIX: make the rename durable
        dfd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


def _checksum(header, data):
    """SHA-256 of the header's content (sha256 itself left out, key order and whitespace
    canonical) and of the data bytes."""
    meta = {k: v for k, v in header["__metadata__"].items() if k != "sha256"}
    canon = json.dumps({**header, "__metadata__": meta}, sort_keys=True, allow_nan=False,
                       separators=(",", ":")).encode("utf-8")
    h = hashlib.sha256(canon)
    h.update(data)
    return h.hexdigest()


def _network_state(net, training_state):
    """(description, arrays): everything `from_bytes` needs to rebuild `net`."""
    description = {
        "network": {"layer_dims": net.layer_dims, "activations": net.activations,
                    "leaky_slope": net.leaky_slope, "keep_probs": net.keep_probs,
                    "dtype": net.dtype.name, "init": net.init, "seed": net.seed,
                    "train_seed": net._train_seed, "n_threads": net.n_threads},
        "normalizer": None, "training": None,
    }
    arrays = {"theta": net.theta}
    norm = net.normalizer
    if norm is not None:
        description["normalizer"] = {"epsilon": float(norm.epsilon)}
        arrays["normalizer.mean"] = np.asarray(norm.mean_, dtype=np.float64)
        arrays["normalizer.var"] = np.asarray(norm.var_, dtype=np.float64)
    if not training_state:
        return description, arrays
    training = {"epochs_trained": net.epochs_trained, "optimizer": None, "lr_schedule": None,
                "early_stopping": None}
    opt = net.optimizer
    if opt is not None:
        training["optimizer"] = {"kind": _kind_of(opt, _optimizers(), "optimizer"),
                                 "params": opt._params(), "t": int(opt.t)}
        for name in ("v", "s"):
            if getattr(opt, name) is not None:
                arrays[f"optimizer.{name}"] = getattr(opt, name)
    if net.lr_schedule is not None:
        training["lr_schedule"] = {"kind": _kind_of(net.lr_schedule, _schedules(), "lr_schedule"),
                                   "params": net.lr_schedule._params()}
    stop = net.early_stopping
    if stop is not None:
        training["early_stopping"] = {
            "params": stop._params(), "best_epoch": stop.best_epoch,
            "best_cost": stop.best_cost if math.isfinite(stop.best_cost) else None,
            "stopped_epoch": stop.stopped_epoch, "waited": stop._waited}
        if stop._best_theta is not None:
            arrays["early_stopping.best_theta"] = stop._best_theta
    h = net.history
    training["history"] = {"best_epoch": h.best_epoch, "stopped_epoch": h.stopped_epoch,
                           "wall_time": float(h.wall_time)}
    arrays["history.epochs"] = np.array(h.epochs, dtype=np.int64)
    for name in _HISTORY_FLOATS:
        arrays[f"history.{name}"] = np.array(getattr(h, name), dtype=np.float64)
    description["training"] = training
    return description, arrays


def _optimizers():
    from pydl import optimizers
    return {c.__name__: c for c in (optimizers.GradientDescent, optimizers.Momentum,
                                    optimizers.RMSprop, optimizers.Adam)}


def _schedules():
    from pydl import schedules
    return {c.__name__: c for c in (schedules.Constant, schedules.InverseDecay,
                                    schedules.StaircaseDecay, schedules.ExponentialDecay,
                                    schedules.SqrtEpochDecay, schedules.SqrtStepDecay)}


def _kind_of(obj, vocabulary, what):
    name = type(obj).__name__
    if vocabulary.get(name) is not type(obj):
        raise ValueError(f"cannot save the {what} {obj!r}: a model file holds only pydl's own "
                         f"({', '.join(vocabulary)}); save with training_state=False")
    return name


# ---- reading ------------------------------------------------------------------------------

def load(file):
    """A `pydl.Network` from a model file: a path or a binary file-like object.

    Raises
    ------
    ModelFileError (a ValueError)
        The file is not a pydl model file, was written by a newer format version, is
        truncated or corrupted, or describes an impossible network.
    """
    if hasattr(file, "read"):
        blob = file.read()
        if not isinstance(blob, (bytes, bytearray, memoryview)):
            raise TypeError("file must be opened in binary mode ('rb')")
    else:
        try:
            path = os.fspath(file)
        except TypeError:
            raise TypeError(f"file must be a path or a binary file-like object, "
                            f"got {type(file).__name__}") from None
        with open(path, "rb") as f:
            blob = f.read()
    return from_bytes(bytes(blob))


def from_bytes(blob):
    """A `pydl.Network` from the bytes of a model file (see `load`)."""
    description, arrays = _parse(blob)
    try:
        return _build(description, arrays)
    except ModelFileError:
        raise
    except (TypeError, ValueError, KeyError) as exc:
        raise ModelFileError(f"not a valid pydl model: {exc}") from None


def _parse(blob):
    """(description, arrays) from the file's bytes, every size and name checked."""
    if len(blob) < 8:
        raise ModelFileError(f"not a pydl model file: {len(blob)} bytes, too short for a header")
    (n,) = struct.unpack("<Q", blob[:8])
    if n > _MAX_HEADER or 8 + n > len(blob):
        raise ModelFileError(f"not a pydl model file (or a truncated one): its header claims "
                             f"{n} bytes, the file has {len(blob) - 8} after the length")
    try:
        header = json.loads(blob[8:8 + n].decode("utf-8"), object_pairs_hook=_no_duplicates,
                            parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:  # JSON, huge ints, duplicates
        raise ModelFileError(f"not a pydl model file: its header is not valid JSON ({exc})") \
            from None
    meta = header.get("__metadata__") if isinstance(header, dict) else None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ModelFileError(f"not a pydl model file: its header does not say format "
                             f"{FORMAT!r}")
    version = meta.get("format_version")
    if not (isinstance(version, str) and version.isdigit() and len(version) < 10):
        raise ModelFileError(f"bad format_version {version!r} in the header")
    if int(version) > FORMAT_VERSION:
        raise ModelFileError(
            f"this model file has format version {int(version)}; this pydl reads versions "
            f"1 to {FORMAT_VERSION}: upgrade pydl to load it")
    if int(version) < 1:
        raise ModelFileError(f"bad format_version {version!r} in the header")
    data = memoryview(blob)[8 + n:]
    arrays, spans = {}, []
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        arrays[name] = entry
        spans.append(_check_entry(name, entry, len(data)))
    spans.sort()
    end = 0
    for begin, stop, name in spans:
        if begin != end:
            raise ModelFileError(f"array {name!r} starts at byte {begin} of the data, "
                                 f"expected {end}: the arrays must tile the data")
        end = stop
    if end != len(data):
        raise ModelFileError(f"the arrays cover {end} bytes of data, the file holds "
                             f"{len(data)}: truncated or corrupted")
    if meta.get("sha256") != _checksum(header, data):
        raise ModelFileError("checksum mismatch: the file is corrupted")
    for name, entry in arrays.items():
        begin, stop = entry["data_offsets"]
        dtype = _DTYPES[entry["dtype"]]
        a = np.frombuffer(data[begin:stop], dtype=dtype).reshape(entry["shape"])
        arrays[name] = a.astype(dtype.newbyteorder("="), copy=True)  # owned, aligned, native
    try:
        description = json.loads(meta["pydl"], parse_constant=_no_constant,
                                 object_pairs_hook=_no_duplicates)
    except (KeyError, TypeError, ValueError, RecursionError) as exc:
        raise ModelFileError(f"the header's pydl description is missing or invalid ({exc})") \
            from None
    return description, arrays


def _check_entry(name, entry, n_data):
    """(begin, end, name) of one array entry, checked against the data's size."""
    if not (isinstance(entry, dict) and set(entry) == {"dtype", "shape", "data_offsets"}):
        raise ModelFileError(f"array {name!r}: expected dtype, shape and data_offsets")
    dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
    if dtype not in _DTYPES:
        raise ModelFileError(f"array {name!r}: unknown dtype {dtype!r}; expected one of "
                             f"{sorted(_DTYPES)}")
    if not (isinstance(shape, list) and len(shape) <= 2
            and all(type(d) is int and 0 <= d <= n_data for d in shape)):
        raise ModelFileError(f"array {name!r}: bad shape {shape!r}")
    if not (isinstance(offsets, list) and len(offsets) == 2
            and all(type(o) is int for o in offsets) and 0 <= offsets[0] <= offsets[1] <= n_data):
        raise ModelFileError(f"array {name!r}: data_offsets {offsets!r} lie outside the "
                             f"file's {n_data} bytes of data")
    size = _DTYPES[dtype].itemsize * math.prod(shape)
    if offsets[1] - offsets[0] != size:
        raise ModelFileError(f"array {name!r}: shape {shape} of {dtype} needs {size} bytes, "
                             f"its data_offsets span {offsets[1] - offsets[0]}")
    return offsets[0], offsets[1], name


class _DuplicateKey(ValueError):
    pass


def _no_duplicates(pairs):
    out = {}
    for k, v in pairs:
        if k in out:
            raise _DuplicateKey(f"duplicate key {k!r}")
        out[k] = v
    return out


def _no_constant(name):
    raise json.JSONDecodeError(f"{name} is not a number here", name, 0)


def _take(arrays, name, shape, dtype, finite=True):
    """The array `name`, removed from `arrays`, checked to have this shape and dtype."""
    if name not in arrays:
        raise ModelFileError(f"the file lacks the array {name!r}")
    a = arrays.pop(name)
    if a.shape != tuple(shape) or a.dtype != dtype:
        raise ModelFileError(f"array {name!r} has shape {a.shape} and dtype {a.dtype}; "
                             f"expected {tuple(shape)} and {np.dtype(dtype)}")
    if finite and not np.isfinite(a).all():
        raise ModelFileError(f"array {name!r} holds NaN or infinity")
    return a


def _fields(d, where, keys):
    """d's values for exactly these keys."""
    if not isinstance(d, dict) or set(d) != set(keys):
        got = sorted(d) if isinstance(d, dict) else type(d).__name__
        raise ModelFileError(f"{where}: expected the fields {sorted(keys)}, got {got}")
    return [d[k] for k in keys]


def _int_or_none(value, where):
    if value is not None and not (type(value) is int and 0 <= value < 2**63):
        raise ModelFileError(f"{where} must be an integer in [0, 2**63) or null, got {value!r}")
    return value


def _build(description, arrays):
    from pydl.network import Network
    from pydl.early_stopping import EarlyStopping
    from pydl.history import History
    from pydl.preprocessing import Normalizer

    network, norm, training = _fields(description, "the pydl description",
                                      ("network", "normalizer", "training"))
    (dims, acts, slope, keep, dtype, init, seed, train_seed, n_threads) = _fields(
        network, "network", ("layer_dims", "activations", "leaky_slope", "keep_probs", "dtype",
                             "init", "seed", "train_seed", "n_threads"))
    if dtype not in ("float32", "float64"):
        raise ModelFileError(f"network.dtype must be 'float32' or 'float64', got {dtype!r}")
    if not isinstance(dims, list) or not all(type(d) is int for d in dims):
        raise ModelFileError(f"network.layer_dims must be a list of integers, got {dims!r}")
    if type(train_seed) is not int or not 0 <= train_seed < 2**63:
        raise ModelFileError(f"network.train_seed must be an integer in [0, 2**63), "
                             f"got {train_seed!r}")
    if type(slope) not in (int, float):
        raise ModelFileError(f"network.leaky_slope must be a number, got {slope!r}")
    net = Network._from_parts(dims, acts, float(slope), keep, np.dtype(dtype), init,
                              _int_or_none(seed, "network.seed"), train_seed,
                              _int_or_none(n_threads, "network.n_threads"))
    P = net.theta.shape[0]
    net._theta[...] = _take(arrays, "theta", (P,), net.dtype)
    net._theta_changed()
    if norm is not None:
        (eps,) = _fields(norm, "normalizer", ("epsilon",))
        n_x = net.layer_dims[0]
        net.normalizer = Normalizer.from_state({
            "epsilon": eps, "mean": _take(arrays, "normalizer.mean", (n_x,), np.float64),
            "var": _take(arrays, "normalizer.var", (n_x,), np.float64)})
    if training is not None:
        epochs, opt, sched, stop, hist = _fields(
            training, "training", ("epochs_trained", "optimizer", "lr_schedule",
                                   "early_stopping", "history"))
        net.epochs_trained = _int_or_none(epochs, "training.epochs_trained") or 0
        if opt is not None:
            kind, params, t = _fields(opt, "training.optimizer", ("kind", "params", "t"))
            cls = _vocabulary(_optimizers(), kind, "optimizer")
            optimizer = cls(**_params(params, "training.optimizer.params"))
            optimizer.t = _int_or_none(t, "training.optimizer.t") or 0
            for name, used in (("v", cls._uses_v), ("s", cls._uses_s)):
                if used and f"optimizer.{name}" in arrays:
                    setattr(optimizer, name, _take(arrays, f"optimizer.{name}", (P,), net.dtype))
            if optimizer.s is not None and (optimizer.s < 0).any():
                raise ModelFileError("array 'optimizer.s' holds negative values")
            optimizer._owner = net
            net.optimizer = optimizer
        if sched is not None:
            kind, params = _fields(sched, "training.lr_schedule", ("kind", "params"))
            cls = _vocabulary(_schedules(), kind, "lr_schedule")
            net.lr_schedule = cls(**_params(params, "training.lr_schedule.params"))
        if stop is not None:
            params, best_epoch, best_cost, stopped, waited = _fields(
                stop, "training.early_stopping",
                ("params", "best_epoch", "best_cost", "stopped_epoch", "waited"))
            es = EarlyStopping(**_params(params, "training.early_stopping.params"))
            es.best_epoch = _int_or_none(best_epoch, "early_stopping.best_epoch")
            es.stopped_epoch = _int_or_none(stopped, "early_stopping.stopped_epoch")
            es._waited = _int_or_none(waited, "early_stopping.waited") or 0
            if best_cost is not None and type(best_cost) not in (int, float):
                raise ModelFileError(f"early_stopping.best_cost must be a number or null, "
                                     f"got {best_cost!r}")
            es.best_cost = np.inf if best_cost is None else float(best_cost)
            if "early_stopping.best_theta" in arrays:
                es._best_theta = _take(arrays, "early_stopping.best_theta", (P,), net.dtype)
            net.early_stopping = es
        best, stopped, wall = _fields(hist, "training.history",
                                      ("best_epoch", "stopped_epoch", "wall_time"))
        h = History()
        h.best_epoch = _int_or_none(best, "history.best_epoch")
        h.stopped_epoch = _int_or_none(stopped, "history.stopped_epoch")
        if type(wall) not in (int, float):
            raise ModelFileError(f"history.wall_time must be a number, got {wall!r}")
        h.wall_time = float(wall)
        n_ep = arrays["history.epochs"].shape[0] if "history.epochs" in arrays else 0
        h.epochs = _take(arrays, "history.epochs", (n_ep,), np.int64).tolist()
        for name in _HISTORY_FLOATS:
            n_k = arrays[f"history.{name}"].shape[0] if f"history.{name}" in arrays else 0
            setattr(h, name, _take(arrays, f"history.{name}", (n_k,), np.float64,
                                   finite=False).tolist())
        if not (len(h.cost) == len(h.learning_rate) == len(h.epochs)
                and len(h.dev_cost) <= len(h.epochs) and len(h.dev_accuracy) <= len(h.epochs)
                and len(h.step_cost) == len(h.step_learning_rate)):
            raise ModelFileError("the history's arrays have inconsistent lengths")
        net.history = h
    if arrays:
        raise ModelFileError(f"unexpected arrays in the file: {sorted(arrays)}")
    return net


def _vocabulary(vocabulary, kind, what):
    if not isinstance(kind, str) or kind not in vocabulary:
        raise ModelFileError(f"unknown {what} {kind!r}; expected one of {sorted(vocabulary)}")
    return vocabulary[kind]


def _params(params, where):
    if not isinstance(params, dict) or not all(
            isinstance(v, (int, float, bool)) for v in params.values()):
        raise ModelFileError(f"{where} must map names to numbers, got {params!r}")
    return params


__all__ = ["FORMAT", "FORMAT_VERSION", "ModelFileError", "load", "save", "from_bytes",
           "to_bytes", "write_atomic"]
