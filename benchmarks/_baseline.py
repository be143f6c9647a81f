"""Run one measurement in a fresh process, against this checkout or an older commit.

The benchmarks compare the current code with the code of an earlier commit ("the old
path") on the same inputs: ``git archive <commit> painmarkers`` is unpacked into a temporary
folder and put first on the child's ``PYTHONPATH``. Each measurement runs in its own
process so that peak memory (``ru_maxrss`` and tracemalloc) belongs to it alone.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

#: Code run in the child: imports, then ``body`` (which sets ``result``), timed and traced.
_CHILD = r"""
import json, resource, sys, time, tracemalloc
def peak_rss_mb():
    # VmHWM: this process's own high-water mark (ru_maxrss keeps the parent's across exec)
    try:
        with open("/proc/self/status") as f:
            return next(int(x.split()[1]) for x in f if x.startswith("VmHWM")) / 1024
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
args = json.loads(sys.argv[1])
import numpy as np, nibabel as nib
import painmarkers
{imports}
rss0 = peak_rss_mb()
tracemalloc.start()
t0 = time.perf_counter()
{body}
seconds = time.perf_counter() - t0
peak = tracemalloc.get_traced_memory()[1]
tracemalloc.stop()
rss1 = peak_rss_mb()
out = dict(seconds=seconds, traced_peak_mb=peak / 2**20, rss_growth_mb=rss1 - rss0,
           rss_before_mb=rss0, rss_peak_mb=rss1, package=painmarkers.__file__)
out.update(result if isinstance(result, dict) else {{}})
print("RESULT" + json.dumps(out))
"""


def checkout(commit: str) -> Path:
    """Unpack ``painmarkers/`` of ``commit`` into a temporary folder; return the folder."""
    folder = Path(tempfile.mkdtemp(prefix=f"painmarkers-{commit[:8]}-"))
    archive = subprocess.run(["git", "-C", str(REPO), "archive", "--format=tar", commit,
                              "painmarkers"], check=True, capture_output=True).stdout
    archive_path = folder / "src.tar"
    archive_path.write_bytes(archive)
    with tarfile.open(archive_path) as tar:
        tar.extractall(folder, filter="data")
    archive_path.unlink()
    return folder


def run(source: Path, imports: str, body: str, args: dict, blas_threads: int = 1) -> dict:
    """Run ``body`` in a fresh interpreter with ``source`` first on the path."""
    env = dict(os.environ, PYTHONPATH=str(source),
               OMP_NUM_THREADS=str(blas_threads), OPENBLAS_NUM_THREADS=str(blas_threads))
    code = _CHILD.format(imports=imports, body=body)
    # cwd=source: "python -c" puts the working directory first on sys.path
    done = subprocess.run([sys.executable, "-c", code, json.dumps(args)], env=env,
                          cwd=source, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"benchmark child failed:\n{done.stderr[-3000:]}")
    line = next(x for x in done.stdout.splitlines() if x.startswith("RESULT"))
    result = json.loads(line[len("RESULT"):])
    expected = str(source.resolve())
    if not result["package"].startswith(expected):
        raise RuntimeError(f"the child imported {result['package']}, not {expected}")
    return result


def machine() -> str:
    import platform

    import numpy as np

    load = os.getloadavg()
    return (f"{os.cpu_count()} cores, load average {load[0]:.1f}/{load[1]:.1f}, "
            f"{platform.python_implementation()} {platform.python_version()}, "
            f"numpy {np.__version__}")
