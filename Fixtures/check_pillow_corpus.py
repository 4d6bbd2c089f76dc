"""PIL's verdict on every JPEG and PNG of a folder, for Graft's opt-in corpus test.

Pillow's own test images are the corpus this was written for (they are not committed):
    git -C <Pillow checkout> archive HEAD Tests/images | tar -x -C /tmp/pillow   # or copy them
    ~/torchenv/bin/python Fixtures/check_pillow_corpus.py /tmp/pillow/Tests/images /tmp/pillow-verdicts
    GRAFT_PIL_CORPUS=/tmp/pillow-verdicts swift test --skip-build --filter PillowCorpusTests

A file is taken when its first bytes are JPEG's or PNG's signature (Graft sniffs content,
not names). For each, OUT/expected.json records whether PIL reads it
(ImageOps.exif_transpose(Image.open(p)).convert("RGB"), the pixels in OUT/exp/*.rgb) or
refuses it (and why); OUT/src links to the folder. The manifest has the same layout as
Fixtures/damaged/expected.json (gen_damaged.py).
"""
import json
import os
import sys

from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_damaged import case_entry  # noqa: E402


def kind(path):
    with open(path, "rb") as f:
        head = f.read(8)
    if head[:3] == b"\xff\xd8\xff":
        return "jpeg"
    if head == b"\x89PNG\r\n\x1a\n":
        return "png"
    return None


def main(folder, out):
    folder = os.path.abspath(folder)
    os.makedirs(os.path.join(out, "exp"), exist_ok=True)
    link = os.path.join(out, "src")
    if os.path.islink(link):
        os.remove(link)
    os.symlink(folder, link)
    cases = []
    for d, _, names in os.walk(folder):
        for n in sorted(names):
            p = os.path.join(d, n)
            k = kind(p)
            if k is None:
                continue
            rel = os.path.relpath(p, folder)
            name = rel.replace(os.sep, "__")
            cases.append(case_entry(out, f"src/{rel}", name, kind=k))
    cases.sort(key=lambda c: c["name"])
    with open(os.path.join(out, "expected.json"), "w") as f:
        json.dump({"pillow": Image.__version__, "cases": cases}, f, indent=1)
        f.write("\n")
    for k in ("jpeg", "png"):
        these = [c for c in cases if c["kind"] == k]
        print(f"{k}: {len(these)} files, PIL reads {sum(c['pil'] == 'read' for c in these)}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
