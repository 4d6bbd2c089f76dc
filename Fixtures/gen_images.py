"""Image fixtures for ImagingTests: source images in awkward modes and what PIL/torchvision make of them.

Writes Fixtures/images/:
  src/<name>.<ext>      source images (made with PIL/numpy from fixed seeds; a few PNGs are
                        written by hand because PIL cannot save 16-bit colour PNGs)
  exp/<name>.rgb        PIL: ImageOps.exif_transpose(Image.open(p)).convert("RGB"), raw RGB8
                        (images over 12000 pixels: only its sha256 in the manifest)
  exp/<name>.r32.rgb    torchvision Resize(32) of that (PIL antialiased bilinear), raw RGB8
  exp/<name>.e28.f32    Compose([Resize(32), CenterCrop(28), ToTensor(), Normalize(...)]),
                        float32 CHW little-endian (for a few images; all have its sha256)
  exp/resize_*.rgb, exp/crop_*.rgb, exp/rcrop_*.rgb   single-operation cases (see manifest)
  exp/normalize.f32     ToTensor+Normalize of a 256x1 ramp covering every byte value
  expected.json         the manifest: every case with its parameters, sizes and files; the
                        full-size (Resize(256), CenterCrop(224)) cases as sha256 of the bytes
"""
import hashlib
import io
import json
import math
import os
import shutil
import struct
import zlib

import numpy as np
import torch
from PIL import Image, ImageOps
from torchvision import transforms
from torchvision.transforms import functional as F

RAW_TENSORS = {"jpeg_grey", "jpeg_cmyk", "png_rgba", "png_palette_trns", "png_grey16", "png_tiny", "png_tall"}
MEAN = [0.485, 0.456, 0.406]
STD = [0.229, 0.224, 0.225]


def pattern(w, h, seed, channels=3):
    """Smooth gradients, stripes and noise: something for JPEG and resize to chew on."""
    rng = np.random.RandomState(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    planes = []
    for c in range(channels):
        fx, fy, ph = rng.uniform(0.05, 0.6), rng.uniform(0.05, 0.6), rng.uniform(0, 6.28)
        base = 128 + 90 * np.sin(fx * x + fy * y + ph) + 30 * (x / max(w - 1, 1) - y / max(h - 1, 1))
        base += rng.normal(0, 18, size=(h, w))
        planes.append(base)
    arr = np.clip(np.stack(planes, -1), 0, 255).astype(np.uint8)
    # a few hard edges and saturated blocks
    arr[h // 3: h // 3 + max(1, h // 8), :, :] = 255
    arr[:, w // 4: w // 4 + max(1, w // 10), :] = 0
    return arr


def filter_rows(rows, bpp, filters):
    """PNG-filter each row (bytes) with filter type filters(i) (0 None ... 4 Paeth)."""
    out, prev = b"", bytes(len(rows[0])) if rows else b""
    for i, r in enumerate(rows):
        f = filters(i)
        enc = bytearray(len(r))
        for k in range(len(r)):
            a = r[k - bpp] if k >= bpp else 0
            b = prev[k]
            c = prev[k - bpp] if k >= bpp else 0
            if f == 0:
                pred = 0
            elif f == 1:
                pred = a
            elif f == 2:
                pred = b
            elif f == 3:
                pred = (a + b) // 2
            else:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
            enc[k] = (r[k] - pred) & 0xFF
        out += bytes([f]) + bytes(enc)
        prev = r
    return out


def png_by_hand(w, h, colortype, bitdepth, rows, extra_chunks=(), filters=lambda i: 0,
                compress=lambda raw: zlib.compress(raw, 9), idat_split=None):
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)
    ihdr = struct.pack(">IIBBBBB", w, h, bitdepth, colortype, 0, 0, 0)
    channels = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[colortype]
    bpp = max(1, channels * bitdepth // 8)
    data = compress(filter_rows(rows, bpp, filters))
    body = chunk(b"IHDR", ihdr)
    for t, d in extra_chunks:
        body += chunk(t, d)
    parts = [data] if not idat_split else [data[i:i + idat_split] for i in range(0, len(data), idat_split)]
    for part in parts:
        body += chunk(b"IDAT", part)
    return b"\x89PNG\r\n\x1a\n" + body + chunk(b"IEND", b"")


def deflate(level, strategy=zlib.Z_DEFAULT_STRATEGY):
    def run(raw):
        c = zlib.compressobj(level, zlib.DEFLATED, 15, 9, strategy)
        return c.compress(raw) + c.flush()
    return run


def png_adam7(w, h, colortype, arr, bitdepth=8, filters=lambda i: 0):
    """An Adam7-interlaced PNG (PIL cannot write one)."""
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)
    passes = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]
    dtype = ">u2" if bitdepth == 16 else np.uint8
    raw = b""
    for x0, y0, dx, dy in passes:
        sub = arr[y0::dy, x0::dx]
        if sub.size == 0:
            continue
        rows = [np.ascontiguousarray(row).astype(dtype).tobytes() for row in sub]
        bpp = max(1, {0: 1, 2: 3, 4: 2, 6: 4}[colortype] * bitdepth // 8)
        raw += filter_rows(rows, bpp, filters)
    ihdr = struct.pack(">IIBBBBB", w, h, bitdepth, colortype, 0, 0, 1)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw, 9))
            + chunk(b"IEND", b""))


def exif_bytes(orientation, big_endian=False):
    """A minimal Exif APP1 payload (with the Exif\\0\\0 header) holding IFD0 Orientation."""
    e = ">" if big_endian else "<"
    head = (b"MM" if big_endian else b"II") + struct.pack(e + "HI", 42, 8)
    # IFD0: two entries (ImageDescription-less): Make (ASCII, out of line) and Orientation
    make = b"GraftCam\x00"
    n = 2
    ifd_size = 2 + n * 12 + 4
    make_off = 8 + ifd_size
    ifd = struct.pack(e + "H", n)
    ifd += struct.pack(e + "HHI", 0x010F, 2, len(make)) + struct.pack(e + "I", make_off)
    ifd += struct.pack(e + "HHI", 0x0112, 3, 1) + struct.pack(e + "H", orientation) + b"\x00\x00"
    ifd += struct.pack(e + "I", 0)
    return b"Exif\x00\x00" + head + ifd + make


def sources():
    """(name, filename, bytes) for every source image."""
    out = []

    def save(name, ext, im, **kw):
        b = io.BytesIO()
        im.save(b, **kw)
        out.append((name, f"{name}.{ext}", b.getvalue()))

    rgb = lambda w, h, s: Image.fromarray(pattern(w, h, s), "RGB")
    grey = lambda w, h, s: Image.fromarray(pattern(w, h, s, 1)[..., 0], "L")

    # JPEG
    save("jpeg_420", "jpg", rgb(97, 73, 1), format="JPEG", quality=90)
    save("jpeg_444", "jpg", rgb(64, 50, 2), format="JPEG", quality=95, subsampling=0)
    save("jpeg_422", "jpg", rgb(81, 60, 3), format="JPEG", quality=85, subsampling=1)
    save("jpeg_progressive", "jpg", rgb(120, 90, 4), format="JPEG", quality=88, progressive=True)
    save("jpeg_grey", "jpg", grey(70, 90, 5), format="JPEG", quality=90)
    cmyk = Image.fromarray(pattern(60, 45, 6, 4), "CMYK")
    save("jpeg_cmyk", "jpg", cmyk, format="JPEG", quality=92)
    save("jpeg_wide", "jpg", rgb(300, 40, 7), format="JPEG", quality=80)
    save("jpeg_odd", "jpg", rgb(33, 17, 8), format="JPEG", quality=75)
    for o in range(1, 9):
        save(f"jpeg_exif{o}", "jpg", rgb(37, 23, 10 + o), format="JPEG", quality=90,
             exif=exif_bytes(o))
    save("jpeg_exif6_be", "jpg", rgb(29, 41, 20), format="JPEG", quality=90, exif=exif_bytes(6, True))
    save("jpeg_exif5_be", "jpg", rgb(31, 19, 21), format="JPEG", quality=90, exif=exif_bytes(5, True))
    save("jpeg_exif_cmyk8", "jpg", Image.fromarray(pattern(26, 18, 22, 4), "CMYK"),
         format="JPEG", quality=90, exif=exif_bytes(8))
    # XMP orientation (Pillow's fallback when EXIF has no Orientation tag)
    xmp = lambda body: (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF><rdf:Description ' + body
                        + b'</rdf:RDF></x:xmpmeta>')
    save("jpeg_xmp6", "jpg", rgb(27, 17, 24), format="JPEG", quality=90,
         xmp=xmp(b'tiff:Orientation="6"/>'))
    save("jpeg_xmp8_elem", "jpg", rgb(25, 15, 25), format="JPEG", quality=90,
         xmp=xmp(b'><tiff:Orientation>8</tiff:Orientation></rdf:Description>'))
    save("jpeg_exif1_xmp6", "jpg", rgb(26, 16, 26), format="JPEG", quality=90,
         exif=exif_bytes(1), xmp=xmp(b'tiff:Orientation="6"/>'))
    save("jpeg_exif9_xmp6", "jpg", rgb(24, 14, 27), format="JPEG", quality=90,
         exif=exif_bytes(9), xmp=xmp(b'tiff:Orientation="6"/>'))
    # full-size eval cases
    save("jpeg_256", "jpg", rgb(256, 320, 23), format="JPEG", quality=85)

    # PNG
    save("png_rgb", "png", rgb(83, 61, 30), format="PNG")
    save("png_rgba", "png", Image.fromarray(pattern(50, 40, 31, 4), "RGBA"), format="PNG")
    pal = rgb(45, 35, 32).quantize(colors=16, method=Image.Quantize.MEDIANCUT)
    save("png_palette", "png", pal, format="PNG")
    palt = rgb(44, 36, 33).quantize(colors=12, method=Image.Quantize.MEDIANCUT)
    save("png_palette_trns", "png", palt, format="PNG", transparency=bytes([0, 128, 255] + [200] * 9))
    pal4 = rgb(46, 30, 34).quantize(colors=5, method=Image.Quantize.MEDIANCUT)
    save("png_palette_4bit", "png", pal4, format="PNG", bits=4)
    save("png_grey", "png", grey(52, 47, 35), format="PNG")
    save("png_grey_trns", "png", grey(30, 33, 36), format="PNG", transparency=77)
    la = Image.fromarray(pattern(41, 39, 37, 2), "LA")
    save("png_grey_alpha", "png", la, format="PNG")
    save("png_1bit", "png", grey(35, 28, 38).point(lambda v: 255 if v > 128 else 0).convert("1"),
         format="PNG")
    save("png_exif6", "png", rgb(27, 19, 42), format="PNG", exif=exif_bytes(6))
    from PIL.PngImagePlugin import PngInfo
    info = PngInfo()
    info.add_itxt("XML:com.adobe.xmp", xmp(b'tiff:Orientation="8"/>').decode())
    save("png_xmp8", "png", rgb(21, 13, 43), format="PNG", pnginfo=info)
    info = PngInfo()
    info.add_text("XML:com.adobe.xmp", xmp(b'><tiff:Orientation>3</tiff:Orientation></rdf:Description>').decode())
    save("png_xmp3_text", "png", rgb(22, 12, 44), format="PNG", pnginfo=info)
    save("png_tiny", "png", rgb(7, 5, 39), format="PNG")
    save("png_tall", "png", rgb(40, 300, 40), format="PNG")
    save("png_rgb_big", "png", rgb(300, 200, 41), format="PNG")

    rng = np.random.RandomState(50)
    g16 = rng.randint(0, 65536, size=(26, 21)).astype(np.uint16)
    g16[:5, :] = rng.randint(0, 300, size=(5, 21))  # some values at and around 255
    out.append(("png_grey16", "png_grey16.png",
                png_by_hand(21, 26, 0, 16, [r.astype(">u2").tobytes() for r in g16])))
    rgb16 = rng.randint(0, 65536, size=(19, 23, 3)).astype(np.uint16)
    out.append(("png_rgb16", "png_rgb16.png",
                png_by_hand(23, 19, 2, 16, [r.astype(">u2").tobytes() for r in rgb16])))
    rgba16 = rng.randint(0, 65536, size=(17, 22, 4)).astype(np.uint16)
    out.append(("png_rgba16", "png_rgba16.png",
                png_by_hand(22, 17, 6, 16, [r.astype(">u2").tobytes() for r in rgba16])))
    # 16-bit with alpha: read without libpng's premultiplication, so every inflate block
    # type, every row filter, split IDATs and Adam7 are exercised
    smooth = (pattern(41, 31, 53, 4).astype(np.uint16) * 257 + rng.randint(0, 3, size=(31, 41, 4))).astype(np.uint16)
    rows = [r.astype(">u2").tobytes() for r in smooth]
    for tag, comp in (("stored", deflate(0)), ("fixed", deflate(6, zlib.Z_FIXED)), ("fast", deflate(1)),
                      ("best", deflate(9))):
        out.append((f"png_rgba16_{tag}", f"png_rgba16_{tag}.png",
                    png_by_hand(41, 31, 6, 16, rows, filters=lambda i: i % 5, compress=comp, idat_split=997)))
    out.append(("png_rgba16_interlaced", "png_rgba16_interlaced.png",
                png_adam7(41, 31, 6, smooth, 16, filters=lambda i: (i * 3) % 5)))
    la = smooth[..., 1:3].copy()
    out.append(("png_la16_filtered", "png_la16_filtered.png",
                png_by_hand(41, 31, 4, 16, [r.astype(">u2").tobytes() for r in la], filters=lambda i: 4 - i % 5)))
    out.append(("png_rgb_filtered", "png_rgb_filtered.png",
                png_by_hand(61, 47, 2, 8, [r.tobytes() for r in pattern(61, 47, 54)], filters=lambda i: i % 5)))
    key = rgb16[3, 4]  # a colour present in the image, made transparent by tRNS
    out.append(("png_rgb16_trns", "png_rgb16_trns.png",
                png_by_hand(23, 19, 2, 16, [r.astype(">u2").tobytes() for r in rgb16],
                            [(b"tRNS", key.astype(">u2").tobytes())])))
    out.append(("png_grey16_trns", "png_grey16_trns.png",
                png_by_hand(21, 26, 0, 16, [r.astype(">u2").tobytes() for r in g16],
                            [(b"tRNS", g16[0, 0:1].astype(">u2").tobytes())])))
    gamma_rows = [r.tobytes() for r in pattern(24, 18, 52)]
    out.append(("png_gamma", "png_gamma.png",
                png_by_hand(24, 18, 2, 8, gamma_rows, [(b"gAMA", struct.pack(">I", 100000))])))
    la16 = rng.randint(0, 65536, size=(15, 18, 2)).astype(np.uint16)
    out.append(("png_la16", "png_la16.png",
                png_by_hand(18, 15, 4, 16, [r.astype(">u2").tobytes() for r in la16])))
    inter = pattern(29, 23, 51)
    out.append(("png_interlaced", "png_interlaced.png", png_adam7(29, 23, 2, inter)))
    inter16 = rng.randint(0, 65536, size=(11, 13)).astype(np.uint16)
    inter16[:2, :] = rng.randint(0, 300, size=(2, 13))
    out.append(("png_interlaced_grey16", "png_interlaced_grey16.png", png_adam7(13, 11, 0, inter16, 16)))
    g2 = rng.randint(0, 4, size=(13, 16)).astype(np.uint8)
    rows2 = [bytes(np.packbits(np.unpackbits(r[:, None], axis=1)[:, 6:].ravel())) for r in g2]
    out.append(("png_grey2", "png_grey2.png", png_by_hand(16, 13, 0, 2, rows2)))
    return out


def unsupported():
    """(name, filename, bytes, format) that must be refused."""
    im = Image.fromarray(pattern(20, 16, 60), "RGB")
    out = []
    for fmt, ext in (("WEBP", "webp"), ("BMP", "bmp"), ("GIF", "gif"), ("TIFF", "tif")):
        b = io.BytesIO()
        im.save(b, format=fmt)
        out.append((f"bad_{ext}", f"bad_{ext}.{ext}", b.getvalue(), fmt.lower()))
    return out


def rgb_of(path):
    with Image.open(path) as im:
        return ImageOps.exif_transpose(im).convert("RGB")


def raw(im):
    assert im.mode == "RGB"
    return np.asarray(im, dtype=np.uint8).tobytes()


def tensor_bytes(t):
    return t.contiguous().numpy().astype("<f4").tobytes()


def recorded_get_params(img, scale, ratio, draws):
    """torchvision's RandomResizedCrop.get_params, line for line, logging every random draw."""
    width, height = img.size
    area = height * width
    log_ratio = torch.log(torch.tensor(ratio))
    for _ in range(10):
        u = torch.empty(1).uniform_(scale[0], scale[1]).item()
        draws.append(["uniform", u])
        target_area = area * u
        v = torch.empty(1).uniform_(log_ratio[0], log_ratio[1])
        draws.append(["uniform", v.item()])
        aspect_ratio = torch.exp(v).item()
        w = int(round(math.sqrt(target_area * aspect_ratio)))
        h = int(round(math.sqrt(target_area / aspect_ratio)))
        if 0 < w <= width and 0 < h <= height:
            i = torch.randint(0, height - h + 1, size=(1,)).item()
            draws.append(["randint", i])
            j = torch.randint(0, width - w + 1, size=(1,)).item()
            draws.append(["randint", j])
            return i, j, h, w
    return None  # fallback: no further draws


def random_resized_crop_cases(root, write):
    """Recorded draws of RandomResizedCrop(28) + RandomHorizontalFlip() and their output."""
    cases = []
    for k, (name, seed, scale) in enumerate([
            ("jpeg_420", 0, (0.08, 1.0)), ("jpeg_420", 1, (0.08, 1.0)), ("jpeg_wide", 2, (0.08, 1.0)),
            ("png_tall", 3, (0.08, 1.0)), ("png_tiny", 4, (0.08, 1.0)), ("jpeg_progressive", 5, (0.5, 1.0)),
            ("jpeg_wide", 6, (2.0, 3.0)), ("png_tall", 7, (2.0, 3.0)), ("jpeg_420", 8, (2.0, 3.0))]):
        img = rgb_of(os.path.join(root, f"src/{name}." + ("png" if name.startswith("png") else "jpg")))
        ratio = (3.0 / 4.0, 4.0 / 3.0)
        torch.manual_seed(seed)
        expected = transforms.RandomResizedCrop.get_params(img, list(scale), list(ratio))
        tv = transforms.Compose([transforms.RandomResizedCrop(28, scale=scale), transforms.RandomHorizontalFlip()])
        torch.manual_seed(seed)
        out = tv(img)
        draws = []
        torch.manual_seed(seed)
        params = recorded_get_params(img, scale, ratio, draws)
        if params is None:
            params = expected  # the fallback draws nothing more
        assert tuple(params) == tuple(expected), (params, expected)
        flip = torch.rand(1).item()
        draws.append(["rand", flip])
        cases.append({"source": name, "scale": list(scale), "draws": draws, "params": list(expected),
                      "size": 28, "file": write(f"exp/rrc_{k}.rgb", raw(out))})
    return cases


def cmyk_table(write):
    """Pillow's CMYK -> RGB for every C against 32 K values (rawmode CMYK;I as JPEG uses)."""
    c = np.arange(256, dtype=np.uint8)
    ks = np.array(list(range(0, 256, 8)) + [255], dtype=np.uint8)
    raw_cmyk = np.zeros((len(ks), 256, 4), dtype=np.uint8)
    raw_cmyk[..., 0] = c[None, :]
    raw_cmyk[..., 1] = 255 - c[None, :]
    raw_cmyk[..., 2] = ((np.arange(256) * 7) % 256).astype(np.uint8)[None, :]
    raw_cmyk[..., 3] = ks[:, None]
    im = Image.frombytes("CMYK", (256, len(ks)), raw_cmyk.tobytes(), "raw", "CMYK;I")
    return {"width": 256, "height": len(ks), "raw": write("exp/cmyk_raw.bin", raw_cmyk.tobytes()),
            "rgb": write("exp/cmyk_rgb.rgb", raw(im.convert("RGB")))}


def main(fixtures_dir):
    root = os.path.join(fixtures_dir, "images")
    src_dir, exp_dir = os.path.join(root, "src"), os.path.join(root, "exp")
    for d in (src_dir, exp_dir):  # start clean: no stale files from an earlier layout
        shutil.rmtree(d, ignore_errors=True)
    os.makedirs(src_dir, exist_ok=True)
    os.makedirs(exp_dir, exist_ok=True)
    manifest = {"mean": MEAN, "std": STD, "images": [], "unsupported": [], "resize": [],
                "center_crop": [], "resized_crop": [], "full_eval": []}

    def write(rel, data):
        with open(os.path.join(root, rel), "wb") as f:
            f.write(data)
        return rel

    small = transforms.Compose([transforms.Resize(32), transforms.CenterCrop(28),
                                transforms.ToTensor(), transforms.Normalize(MEAN, STD)])
    for name, fname, data in sources():
        rel = write(f"src/{fname}", data)
        with Image.open(os.path.join(root, rel)) as im:
            mode = im.mode
        img = rgb_of(os.path.join(root, rel))
        r32 = transforms.Resize(32)(img)
        t = small(img)
        entry = {"name": name, "file": rel, "pil_mode": mode, "width": img.width,
                 "height": img.height, "rgb_sha256": hashlib.sha256(raw(img)).hexdigest()}
        if img.width * img.height <= 12000:
            entry["rgb"] = write(f"exp/{name}.rgb", raw(img))
        entry["resized"] = {"size": 32, "width": r32.width, "height": r32.height,
                            "file": write(f"exp/{name}.r32.rgb", raw(r32))}
        tb = tensor_bytes(t)
        entry["eval"] = {"resize": 32, "crop": 28, "sha256": hashlib.sha256(tb).hexdigest()}
        if len(manifest["images"]) < 10 or name in RAW_TENSORS:  # the rest: hash only, to keep the size down
            entry["eval"]["file"] = write(f"exp/{name}.e28.f32", tb)
        manifest["images"].append(entry)

    truncated = [d for n, f, d in sources() if n == "jpeg_420"][0]
    manifest["truncated"] = write("src/truncated.jpg", truncated[: len(truncated) * 2 // 3])

    for name, fname, data, fmt in unsupported():
        manifest["unsupported"].append({"name": name, "file": write(f"src/{fname}", data),
                                        "format": fmt})

    base = rgb_of(os.path.join(root, "src/jpeg_420.jpg"))  # 97x73
    cases = [((50, 30), None), ((120, 90), None), ((97, 40), None), ((40, 73), None),
             ((13, 7), None), ((97, 73), None), ((1, 1), None), ((300, 5), None),
             ((30, 20), (10.5, 5.25, 80.0, 60.75)), ((24, 18), (3, 4, 51, 40)),
             ((48, 36), (3, 4, 51, 40)), ((97, 73), (0.1, 0.0, 97.0, 73.0)),
             # Pillow 13 runs the vertical pass first when the height shrinks by more than
             # twice as much as the width: both sides of that boundary, with and without a box
             ((90, 20), None), ((87, 53), None), ((88, 53), None), ((200, 30), None),
             ((60, 10), (5.5, 3.25, 90.0, 70.5)), ((97, 20), (0, 10, 97, 60))]
    for i, (size, box) in enumerate(cases):
        out = base.resize(size, Image.BILINEAR, box=box)
        manifest["resize"].append({"source": "jpeg_420", "width": size[0], "height": size[1],
                                   "box": list(box) if box else None,
                                   "file": write(f"exp/resize_{i}.rgb", raw(out))})

    tiny = rgb_of(os.path.join(root, "src/png_tiny.png"))  # 7x5
    for i, (src, im, (h, w)) in enumerate([
            ("png_tiny", tiny, (10, 10)), ("png_tiny", tiny, (4, 12)), ("png_tiny", tiny, (9, 3)),
            ("png_tiny", tiny, (5, 7)), ("png_tiny", tiny, (2, 2)),
            ("jpeg_420", base, (40, 51)), ("jpeg_420", base, (30, 30)),
            ("jpeg_420", base, (41, 32)), ("jpeg_420", base, (80, 96))]):
        out = F.center_crop(im, [h, w])
        manifest["center_crop"].append({"source": src, "crop_height": h, "crop_width": w,
                                        "width": out.width, "height": out.height,
                                        "file": write(f"exp/crop_{i}.rgb", raw(out))})

    for i, (top, left, h, w, size) in enumerate([(7, 5, 50, 60, [32, 32]), (0, 0, 73, 97, [20, 30]),
                                                 (20, 30, 11, 9, [40, 40])]):
        out = F.resized_crop(base, top, left, h, w, size)
        manifest["resized_crop"].append({"source": "jpeg_420", "top": top, "left": left,
                                         "height": h, "width": w, "size": size,
                                         "file": write(f"exp/rcrop_{i}.rgb", raw(out))})

    manifest["random_resized_crop"] = random_resized_crop_cases(root, write)
    manifest["cmyk"] = cmyk_table(write)

    ramp = np.zeros((1, 256, 3), dtype=np.uint8)
    ramp[0, :, 0] = np.arange(256)
    ramp[0, :, 1] = 255 - np.arange(256)
    ramp[0, :, 2] = (np.arange(256) * 7) % 256
    t = transforms.Normalize(MEAN, STD)(transforms.ToTensor()(Image.fromarray(ramp, "RGB")))
    manifest["normalize"] = {"file": write("exp/normalize.f32", tensor_bytes(t)),
                             "rgb": write("exp/normalize.rgb", ramp.tobytes()), "width": 256, "height": 1}

    full = transforms.Compose([transforms.Resize(256), transforms.CenterCrop(224),
                               transforms.ToTensor(), transforms.Normalize(MEAN, STD)])
    for name in ("jpeg_256", "jpeg_420", "png_rgb_big", "jpeg_exif6_be"):
        path = [e["file"] for e in manifest["images"] if e["name"] == name][0]
        img = rgb_of(os.path.join(root, path))
        r = transforms.Resize(256)(img)
        manifest["full_eval"].append({
            "name": name, "file": path, "resized_width": r.width, "resized_height": r.height,
            "resized_sha256": hashlib.sha256(raw(r)).hexdigest(),
            "tensor_sha256": hashlib.sha256(tensor_bytes(full(img))).hexdigest(),
        })

    with open(os.path.join(root, "expected.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    total = sum(os.path.getsize(os.path.join(d, n)) for d, _, ns in os.walk(root) for n in ns)
    print(f"images: {len(manifest['images'])} sources, {total / 1e6:.2f} MB under {root}")


if __name__ == "__main__":
    main(os.path.dirname(os.path.abspath(__file__)))
