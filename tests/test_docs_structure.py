"""The documentation's structure, read from the sources (no build needed): the install
page and the README agree and tell the truth, the user guide is in a learning order
and lists every page, the architecture page covers every package, the GRF formulas are
rendered maths, gallery images are readable."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
README = (ROOT / "README.md").read_text()


def _bash_blocks(markdown: str) -> list[str]:
    return [b.strip() for b in re.findall(r"```bash\n(.*?)```", markdown, re.S)]


def test_readme_commands_are_on_the_install_page_and_name_no_missing_file():
    install = (DOCS / "install.rst").read_text()
    commands = _bash_blocks(README)[:2]
    assert commands[0].endswith("pip install . && painmarkers demo")
    assert commands[1].endswith('pip install -e ".[test]" && python -m pytest')
    for command in commands:
        assert command in install, command
    assert "DESIGN.md" not in README
    for path in re.findall(r"`((?:docs|benchmarks|\.ci)/[\w./-]+)`", README):
        assert (ROOT / path).exists(), path


def test_nobody_is_told_to_pip_install_painmarkers_from_pypi():
    for page in [ROOT / "README.md", *DOCS.rglob("*.rst")]:
        text = page.read_text()
        for line in text.splitlines():
            if re.search(r"pip install painmarkers(?![-\w.])", line):
                assert "not" in line or "does not" in line, (page, line)


def test_the_demo_command_of_the_readme_exists():
    from painmarkers.cli import _parser

    sub = next(a for a in _parser()._actions if a.dest == "command")
    assert {"demo", "run", "check", "simulate"} <= set(sub.choices)
    assert "[project.scripts]" in (ROOT / "pyproject.toml").read_text()


def _toctree_entries(text: str) -> list[str]:
    entries = []
    for block in re.findall(r"\.\. toctree::\n((?:   .*\n|\n)+)", text):
        entries += [line.strip() for line in block.splitlines()
                    if line.strip() and not line.strip().startswith(":")]
    return entries


def test_user_guide_lists_every_page_in_a_learning_order():
    index = (DOCS / "user_guide" / "index.rst").read_text()
    assert ":glob:" not in index
    entries = _toctree_entries(index)
    pages = sorted(p.stem for p in (DOCS / "user_guide").glob("*.rst") if p.stem != "index")
    assert sorted(entries) == pages, "a page is missing from, or unknown to, the toctree"
    order = ["data_model", "bids_input", "extractors", "statistics", "cluster_inference",
             "biomarker_evaluation", "study_specs", "validation"]
    positions = [entries.index(page) for page in order]
    assert positions == sorted(positions), entries
    captions = re.findall(r":caption: (.+)", index)
    assert captions[0] == "Data model" and captions[-1] == "Validation"


def test_top_level_toctree_has_install_first_and_architecture():
    entries = _toctree_entries((DOCS / "index.rst").read_text())
    assert entries[0] == "install" and "architecture" in entries
    for entry in entries:
        if not entry.startswith("auto_examples"):
            assert (DOCS / f"{entry}.rst").is_file(), entry


def test_architecture_page_covers_every_package_and_layer():
    text = (DOCS / "architecture.rst").read_text()
    packages = sorted(p.name for p in (ROOT / "painmarkers").iterdir()
                      if p.is_dir() and (p / "__init__.py").is_file())
    for package in packages:
        assert f"{package}/" in text, package
    layers = re.search(r"layers = \[(.*?)\]", (ROOT / "pyproject.toml").read_text(), re.S)[1]
    for module in re.findall(r"painmarkers\.(\w+)", layers):
        assert module in text, module


def test_grf_formulas_are_rendered_maths():
    text = (DOCS / "user_guide" / "cluster_inference.rst").read_text()
    section = text[text.index("GRF: ``method=\"fsl\"``"):text.index("**FSL's or DPABI's")]
    assert section.count(".. math::") >= 3
    assert r"\mathrm{E}[m]" in section and r"\beta" in section and r"\mathrm{dLh}" in section
    assert "E[m] = V (2π)" not in section  # the old plain-text formula
    assert "2 voxels" in section  # when random field theory holds


def test_gallery_images_are_readable():
    conf = (DOCS / "conf.py").read_text()
    assert '"image_srcset": ["2x"]' in conf
    # a cell drawing several brain montages shows them one under the other, full width
    example = (ROOT / "examples" / "plot_grf_vs_permutation.py").read_text()
    loop = example.index("for title, r in")
    assert 'sphinx_gallery_multi_image_block = "single"' in example[loop - 200:loop]
