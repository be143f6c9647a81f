"""Reduction of the 4-D probabilistic atlases (Harvard–Oxford, Jülich) to a label map.

The first cluster table or Harvard–Oxford ROI of a process reduces the 4-D atlas
(Harvard–Oxford: 151 x 194 x 159 x 113 uint8, 4 MB compressed, 0.5 GB inflated) to its
most-probable-region label map, in one pass over the gzip stream. Three versions, each
in a fresh process, alternated (ABC CBA ...) ``--rounds`` times, medians reported:

* ``05a1586~1``: the private reader of ``inference/_atlas.py`` (ISA-L, no CRC check);
* ``7c4b314``: ``rois.Atlas.label_map`` through nibabel's gzip (zlib), one volume at a time;
* this checkout: ``rois.Atlas.label_map`` through the one gzip reader
  (``painmarkers._gzip``: ISA-L when installed, CRC checked).

All give the same label and probability maps (checksums compared).

Usage: python benchmarks/bench_atlas.py [--rounds 2] [--atlases harvard_oxford juelich]
"""

from __future__ import annotations

import argparse

import numpy as np
from _baseline import REPO, checkout, machine, run

IMPORTS = "import hashlib"
NEW_BODY = """
from painmarkers.rois import load_atlas
atlas = load_atlas(args["atlas"])
t = time.perf_counter()
labels, probs = atlas.label_map()
result = dict(reduce=time.perf_counter() - t)
"""
OLD_BODY = """
from painmarkers.inference._atlas import _load_atlas
t = time.perf_counter()
labels, probs, _, _ = _load_atlas(args["atlas"])
result = dict(reduce=time.perf_counter() - t)
"""
CHECKSUM = """
h = hashlib.blake2b(digest_size=8)
h.update(np.ascontiguousarray(labels).tobytes()); h.update(np.ascontiguousarray(probs).tobytes())
result["checksum"] = h.hexdigest()
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--atlases", nargs="+", default=["harvard_oxford", "juelich"])
    args = parser.parse_args()

    routes = {"private ISA-L reader (05a1586~1)": (checkout("05a1586~1"), OLD_BODY),
              "nibabel gzip (7c4b314)": (checkout("7c4b314"), NEW_BODY),
              "one gzip reader (this checkout)": (REPO, NEW_BODY)}
    names = list(routes)
    times = {(a, r): [] for a in args.atlases for r in names}
    sums = {}
    loads = []
    for i in range(args.rounds):
        for atlas in args.atlases:
            for route in names if i % 2 == 0 else names[::-1]:
                source, body = routes[route]
                out = run(source, IMPORTS, body + CHECKSUM, {"atlas": atlas})
                times[atlas, route].append(out["reduce"])
                sums.setdefault(atlas, set()).add(out["checksum"])
                loads.append(machine())
    print(f"machine: {loads[0]} ... {loads[-1]}")
    print("| atlas | route | reduction (s), median | runs (s) |")
    print("|---|---|---:|---|")
    for atlas in args.atlases:
        for route in names:
            runs = times[atlas, route]
            print(f"| {atlas} | {route} | {np.median(runs):.2f} | "
                  f"{', '.join(f'{t:.2f}' for t in runs)} |")
    for atlas, checksums in sums.items():
        print(f"{atlas}: {'same maps' if len(checksums) == 1 else 'DIFFERENT maps'} "
              f"({', '.join(sorted(checksums))})")


if __name__ == "__main__":
    main()
