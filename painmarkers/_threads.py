"""One BLAS thread for painmarkers' many small matrix products, safe under threads.

threadpoolctl's ``threadpool_limits`` changes a process-wide setting: when two Python
threads each enter and leave it, the first to leave restores the original number of BLAS
threads while the other is still computing, so that thread's products run on a thread
count that depends on scheduling. A multi-threaded OpenBLAS may split a product
differently by thread count (measured with OpenBLAS 0.3.23: a seed correlation map
moved by 5.6e-17 in about one run in three when images were processed in four threads).

:func:`single_blas_thread` counts the threads inside it: the limit is set when the first
enters and the original restored when the last leaves, so results do not depend on how
the work was scheduled (and nested uses cost nothing).

threadpoolctl 3.7+ lets only one "controlling" thread change OpenBLAS's process-wide pool
(the others' calls are ignored); since the first thread to enter and the last to leave may
differ, the thread that sets or restores the limit takes control for that call and hands
it back.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["single_blas_thread"]

_LOCK = threading.Lock()
_STATE: dict[str, Any] = {"depth": 0, "limiter": None}


@contextmanager
def single_blas_thread() -> Iterator[None]:
    """Run the block with one BLAS thread; the original count returns when the last leaves."""
    from threadpoolctl import threadpool_limits

    with _LOCK:
        if _STATE["depth"] == 0:
            _release_control()
            _STATE["limiter"] = threadpool_limits(limits=1, user_api="blas")
            _release_control()
        _STATE["depth"] += 1
    try:
        yield
    finally:
        with _LOCK:
            _STATE["depth"] -= 1
            if _STATE["depth"] == 0:
                limiter, _STATE["limiter"] = _STATE["limiter"], None
                _release_control()
                limiter.restore_original_limits()
                _release_control()


def _release_control() -> None:
    """Let the next thread that sets OpenBLAS's thread count do so (threadpoolctl 3.7+)."""
    import threadpoolctl

    controller = getattr(threadpoolctl, "OpenBLASController", None)
    clear = getattr(controller, "clear_controlling_thread", None)
    if clear is not None:
        clear(force=True)
