"""Hooks of the sphinx-gallery configuration (a module, so Sphinx can pickle them)."""


class DeprecationsAreErrors:
    """Run each example with painmarkers' FutureWarnings (renamed parameters and keys,
    changed defaults) as errors, so the gallery never teaches a retired spelling."""

    def __repr__(self):
        return "DeprecationsAreErrors"

    def __call__(self, gallery_conf, fname, when=None):
        import warnings

        warnings.filterwarnings("error", message=r"(?s).*painmarkers", category=FutureWarning)


class TightScraper:
    """sphinx-gallery's matplotlib scraper saving with ``bbox_inches="tight"``, as the
    study report does, so colour-bar labels at the right edge of brain montages are kept."""

    def __repr__(self):
        return "TightScraper"

    def __call__(self, block, block_vars, gallery_conf, **kwargs):
        from sphinx_gallery.scrapers import matplotlib_scraper

        return matplotlib_scraper(block, block_vars, gallery_conf, bbox_inches="tight",
                                  **kwargs)
