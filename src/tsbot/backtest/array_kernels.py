"""Small compiled loops over one series' arrays: crossings of two curves, the SMA crossover signals, and an
equality test. Each is a single pass that allocates nothing; the caller passes the output arrays.

They live apart from :mod:`tsbot.backtest.kernel` (the broker simulation) because none of them shares code with
it: numba's on-disk cache is keyed on the file of the compiled function, so this split costs no cache safety.
"""

from __future__ import annotations

import numpy as np
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

_jit = njit(cache=True, nogil=True)
_inline = njit(cache=True, nogil=True, inline="always")

#: Relative tolerance of :func:`sma_crossings`' fast comparison: 9 units in the last place (2**-53 each) of the
#: two means, three times the worst error of a quotient taken as a product with the rounded reciprocal.
_REL_TOL = 1e-15
#: Absolute floor of that tolerance, far above the absolute error of subnormal quotients (2**-1074).
_ABS_TOL = 1e-300
#: Bars between two publications of :func:`sma_crossings`' progress (when it is given ``ready``).
PUBLISH_EVERY = 4096


@intrinsic
def publish(typingctx, arr, idx, value):  # pragma: no cover - compiled
    """``arr[idx] = value`` (1-d int64 array) as an atomic store with release ordering: every write made before it
    is visible to a thread that reads the value with acquire ordering (the backtest kernel's ``_load_acquire``),
    and the compiler moves no earlier write after it."""

    def codegen(context, builder, signature, args):
        aryty = signature.args[0]
        ary = context.make_array(aryty)(context, builder, args[0])
        ptr = cgutils.get_item_pointer(context, builder, aryty, ary, [args[1]], wraparound=False)
        val = context.cast(builder, args[2], signature.args[2], types.int64)
        builder.store_atomic(val, ptr, "release", 8)
        return context.get_dummy_value()

    return types.void(arr, idx, value), codegen


@_jit
def crossings(a, b, up, down):  # pragma: no cover - compiled
    """Write into ``up`` / ``down`` (bool ``(n,)``) where ``a`` crosses above / below ``b`` (float64 ``(n,)``):
    ``a[i] > b[i] and a[i-1] <= b[i-1]`` (mirrored for below); NaN on either bar is no cross. One pass over the
    arrays instead of numpy's six temporaries."""
    n = a.shape[0]
    if n:
        up[0] = False
        down[0] = False
    prev_a = a[0] if n else 0.0
    prev_b = b[0] if n else 0.0
    for i in range(1, n):
        x = a[i]
        y = b[i]
        up[i] = x > y and prev_a <= prev_b
        down[i] = x < y and prev_a >= prev_b
        prev_a = x
        prev_b = y


@_jit
def same_values(a, b):  # pragma: no cover - compiled
    """Whether two int64 ``(n,)`` arrays hold the same values; stops at the first difference, allocates nothing."""
    if a.shape[0] != b.shape[0]:
        return False
    for i in range(a.shape[0]):  # noqa: SIM110 - a plain loop compiles to a tight early-exit scan; all() would not
        if a[i] != b[i]:
            return False
    return True


@_jit
def _compare_means(sum_a, sum_b, period_a, period_b):  # pragma: no cover - compiled
    """Sign of ``sum_a / period_a - sum_b / period_b`` with both quotients rounded as TA-Lib rounds them: 1, -1,
    0 (equal) or 2 (a NaN)."""
    a = sum_a / period_a
    b = sum_b / period_b
    if a > b:
        return 1
    if a < b:
        return -1
    return 0 if a == b else 2


@_inline
def _warm(x, first, fast, slow, up, down):  # pragma: no cover - compiled
    """Clear the outputs up to the first bar with both means (``m0``, returned) and run the two running sums up
    to it: returns ``m0``, the fast and slow totals after bar ``m0`` and the comparison of the means at ``m0``
    (``m0 >= n``: no such bar)."""
    n = x.shape[0]
    f0 = first + fast - 1  # first bar of each mean
    s0 = first + slow - 1
    m0 = max(f0, s0)
    for i in range(min(m0 + 1, n)):  # no mean, or no mean the bar before: no cross
        up[i] = False
        down[i] = False
    tf = 0.0
    ts = 0.0
    if m0 >= n:
        return m0, tf, ts, 2
    for i in range(first, f0):
        tf += x[i]
    for i in range(first, s0):
        ts += x[i]
    for i in range(f0, m0):
        tf += x[i]
        tf -= x[i - fast + 1]
    for i in range(s0, m0):
        ts += x[i]
        ts -= x[i - slow + 1]
    v = x[m0]
    tf += v
    t1 = tf
    tf -= x[m0 - fast + 1]
    ts += v
    t2 = ts
    ts -= x[m0 - slow + 1]
    return m0, tf, ts, _compare_means(t1, t2, float(fast), float(slow))


@_inline
def _compare_fast(a, b, sum_a, sum_b, period_a, period_b):  # pragma: no cover - compiled
    """:func:`_compare_means` from ``a`` and ``b``, the means taken as products with the rounded reciprocals of
    the periods; the division only when those are within the tolerance of each other."""
    d = a - b
    tol = max((abs(a) + abs(b)) * _REL_TOL, _ABS_TOL)
    return 1 if d > tol else (-1 if d < -tol else _compare_means(sum_a, sum_b, period_a, period_b))


@_jit
def sma_crossings(x, fast, slow, up, down, ready=None):  # pragma: no cover - compiled
    """Where SMA(``fast``) crosses above / below SMA(``slow``) of ``x``, bit for bit as
    ``crossings(talib.SMA(x, fast), talib.SMA(x, slow), up, down)``, in one pass without the two mean arrays.

    ``x`` float64 ``(n,)``; ``up`` / ``down`` bool ``(n,)`` are written; periods >= 1 (the caller checks TA-Lib's
    range). Like TA-Lib's Python wrapper, the means start at the first bar that is not NaN (``b``), the first
    mean of a period ``p`` is at bar ``b + p - 1``, and a NaN after ``b`` stays in the running sum from then on.
    Each running sum follows TA-Lib's ``TA_SMA`` order of operations (add the new bar, read the total, subtract
    the bar leaving the window), so the totals are the same floating-point numbers.

    Speed: the comparison of the two means uses products with the reciprocals of the periods; only when their
    difference is within ``_REL_TOL`` of the means (or a value is NaN or infinite) are the means divided as
    TA-Lib divides them, which decides ties and near-ties exactly as the two rounded quotients compare. Indices
    are unsigned in the loop, so numba adds no negative-index handling.

    ``ready``: int64 ``(1,)`` or None. Given, the number of bars whose ``up`` / ``down`` are written is
    published there as the pass goes (every ``PUBLISH_EVERY`` bars, with :func:`publish`), ending at ``n``: a
    backtest can simulate the signals while they are computed (:class:`~tsbot.backtest.models.StreamedPlan`).
    """
    n = x.shape[0]
    first = 0
    while first < n - 1 and x[first] != x[first]:
        first += 1
    m0, tf, ts, prev = _warm(x, first, fast, slow, up, down)
    pf = float(fast)
    ps = float(slow)
    rf = 1.0 / pf
    rs = 1.0 / ps
    lag_f = np.uint64(fast - 1)
    lag_s = np.uint64(slow - 1)
    start = m0 + 1
    while start < n:
        stop = min(n, start + PUBLISH_EVERY) if ready is not None else n
        if ready is not None:
            publish(ready, 0, start)
        for k in range(start, stop):
            i = np.uint64(k)
            v = x[i]
            tf += v
            t1 = tf
            tf -= x[i - lag_f]
            ts += v
            t2 = ts
            ts -= x[i - lag_s]
            cur = _compare_fast(t1 * rf, t2 * rs, t1, t2, pf, ps)
            up[i] = cur == 1 and (prev == -1 or prev == 0)
            down[i] = cur == -1 and (prev == 1 or prev == 0)
            prev = cur
        start = stop
    if ready is not None:
        publish(ready, 0, n)


@_jit
def sma_crossings_rows(x, fast, slow, up, down):  # pragma: no cover - compiled
    """:func:`sma_crossings` of each row of ``x`` float64 ``(m, n)`` into the rows of ``up`` / ``down`` bool
    ``(m, n)``, in one call. Rows go four at a time where none of the four starts with NaN
    (:func:`_four_rows`)."""
    m, n = x.shape
    r = 0
    while r < m:
        if r + 4 <= m and n > 0 and _no_nan_start(x, r, 4):
            _four_rows(x, r, fast, slow, up, down)
            r += 4
        else:
            sma_crossings(x[r], fast, slow, up[r], down[r])
            r += 1


@_jit
def _no_nan_start(x, r, count):  # pragma: no cover - compiled
    for q in range(r, r + count):  # noqa: SIM110 - numba compiles no generator expressions
        if x[q, 0] != x[q, 0]:
            return False
    return True


@_jit
def _four_rows(x, r, fast, slow, up, down):  # pragma: no cover - compiled
    """:func:`sma_crossings` of rows ``r .. r + 3`` (none starting with NaN) side by side: the running sums of one
    series are a chain of dependent additions, and four independent chains keep the processor busy. Written
    out row by row: the same steps through inlined helpers compile to a slower loop."""
    n = x.shape[1]
    pf = float(fast)
    ps = float(slow)
    rf = 1.0 / pf
    rs = 1.0 / ps
    lag_f = np.uint64(fast - 1)
    lag_s = np.uint64(slow - 1)
    x0, x1, x2, x3 = x[r], x[r + 1], x[r + 2], x[r + 3]
    u0, u1, u2, u3 = up[r], up[r + 1], up[r + 2], up[r + 3]
    d0, d1, d2, d3 = down[r], down[r + 1], down[r + 2], down[r + 3]
    m0, f0, s0, p0 = _warm(x0, 0, fast, slow, u0, d0)
    m0, f1, s1, p1 = _warm(x1, 0, fast, slow, u1, d1)
    m0, f2, s2, p2 = _warm(x2, 0, fast, slow, u2, d2)
    m0, f3, s3, p3 = _warm(x3, 0, fast, slow, u3, d3)
    for k in range(m0 + 1, n):
        i = np.uint64(k)
        v = x0[i]
        f0 += v
        t1 = f0
        f0 -= x0[i - lag_f]
        s0 += v
        t2 = s0
        s0 -= x0[i - lag_s]
        c = _compare_fast(t1 * rf, t2 * rs, t1, t2, pf, ps)
        u0[i] = c == 1 and (p0 == -1 or p0 == 0)
        d0[i] = c == -1 and (p0 == 1 or p0 == 0)
        p0 = c
        v = x1[i]
        f1 += v
        t1 = f1
        f1 -= x1[i - lag_f]
        s1 += v
        t2 = s1
        s1 -= x1[i - lag_s]
        c = _compare_fast(t1 * rf, t2 * rs, t1, t2, pf, ps)
        u1[i] = c == 1 and (p1 == -1 or p1 == 0)
        d1[i] = c == -1 and (p1 == 1 or p1 == 0)
        p1 = c
        v = x2[i]
        f2 += v
        t1 = f2
        f2 -= x2[i - lag_f]
        s2 += v
        t2 = s2
        s2 -= x2[i - lag_s]
        c = _compare_fast(t1 * rf, t2 * rs, t1, t2, pf, ps)
        u2[i] = c == 1 and (p2 == -1 or p2 == 0)
        d2[i] = c == -1 and (p2 == 1 or p2 == 0)
        p2 = c
        v = x3[i]
        f3 += v
        t1 = f3
        f3 -= x3[i - lag_f]
        s3 += v
        t2 = s3
        s3 -= x3[i - lag_s]
        c = _compare_fast(t1 * rf, t2 * rs, t1, t2, pf, ps)
        u3[i] = c == 1 and (p3 == -1 or p3 == 0)
        d3[i] = c == -1 and (p3 == 1 or p3 == 0)
        p3 = c


@_jit
def count_nonzero_rows(a, out):  # pragma: no cover - compiled
    """``out[r]`` = the number of nonzero values in row ``r`` of the int8 ``(m, n)`` array ``a`` (numpy's
    ``count_nonzero(a, axis=1)`` goes through a slow generic reduction)."""
    for r in range(a.shape[0]):
        c = 0
        row = a[r]
        for j in range(row.shape[0]):
            c += row[j] != 0
        out[r] = c
