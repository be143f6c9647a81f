"""The counted one-BLAS-thread limit stays on while any thread is inside it."""

import threading

import numpy as np
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

from painmarkers._threads import single_blas_thread


def _blas_threads():
    return [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]


@pytest.fixture
def two_blas_threads():
    with threadpool_limits(limits=2, user_api="blas"):
        counts = _blas_threads()
        if not counts or min(counts) < 2:
            pytest.skip(f"this BLAS cannot run 2 threads (threads: {counts})")
        yield


def test_limit_holds_until_the_last_thread_leaves(two_blas_threads):
    # A enters, B enters, A leaves; B must still run on one thread (threadpoolctl alone
    # restores 2 when A leaves). After B leaves, the original count is back.
    a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()
    seen = {}

    def a():
        with single_blas_thread():
            a_in.set()
            b_in.wait(5)
        a_out.set()

    def b():
        a_in.wait(5)
        with single_blas_thread():
            b_in.set()
            a_out.wait(5)
            seen["b_after_a_left"] = _blas_threads()

    threads = [threading.Thread(target=a), threading.Thread(target=b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert a_out.is_set() and b_in.is_set()
    assert set(seen["b_after_a_left"]) == {1}
    assert set(_blas_threads()) == {2}


def test_nested_and_after_an_error(two_blas_threads):
    with pytest.raises(RuntimeError, match="inner"):
        with single_blas_thread():
            with single_blas_thread():
                assert set(_blas_threads()) == {1}
            assert set(_blas_threads()) == {1}
            raise RuntimeError("inner")
    assert set(_blas_threads()) == {2}
    # the product is the same either way (a smoke check that BLAS still works)
    x = np.arange(12.0).reshape(3, 4)
    with single_blas_thread():
        np.testing.assert_array_equal(x @ x.T, np.einsum("ij,kj->ik", x, x))


def test_limit_set_in_one_thread_is_restored_by_another(two_blas_threads):
    # The first to enter is a worker that stays alive; the last to leave is the main
    # thread. threadpoolctl 3.7+ ignores a thread that does not control OpenBLAS: the
    # original count must still come back (not stay at 1 for the rest of the process).
    entered, release = threading.Event(), threading.Event()

    def worker():
        with single_blas_thread():
            entered.set()
            release.wait(5)

    t = threading.Thread(target=worker)
    t.start()
    entered.wait(5)
    with single_blas_thread():
        release.set()
        t.join(10)
        assert set(_blas_threads()) == {1}
    assert set(_blas_threads()) == {2}
