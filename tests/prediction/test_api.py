"""Every public name of painmarkers.prediction imports and is listed in docs/api.rst."""

from pathlib import Path

import painmarkers.prediction as prediction


def test_all_names_documented():
    api = (Path(__file__).parents[2] / "docs" / "api.rst").read_text()
    for name in prediction.__all__:
        assert getattr(prediction, name) is not None
        assert f"painmarkers.prediction.{name}\n" in api, name
