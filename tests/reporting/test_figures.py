"""save_figure writes 300 dpi PNG plus vector SVG and PDF, atomically, reproducibly."""

import os
import struct

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pytest

from painmarkers.reporting import FIGURE_FORMATS, figure_bytes, save_figure


def _fig():
    fig, ax = plt.subplots(figsize=(3.5, 2.5))
    ax.plot([0, 1, 2], [1, 0, 2])
    ax.set(xlabel="VAS (cm)", ylabel="ALFF")
    return fig


def _png_dpi(data: bytes) -> float:
    """Resolution from the PNG pHYs chunk (pixels per metre), read without any library."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos = 8
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        if kind == b"pHYs":
            ppm_x, ppm_y, unit = struct.unpack(">IIB", data[pos + 8:pos + 17])
            assert unit == 1 and ppm_x == ppm_y  # metres
            return ppm_x * 0.0254
        pos += 12 + length
    raise AssertionError("no pHYs chunk")


def test_writes_png_svg_pdf_at_300_dpi(tmp_path):
    out = save_figure(_fig(), tmp_path / "figs" / "fig1")
    assert list(out) == list(FIGURE_FORMATS) == ["png", "svg", "pdf"]
    assert {p.name for p in out.values()} == {"fig1.png", "fig1.svg", "fig1.pdf"}
    png = out["png"].read_bytes()
    assert _png_dpi(png) == pytest.approx(300, abs=0.5)
    from PIL import Image

    with Image.open(out["png"]) as im:  # 3.5 in wide at 300 dpi, minus the tight bbox trim
        assert 900 <= im.size[0] <= 3.5 * 300 + 2
    svg = out["svg"].read_text()
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg
    assert "VAS (cm)" in svg  # text stays text (svg.fonttype none): editable by journals
    assert out["pdf"].read_bytes()[:5] == b"%PDF-"
    assert sorted(p.name for p in (tmp_path / "figs").iterdir()) == [
        "fig1.pdf", "fig1.png", "fig1.svg"]  # no temporary files left
    assert not plt.fignum_exists(1) or plt.get_fignums() == []  # closed by default


def test_files_get_the_umask_mode(tmp_path):
    old = os.umask(0o022)
    try:
        out = save_figure(_fig(), tmp_path / "f", formats="png")
    finally:
        os.umask(old)
    assert out["png"].stat().st_mode & 0o777 == 0o644


def test_same_figure_gives_same_bytes():
    fig = _fig()
    for fmt in ("svg", "pdf", "png"):
        assert figure_bytes(fig, fmt, dpi=100) == figure_bytes(fig, fmt, dpi=100), fmt
    plt.close(fig)


def test_extension_is_replaced_and_axes_accepted(tmp_path):
    fig = _fig()
    out = save_figure(fig.axes[0], tmp_path / "fig2.png", formats=["pdf"], close=False)
    assert list(out.values()) == [tmp_path / "fig2.pdf"]
    assert plt.fignum_exists(fig.number)
    plt.close(fig)


@pytest.mark.parametrize("kwargs, match", [
    ({"formats": ["png", "tiff"]}, "'formats' parameter must be one of"),
    ({"formats": []}, "at least one"),
    ({"formats": ["png", "png"]}, "repeats"),
    ({"dpi": 0}, "'dpi' parameter must be a positive number"),
])
def test_bad_arguments_are_named(tmp_path, kwargs, match):
    fig = _fig()
    with pytest.raises(ValueError, match=match):
        save_figure(fig, tmp_path / "x", **kwargs)
    plt.close(fig)
    with pytest.raises(TypeError, match="matplotlib Figure or Axes"):
        save_figure("not a figure", tmp_path / "x")
