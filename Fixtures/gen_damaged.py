"""Damaged and odd JPEGs, and what PIL makes of each (issue 8, section 4).

Two classes the fuzzer found, each variant made from a small clean JPEG:
  warnings   libjpeg warnings PIL's decoder ignores (extraneous bytes before a marker, junk
             between markers, a short APP14, bad restart markers, data cut short before EOI,
             a missing EOI), and the truncations PIL refuses;
  exif       an EXIF Orientation stored with an unusual TIFF type or count, the way
             Image.getexif() and ImageOps.exif_transpose read it;
  png        where Pillow finds a PNG's Exif block (eXIf, ImageMagick's hex "Raw profile
             type exif" in tEXt/zTXt/iTXt) and the ancillary chunks that make it refuse a file.

Writes Fixtures/damaged/:
  src/<name>.jpg   the damaged file (.png for the PNG cases)
  exp/<name>.rgb   PIL: ImageOps.exif_transpose(Image.open(p)).convert("RGB"), raw RGB8
  expected.json    every case: what was done to it, whether PIL reads it (and its size and
                   pixels) or refuses it (and PIL's error)

`record` and `case_entry` are shared with check_pillow_corpus.py, which writes the same
manifest for a folder of images (Pillow's Tests/images).
"""
import hashlib
import io
import json
import os
import shutil
import struct
import sys
import warnings
import zlib

import numpy as np
from PIL import Image, ImageOps

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_images import pattern  # noqa: E402


def record(path):
    """PIL's verdict on one file: (rgb bytes or None, info dict)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(path) as im:
                fmt = im.format
                out = ImageOps.exif_transpose(im).convert("RGB")
    except Exception as e:  # noqa: BLE001 - every refusal is a verdict to record
        return None, {"pil": "refused", "error": f"{type(e).__name__}: {e}"}
    data = np.asarray(out, dtype=np.uint8).tobytes()
    return data, {"pil": "read", "format": fmt, "width": out.width, "height": out.height,
                  "rgb_sha256": hashlib.sha256(data).hexdigest()}


def case_entry(root, rel, name, write_rgb=True, **extra):
    rgb, info = record(os.path.join(root, rel))
    entry = {"name": name, "file": rel, **extra, **info}
    if rgb is not None and write_rgb:
        entry["rgb"] = f"exp/{name}.rgb"
        with open(os.path.join(root, entry["rgb"]), "wb") as f:
            f.write(rgb)
    return entry


# ---------------------------------------------------------------- JPEG surgery

def jpeg(im, **kw):
    b = io.BytesIO()
    im.save(b, format="JPEG", **kw)
    return b.getvalue()


def segments(data):
    """(marker, start, end) of every marker segment from SOI up to and including SOS."""
    out, i = [(0xD8, 0, 2)], 2
    while i < len(data):
        assert data[i] == 0xFF, i
        m = data[i + 1]
        n = struct.unpack(">H", data[i + 2:i + 4])[0]
        out.append((m, i, i + 2 + n))
        i += 2 + n
        if m == 0xDA:
            break
    return out


def seg(data, marker, k=0):
    return [s for s in segments(data) if s[0] == marker][k]


def insert(data, at, junk):
    return data[:at] + junk + data[at:]


def app(marker, payload):
    return bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload


def scan_range(data):
    """Start and end (the EOI's offset) of the entropy-coded data of the only scan."""
    return seg(data, 0xDA)[2], len(data) - 2


def splice_sof(data):
    """The SOF segment with one byte more in its declared length (and one junk byte)."""
    m, a, b = seg(data, 0xC0)
    n = struct.unpack(">H", data[a + 2:a + 4])[0]
    return data[:a + 2] + struct.pack(">H", n + 1) + data[a + 4:b] + b"\x00" + data[b:]


def warning_cases():
    rgb = Image.fromarray(pattern(24, 16, 70), "RGB")
    base = jpeg(rgb, quality=90)                                   # JFIF, 4:2:0, baseline
    rst = jpeg(Image.fromarray(pattern(40, 24, 71), "RGB"), quality=90, restart_marker_blocks=1)
    prog = jpeg(Image.fromarray(pattern(32, 24, 72), "RGB"), quality=90, progressive=True)
    grey = jpeg(Image.fromarray(pattern(20, 14, 73, 1)[..., 0], "L"), quality=90)
    s0, s1 = scan_range(base)
    dqt = seg(base, 0xDB)[1]
    sos = seg(base, 0xDA)[1]
    rsts = [i for i in range(*scan_range(rst)) if rst[i] == 0xFF and 0xD0 <= rst[i + 1] <= 0xD7]
    ps0, ps1 = scan_range(prog)
    p_sos = [i for i in range(len(prog) - 1) if prog[i] == 0xFF and prog[i + 1] == 0xDA]
    cases = [
        ("clean", "the unmodified source", base),
        ("extraneous_before_dqt", "3 bytes of junk between APP0 and DQT",
         insert(base, dqt, b"\x12\x34\x56")),
        ("extraneous_before_sos", "junk (no 0xFF) right before SOS", insert(base, sos, b"\x00" * 7)),
        ("extraneous_before_eoi", "junk between the scan data and EOI",
         insert(base, s1, b"\x01\x02\x03\x04\x05")),
        ("ff00_after_soi", "a stuffed FF 00 pair right after SOI", insert(base, 2, b"\xff\x00")),
        ("fill_bytes", "0xFF fill bytes before DQT", insert(base, dqt, b"\xff\xff\xff")),
        ("app14_short", "an Adobe APP14 of 7 bytes (libjpeg needs 12), its tail left as junk",
         insert(base, dqt, app(0xEE, b"Adobe\x00\x64") + b"\x00\x00\x00\x00\x01")),
        ("app14_header_only", "an APP14 holding only 'Adobe' (Pillow reads a version at byte 5)",
         insert(base, dqt, app(0xEE, b"Adobe"))),
        ("app0_short", "a JFIF APP0 cut to 6 bytes", base[:2] + app(0xE0, b"JFIF\x00\x01")
         + base[seg(base, 0xE0)[2]:]),
        ("cut_scan_with_eoi", "scan data cut at 60%, EOI kept",
         base[:s0 + (s1 - s0) * 3 // 5] + b"\xff\xd9"),
        ("no_eoi", "the final EOI removed", base[:-2]),
        ("no_eoi_grey", "a greyscale file without its EOI", grey[:-2]),
        ("junk_no_eoi", "junk after the scan data and no EOI: every row is out before the data ends",
         base[:-2] + bytes(range(1, 17))),
        ("trailing_junk", "bytes after EOI", base + b"junk after the image"),
        ("truncated_scan", "cut in the middle of the scan data", base[:s0 + (s1 - s0) // 2]),
        ("truncated_header", "cut inside DQT", base[:dqt + 20]),
        ("bad_huffman", "scan data overwritten with 0xFE bytes",
         base[:s0 + 10] + b"\xfe" * 12 + base[s0 + 22:]),
        ("rst_clean", "restart markers every MCU, unmodified", rst),
        ("rst_missing", "one restart marker removed", rst[:rsts[2]] + rst[rsts[2] + 2:]),
        ("rst_wrong_number", "a restart marker with the wrong number",
         rst[:rsts[3] + 1] + bytes([0xD0 + (rst[rsts[3] + 1] - 0xD0 + 3) % 8]) + rst[rsts[3] + 2:]),
        ("rst_junk", "junk bytes before a restart marker", insert(rst, rsts[4], b"\x00\x00\x00")),
        ("progressive_clean", "a progressive file, unmodified", prog),
        ("progressive_no_eoi", "a progressive file without its EOI", prog[:-2]),
        ("progressive_cut_with_eoi", "a progressive file cut inside its last scan, EOI kept",
         prog[:p_sos[-1] + (ps1 - p_sos[-1]) // 2] + b"\xff\xd9"),
        ("progressive_junk_between_scans", "junk between two progressive scans",
         insert(prog, p_sos[2], b"\x00\x01\x02")),
        ("progressive_truncated", "a progressive file cut in its second scan",
         prog[:p_sos[1] + 40]),
        ("marker_ff01", "an FF 01 (TEM) marker between segments, which Pillow's walk rejects",
         insert(base, dqt, b"\xff\x01")),
        ("eoi_in_header", "an EOI between APP0 and DQT", insert(base, dqt, b"\xff\xd9")),
        ("dqt_short", "a DQT segment 10 bytes short", base[:dqt] + b"\xff\xdb" + struct.pack(
            ">H", seg(base, 0xDB)[2] - dqt - 12) + base[dqt + 4:seg(base, 0xDB)[2] - 10]
         + base[seg(base, 0xDB)[2]:]),
        ("sof_partial_component", "a frame header with a partial component entry",
         splice_sof(base)),
    ]
    return cases


# ---------------------------------------------------------------- EXIF types

def tiff(entries, big_endian=False, header=None, extra=b""):
    """A TIFF block holding IFD0 `entries` [(tag, type, count, value field 4 bytes)]."""
    e = ">" if big_endian else "<"
    head = header if header is not None else ((b"MM\x00\x2a" if big_endian else b"II\x2a\x00"))
    out = head + struct.pack(e + "I", 8) + struct.pack(e + "H", len(entries))
    for tag, typ, count, field in entries:
        out += struct.pack(e + "HHI", tag, typ, count) + field
    return out + struct.pack(e + "I", 0) + extra


def exif_cases():
    e = "<"
    data_at = 8 + 2 + 12 + 4  # where an out-of-line value of a one-entry IFD starts

    def one(typ, count, field, extra=b"", **kw):
        return b"Exif\x00\x00" + tiff([(0x0112, typ, count, field)], extra=extra, **kw)

    h = lambda *v: struct.pack(e + "%dH" % len(v), *v)  # noqa: E731
    pad = lambda b: b + b"\x00" * (4 - len(b))  # noqa: E731
    off = struct.pack(e + "I", data_at)
    payloads = [
        ("short6", "SHORT 6 (the usual)", one(3, 1, pad(h(6)))),
        ("long6", "LONG 6", one(4, 1, struct.pack(e + "I", 6))),
        ("long8_value", "LONG 8", one(4, 1, struct.pack(e + "I", 8))),
        ("short_count2", "SHORT, count 2 (6, 3): Pillow keeps the first", one(3, 2, h(6, 3))),
        ("short_count3", "SHORT, count 3 out of line (8, 1, 1)", one(3, 3, off, h(8, 1, 1))),
        ("short_count0", "SHORT, count 0, then SHORT 3", b"Exif\x00\x00" + tiff(
            [(0x0112, 3, 0, pad(h(6))), (0x0112, 3, 1, pad(h(3)))])),
        ("two_entries", "SHORT 6 then SHORT 3: the first wins", b"Exif\x00\x00" + tiff(
            [(0x0112, 3, 1, pad(h(6))), (0x0112, 3, 1, pad(h(3)))])),
        ("byte6", "BYTE 6 (Pillow reads bytes, not a number)", one(1, 1, pad(b"\x06"))),
        ("sbyte6", "SBYTE 6", one(6, 1, pad(b"\x06"))),
        ("sshort8", "SSHORT 8", one(8, 1, pad(struct.pack(e + "h", 8)))),
        ("slong5", "SLONG 5", one(9, 1, struct.pack(e + "i", 5))),
        ("sshort_negative", "SSHORT -6", one(8, 1, pad(struct.pack(e + "h", -6)))),
        ("rational6", "RATIONAL 6/1", one(5, 1, off, struct.pack(e + "II", 6, 1))),
        ("rational12_2", "RATIONAL 12/2", one(5, 1, off, struct.pack(e + "II", 12, 2))),
        ("rational13_2", "RATIONAL 13/2", one(5, 1, off, struct.pack(e + "II", 13, 2))),
        ("rational6_0", "RATIONAL 6/0", one(5, 1, off, struct.pack(e + "II", 6, 0))),
        ("srational8", "SRATIONAL 8/1", one(10, 1, off, struct.pack(e + "ii", 8, 1))),
        ("float6", "FLOAT 6.0", one(11, 1, struct.pack(e + "f", 6.0))),
        ("float6_5", "FLOAT 6.5", one(11, 1, struct.pack(e + "f", 6.5))),
        ("double3", "DOUBLE 3.0", one(12, 1, off, struct.pack(e + "d", 3.0))),
        ("ascii6", "ASCII '6'", one(2, 2, pad(b"6\x00"))),
        ("undefined6", "UNDEFINED 6", one(7, 1, pad(b"\x06"))),
        ("ifd6", "IFD 6", one(13, 1, struct.pack(e + "I", 6))),
        ("long8_type", "LONG8 (type 16) 7", one(16, 1, off, struct.pack(e + "Q", 7))),
        ("slong8_type", "SLONG8 (type 17), which Pillow does not read", one(17, 1, off, struct.pack(e + "q", 7))),
        ("unknown_type", "type 99, skipped", one(99, 1, pad(h(6)))),
        ("value9", "SHORT 9 (no such orientation)", one(3, 1, pad(h(9)))),
        ("double_header", "'Exif\\0\\0' twice before the TIFF header",
         b"Exif\x00\x00" + one(3, 1, pad(h(8)))),
        ("swapped_magic", "header 'MM\\x2a\\x00', which Pillow takes as big-endian",
         b"Exif\x00\x00" + tiff([(0x0112, 3, 1, h(6)[::-1] + b"\x00\x00")], big_endian=True,
                                 header=b"MM\x2a\x00")),
        ("bigtiff_header", "a BigTIFF header, on which Pillow raises", b"Exif\x00\x00" + tiff(
            [(0x0112, 3, 1, pad(h(6)))], header=b"II\x2b\x00")),
        ("not_tiff", "'Exif\\0\\0' followed by no TIFF header", b"Exif\x00\x00XXXX\x08\x00\x00\x00"),
        ("out_of_line_past_end", "an entry whose data lies past the end stops the IFD; SHORT 6 after it",
         b"Exif\x00\x00" + tiff([(0x010F, 2, 20, struct.pack(e + "I", 40)), (0x0112, 3, 1, pad(h(6)))])),
    ]
    im = Image.fromarray(pattern(13, 7, 74), "RGB")
    base = jpeg(im, quality=90)
    at = seg(base, 0xE0)[2]
    cases = [(f"exif_{n}", what, base[:at] + app(0xE1, p) + base[at:]) for n, what, p in payloads]
    xmp = (b"http://ns.adobe.com/xap/1.0/\x00" + b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF>'
           b'<rdf:Description tiff:Orientation="8"/></rdf:RDF></x:xmpmeta>')
    for n, what, p in payloads:
        if n in ("byte6", "short_count2", "unknown_type", "slong8_type", "not_tiff", "double_header"):
            cases.append((f"exif_{n}_xmp8", what + ", with XMP Orientation 8",
                          base[:at] + app(0xE1, p) + app(0xE1, xmp) + base[at:]))
    # A JFIF resolution makes Pillow skip reading Exif while opening, so an unreadable block
    # fails exif_transpose instead of being ignored.
    jfif_dpi = jpeg(im, quality=90, dpi=(72, 72))
    at2 = seg(jfif_dpi, 0xE0)[2]
    for n, what, p in payloads:
        if n in ("not_tiff", "bigtiff_header", "short6"):
            cases.append((f"exif_{n}_jfif_dpi", what + ", in a file whose JFIF segment gives a resolution",
                          jfif_dpi[:at2] + app(0xE1, p) + jfif_dpi[at2:]))
    return cases


def png_chunk(t, d):
    return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)


def png_with(png, before=(), after=()):
    """`png` with chunks added before its first IDAT and before IEND."""
    i = png.index(b"IDAT") - 4
    j = len(png) - 12
    return png[:i] + b"".join(png_chunk(t, d) for t, d in before) + png[i:j] \
        + b"".join(png_chunk(t, d) for t, d in after) + png[j:]


def raw_profile(payload):
    """ImageMagick's "Raw profile type exif" text: a header and the hex dump in 72-column lines."""
    hx = payload.hex()
    return ("\nexif\n%8d\n" % len(payload) + "\n".join(hx[i:i + 72] for i in range(0, len(hx), 72))
            + "\n").encode("latin-1")


def png_cases():
    b = io.BytesIO()
    Image.fromarray(pattern(13, 7, 75), "RGB").save(b, format="PNG")
    png = b.getvalue()
    short = lambda v: b"Exif\x00\x00" + tiff([(0x0112, 3, 1, struct.pack("<H", v) + b"\x00\x00")])  # noqa: E731
    key = b"Raw profile type exif\x00"
    def bad_crc(data, t, k=0):
        """`data` with the CRC of its k-th chunk of type t inverted."""
        i = [m for m in range(len(data) - 3) if data[m:m + 4] == t][k] - 4
        n = struct.unpack(">I", data[i:i + 4])[0]
        c = i + 8 + n
        return data[:c] + bytes(b ^ 0xFF for b in data[c:c + 4]) + data[c + 4:]

    idat_end = png.index(b"IEND") - 4
    b = io.BytesIO()
    frames = [Image.fromarray(pattern(13, 7, 76 + k), "RGB") for k in range(2)]
    frames[0].save(b, format="PNG", save_all=True, append_images=frames[1:], duration=100)
    apng = b.getvalue()

    def with_idat(data, f):
        """`data` with its (single) IDAT chunk's zlib stream replaced by f(stream)."""
        i = data.index(b"IDAT") - 4
        n = struct.unpack(">I", data[i:i + 4])[0]
        return data[:i] + png_chunk(b"IDAT", f(data[i + 8:i + 8 + n])) + data[i + 12 + n:]

    flip = lambda z: z[:-4] + bytes(b ^ 0x55 for b in z[-4:])  # noqa: E731
    return [
        ("png_apng_cut_second_frame", "an animated PNG cut inside its second frame (Pillow reads frame 0 only)",
         apng[:apng.rindex(b"fdAT") + 30]),
        ("png_zlib_no_checksum", "the zlib stream's checksum left out (Pillow stops after the last row)",
         with_idat(png, lambda z: z[:-4])),
        ("png_zlib_cut_end", "the zlib stream cut 6 bytes short of its end",
         with_idat(png, lambda z: z[:-6])),
        ("png_zlib_bad_checksum", "a wrong zlib checksum right after the last row (zlib reports it)",
         with_idat(png, flip)),
        ("png_zlib_junk_after", "junk after the zlib stream, inside IDAT", with_idat(png, lambda z: z + b"junk")),
        ("png_zlib_cut_half", "the zlib stream cut in half", with_idat(png, lambda z: z[:len(z) // 2])),
        ("png_idat_bad_crc", "the IDAT chunk's CRC is wrong (Pillow does not check it)", bad_crc(png, b"IDAT")),
        ("png_text_after_idat_bad_crc", "a tEXt chunk after IDAT with a wrong CRC (not checked)",
         bad_crc(png_with(png, after=[(b"tEXt", b"Comment\x00hello")]), b"tEXt")),
        ("png_text_before_idat_bad_crc", "a tEXt chunk before IDAT with a wrong CRC (Pillow refuses)",
         bad_crc(png_with(png, [(b"tEXt", b"Comment\x00hello")]), b"tEXt")),
        ("png_ihdr_bad_crc", "IHDR with a wrong CRC", bad_crc(png, b"IHDR")),
        ("png_unknown_critical", "an unknown critical chunk 'ZZZZ' before IDAT (Pillow skips it)",
         png_with(png, [(b"ZZZZ", b"12345")])),
        ("png_unknown_critical_after", "an unknown critical chunk after IDAT",
         png_with(png, after=[(b"ZZZZ", b"12345")])),
        ("png_trailing_chunk_cut", "after IDAT, a tEXt chunk cut short and no IEND",
         png[:idat_end] + struct.pack(">I", 100) + b"tEXtComment\x00abc"),
        ("png_no_iend", "no IEND chunk", png[:idat_end]),
        ("png_xmp_ztxt", "XMP Orientation 6 in a zTXt chunk",
         png_with(png, [(b"zTXt", b"XML:com.adobe.xmp\x00\x00" + zlib.compress(b'<x tiff:Orientation="6"/>'))])),
        ("png_xmp_itxt_compressed", "XMP Orientation 8 in a compressed iTXt chunk",
         png_with(png, [(b"iTXt", b"XML:com.adobe.xmp\x00\x01\x00\x00\x00"
                         + zlib.compress(b"<tiff:Orientation>8</tiff:Orientation>"))])),
        ("png_xmp_itxt_latin1", "XMP Orientation 5 in an iTXt chunk that is not UTF-8 (Pillow's info['xmp'])",
         png_with(png, [(b"iTXt", b"XML:com.adobe.xmp\x00\x00\x00\x00\x00\xe9 tiff:Orientation=\"5\"")])),
        ("png_xmp_two", "XMP Orientation 6 in iTXt, then 3 in tEXt: the last wins",
         png_with(png, [(b"iTXt", b"XML:com.adobe.xmp\x00\x00\x00\x00\x00tiff:Orientation=\"6\""),
                        (b"tEXt", b"XML:com.adobe.xmp\x00tiff:Orientation=\"3\"")])),
        ("png_exif6", "an eXIf chunk, Orientation 6", png_with(png, [(b"eXIf", short(6)[6:])])),
        ("png_exif_two", "two eXIf chunks, 6 then 8: Pillow keeps the last",
         png_with(png, [(b"eXIf", short(6)[6:]), (b"eXIf", short(8)[6:])])),
        ("png_exif_after_idat", "an eXIf chunk after the image data, Orientation 5",
         png_with(png, after=[(b"eXIf", short(5)[6:])])),
        ("png_raw_profile_text", "ImageMagick's raw profile in tEXt, Orientation 6",
         png_with(png, [(b"tEXt", key + raw_profile(short(6)))])),
        ("png_raw_profile_ztxt", "ImageMagick's raw profile in zTXt, Orientation 8",
         png_with(png, [(b"zTXt", key + b"\x00" + zlib.compress(raw_profile(short(8))))])),
        ("png_raw_profile_itxt", "ImageMagick's raw profile in compressed iTXt, Orientation 3",
         png_with(png, [(b"iTXt", key + b"\x01\x00\x00\x00" + zlib.compress(raw_profile(short(3))))])),
        ("png_raw_profile_after_idat", "the raw profile after the image data, Orientation 7",
         png_with(png, after=[(b"tEXt", key + raw_profile(short(7)))])),
        ("png_exif_and_raw_profile", "eXIf 6 and a raw profile 8: eXIf wins",
         png_with(png, [(b"tEXt", key + raw_profile(short(8))), (b"eXIf", short(6)[6:])])),
        ("png_raw_profile_bad_hex", "a raw profile that is not hex (Pillow's getexif raises)",
         png_with(png, [(b"tEXt", key + b"\nexif\n       4\nzz00zz00\n")])),
        ("png_exif_not_tiff", "an eXIf chunk that is not TIFF data", png_with(png, [(b"eXIf", b"XXXX\x08\x00\x00\x00")])),
        ("png_iccp_method1", "an iCCP chunk with compression method 1",
         png_with(png, [(b"iCCP", b"ICC\x00\x01" + zlib.compress(b"\x00" * 200))])),
        ("png_ztxt_method1", "a zTXt chunk with compression method 1",
         png_with(png, [(b"zTXt", b"Comment\x00\x01" + zlib.compress(b"hello"))])),
        ("png_ztxt_bomb", "a zTXt chunk inflating past Pillow's MAX_TEXT_CHUNK (1 MiB)",
         png_with(png, [(b"zTXt", b"Comment\x00\x00" + zlib.compress(b" " * (1 << 20 | 1), 9))])),
        ("png_ztxt_damaged", "a zTXt chunk whose zlib data is damaged (Pillow reads empty text)",
         png_with(png, [(b"zTXt", b"Comment\x00\x00" + b"\x78\x9c\xff\xff\xff")])),
    ]


def main(fixtures_dir):
    root = os.path.join(fixtures_dir, "damaged")
    for d in ("src", "exp"):
        shutil.rmtree(os.path.join(root, d), ignore_errors=True)
        os.makedirs(os.path.join(root, d))
    manifest = {"pillow": Image.__version__, "cases": []}
    for cls, cases in (("warnings", warning_cases()), ("exif", exif_cases()), ("png", png_cases())):
        for name, what, data in cases:
            rel = f"src/{name}." + ("png" if cls == "png" else "jpg")
            with open(os.path.join(root, rel), "wb") as f:
                f.write(data)
            manifest["cases"].append(case_entry(root, rel, name, kind=cls, what=what))
    with open(os.path.join(root, "expected.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    read = sum(c["pil"] == "read" for c in manifest["cases"])
    total = sum(os.path.getsize(os.path.join(d, n)) for d, _, ns in os.walk(root) for n in ns)
    print(f"damaged: {len(manifest['cases'])} cases, PIL reads {read}, {total / 1e3:.0f} kB under {root}")


if __name__ == "__main__":
    main(os.path.dirname(os.path.abspath(__file__)))
