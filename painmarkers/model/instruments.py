"""Registry of clinical instruments (pain intensity, disability) with valid ranges."""

from __future__ import annotations

from dataclasses import dataclass, field

from painmarkers._validation import check_choice
from painmarkers.exceptions import RegistryError

__all__ = ["Instrument", "get_instrument", "list_instruments", "register_instrument"]


@dataclass(frozen=True)
class Instrument:
    """A clinical rating instrument and its valid range.

    Parameters
    ----------
    name : str
        Canonical name, e.g. ``"VAS"``. Lookups are case-insensitive.
    low, high : float
        Inclusive valid range of a score.
    unit : str, default="points"
        Unit of a score (e.g. ``"cm"`` for a 10-cm VAS).
    direction : {"higher_is_worse", "higher_is_better"}, default="higher_is_worse"
        Meaning of larger values; percent improvement is computed so that a
        positive value always means improvement.
    description : str, default=""
        Long name and reference.
    aliases : tuple of str, default=()
        Other names accepted by :func:`get_instrument`.

    Raises
    ------
    ValueError
        An empty name, an unknown ``direction`` or ``low >= high``.

    Examples
    --------
    >>> from painmarkers.model import Instrument
    >>> Instrument("PCS", 0, 52, description="Pain Catastrophizing Scale").high
    52
    """

    name: str
    low: float
    high: float
    unit: str = "points"
    direction: str = "higher_is_worse"
    description: str = ""
    aliases: tuple[str, ...] = field(default=())

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name.strip():
            raise ValueError(
                f"The 'name' of an instrument must be a non-empty string. Got {self.name!r}."
            )
        check_choice(self.direction, ("higher_is_worse", "higher_is_better"), "direction")
        if not self.low < self.high:
            raise ValueError(
                f"Instrument {self.name!r}: 'low' must be < 'high'. Got low={self.low!r}, "
                f"high={self.high!r}."
            )
        object.__setattr__(self, "aliases", tuple(self.aliases))

    def contains(self, value: float) -> bool:
        """Return True if ``value`` lies in the inclusive valid range.

        Parameters
        ----------
        value : float
            A score.

        Returns
        -------
        bool
            ``low <= value <= high``.

        Examples
        --------
        >>> from painmarkers.model import get_instrument
        >>> vas = get_instrument("VAS")
        >>> vas.contains(10.0), vas.contains(10.5)
        (True, False)
        """
        return self.low <= value <= self.high


_REGISTRY: dict[str, Instrument] = {}
_ALIASES: dict[str, str] = {}


def register_instrument(instrument: Instrument, *, overwrite: bool = False) -> Instrument:
    """Add an instrument to the registry so that scores can use it.

    Parameters
    ----------
    instrument : Instrument
        The instrument to register.
    overwrite : bool, default=False
        Replace an instrument of the same name or alias instead of raising.

    Returns
    -------
    Instrument
        The registered instrument.

    Raises
    ------
    RegistryError
        If the name or an alias is taken and ``overwrite`` is False.
    TypeError
        ``instrument`` is not an :class:`Instrument`.

    See Also
    --------
    get_instrument : Look an instrument up by name or alias.
    list_instruments : The registered names.

    Examples
    --------
    >>> from painmarkers.model import Instrument, register_instrument, get_instrument
    >>> _ = register_instrument(Instrument("PCS", 0, 52), overwrite=True)
    >>> get_instrument("pcs").high
    52
    """
    if not isinstance(instrument, Instrument):
        raise TypeError(f"register_instrument expects an Instrument. Got {type(instrument)}.")
    keys = [instrument.name.lower(), *(a.lower() for a in instrument.aliases)]
    if not overwrite:
        taken = [k for k in keys if k in _ALIASES]
        if taken:
            raise RegistryError(
                f"Instrument name(s) {taken} already registered (as "
                f"{sorted({_ALIASES[k] for k in taken})}); pass overwrite=True to replace."
            )
    _REGISTRY[instrument.name] = instrument
    for key in keys:
        _ALIASES[key] = instrument.name
    return instrument


def get_instrument(name: str) -> Instrument:
    """Return the registered instrument called ``name`` (case-insensitive, aliases allowed).

    Parameters
    ----------
    name : str or Instrument
        Canonical name or alias, any case; an :class:`Instrument` is returned as is.

    Returns
    -------
    Instrument
        The registered instrument.

    Raises
    ------
    RegistryError
        If no instrument has that name; the message lists the known ones.

    Examples
    --------
    >>> from painmarkers.model import get_instrument
    >>> rm = get_instrument("Roland-Morris")
    >>> (rm.name, rm.low, rm.high)
    ('RMDQ', 0.0, 24.0)
    """
    if isinstance(name, Instrument):
        return name
    key = str(name).strip().lower()
    if key not in _ALIASES:
        raise RegistryError(
            f"Unknown instrument {name!r}. Known instruments: {', '.join(list_instruments())}. "
            "Register new ones with painmarkers.register_instrument."
        )
    return _REGISTRY[_ALIASES[key]]


def list_instruments() -> list[str]:
    """Return the canonical names of the registered instruments, sorted.

    Returns
    -------
    list of str
        The names (VAS, NRS, RMDQ and ODI are built in).

    See Also
    --------
    register_instrument : Add an instrument.

    Examples
    --------
    >>> from painmarkers.model import list_instruments
    >>> {"NRS", "ODI", "RMDQ", "VAS"} <= set(list_instruments())
    True
    """
    return sorted(_REGISTRY)


for _inst in (
    Instrument("VAS", 0.0, 10.0, unit="cm", description="Visual analogue scale of pain intensity "
               "(10 cm line; 0 = no pain, 10 = worst imaginable)", aliases=("vas_0_10",)),
    Instrument("NRS", 0.0, 10.0, description="Numeric rating scale of pain intensity (0-10)",
               aliases=("nprs",)),
    Instrument("RMDQ", 0.0, 24.0, description="Roland-Morris Disability Questionnaire (24 items)",
               aliases=("roland-morris", "roland_morris", "rm", "rmq", "rmdq_0_24")),
    Instrument("ODI", 0.0, 100.0, unit="%", description="Oswestry Disability Index (percent)",
               aliases=("oswestry",)),
):
    register_instrument(_inst)
del _inst
