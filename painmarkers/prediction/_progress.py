"""The progress bars of the long steps (permutations, bootstraps, refits)."""

from __future__ import annotations

__all__: list[str] = []


def progress_bar(total: int, desc: str, enabled: bool, unit: str = "it"):
    """A tqdm bar on stderr that disappears when done (a no-op when ``enabled`` is False).

    Parameters
    ----------
    total : int
        Number of steps.
    desc : str
        Label (``"permutations"``, ``"bootstrap"``, ...).
    enabled : bool
        Show the bar.
    unit : str, default="it"
        Unit of a step.

    Returns
    -------
    tqdm.tqdm
        Use ``update(k)`` and ``close()``.
    """
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit=unit, disable=not enabled, leave=False)
