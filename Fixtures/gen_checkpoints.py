"""Checkpoint fixtures for the .pth reader, written and verified with real PyTorch.

Writes Fixtures/checkpoints/*.pth (and a few other files) plus expected.json:

  { "<file>": { "format": "zip"|"legacy"|"tar", "architecture": "resnet18"|...|null,
                "num_classes": int|null, "removed_prefix": "module."|"_orig_mod."|null,
                "container_key": "state_dict"|"model"|"model_state_dict"|"net"|null,
                "tensors": [{"name", "dtype", "shape", "sha256"}, ...] },   # file key order
    "<bad file>": { "error": "<category>", "detail": "...", ... } }

sha256 is over the tensor's values laid out contiguously, row-major, little-endian, in the
stored dtype (t.contiguous().numpy().tobytes(); bfloat16 via .view(torch.int16)).
Extra informational fields: "torch_weights_only" (does torch.load(weights_only=True) accept
the file), "torch_error" (torch.load's message for bad files), "note".

Every valid file is loaded back with torch.load(weights_only=False) and compared bit for bit
with the tensors it was written from. Every bad file is checked to be rejected by torch.load
(except where torch is known to accept it; see "torch_error"/"note").

Run: ~/torchenv/bin/python Fixtures/gen_checkpoints.py   (or via make_fixtures.py)
Deterministic: fixed seeds; the random zip .data/serialization_id and the pointer-valued
legacy storage keys are rewritten to fixed values after torch.save (torch.load ignores both).
"""
import collections
import hashlib
import io
import json
import os
import pickle
import pickletools
import random
import re
import struct
import tarfile
import zipfile
import zlib

import torch
import torch.nn as nn
from torchvision.models.resnet import BasicBlock, Bottleneck, ResNet

OrderedDict = collections.OrderedDict

# --------------------------------------------------------------------------------------
# Models


class NarrowResNet(ResNet):
    """torchvision's ResNet with stage widths `widths` (module names are torchvision's).

    After construction the instance's class is switched to torchvision's ResNet so a
    whole-module pickle references only torchvision/torch classes."""

    def __init__(self, block, layers, widths, num_classes):
        nn.Module.__init__(self)
        self._norm_layer = nn.BatchNorm2d
        self.inplanes = widths[0]
        self.dilation = 1
        self.groups = 1
        self.base_width = 64
        self.conv1 = nn.Conv2d(3, self.inplanes, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(self.inplanes)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, widths[0], layers[0])
        self.layer2 = self._make_layer(block, widths[1], layers[1], stride=2)
        self.layer3 = self._make_layer(block, widths[2], layers[2], stride=2)
        self.layer4 = self._make_layer(block, widths[3], layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(widths[3] * block.expansion, num_classes)


def make_model(block, layers, widths, num_classes, seed):
    torch.manual_seed(seed)
    m = NarrowResNet(block, layers, widths, num_classes)
    gen = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for mod in m.modules():
            if isinstance(mod, nn.BatchNorm2d):
                c = mod.num_features
                mod.weight.copy_(torch.rand(c, generator=gen) + 0.5)
                mod.bias.copy_(torch.randn(c, generator=gen) * 0.2)
                mod.running_mean.copy_(torch.randn(c, generator=gen) * 0.1)
                mod.running_var.copy_(torch.rand(c, generator=gen) + 0.5)
                mod.num_batches_tracked.fill_(int(torch.randint(1, 1000, (1,), generator=gen)))
    m.__class__ = ResNet
    m.eval()
    return m


# --------------------------------------------------------------------------------------
# Helpers


def dtype_name(dt):
    return str(dt).replace("torch.", "")


def tensor_bytes(t):
    t = t.detach().contiguous()
    if t.dtype == torch.bfloat16:
        return t.view(torch.int16).numpy().tobytes()
    try:
        return t.numpy().tobytes()
    except TypeError:  # float8 etc.: numpy has no such dtype; same bytes via uint8
        return (t.reshape(1) if t.dim() == 0 else t).view(torch.uint8).numpy().tobytes()


def tensor_entry(name, t):
    return {"name": name, "dtype": dtype_name(t.dtype), "shape": list(t.shape),
            "sha256": hashlib.sha256(tensor_bytes(t)).hexdigest()}


def entries(sd):
    return [tensor_entry(k, v) for k, v in sd.items()]


def same_tensor(a, b):
    return (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and a.dtype == b.dtype
            and tuple(a.shape) == tuple(b.shape) and tensor_bytes(a) == tensor_bytes(b))


def assert_same_sd(got, want, what):
    got_keys, want_keys = list(got.keys()), list(want.keys())
    assert got_keys == want_keys, f"{what}: keys differ: {got_keys[:5]}... vs {want_keys[:5]}..."
    for k in want_keys:
        assert same_tensor(got[k], want[k]), f"{what}: tensor {k} differs"


def torch_load(path, weights_only):
    return torch.load(path, weights_only=weights_only, map_location="cpu")


def weights_only_ok(path):
    try:
        torch_load(path, True)
        return True
    except Exception:
        return False


def torch_error(path):
    """torch.load(weights_only=False)'s error message, or None if it loads."""
    try:
        torch_load(path, False)
        return None
    except BaseException as e:  # RecursionError, RuntimeError, UnpicklingError, ...
        msg = f"{type(e).__name__}: {e}"
        msg = msg.splitlines()[0][:300]
        # legacy files' storage order depends on pointer values: keep the manifest stable
        return re.sub(r"expected \d+ more bytes", "expected N more bytes", msg)


def sha256_file(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def zip_records(path):
    """[(name, bytes)] of a zip, in central-directory order."""
    with zipfile.ZipFile(path) as z:
        return [(i.filename, z.read(i.filename)) for i in z.infolist()]


# --------------------------------------------------------------------------------------
# A small zip writer (torch-like: STORED, 64-byte aligned data via an 'FB' extra field),
# with knobs for lying about sizes and for DEFLATE.


def write_zip(path, records, align=64):
    """records: list of dicts {name, data, method=0|8, usize=<declared>, csize=<declared>,
    crc=<declared>}; `data` is the stored payload (already deflated for method 8)."""
    out = bytearray()
    central = bytearray()
    for r in records:
        name = r["name"].encode()
        data = r["data"]
        method = r.get("method", 0)
        usize = r.get("usize", len(data))
        csize = r.get("csize", len(data))
        crc = r.get("crc", zlib.crc32(data) if method == 0 else 0)
        offset = len(out)
        extra = b""
        if align and method == 0:
            pad = (-(offset + 30 + len(name) + 4)) % align
            extra = b"FB" + struct.pack("<H", pad) + b"Z" * pad
        zip64 = usize >= 0xFFFFFFFF or csize >= 0xFFFFFFFF
        lu, lc = (0xFFFFFFFF, 0xFFFFFFFF) if zip64 else (usize, csize)
        lextra = extra
        if zip64:
            lextra = struct.pack("<HHQQ", 1, 16, usize, csize) + extra
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 45 if zip64 else 20, 0x0800, method, 0, 0x21,
                           crc, lc, lu, len(name), len(lextra)) + name + lextra
        out += data
        cextra = struct.pack("<HHQQ", 1, 16, usize, csize) if zip64 else b""
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 45 if zip64 else 20,
                               45 if zip64 else 20, 0x0800, method, 0, 0x21, crc, lc, lu,
                               len(name), len(cextra), 0, 0, 0, 0, offset) + name + cextra
    cd_offset = len(out)
    out += central
    out += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(records), len(records), len(central),
                       cd_offset, 0)
    with open(path, "wb") as f:
        f.write(out)


def rezip(src, dst, replace=None, method=zipfile.ZIP_STORED):
    """Re-zip `src` with Python's zipfile, replacing records by name suffix."""
    replace = replace or {}
    recs = zip_records(src)
    with zipfile.ZipFile(dst, "w", compression=method) as z:
        for name, data in recs:
            for suffix, new in replace.items():
                if name.endswith("/" + suffix):
                    data = new
            zi = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            zi.compress_type = method
            z.writestr(zi, data)


FIXED_SERIALIZATION_ID = b"2017020912345678901234567890123456789012"


def fix_serialization_id(path):
    """Make a torch-written zip deterministic: overwrite the random 40-digit
    .data/serialization_id record in place and patch its CRC-32 (data descriptor and
    central directory). Nothing else changes; torch.load ignores the id."""
    with open(path, "rb") as f:
        data = bytearray(f.read())
    if data[:4] != b"PK\x03\x04":
        return
    with zipfile.ZipFile(path) as z:
        infos = [i for i in z.infolist() if i.filename.endswith("/.data/serialization_id")]
    if not infos:
        return
    info = infos[0]
    assert info.compress_type == 0 and info.file_size == len(FIXED_SERIALIZATION_ID)
    h = info.header_offset
    name_len, extra_len = struct.unpack("<HH", data[h + 26:h + 30])
    start = h + 30 + name_len + extra_len
    data[start:start + 40] = FIXED_SERIALIZATION_ID
    crc = struct.pack("<I", zlib.crc32(FIXED_SERIALIZATION_ID))
    if info.CRC != 0:  # with set_crc32_options(False) every CRC stays 0
        dd = start + 40
        assert data[dd:dd + 4] == b"PK\x07\x08"
        data[dd + 4:dd + 8] = crc
        name = info.filename.encode()
        pos = data.find(b"PK\x01\x02", start)
        while pos >= 0:
            n = struct.unpack("<H", data[pos + 28:pos + 30])[0]
            if data[pos + 46:pos + 46 + n] == name:
                data[pos + 16:pos + 20] = crc
                break
            pos = data.find(b"PK\x01\x02", pos + 4)
        assert pos >= 0
    with open(path, "wb") as f:
        f.write(data)
    with zipfile.ZipFile(path) as z:
        if info.CRC != 0:
            assert z.testzip() is None


class _LegacyKeyScan(pickle.Unpickler):
    """Reads a legacy object pickle without rebuilding tensors; records each storage key's
    element size in first-encounter order."""

    def __init__(self, f):
        super().__init__(f)
        self.elsize = {}

    def find_class(self, module, name):
        if module == "torch._utils" and name.startswith("_rebuild"):
            return lambda *args: None
        return super().find_class(module, name)

    def persistent_load(self, pid):
        if pid[0] == "storage":
            stype, key = pid[1], pid[2]
            self.elsize.setdefault(key, torch._utils._element_size(stype.dtype))
        return None


def fix_legacy_keys(path, protocol):
    """Make a legacy-stream file deterministic. Its storage keys are str(storage._cdata)
    (pointer values) and its data section is in sorted-key order, so both the names and the
    data order vary from run to run. Rename the keys to same-length decimal strings numbered
    in first-use order and rewrite the keys pickle and the data section to match."""
    with open(path, "rb") as f:
        data = f.read()
    f = io.BytesIO(data)
    for _ in range(3):
        pickle.load(f)
    obj_start = f.tell()
    scan = _LegacyKeyScan(f)
    scan.load()
    obj_end = f.tell()
    keys = pickle.load(f)
    data_start = f.tell()
    assert keys == sorted(keys) and set(keys) == set(scan.elsize)
    if len({len(k) for k in keys}) != 1:
        return  # mixed lengths: leave as written
    n = len(keys[0])
    order = list(scan.elsize)  # first-use order
    rename = {k: "1" + f"{i:0{n - 1}d}" for i, k in enumerate(order)}
    blocks, pos = {}, data_start
    for k in keys:
        (count,) = struct.unpack("<q", data[pos:pos + 8])
        size = 8 + count * scan.elsize[k]
        blocks[k] = data[pos:pos + size]
        pos += size
    assert pos == len(data)
    obj = data[obj_start:obj_end]
    for k in keys:
        assert obj.count(k.encode()) >= 1, k
        obj = obj.replace(k.encode(), rename[k].encode())
    new_keys = sorted(rename.values())
    assert new_keys == [rename[k] for k in order]
    out = (data[:obj_start] + obj + pickle.dumps(new_keys, protocol=protocol)
           + b"".join(blocks[k] for k in order))
    assert len(out) == len(data)
    with open(path, "wb") as f:
        f.write(out)


def tsave(obj, path, **kw):
    """torch.save, then make the bytes deterministic (zip serialization id, legacy keys)."""
    torch.save(obj, path, **kw)
    if kw.get("_use_new_zipfile_serialization", True):
        fix_serialization_id(path)
    else:
        fix_legacy_keys(path, kw.get("pickle_protocol", 2))


def root_of(path):
    return zip_records(path)[0][0].split("/")[0]


# --------------------------------------------------------------------------------------
# Hand-made data.pkl: the same pickle shape torch.save writes, but with arbitrary
# (possibly invalid) storage offsets, sizes and strides.


class FakeStorage:
    def __init__(self, key, storage_type, numel):
        self.key, self.storage_type, self.numel = key, storage_type, numel


class FakeTensor:
    def __init__(self, storage, offset, size, stride):
        self.storage, self.offset, self.size, self.stride = storage, offset, size, stride

    def __reduce__(self):
        return (torch._utils._rebuild_tensor_v2,
                (self.storage, self.offset, tuple(self.size), tuple(self.stride), False,
                 OrderedDict()))


class TorchLikePickler(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, FakeStorage):
            return ("storage", obj.storage_type, obj.key, "cpu", obj.numel)
        return None


def fake_pickle(obj, protocol=2):
    b = io.BytesIO()
    TorchLikePickler(b, protocol=protocol).dump(obj)
    return b.getvalue()


def fake_zip(path, root, pkl, storages):
    """A torch-like zip archive: data.pkl, byteorder, data/<key>..., version."""
    recs = [{"name": f"{root}/data.pkl", "data": pkl},
            {"name": f"{root}/byteorder", "data": b"little"}]
    for key, data in storages:
        recs.append({"name": f"{root}/data/{key}", "data": data})
    recs.append({"name": f"{root}/version", "data": b"3\n"})
    write_zip(path, recs)


# --------------------------------------------------------------------------------------
# Tar format (torch <= 0.1.9), per pth-format.md section 2.2.


class Py2Str(str):
    """A str that pickles like a Python 2 byte string (SHORT_BINSTRING / BINSTRING)."""


class Py2OrderedDict(OrderedDict):
    """Pickles like Python 2's OrderedDict: REDUCE(OrderedDict, ([[k, v], ...],))."""

    def __reduce__(self):
        return (OrderedDict, ([[k, v] for k, v in self.items()],))


class Py2Pickler(pickle._Pickler):
    """Pure-Python pickler emitting what CPython 2.7 protocol 2 emits for str and int."""

    dispatch = pickle._Pickler.dispatch.copy()

    def save_py2str(self, obj):
        b = obj.encode("utf-8")
        if len(b) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(b)]) + b)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(b)) + b)
        self.memoize(obj)

    def save_py2int(self, obj):
        if -0x80000000 <= obj <= 0x7FFFFFFF:
            return pickle._Pickler.save_long(self, obj)
        # CPython 2.7's save_int writes the text INT opcode for 64-bit ints.
        self.write(pickle.INT + repr(obj).encode("ascii") + b"\n")

    dispatch[Py2Str] = save_py2str
    dispatch[int] = save_py2int


def write_tar_checkpoint(path, sd, py2=True, mtime=1486000000.53):
    """A state dict in the pre-2017 tar format. Tensors must be contiguous, one storage each."""
    S = Py2Str if py2 else str
    base_t, base_s = 94000000000000, 94100000000000  # look like pointer values (_cdata)
    tensor_keys = {}
    for i, k in enumerate(sd):
        tensor_keys[k] = (base_t + 48 * i, base_s + 64 * i)

    def dump(obj, f):
        if py2:
            Py2Pickler(f, protocol=2).dump(obj)
        else:
            pickle.dump(obj, f, protocol=2)

    # sys_info
    f_sys = io.BytesIO()
    dump({S("protocol_version"): 1000, S("little_endian"): True,
          S("type_sizes"): {S("short"): 2, S("int"): 4, S("long"): 4}}, f_sys)

    # pickle: tensors are persistent ids = str(tensor._cdata)
    ids = {}

    class Ref:
        def __init__(self, key):
            self.key = key

    obj = (Py2OrderedDict if py2 else OrderedDict)()
    for k, t in sd.items():
        obj[S(k)] = Ref(tensor_keys[k][0])
    f_pkl = io.BytesIO()
    if py2:
        p = Py2Pickler(f_pkl, protocol=2)
    else:
        p = pickle.Pickler(f_pkl, protocol=2)
    p.persistent_id = lambda o: S(str(o.key)) if isinstance(o, Ref) else None
    p.dump(obj)

    tensor_types = {torch.float32: torch.FloatTensor, torch.int64: torch.LongTensor}
    storage_types = {torch.float32: torch.FloatStorage, torch.int64: torch.LongStorage}
    # tensors
    f_ten = io.BytesIO()
    dump(len(sd), f_ten)
    for k, t in sd.items():
        tk, sk = tensor_keys[k]
        dump((tk, sk, tensor_types[t.dtype]), f_ten)
        f_ten.write(struct.pack("<i", t.dim()) + b"\0\0\0\0")
        f_ten.write(struct.pack(f"<{t.dim()}q", *t.shape))
        f_ten.write(struct.pack(f"<{t.dim()}q", *t.stride()))
        f_ten.write(struct.pack("<q", 0))
    # storages
    f_sto = io.BytesIO()
    dump(len(sd), f_sto)
    for k, t in sd.items():
        tk, sk = tensor_keys[k]
        dump((sk, S("cpu"), storage_types[t.dtype]), f_sto)
        t = t.contiguous()
        f_sto.write(struct.pack("<q", t.numel()))
        f_sto.write(tensor_bytes(t))
    dump([], f_sto)  # storage views

    with tarfile.open(path, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, buf in [("sys_info", f_sys), ("pickle", f_pkl), ("tensors", f_ten),
                          ("storages", f_sto)]:
            data = buf.getvalue()
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            ti.mtime = mtime  # float: forces a PAX header before every member, as in 2017
            ti.mode = 0o600
            ti.uid = ti.gid = 1000
            ti.uname = ti.gname = "user"
            tar.addfile(ti, io.BytesIO(data))


# --------------------------------------------------------------------------------------


def main(fixtures_dir):
    out = os.path.join(fixtures_dir, "checkpoints")
    os.makedirs(out, exist_ok=True)
    for name in os.listdir(out):
        os.remove(os.path.join(out, name))
    torch.set_num_threads(2)
    manifest = {}

    def P(name):
        return os.path.join(out, name)

    def extract(obj, container_key, prefix):
        if container_key is not None:
            obj = obj[container_key]
        if prefix is not None:
            assert all(k.startswith(prefix) for k in obj)
            obj = OrderedDict((k[len(prefix):], v) for k, v in obj.items())
        return obj

    def valid(name, fmt, sd, arch=None, ncls=None, prefix=None, container=None, note=None,
              check_sd=None):
        path = P(name)
        loaded = torch_load(path, False)
        assert_same_sd(extract(loaded, container, prefix), sd, name)
        if check_sd is not None:
            check_sd(loaded)
        rec = {"format": fmt, "architecture": arch, "num_classes": ncls,
               "removed_prefix": prefix, "container_key": container,
               "tensors": entries(sd), "torch_weights_only": weights_only_ok(path)}
        if note:
            rec["note"] = note
        manifest[name] = rec

    def bad(name, category, detail, expect_torch_error=True, load=True, **extra):
        path = P(name)
        err = torch_error(path) if load else None
        if expect_torch_error:
            assert err is not None, f"{name}: torch.load unexpectedly succeeded"
        rec = {"error": category, "detail": detail}
        rec.update(extra)
        rec["torch_error"] = err
        rec["torch_weights_only"] = weights_only_ok(path)  # never executes anything
        manifest[name] = rec

    # ---- models ------------------------------------------------------------------------
    basic = make_model(BasicBlock, [2, 2, 2, 2], [2, 4, 6, 8], 5, seed=100)
    sd = basic.state_dict()
    sd_copy = OrderedDict((k, v.clone()) for k, v in sd.items())
    bottleneck = make_model(Bottleneck, [3, 4, 6, 3], [2, 4, 4, 8], 3, seed=200)
    sd_b = bottleneck.state_dict()
    R18 = dict(arch="resnet18", ncls=5)

    # 1. zip basics
    tsave(sd, P("tiny_basic.pth"))
    valid("tiny_basic.pth", "zip", sd, **R18,
          note="root 'tiny_basic'; stage widths 2,4,6,8; includes num_batches_tracked")
    tsave(sd_b, P("tiny_bottleneck.pth"))
    valid("tiny_bottleneck.pth", "zip", sd_b, arch="resnet50", ncls=3,
          note="Bottleneck [3,4,6,3], widths 2,4,4,8 (x4 expansion)")

    # 2. other encodings of the same weights
    tsave(sd, P("tiny_basic_legacy.pth"), _use_new_zipfile_serialization=False)
    valid("tiny_basic_legacy.pth", "legacy", sd, **R18)

    sd_nobn = OrderedDict((k, v) for k, v in sd.items() if not k.endswith("num_batches_tracked"))
    write_tar_checkpoint(P("tiny_basic_tar.pth"), sd_nobn, py2=True)
    valid("tiny_basic_tar.pth", "tar", sd_nobn, **R18,
          note="tar per spec 2.2, pickles emulate CPython 2.7 protocol 2: keys SHORT_BINSTRING, "
               "OrderedDict as REDUCE(OrderedDict, ([[k, v], ...],)), 64-bit ints (storage/"
               "tensor keys) as text INT opcodes, string persistent ids; PAX header before every "
               "member; no num_batches_tracked (like resnet34-333f7ec4.pth)")
    write_tar_checkpoint(P("tiny_basic_tar_py3.pth"), sd_nobn, py2=False)
    valid("tiny_basic_tar_py3.pth", "tar", sd_nobn, **R18,
          note="same tar layout, pickles written by Python 3 protocol 2 (BINUNICODE keys, "
               "OrderedDict via SETITEMS, LONG1 ints)")

    buf = io.BytesIO()
    torch.save(sd, buf)  # root "archive"
    with open(P("tiny_basic_bytesio.pth"), "wb") as f:
        f.write(buf.getvalue())
    fix_serialization_id(P("tiny_basic_bytesio.pth"))
    assert root_of(P("tiny_basic_bytesio.pth")) == "archive"
    valid("tiny_basic_bytesio.pth", "zip", sd, **R18, note="saved to BytesIO: root 'archive'")

    tsave(sd, P("weird name-x.v2.pth"))
    os.replace(P("weird name-x.v2.pth"), P("tiny_basic_weirdroot.pth"))
    root = root_of(P("tiny_basic_weirdroot.pth"))
    valid("tiny_basic_weirdroot.pth", "zip", sd, **R18,
          note=f"archive root is {root!r} (saved as 'weird name-x.v2.pth', then renamed)")

    rezip(P("tiny_basic.pth"), P("deflated.pth"), method=zipfile.ZIP_DEFLATED)
    valid("deflated.pth", "zip", sd, **R18,
          note="re-zipped by Python zipfile with DEFLATE: no alignment, no data descriptors")

    if hasattr(torch.serialization, "set_crc32_options"):
        torch.serialization.set_crc32_options(False)
        try:
            tsave(sd, P("crc_off.pth"))
        finally:
            torch.serialization.set_crc32_options(True)
        valid("crc_off.pth", "zip", sd, **R18,
              note="set_crc32_options(False): every CRC-32 is 0; Python zipfile would say Bad CRC-32")

    # 3. dtypes
    inf, nan = float("inf"), float("nan")
    dt = OrderedDict()
    dt["f32"] = torch.tensor([0.0, -0.0, 1.5, -2.25, inf, -inf, nan, 1e-45, 3.4028235e38,
                              1.1754944e-38], dtype=torch.float32)
    dt["f16"] = torch.tensor([0.0, -0.0, 1.0, -65504.0, inf, -inf, nan, 5.96e-08, 6.1e-05,
                              3.0e-06], dtype=torch.float16)  # incl. subnormal halves
    dt["bf16"] = torch.tensor([0.0, -0.0, 1.0, -3.0, inf, -inf, nan, 1e-40, 3.3e38, 0.1],
                              dtype=torch.bfloat16)
    dt["f64"] = torch.tensor([0.0, -0.0, 0.1, -1e308, inf, -inf, nan, 5e-324, 1.7976931348623157e308],
                             dtype=torch.float64)
    dt["i64"] = torch.tensor([0, -1, 1, -(2 ** 63), 2 ** 63 - 1, 123456789012345], dtype=torch.int64)
    dt["i32"] = torch.tensor([0, -1, 1, -(2 ** 31), 2 ** 31 - 1], dtype=torch.int32)
    dt["i16"] = torch.tensor([0, -1, 1, -(2 ** 15), 2 ** 15 - 1], dtype=torch.int16)
    dt["i8"] = torch.tensor([0, -1, 1, -128, 127], dtype=torch.int8)
    dt["u8"] = torch.tensor([0, 1, 127, 128, 255], dtype=torch.uint8)
    dt["bool"] = torch.tensor([True, False, False, True, True], dtype=torch.bool)
    dt["scalar"] = torch.tensor(-7.5, dtype=torch.float32)
    dt["scalar_i64"] = torch.tensor(42, dtype=torch.int64)
    dt["empty"] = torch.zeros(0, 3, dtype=torch.float32)
    dt["f16_2d"] = torch.arange(-6, 6, dtype=torch.float16).view(3, 4) / 7
    dt["bf16_2d"] = (torch.arange(-6, 6, dtype=torch.float32).view(2, 6) / 3).to(torch.bfloat16)
    tsave(dt, P("dtypes.pth"))
    valid("dtypes.pth", "zip", dt)
    tsave(dt, P("dtypes_legacy.pth"), _use_new_zipfile_serialization=False)
    valid("dtypes_legacy.pth", "legacy", dt)

    # "new" dtypes: _rebuild_tensor_v3 + UntypedStorage pid (numel = byte count)
    v3 = OrderedDict()
    v3["u16"] = torch.tensor([0, 1, 65535, 40000], dtype=torch.uint16)
    v3["u32"] = torch.tensor([0, 1, 2 ** 32 - 1], dtype=torch.uint32)
    v3["u64"] = torch.tensor([0, 1, 2 ** 63 + 5], dtype=torch.uint64)
    v3["f8e4m3"] = torch.tensor([0.0, -0.0, 1.0, -448.0, 0.015625], dtype=torch.float32).to(torch.float8_e4m3fn)
    v3["f8e5m2"] = torch.tensor([0.0, 1.0, -57344.0, float("inf")], dtype=torch.float32).to(torch.float8_e5m2)
    v3["c64"] = torch.tensor([1 + 2j, -0.5 - 1j], dtype=torch.complex64)  # classic ComplexFloatStorage
    tsave(v3, P("dtypes_v3.pth"))
    valid("dtypes_v3.pth", "zip", v3,
          note="OPTIONAL support: uint16/32/64 and float8 use _rebuild_tensor_v3 with an "
               "UntypedStorage pid (numel in bytes) and dtype GLOBAL torch.<name>; complex64 "
               "uses ComplexFloatStorage. A reader may reject these with a clear error.")
    manifest["dtypes_v3.pth"]["optional"] = True

    # 4. views
    g = torch.Generator().manual_seed(7)
    base = torch.arange(12, dtype=torch.float32)
    mat = torch.arange(12, dtype=torch.float32).view(3, 4)
    tied = torch.randn(5, 3, generator=g)
    w = torch.randn(4, 3, 3, 3, generator=g).to(memory_format=torch.channels_last)
    assert w.stride() == (27, 1, 9, 3)
    vw = OrderedDict()
    vw["base"] = base
    vw["offset_view"] = base[2:8].view(2, 3)           # storage offset 2, stride (3,1)
    vw["transposed"] = mat.t()                          # stride (1,4)
    vw["matrix"] = mat                                  # shares storage with transposed
    vw["expanded"] = torch.arange(3, dtype=torch.float32).expand(4, 3)  # stride (0,1)
    vw["tied_a"] = tied
    vw["tied_b"] = tied                                 # same tensor twice
    vw["tied_row"] = tied[1]                            # view into the tied storage, offset 3
    vw["channels_last"] = w                             # size (4,3,3,3) stride (27,1,9,3)
    vw["column"] = mat[:, 1]                            # offset 1, stride (4,)
    vw["step"] = base[1::3]                             # offset 1, stride (3,)

    def check_views(loaded):
        assert loaded["offset_view"].storage_offset() == 2
        assert loaded["transposed"].stride() == (1, 4)
        assert loaded["expanded"].stride() == (0, 1)
        assert loaded["channels_last"].stride() == (27, 1, 9, 3)
        assert loaded["tied_a"].untyped_storage().data_ptr() == loaded["tied_b"].untyped_storage().data_ptr()

    tsave(vw, P("views.pth"))
    with zipfile.ZipFile(P("views.pth")) as z:
        nrec = sum(1 for n in z.namelist() if "/data/" in n)
    valid("views.pth", "zip", vw, check_sd=check_views,
          note=f"{nrec} storage records for {len(vw)} tensors; channels_last stride (27,1,9,3); "
               "expand stride (0,1); offsets 2/1/3")
    tsave(vw, P("views_legacy.pth"), _use_new_zipfile_serialization=False)
    valid("views_legacy.pth", "legacy", vw, check_sd=check_views)

    # 5. containers and prefixes
    opt = torch.optim.SGD(basic.parameters(), lr=0.1, momentum=0.9)
    for p_ in basic.parameters():  # momentum buffers, without running the model
        opt.state[p_]["momentum_buffer"] = torch.full_like(p_, 0.01)
    tsave({"epoch": 3, "arch": "resnet18", "state_dict": sd, "best_acc1": torch.tensor(0.5),
                "optimizer": opt.state_dict()}, P("ckpt_state_dict.pth"))
    valid("ckpt_state_dict.pth", "zip", sd, **R18, container="state_dict",
          note="imagenet-example style; optimizer state also holds tensors (momentum_buffer)")
    tsave({"model": sd}, P("ckpt_model.pth"))
    valid("ckpt_model.pth", "zip", sd, **R18, container="model")
    adam = torch.optim.Adam(basic.parameters(), lr=1e-3)
    for p_ in basic.parameters():
        adam.state[p_] = {"step": torch.tensor(1.0), "exp_avg": torch.zeros_like(p_),
                          "exp_avg_sq": torch.zeros_like(p_)}
    tsave({"epoch": 1, "model_state_dict": sd, "optimizer_state_dict": adam.state_dict(),
                "loss": 0.25}, P("ckpt_model_state_dict.pth"))
    valid("ckpt_model_state_dict.pth", "zip", sd, **R18, container="model_state_dict",
          note="tutorial style; Adam state (step/exp_avg/exp_avg_sq tensors)")
    tsave({"net": sd, "acc": 91.5, "epoch": 7}, P("ckpt_net.pth"))
    valid("ckpt_net.pth", "zip", sd, **R18, container="net")

    dp_sd = torch.nn.DataParallel(basic).state_dict()
    assert all(k.startswith("module.") for k in dp_sd)
    tsave(dp_sd, P("prefix_module.pth"))
    valid("prefix_module.pth", "zip", sd, **R18, prefix="module.",
          note="torch.nn.DataParallel(model).state_dict()")
    comp_sd = torch.compile(basic).state_dict()  # OptimizedModule: _orig_mod. prefix, no compile
    assert all(k.startswith("_orig_mod.") for k in comp_sd)
    tsave(comp_sd, P("prefix_orig_mod.pth"))
    valid("prefix_orig_mod.pth", "zip", sd, **R18, prefix="_orig_mod.",
          note="torch.compile(model).state_dict() (OptimizedModule wrapper)")
    tsave({"state_dict": dp_sd, "epoch": 90}, P("ckpt_state_dict_module.pth"))
    valid("ckpt_state_dict_module.pth", "zip", sd, **R18, container="state_dict",
          prefix="module.", note="container + DataParallel prefix")

    tsave(sd, P("protocol4.pth"), pickle_protocol=4)
    valid("protocol4.pth", "zip", sd, **R18,
          note="pickle_protocol=4: FRAME, SHORT_BINUNICODE, MEMOIZE, STACK_GLOBAL")
    tsave(sd, P("protocol4_legacy.pth"), pickle_protocol=4, _use_new_zipfile_serialization=False)
    valid("protocol4_legacy.pth", "legacy", sd, **R18,
          note="legacy stream with pickle_protocol=4: magic pickle is 80 04 95 ...")

    named = OrderedDict(basic.named_parameters())
    tsave(dict(named), P("named_parameters.pth"))
    valid("named_parameters.pth", "zip", OrderedDict((k, v.detach()) for k, v in named.items()),
          **R18, note="dict(model.named_parameters()): _rebuild_parameter, plain dict (not "
                      "OrderedDict); no BN running stats/num_batches_tracked (params only)")

    half = OrderedDict((k, v.half() if v.is_floating_point() else v) for k, v in sd.items())
    tsave(half, P("tiny_basic_fp16.pth"))
    valid("tiny_basic_fp16.pth", "zip", half, **R18,
          note="model.half(): HalfStorage, num_batches_tracked stays int64")

    # 6. whole pickled module
    tsave(basic, P("module_pickle.pth"))
    loaded = torch_load(P("module_pickle.pth"), False)
    assert_same_sd(loaded.state_dict(), sd, "module_pickle")
    unsafe = sorted(torch.serialization.get_unsafe_globals_in_checkpoint(P("module_pickle.pth")))
    bad("module_pickle.pth", "unknown_global",
        "torch.save(model) of a whole nn.Module: NEWOBJ/BUILD of torchvision/torch.nn classes. "
        "inert_tensors = what walking _modules/_parameters/_buffers yields (= state_dict()).",
        expect_torch_error=False, globals=unsafe, format="zip", architecture="resnet18",
        num_classes=5, inert_tensors=entries(sd))
    manifest["module_pickle.pth"]["torch_weights_only"] = weights_only_ok(P("module_pickle.pth"))

    # 7. torch.hub naming
    tmp = P("tinyhub-tmp.pth")
    tsave(sd, tmp)
    hub_name = f"tinyhub-{sha256_file(tmp)[:8]}.pth"
    os.replace(tmp, P(hub_name))
    valid(hub_name, "zip", sd, **R18, note="torch.hub name: 8 hex = sha256 prefix of the file")
    tsave(sd, P("tinybad-00000000.pth"))
    assert not sha256_file(P("tinybad-00000000.pth")).startswith("00000000")
    bad("tinybad-00000000.pth", "hash_mismatch",
        "torch.hub name says sha256 prefix 00000000 but the file's sha256 starts "
        f"{sha256_file(P('tinybad-00000000.pth'))[:8]}; otherwise a valid zip state dict "
        "(torch.load itself does not check hashes; torch.hub.download_url_to_file does)",
        expect_torch_error=False, format="zip", architecture="resnet18", num_classes=5,
        tensors=entries(sd))

    # 8. malformed / tampered
    def truncate(src, dst, frac=0.5):
        with open(P(src), "rb") as f:
            data = f.read()
        with open(P(dst), "wb") as f:
            f.write(data[: int(len(data) * frac)])
        return len(data), int(len(data) * frac)

    n, m = truncate("tiny_basic.pth", "truncated_zip.pth")
    bad("truncated_zip.pth", "truncated", f"tiny_basic.pth cut to {m} of {n} bytes (no central directory)")
    n, m = truncate("tiny_basic_legacy.pth", "truncated_legacy.pth")
    bad("truncated_legacy.pth", "truncated", f"tiny_basic_legacy.pth cut to {m} of {n} bytes (storage data missing)")
    n, m = truncate("tiny_basic_tar.pth", "truncated_tar.pth")
    bad("truncated_tar.pth", "truncated", f"tiny_basic_tar.pth cut to {m} of {n} bytes (inside a member)")

    small = OrderedDict([("w", torch.arange(6, dtype=torch.float32).view(2, 3)),
                         ("b", torch.tensor([1, 2, 3], dtype=torch.int64))])
    tsave(small, P("small_ok.pth"))
    valid("small_ok.pth", "zip", small, note="reference for the tampered small_* files")
    recs = dict(zip_records(P("small_ok.pth")))
    root = root_of(P("small_ok.pth"))
    rezip(P("small_ok.pth"), P("size_mismatch.pth"), replace={"data/0": recs[f"{root}/data/0"][:20]})
    bad("size_mismatch.pth", "size_mismatch",
        "record data/0 has 20 bytes but its pid says FloatStorage numel 6 (24 bytes)")

    fs = FakeStorage("0", torch.FloatStorage, 6)
    w6 = struct.pack("<6f", *range(6))

    def crafted(name, category, detail, tensors, storages, expect_torch_error=True, **extra):
        fake_zip(P(name), name[:-4], fake_pickle(tensors), storages)
        bad(name, category, detail, expect_torch_error=expect_torch_error, **extra)

    # sanity: the crafted-pickle path gives a loadable file when nothing is wrong
    fake_zip(P("crafted_ok.pth"), "crafted_ok",
             fake_pickle(OrderedDict([("w", FakeTensor(fs, 0, (2, 3), (3, 1))),
                                      ("v", FakeTensor(fs, 1, (2, 2), (1, 3)))])), [("0", w6)])
    valid("crafted_ok.pth", "zip", OrderedDict([("w", torch.arange(6.).view(2, 3)),
                                               ("v", torch.arange(6.)[1:].as_strided((2, 2), (1, 3)))]),
          note="hand-written zip (own writer, 64-byte aligned, no data descriptors) with a hand-made "
               "data.pkl; v is offset 1, size (2,2), stride (1,3)")

    crafted("out_of_range.pth", "out_of_range",
            "w: storage_offset 5, size (2,3), stride (3,1) on a 6-element FloatStorage "
            "(needs 5+3+2+1=11 elements)",
            OrderedDict([("w", FakeTensor(fs, 5, (2, 3), (3, 1)))]), [("0", w6)])
    crafted("out_of_range_stride.pth", "out_of_range",
            "w: offset 0, size (2,3), stride (4,1) on a 6-element storage (last element index 6)",
            OrderedDict([("w", FakeTensor(fs, 0, (2, 3), (4, 1)))]), [("0", w6)])
    crafted("overflow.pth", "overflow",
            "w: size (2**62, 4): element count 2**64 overflows Int64 (stride (4,1), storage numel 6)",
            OrderedDict([("w", FakeTensor(fs, 0, (2 ** 62, 4), (4, 1)))]), [("0", w6)])
    crafted("overflow_offset.pth", "overflow",
            "w: size (2,), stride (2**62,), offset 2**63-1: offset + extent overflows Int64",
            OrderedDict([("w", FakeTensor(fs, 2 ** 63 - 1, (2,), (2 ** 62,)))]), [("0", w6)])
    crafted("negative_stride.pth", "negative_stride",
            "w: offset 5, size (6,), stride (-1,): in bounds but negative (PyTorch never writes these)",
            OrderedDict([("w", FakeTensor(fs, 5, (6,), (-1,)))]), [("0", w6)], expect_torch_error=False)
    crafted("negative_size.pth", "out_of_range",
            "w: size (-2, 3): negative dimension",
            OrderedDict([("w", FakeTensor(fs, 0, (-2, 3), (3, 1)))]), [("0", w6)])

    deep = b"\x80\x02" + b"]" * 100000 + b"a" * 99999 + b"."
    fake_zip(P("deep_nesting.pth"), "deep_nesting", deep, [])
    bad("deep_nesting.pth", "deep_nesting",
        "data.pkl = PROTO 2, 100000 x EMPTY_LIST, 99999 x APPEND, STOP: a list nested 100000 deep",
        expect_torch_error=False)
    deep_marks = b"\x80\x02" + b"(" * 100000 + b")" + b"t" * 100000 + b"."
    fake_zip(P("deep_marks.pth"), "deep_marks", deep_marks, [])
    bad("deep_marks.pth", "deep_nesting",
        "data.pkl = PROTO 2, 100000 x MARK, EMPTY_TUPLE, 100000 x TUPLE: 100000 nested marks/tuples",
        expect_torch_error=False)

    # zip bombs
    bomb_numel = 6
    pkl_b = fake_pickle(OrderedDict([("w", FakeTensor(FakeStorage("0", torch.FloatStorage, bomb_numel),
                                                      0, (bomb_numel,), (1,)))]))
    co = zlib.compressobj(9, zlib.DEFLATED, -15)
    inflated = 16 * 1024 * 1024
    bomb = co.compress(b"\0" * inflated) + co.flush()
    write_zip(P("zip_bomb.pth"), [
        {"name": "zip_bomb/data.pkl", "data": pkl_b},
        {"name": "zip_bomb/data/0", "data": bomb, "method": 8, "usize": bomb_numel * 4,
         "crc": zlib.crc32(b"\0" * inflated)},
        {"name": "zip_bomb/version", "data": b"3\n"}])
    bad("zip_bomb.pth", "zip_bomb",
        f"data/0 is DEFLATE, declared uncompressed size {bomb_numel * 4} (matches the pid) but the "
        f"{len(bomb)}-byte stream inflates to {inflated} bytes of zeros", expect_torch_error=False)
    huge_numel = 2 ** 38
    pkl_h = fake_pickle(OrderedDict([("w", FakeTensor(FakeStorage("0", torch.FloatStorage, huge_numel),
                                                      0, (huge_numel,), (1,)))]))
    small_bomb = zlib.compressobj(9, zlib.DEFLATED, -15)
    small_bomb = small_bomb.compress(b"\0" * 4096) + small_bomb.flush()
    write_zip(P("zip_huge_declared.pth"), [
        {"name": "zip_huge_declared/data.pkl", "data": pkl_h},
        {"name": "zip_huge_declared/data/0", "data": small_bomb, "method": 8, "usize": 2 ** 40},
        {"name": "zip_huge_declared/version", "data": b"3\n"}])
    bad("zip_huge_declared.pth", "zip_bomb",
        f"data/0 declares uncompressed size 2**40 (ZIP64 extra) and the pid numel 2**38 floats; "
        f"the {len(small_bomb)}-byte DEFLATE stream holds only 4096 zeros")

    # unknown globals
    cmd = b"echo pwned > /tmp/pwned"
    evil = (b"\x80\x02cos\nsystem\nq\x00X" + struct.pack("<I", len(cmd)) + cmd
            + b"q\x01\x85q\x02Rq\x03.")
    fake_zip(P("unknown_global_os_system.pth"), "unknown_global_os_system", evil, [])
    bad("unknown_global_os_system.pth", "unknown_global",
        "data.pkl is GLOBAL os.system + REDUCE('echo pwned > /tmp/pwned'); must never be executed "
        "(this fixture is never loaded with weights_only=False by the generator)",
        expect_torch_error=False, load=False, globals=["os.system"])
    manifest["unknown_global_os_system.pth"]["torch_weights_only"] = weights_only_ok(
        P("unknown_global_os_system.pth"))
    assert not manifest["unknown_global_os_system.pth"]["torch_weights_only"]
    assert sorted(torch.serialization.get_unsafe_globals_in_checkpoint(
        P("unknown_global_os_system.pth"))) == ["os.system"]

    tsave({"arch": ResNet, "block": BasicBlock, "state_dict": sd}, P("unknown_global_class.pth"))
    g_cls = sorted(torch.serialization.get_unsafe_globals_in_checkpoint(P("unknown_global_class.pth")))
    bad("unknown_global_class.pth", "unknown_global",
        "{'arch': <class ResNet>, 'block': <class BasicBlock>, 'state_dict': sd}: class objects "
        "pickled as GLOBALs; the state_dict itself is clean", expect_torch_error=False,
        globals=g_cls, container_key="state_dict", tensors=entries(sd))
    manifest["unknown_global_class.pth"]["torch_weights_only"] = weights_only_ok(P("unknown_global_class.pth"))

    # bad opcode
    pkl_ok = recs[f"{root}/data.pkl"]
    bad_pkl = pkl_ok[:2] + b"\xf0" + pkl_ok[2:]
    rezip(P("small_ok.pth"), P("bad_opcode.pth"), replace={"data.pkl": bad_pkl})
    bad("bad_opcode.pth", "bad_opcode", "data.pkl of small_ok.pth with byte 0xF0 (not an opcode) inserted at offset 2")
    inst_pkl = b"\x80\x02(i__builtin__\nobject\n."
    rezip(P("small_ok.pth"), P("bad_opcode_inst.pth"), replace={"data.pkl": inst_pkl})
    bad("bad_opcode_inst.pth", "bad_opcode",
        "data.pkl uses INST ('i', protocol 0 class instantiation) which a loader must not implement",
        expect_torch_error=False)

    # other formats
    ts = torch.jit.script(nn.Linear(2, 2))
    torch.jit.save(ts, P("torchscript.pth"))
    fix_serialization_id(P("torchscript.pth"))
    bad("torchscript.pth", "torchscript", "torch.jit.save of a scripted nn.Linear(2,2): zip with constants.pkl and code/",
        expect_torch_error=False)
    manifest["torchscript.pth"]["torch_weights_only"] = weights_only_ok(P("torchscript.pth"))

    header = {"w": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]},
              "__metadata__": {"format": "pt"}}
    hj = json.dumps(header, separators=(",", ":")).encode()
    hj += b" " * ((-len(hj)) % 8)
    with open(P("safetensors.pth"), "wb") as f:
        f.write(struct.pack("<Q", len(hj)) + hj + w6)
    bad("safetensors.pth", "safetensors", "a safetensors file (u64 header length + JSON + data) named .pth")

    rnd = random.Random(1234)
    with open(P("random_bytes.pth"), "wb") as f:
        f.write(bytes(rnd.randrange(256) for _ in range(1000)))
    bad("random_bytes.pth", "not_a_checkpoint", "1000 random bytes (seeded)")

    png = png_bytes()
    with open(P("image.pth"), "wb") as f:
        f.write(png)
    bad("image.pth", "not_a_checkpoint", "a 4x4 PNG renamed .pth")
    with open(P("empty.pth"), "wb") as f:
        pass
    bad("empty.pth", "truncated", "empty file (0 bytes)")

    # PYTORCH1 preview format marker
    with open(P("pytorch1_preview.pth"), "wb") as f:
        f.write(b"PYTORCH1" + b"\0" * 56)
    bad("pytorch1_preview.pth", "not_a_checkpoint",
        "starts with 'PYTORCH1' (1.0-rc preview archive format, rejected by torch)")

    assert_same_sd(basic.state_dict(), sd_copy, "model unchanged during generation")
    for name in ("small_ok.pth", "crafted_ok.pth"):
        assert os.path.exists(P(name))
    with open(P("expected.json"), "w") as f:
        f.write(manifest_json(manifest))
    total = 0
    for name in sorted(os.listdir(out)):
        size = os.path.getsize(P(name))
        total += size
        print(f"{size:10d}  {name}")
    print(f"{total:10d}  total ({len(manifest)} manifest entries)")


def manifest_json(manifest):
    """JSON with one line per field and one line per tensor (keeps the file small)."""
    def dumps(v):
        return json.dumps(v, separators=(", ", ": "))
    files = []
    for name, rec in manifest.items():
        fields = []
        for k, v in rec.items():
            if isinstance(v, list) and v and isinstance(v[0], dict):
                items = ",\n".join("   " + json.dumps(t, separators=(",", ":")) for t in v)
                fields.append(f"  {dumps(k)}: [\n{items}\n  ]")
            else:
                fields.append(f"  {dumps(k)}: {dumps(v)}")
        files.append(f" {dumps(name)}: {{\n" + ",\n".join(fields) + "\n }")
    text = "{\n" + ",\n".join(files) + "\n}\n"
    assert json.loads(text) == manifest
    return text


def png_bytes():
    try:
        from PIL import Image
        im = Image.new("RGB", (4, 4))
        im.putdata([(i * 16, 255 - i * 16, (i * 37) % 256) for i in range(16)])
        b = io.BytesIO()
        im.save(b, format="PNG")
        return b.getvalue()
    except ImportError:
        raw = b"".join(b"\0" + bytes(12) for _ in range(4))

        def chunk(t, d):
            return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
        return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 4, 4, 8, 2, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


if __name__ == "__main__":
    main(os.path.dirname(os.path.abspath(__file__)))
