"""The numba kernel of the backtester: one series, bar by bar, one simulated broker (and :func:`simulate_panel`,
which runs it over the rows of a panel in one call).

The rules it implements are written out in :mod:`tsbot.backtest.engine` (read that first); this module is the
compiled loop and the layout of its inputs and outputs. Everything is float64 / int8 / bool / int64 numpy
arrays and scalars packed in a float64 ``params`` vector (indices ``P_*``), so that one compiled
specialisation serves every call. Position state lives in a small float64 vector (indices ``S_*``) shared by
the helpers; counters in an int64 vector (indices ``C_*``).

Speed: every array, outputs included, is allocated by the caller, so the kernel is compiled without numba's
reference counting (``_nrt=False``). With it, each call of a helper that takes arrays costs about 50 ns of
atomic reference-count updates, which on a bar-by-bar loop is most of the time. The loop runs in two fast
paths (flat with nothing pending; holding a position that nothing inside a bar can close) until a bar has a
signal, and the general path for every other bar. The fast paths are small functions of their own, which the
compiler keeps tighter than the same loops inside the big one. They read only ``entry``, ``exit_`` and
``close``; what the general path reads at a signal bar (its candle, time and plan row) is prefetched a few
signals ahead (:func:`_prefetch_signal_rows`), since those reads, dozens of bars apart, would each wait for main
memory. A plan column with one value (a column the strategy left constant) is read as that value for every bar.

All the simulation's compiled code lives in this one file on purpose: numba's on-disk cache is keyed on the source
of the file that holds the compiled function, so helpers inlined from another module (or a callee compiled into
:func:`simulate_panel`) could go stale in the cache. Loops that share nothing with it are in
:mod:`tsbot.backtest.array_kernels`.
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.cpython.unsafe.numbers import trailing_zeros
from numba.extending import intrinsic

from tsbot.backtest.models import FILL_FIELDS, TRADE_FIELDS, EntryKind, ExitReason

# params vector (filled by kernel_inputs.kernel_params)
P_INITIAL_EQUITY, P_FILL_CLOSE, P_TAKER, P_MAKER, P_SLIP, P_LEVERAGE, P_MMR, P_RISK_SIZING = range(8)
P_FRACTION, P_RISK, P_STOP_FIRST, P_ALLOW_SHORT, P_EXPIRY, P_MAX_HOLD, P_BREAKEVEN = range(8, 15)
P_SKIP_ZERO, P_SYMBOL, N_PARAMS = range(15, 18)

# rejection codes (engine.REJECT_REASONS names them) and error codes
REJ_STOP_SIDE, REJ_TP_SIDE, REJ_BAD_PRICE, REJ_NO_EQUITY, REJ_EXPIRED, N_REJECT = range(6)
ERR_ENTRY_VALUE, ERR_ENTRY_KIND, ERR_TRAILING, ERR_NO_ROOM = range(1, 5)

# counts vector: fills written, trades written, rejections by code, error code, the bar of the error
C_FILLS, C_TRADES, C_REJECTED = range(3)
C_ERROR, C_ERROR_BAR, N_COUNTS = range(C_REJECTED + N_REJECT, C_REJECTED + N_REJECT + 3)

# position state: cash, side, initial and open quantity, entry price and bar, fees and gross P&L so far, exit
# value and quantity so far, exit fills, initial and current stop, trailing distance and reference price, plan
# row of the take-profits, their number and the next one, liquidation price, break-even (0 / 1 due / 2 done)
S_CASH, S_SIDE, S_QTY0, S_QTY, S_ENTRY_PX, S_ENTRY_BAR, S_FEES, S_GROSS, S_EXIT_VALUE, S_EXIT_QTY = range(10)
S_NEXITS, S_INIT_STOP, S_STOP, S_TRAIL_D, S_TRAIL_REF, S_TP_ROW, S_NLEV, S_NEXT_LEV, S_LIQ = range(10, 19)
S_BREAKEVEN = 19
# and, saved when a call pauses (see :func:`simulate`): the next bar, the market orders waiting for an open (exit
# flag, its reason, the entry side and plan row), the pending limit / stop entry (side, kind, price, plan row, last
# live bar) and the last close that was a number
S_NEXT_BAR, S_PM_EXIT, S_PM_REASON, S_PM_DIR, S_PM_ROW, S_PL_DIR, S_PL_KIND, S_PL_PRICE = range(20, 28)
S_PL_ROW, S_PL_EXPIRE, S_LAST_CLOSE, N_STATE = range(28, 32)

# what simulate returns: the series is done; it paused because its trades or fills table has no room for one
# more bar; it paused because the plan's next row is not written yet (a plan being streamed, see ``ready``)
DONE, PAUSED_ROOM, PAUSED_WAIT = range(3)
#: Rows of the trades table a bar may add at most (with the end-of-data close): each close of a position writes
#: one, and a bar closes at most the position it starts with and the three it may open (an order waiting for the
#: open, a limit / stop entry, a market entry at the close).
TRADES_PER_BAR = 5
#: Fills one bar may add at most, with ``k`` take-profit levels: ``k + FILLS_PER_BAR``. Two for an order filled
#: at the open (exit and entry, or reversal and entry), ``k`` targets and a stop, three for a limit / stop entry
#: (reversal, entry, its stop inside the bar), two at the close (exit and entry, or reversal and entry), and the
#: end-of-data close.
FILLS_PER_BAR = 9
#: Reads of ``ready`` :func:`simulate` makes while it waits for a row before it pauses with ``PAUSED_WAIT``.
WAIT_SPINS = 1 << 22

R_SIGNAL, R_STOP_LOSS, R_TAKE_PROFIT, R_TRAILING, R_LIQUIDATION, R_MAX_HOLD, R_END, R_REVERSAL = range(8)
K_MARKET, K_LIMIT, K_STOP = 0, 1, 2

# the kernel writes rows by column number: these must stay the layouts of models.py
_TRADE_LAYOUT = (
    "symbol side entry_bar entry_time_ms entry_price exit_bar exit_time_ms exit_price qty pnl fees"
)
_TRADE_LAYOUT += " return_ratio r_multiple bars_held exit_reason exits"
_FILL_LAYOUT = "symbol bar time_ms side price qty fee is_entry reason"
if tuple(_TRADE_LAYOUT.split()) != TRADE_FIELDS or tuple(_FILL_LAYOUT.split()) != FILL_FIELDS:
    raise ImportError("tsbot.backtest.kernel writes columns in an order that no longer matches models.py")
if [int(r) for r in ExitReason] != list(range(8)) or [int(k) for k in EntryKind] != [0, 1, 2]:
    raise ImportError("tsbot.backtest.kernel codes no longer match ExitReason / EntryKind")

# without reference counting where this numba knows the (private) option; the code is correct either way.
# The helpers are inlined into the loop (numba IR inlining): calls passing a dozen arrays cost more than the
# work they do.
try:
    from numba.core.options import DefaultOptions

    _NO_NRT = {"_nrt": False} if hasattr(DefaultOptions, "_nrt") else {}
except ImportError:  # a numba that moved its options: compile with reference counting
    _NO_NRT = {}
_jit = njit(cache=True, nogil=True, **_NO_NRT)
_inline = njit(cache=True, nogil=True, inline="always", **_NO_NRT)

#: Signal rows are looked for this many bars ahead of the simulation (see :func:`_prefetch_signal_rows`): a few
#: signals ahead, so that their memory arrives in time and few requests are in flight at once.
PF_LEAD = 256


@intrinsic
def _prefetch(typingctx, arr, idx):  # pragma: no cover - compiled
    """Start loading the cache line of ``arr[idx]`` (1-d array) into every cache level (``llvm.prefetch``,
    read). A hint: it never faults, whatever the index, and changes no value."""

    def codegen(context, builder, signature, args):
        aryty = signature.args[0]
        ary = context.make_array(aryty)(context, builder, args[0])
        ptr = cgutils.get_item_pointer(context, builder, aryty, ary, [args[1]], wraparound=False)
        i8p = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        fn = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32]), "llvm.prefetch.p0"
        )
        builder.call(
            fn, [builder.bitcast(ptr, i8p), ir.Constant(i32, 0), ir.Constant(i32, 3), ir.Constant(i32, 1)]
        )
        return context.get_dummy_value()

    return types.void(arr, idx), codegen


@intrinsic
def _load_acquire(typingctx, arr, idx):  # pragma: no cover - compiled
    """``arr[idx]`` of a 1-d int64 array read as an atomic load with acquire ordering: what the writer stored
    before it published that value (:func:`~tsbot.backtest.array_kernels.publish`) is visible after it, and the
    compiler neither caches nor moves the read."""

    def codegen(context, builder, signature, args):
        aryty = signature.args[0]
        ary = context.make_array(aryty)(context, builder, args[0])
        ptr = cgutils.get_item_pointer(context, builder, aryty, ary, [args[1]], wraparound=False)
        return builder.load_atomic(ptr, "acquire", 8)

    return types.int64(arr, idx), codegen


@_jit
def _await_row(ready, j, n):  # pragma: no cover - compiled
    """The number of plan rows written (at most ``n``) once it exceeds ``j``; ``j`` when it still does not after
    ``WAIT_SPINS`` reads. ``ready``: int64 ``(1,)``, published by the plan's writer."""
    for _ in range(WAIT_SPINS):
        r = _load_acquire(ready, 0)
        if r > j:
            return min(r, n)
    return j


@_inline
def _fill(fills, counts, sym, bar, t, side, px, qty, fee, is_entry, reason):
    k = counts[C_FILLS]
    fills[k, 0] = sym
    fills[k, 1] = bar
    fills[k, 2] = t
    fills[k, 3] = side
    fills[k, 4] = px
    fills[k, 5] = qty
    fills[k, 6] = fee
    fills[k, 7] = is_entry
    fills[k, 8] = reason
    counts[C_FILLS] = k + 1


@_inline
def _exit(S, q, px, fee, reason, j, time_ms, fills, trades, counts, params):
    """Close ``q`` of the open position at ``px`` paying ``fee``; a full close writes the trade row."""
    s = S[S_SIDE]
    e = S[S_ENTRY_PX]
    inv_lev = 1.0 / params[P_LEVERAGE]
    gross = q * (px - e) * s
    S[S_CASH] += q * e * inv_lev + gross - fee
    S[S_FEES] += fee
    S[S_GROSS] += gross
    S[S_EXIT_VALUE] += q * px
    S[S_EXIT_QTY] += q
    S[S_NEXITS] += 1.0
    sym = params[P_SYMBOL]
    _fill(fills, counts, sym, j, time_ms[j], -s, px, q, fee, 0.0, reason)
    if q < S[S_QTY]:
        S[S_QTY] -= q
        return
    t = counts[C_TRADES]
    q0 = S[S_QTY0]
    eb = int(S[S_ENTRY_BAR])
    pnl = S[S_GROSS] - S[S_FEES]
    stop0 = S[S_INIT_STOP]
    trades[t, 0] = sym
    trades[t, 1] = s
    trades[t, 2] = eb
    trades[t, 3] = time_ms[eb]
    trades[t, 4] = e
    trades[t, 5] = j
    trades[t, 6] = time_ms[j]
    trades[t, 7] = px if S[S_NEXITS] == 1.0 else S[S_EXIT_VALUE] / S[S_EXIT_QTY]
    trades[t, 8] = q0
    trades[t, 9] = pnl
    trades[t, 10] = S[S_FEES]
    trades[t, 11] = pnl / (q0 * e * inv_lev)
    trades[t, 12] = pnl / (q0 * abs(e - stop0)) if stop0 == stop0 and stop0 != e else np.nan
    trades[t, 13] = j - eb
    trades[t, 14] = reason
    trades[t, 15] = S[S_NEXITS]
    counts[C_TRADES] = t + 1
    S[S_SIDE] = 0.0
    S[S_QTY] = 0.0


@_inline
def _liquidate(S, j, time_ms, fills, trades, counts, params):
    """Close all at the liquidation price; the fee is what was left of the margin, so the margin is lost."""
    q = S[S_QTY]
    e = S[S_ENTRY_PX]
    px = S[S_LIQ]
    left = q * e / params[P_LEVERAGE] + q * (px - e) * S[S_SIDE]
    _exit(S, q, px, max(left, 0.0), R_LIQUIDATION, j, time_ms, fills, trades, counts, params)


@_inline
def _take(S, lv, px, j, split, time_ms, fills, trades, counts, params):
    """Fill take-profit level ``lv`` at ``px`` (maker fee); the last level closes what is left."""
    q = S[S_QTY]
    if lv < S[S_NLEV] - 1:
        q = min(split[lv] * S[S_QTY0], q)
    S[S_NEXT_LEV] = lv + 1
    if params[P_BREAKEVEN] != 0.0 and S[S_BREAKEVEN] == 0.0:
        S[S_BREAKEVEN] = 1.0
    _exit(S, q, px, q * px * params[P_MAKER], R_TAKE_PROFIT, j, time_ms, fills, trades, counts, params)


@_inline
def _bar(S, j, o, h, lo, mode, take_profit, split, time_ms, fills, trades, counts, params):
    """One bar of an open position. ``mode`` 0: held since before this bar (gap checks at the open first);
    1: opened at this bar's open (stop, liquidation and targets inside the bar); 2: opened inside this bar by
    a limit / stop entry (stop and liquidation only; targets and the trail's move from the next bar)."""
    s = S[S_SIDE]
    slip = params[P_SLIP]
    taker = params[P_TAKER]
    eff = S[S_STOP]
    reason = R_STOP_LOSS
    td = S[S_TRAIL_D]
    if td == td:
        trail = S[S_TRAIL_REF] - s * td
        if eff != eff or s * (trail - eff) > 0.0:
            eff = trail
            reason = R_TRAILING
    liq = S[S_LIQ]
    row = int(S[S_TP_ROW])
    nlev = int(S[S_NLEV])
    if mode == 0:
        if liq == liq and s * (o - liq) <= 0.0:
            _liquidate(S, j, time_ms, fills, trades, counts, params)
            return
        if eff == eff and s * (o - eff) <= 0.0:
            q = S[S_QTY]
            px = o * (1.0 - s * slip)
            _exit(S, q, px, q * px * taker, reason, j, time_ms, fills, trades, counts, params)
            return
        while S[S_NEXT_LEV] < nlev:
            lv = int(S[S_NEXT_LEV])
            if s * (o - take_profit[row, lv]) < 0.0:
                break
            _take(S, lv, o, j, split, time_ms, fills, trades, counts, params)
            if S[S_SIDE] == 0.0:
                return
    adverse = lo if s > 0.0 else h
    favour = h if s > 0.0 else lo
    prot = eff
    prot_liq = False
    if liq == liq and (eff != eff or s * (eff - liq) <= 0.0):
        prot = liq
        prot_liq = True
    hit = prot == prot and s * (adverse - prot) <= 0.0
    if mode != 2 and not (hit and params[P_STOP_FIRST] != 0.0):
        while S[S_NEXT_LEV] < nlev:
            lv = int(S[S_NEXT_LEV])
            tp = take_profit[row, lv]
            if s * (favour - tp) < 0.0:
                break
            _take(S, lv, tp, j, split, time_ms, fills, trades, counts, params)
            if S[S_SIDE] == 0.0:
                return
    if hit:
        if prot_liq:
            _liquidate(S, j, time_ms, fills, trades, counts, params)
            return
        q = S[S_QTY]
        px = prot * (1.0 - s * slip)
        _exit(S, q, px, q * px * taker, reason, j, time_ms, fills, trades, counts, params)
        return
    if S[S_BREAKEVEN] == 1.0:
        S[S_STOP] = S[S_ENTRY_PX]
        S[S_BREAKEVEN] = 2.0
    if mode != 2 and td == td and s * (favour - S[S_TRAIL_REF]) > 0.0:
        S[S_TRAIL_REF] = favour


@_inline
def _open(S, d, px, rate, row, j, stop_loss, take_profit, trailing, time_ms, fills, trades, counts, params):
    """Open a position of side ``d`` at fill price ``px`` from plan row ``row`` (closing an opposite one
    first). Returns whether it opened; a refused entry is counted in ``counts`` and changes nothing."""
    sl = stop_loss[row if stop_loss.shape[0] > 1 else 0]
    if sl == sl and d * (px - sl) <= 0.0:
        counts[C_REJECTED + REJ_STOP_SIDE] += 1
        return False
    nlev = 0
    tp_row = row if take_profit.shape[0] > 1 else 0
    for lv in range(take_profit.shape[1]):
        tp = take_profit[tp_row, lv]
        if tp != tp:
            break
        if d * (tp - px) <= 0.0:
            counts[C_REJECTED + REJ_TP_SIDE] += 1
            return False
        nlev += 1
    td = trailing[row if trailing.shape[0] > 1 else 0]
    if td == td and not (td > 0.0 and td < np.inf):
        counts[C_ERROR] = ERR_TRAILING
        counts[C_ERROR_BAR] = row
        return False
    inv_lev = 1.0 / params[P_LEVERAGE]
    old = S[S_SIDE]
    equity = S[S_CASH]
    close_fee = 0.0
    if old != 0.0:
        q = S[S_QTY]
        e = S[S_ENTRY_PX]
        close_fee = q * px * params[P_TAKER]
        equity += q * e * inv_lev + q * (px - e) * old - close_fee
    qty = 0.0
    if equity > 0.0:
        qty = params[P_FRACTION] * equity / (px * (inv_lev + rate))
        if params[P_RISK_SIZING] != 0.0 and sl == sl:
            qty = min(qty, params[P_RISK] * equity / abs(px - sl))
    if not qty > 0.0:
        counts[C_REJECTED + REJ_NO_EQUITY] += 1
        return False
    if old != 0.0:
        _exit(S, S[S_QTY], px, close_fee, R_REVERSAL, j, time_ms, fills, trades, counts, params)
    fee = qty * px * rate
    S[S_CASH] -= qty * px * inv_lev + fee
    S[S_SIDE] = d
    S[S_QTY0] = qty
    S[S_QTY] = qty
    S[S_ENTRY_PX] = px
    S[S_ENTRY_BAR] = j
    S[S_FEES] = fee
    S[S_GROSS] = 0.0
    S[S_EXIT_VALUE] = 0.0
    S[S_EXIT_QTY] = 0.0
    S[S_NEXITS] = 0.0
    S[S_INIT_STOP] = sl
    S[S_STOP] = sl
    S[S_TRAIL_D] = td
    S[S_TRAIL_REF] = px
    S[S_TP_ROW] = tp_row
    S[S_NLEV] = nlev
    S[S_NEXT_LEV] = 0.0
    S[S_BREAKEVEN] = 0.0
    mmr = params[P_MMR]
    if d > 0.0:
        S[S_LIQ] = px * (1.0 - inv_lev + mmr) if params[P_LEVERAGE] > 1.0 else np.nan
    else:
        S[S_LIQ] = px * (1.0 + inv_lev - mmr)
    _fill(fills, counts, params[P_SYMBOL], j, time_ms[j], d, px, qty, fee, 1.0, -1.0)
    return True


@_inline
def _prefetch_signal_rows(w0, w1, next_open, skip_zero, per_bar_entry_rows, ew, xw, time_ms, open_, high, low,
                          volume, entry_kind, entry_price, stop_loss, trailing):  # fmt: skip
    """Prefetch what the simulation will read at the signal rows among bars ``8 * w0 .. 8 * w1 - 1``: the bar's
    time and candle (and the next bar's, whose open fills ``NEXT_OPEN`` orders) and the plan's entry row (unless
    its columns hold one value for every bar).

    The fast paths stream only ``entry``, ``exit_`` and ``close``; the other arrays are read at signal rows
    alone, a few dozen bars apart, so that each of those reads would otherwise wait for main memory. ``ew`` and
    ``xw`` are ``entry`` and ``exit_`` seen as uint64 words: one test looks at 8 bars, and the bars with a
    signal are found from the word's trailing zero bits.
    """
    for w in range(w0, w1):
        bits = ew[w] | xw[w]
        while bits != 0:
            b = int(trailing_zeros(bits)) >> 3
            bits &= ~(np.uint64(0xFF) << np.uint64(8 * b))
            t = 8 * w + b
            _prefetch(time_ms, t)
            _prefetch(open_, t)
            _prefetch(high, t)
            _prefetch(low, t)
            if skip_zero:
                _prefetch(volume, t)
            if next_open:
                _prefetch(time_ms, t + 1)
                _prefetch(open_, t + 1)
                _prefetch(high, t + 1)
                _prefetch(low, t + 1)
            if per_bar_entry_rows:
                _prefetch(entry_kind, t)
                _prefetch(entry_price, t)
                _prefetch(stop_loss, t)
                _prefetch(trailing, t)


@_jit
def _flat_run(j, end, entry, equity, total, cash, allow_short):  # pragma: no cover - compiled
    """Fast path while flat with nothing pending: equity is the cash at each bar from ``j`` on, up to ``end`` or
    the first entry signal that is taken (returned). Its own small function, so that the compiler keeps the loop
    tight."""
    add = total.shape[0] > 0
    while j < end:
        d = entry[j]
        if d != 0 and (d > 0 or allow_short):
            break
        equity[j] = cash
        if add:
            total[j] += cash
        j += 1
    return j


@_jit
def _hold_run(j, end, entry, exit_, close, equity, total, base, qs, lastc, allow_short):  # pragma: no cover
    """Fast path while holding a position that nothing can close inside a bar: equity ``base + qs * close``
    (the last close that was a number) at each bar from ``j`` up to ``end`` or the first exit or entry signal.
    Returns that bar and the last close."""
    add = total.shape[0] > 0
    while j < end:
        d = entry[j]
        if exit_[j] or (d != 0 and (d > 0 or allow_short)):
            break
        c = close[j]
        if c == c:
            lastc = c
        v = base + qs * lastc
        equity[j] = v
        if add:
            total[j] += v
        j += 1
    return j, lastc


@_jit
def simulate(time_ms, open_, high, low, close, volume, entry, exit_, entry_kind, entry_price, stop_loss,
             take_profit, split, trailing, params, equity, total, trades, fills, S, counts, ready,
             resume):  # fmt: skip
    """Simulate one series, or go on with one from where the last call paused.

    Inputs: ``time_ms`` int64 ``(n,)``; ``open_ .. volume`` float64 ``(n,)``; ``entry`` / ``entry_kind``
    int8 ``(n,)``; ``exit_`` bool ``(n,)``; ``entry_price``, ``stop_loss``, ``trailing`` float64 ``(n,)``;
    ``take_profit`` float64 C-contiguous ``(n, k)``; ``split`` float64 ``(k,)``; ``params`` float64
    ``(N_PARAMS,)``. ``entry_kind``, ``entry_price``, ``stop_loss``, ``trailing`` and ``take_profit`` may
    instead have one row, which then holds for every bar (a column the strategy left constant: one value in
    cache rather than a long array read at scattered bars).

    Outputs, allocated by the caller: ``equity`` float64 ``(n,)``; ``total`` float64 ``(n,)``, to which each
    bar's equity is added (a portfolio curve summed while the values are in cache), or ``(0,)`` for none;
    ``trades`` float64
    ``(T, 16)`` and ``fills`` ``(F, 9)``, the tables the trades and fills are written to, row after row. Before
    each bar that may fill something the kernel checks that they have room for what one bar can add at most
    (``TRADES_PER_BAR`` trades, ``k + FILLS_PER_BAR`` fills); when they have not, it pauses and returns
    ``PAUSED_ROOM``: the caller copies the rows written into larger tables and calls again with ``resume``. No
    run pauses for room with ``T = E + TRADES_PER_BAR`` and ``F = E * (1 + max(k, 1)) + k + FILLS_PER_BAR``,
    ``E`` the number of nonzero ``entry`` rows (each entry signal opens at most one position, and a position has
    at most ``max(k, 1)`` exit fills). The tables are never grown inside the loop: an array reassigned in a
    numba loop costs reference counting on every bar.

    Scratch, also from the caller: ``S`` float64 ``(N_STATE,)`` and ``counts`` int64 ``(N_COUNTS,)``. A call
    with ``resume`` False sets both to zeros first, so one pair serves series after series; with ``resume``
    True it goes on from the bar where the previous call on the same pair paused (the same inputs, the tables
    holding the rows written so far). On return ``counts`` holds the fills and trades written, the refused
    entries by ``REJ_*`` code, and an error code: ``counts[C_ERROR] != 0`` means the plan held an invalid value
    at bar ``counts[C_ERROR_BAR]`` and the run stopped there.

    ``ready``: int64 ``(1,)``, the number of plan rows that are final. The simulation reads plan row ``j``
    only at bar ``j``, so a plan may be written while it is simulated: its writer advances ``ready[0]`` (an
    atomic store with release ordering, :func:`~tsbot.backtest.array_kernels.publish`) and the simulation
    waits at the first row not yet written; when it has waited ``WAIT_SPINS`` reads it pauses and returns
    ``PAUSED_WAIT`` (the caller waits, or finds that the writer failed, and calls again with ``resume``).
    A plan written in full: ``ready[0] >= n``.

    Returns ``DONE``, ``PAUSED_ROOM`` or ``PAUSED_WAIT``; a paused call saved what it needs to go on in ``S``.
    """
    n = close.shape[0]
    if not resume:
        S[:] = 0.0
        counts[:] = 0
        S[S_CASH] = params[P_INITIAL_EQUITY]
        S[S_LAST_CLOSE] = np.nan
    fill_close = params[P_FILL_CLOSE] != 0.0
    taker = params[P_TAKER]
    maker = params[P_MAKER]
    slip = params[P_SLIP]
    inv_lev = 1.0 / params[P_LEVERAGE]
    allow_short = params[P_ALLOW_SHORT] != 0.0
    expiry = int(params[P_EXPIRY])
    max_hold = int(params[P_MAX_HOLD])
    skip_zero = params[P_SKIP_ZERO] != 0.0
    add = total.shape[0] > 0
    t_room = trades.shape[0] - TRADES_PER_BAR
    f_room = fills.shape[0] - take_profit.shape[1] - FILLS_PER_BAR
    pm_exit = S[S_PM_EXIT] != 0.0  # market orders waiting for the next open
    pm_reason = int(S[S_PM_REASON])
    pm_dir = int(S[S_PM_DIR])
    pm_row = int(S[S_PM_ROW])
    pl_dir = int(S[S_PL_DIR])  # the pending limit / stop entry
    pl_kind = int(S[S_PL_KIND])
    pl_price = S[S_PL_PRICE]
    pl_row = int(S[S_PL_ROW])
    pl_expire = int(S[S_PL_EXPIRE])
    lastc = S[S_LAST_CLOSE]
    nw = n // 8  # whole words of 8 bars; the last n % 8 bars are not prefetched
    ew = entry[: 8 * nw].view(np.uint64)
    xw = exit_[: 8 * nw].view(np.uint64)
    w_next = 0  # the words before this one are prefetched
    per_bar_rows = max(entry_kind.shape[0], entry_price.shape[0], stop_loss.shape[0], trailing.shape[0]) > 1
    j = int(S[S_NEXT_BAR])
    limit = min(n, _load_acquire(ready, 0))  # plan rows before this one are final
    status = DONE
    while j < n:
        if j >= limit:
            limit = _await_row(ready, j, n)
            if limit <= j:
                status = PAUSED_WAIT
                break
        w_end = min(nw, min(j + PF_LEAD, limit) // 8)
        if w_next < w_end:  # keep the prefetched bars PF_LEAD ahead of the simulation
            _prefetch_signal_rows(max(w_next, j // 8), w_end, not fill_close, skip_zero, per_bar_rows, ew, xw,
                                  time_ms, open_, high, low, volume, entry_kind, entry_price, stop_loss,
                                  trailing)  # fmt: skip
            w_next = w_end
        if not pm_exit and pm_dir == 0 and pl_dir == 0:
            if S[S_SIDE] == 0.0:  # fast path: flat, nothing pending, until an entry signal
                j = _flat_run(j, limit, entry, equity, total, S[S_CASH], allow_short)
                if j >= limit:
                    continue
            elif (
                S[S_STOP] != S[S_STOP]
                and S[S_TRAIL_D] != S[S_TRAIL_D]
                and S[S_LIQ] != S[S_LIQ]
                and S[S_NEXT_LEV] >= S[S_NLEV]
            ):  # fast path: holding, nothing can fill inside a bar, until a signal
                end = n
                if max_hold > 0:
                    end = min(n, int(S[S_ENTRY_BAR]) + max_hold - (0 if fill_close else 1))
                qs = S[S_QTY] * S[S_SIDE]
                base = S[S_CASH] + S[S_QTY] * S[S_ENTRY_PX] * inv_lev - qs * S[S_ENTRY_PX]
                j, lastc = _hold_run(j, min(end, limit), entry, exit_, close, equity, total, base, qs, lastc,
                                     allow_short)  # fmt: skip
                if j >= limit:
                    continue
        if counts[C_TRADES] > t_room or counts[C_FILLS] > f_room:
            status = PAUSED_ROOM
            break
        o = open_[j]
        h = high[j]
        lo = low[j]
        c = close[j]
        traded = o == o and h == h and lo == lo and c == c and (not skip_zero or volume[j] > 0.0)
        if c == c:
            lastc = c
        if pl_dir != 0 and j > pl_expire:
            counts[C_REJECTED + REJ_EXPIRED] += 1
            pl_dir = 0
        if traded:
            mode = 0
            if pm_exit or pm_dir != 0:
                s = S[S_SIDE]
                if pm_exit and s != 0.0:
                    q = S[S_QTY]
                    px = o * (1.0 - s * slip)
                    _exit(S, q, px, q * px * taker, pm_reason, j, time_ms, fills, trades, counts, params)
                if pm_dir != 0 and S[S_SIDE] != pm_dir:
                    px = o * (1.0 + pm_dir * slip)
                    ok = _open(S, pm_dir, px, taker, pm_row, j, stop_loss, take_profit, trailing,
                               time_ms, fills, trades, counts, params)  # fmt: skip
                    if counts[C_ERROR] != 0:
                        break
                    if ok:
                        mode = 1
                pm_exit = False
                pm_dir = 0
            if S[S_SIDE] != 0.0:
                _bar(S, j, o, h, lo, mode, take_profit, split, time_ms, fills, trades, counts, params)
            if pl_dir != 0:
                d = pl_dir
                if pl_kind == K_LIMIT:
                    touched = lo <= pl_price if d > 0 else h >= pl_price
                    px = min(o, pl_price) if d > 0 else max(o, pl_price)
                    rate = maker
                else:
                    touched = h >= pl_price if d > 0 else lo <= pl_price
                    px = (max(o, pl_price) if d > 0 else min(o, pl_price)) * (1.0 + d * slip)
                    rate = taker
                if touched:
                    pl_dir = 0
                    if S[S_SIDE] != d:
                        ok = _open(S, d, px, rate, pl_row, j, stop_loss, take_profit, trailing,
                                   time_ms, fills, trades, counts, params)  # fmt: skip
                        if counts[C_ERROR] != 0:
                            break
                        if ok:
                            _bar(
                                S, j, o, h, lo, 2, take_profit, split, time_ms, fills, trades, counts, params
                            )
        # decisions at the close of bar j (plan row j)
        now = fill_close and traded
        s = S[S_SIDE]
        if exit_[j]:
            if now:
                if s != 0.0:
                    q = S[S_QTY]
                    px = c * (1.0 - s * slip)
                    _exit(S, q, px, q * px * taker, R_SIGNAL, j, time_ms, fills, trades, counts, params)
            else:
                pm_dir = 0
                if s != 0.0:
                    pm_exit = True
                    pm_reason = R_SIGNAL
        s = S[S_SIDE]
        if max_hold > 0 and s != 0.0 and not pm_exit and (j if now else j + 1) - S[S_ENTRY_BAR] >= max_hold:
            if now:
                q = S[S_QTY]
                px = c * (1.0 - s * slip)
                _exit(S, q, px, q * px * taker, R_MAX_HOLD, j, time_ms, fills, trades, counts, params)
            else:
                pm_exit = True
                pm_reason = R_MAX_HOLD
        d = int(entry[j])
        if d != 0:
            if d > 1 or d < -1:
                counts[C_ERROR] = ERR_ENTRY_VALUE
                counts[C_ERROR_BAR] = j
                break
            if d > 0 or allow_short:
                kind = int(entry_kind[j if entry_kind.shape[0] > 1 else 0])
                pl_dir = 0
                if kind == K_MARKET:
                    if now:
                        if S[S_SIDE] != d:
                            _open(S, d, c * (1.0 + d * slip), taker, j, j, stop_loss, take_profit, trailing,
                                  time_ms, fills, trades, counts, params)  # fmt: skip
                            if counts[C_ERROR] != 0:
                                break
                    else:
                        pm_dir = d
                        pm_row = j
                elif K_LIMIT <= kind <= K_STOP:
                    pm_dir = 0
                    p = entry_price[j if entry_price.shape[0] > 1 else 0]
                    if p > 0.0 and p < np.inf:
                        pl_dir = d
                        pl_kind = kind
                        pl_price = p
                        pl_row = j
                        pl_expire = j + expiry
                    else:
                        counts[C_REJECTED + REJ_BAD_PRICE] += 1
                else:
                    counts[C_ERROR] = ERR_ENTRY_KIND
                    counts[C_ERROR_BAR] = j
                    break
        s = S[S_SIDE]
        v = S[S_CASH]
        if s != 0.0:
            q = S[S_QTY]
            e = S[S_ENTRY_PX]
            v += q * e * inv_lev + q * (lastc - e) * s
        equity[j] = v
        if add:
            total[j] += v
        j += 1
    if status != DONE:
        S[S_NEXT_BAR] = j
        S[S_PM_EXIT] = pm_exit
        S[S_PM_REASON] = pm_reason
        S[S_PM_DIR] = pm_dir
        S[S_PM_ROW] = pm_row
        S[S_PL_DIR] = pl_dir
        S[S_PL_KIND] = pl_kind
        S[S_PL_PRICE] = pl_price
        S[S_PL_ROW] = pl_row
        S[S_PL_EXPIRE] = pl_expire
        S[S_LAST_CLOSE] = lastc
        return status
    if n > 0 and counts[C_ERROR] == 0 and S[S_SIDE] != 0.0:
        s = S[S_SIDE]
        q = S[S_QTY]
        px = lastc * (1.0 - s * slip)
        _exit(S, q, px, q * px * taker, R_END, n - 1, time_ms, fills, trades, counts, params)
        if add:
            total[n - 1] += S[S_CASH] - equity[n - 1]
        equity[n - 1] = S[S_CASH]
    return DONE


@_jit
def simulate_panel(time_ms, open_, high, low, close, volume, entry, exit_, entry_kind, entry_price, stop_loss,
                   take_profit, split, trailing, params, equity, total, trades, fills, trade_rows, fill_rows, S,
                   counts, ready):  # fmt: skip
    """Simulate ``g`` series on one clock in one call: row ``r`` of each 2-d array is a series, run by
    :func:`simulate` with ``params[P_SYMBOL] + r`` as its symbol index.

    Inputs: ``time_ms`` int64 ``(n,)``; ``open_ .. volume``, ``entry`` ``(g, n)``; ``exit_`` ``(g, n)`` or
    ``(1, n)`` (the same exits for every series); ``entry_kind``,
    ``entry_price``, ``stop_loss``, ``trailing`` ``(1, n)`` (one row for every series) or ``(g, n)``, or
    ``(1, 1)`` (one value for every bar of every series); ``take_profit`` ``(1, n, k)``, ``(g, n, k)`` or
    ``(1, 1, k)``. Outputs: ``equity`` ``(g, n)``; ``total`` as in
    :func:`simulate`; series ``r`` writes rows ``trade_rows[r] .. trade_rows[r + 1] - 1`` of ``trades`` and
    ``fill_rows[r] .. fill_rows[r + 1] - 1`` of ``fills`` (int64 ``(g + 1,)`` offsets, each series' room as
    :func:`simulate` needs it never to pause) and its counters in ``counts[r]`` (int64 ``(g, N_COUNTS)``).
    ``S``: scratch; ``ready``: int64 ``(1,)`` holding ``n`` or more (the plans are written in full).

    Returns the number of series run: ``g``, or fewer when a series' plan held an invalid value (that series is
    the last one run; its ``counts`` hold the error; ``ERR_NO_ROOM`` if it paused, which the room above rules
    out).
    """
    first = params[P_SYMBOL]
    g = close.shape[0]
    shared = entry_kind.shape[0] == 1
    resume = g < 0  # False, typed as any bool (a literal False would compile simulate a second time)
    for r in range(g):
        p = 0 if shared else r
        x = 0 if exit_.shape[0] == 1 else r
        params[P_SYMBOL] = first + r
        status = simulate(
            time_ms, open_[r], high[r], low[r], close[r], volume[r], entry[r], exit_[x], entry_kind[p], entry_price[p],
            stop_loss[p], take_profit[p], split, trailing[p], params, equity[r], total,
            trades[trade_rows[r] : trade_rows[r + 1]], fills[fill_rows[r] : fill_rows[r + 1]], S, counts[r], ready,
            resume,
        )  # fmt: skip
        if status != DONE:
            counts[r, C_ERROR] = ERR_NO_ROOM
            counts[r, C_ERROR_BAR] = int(S[S_NEXT_BAR])
        if counts[r, C_ERROR] != 0:
            params[P_SYMBOL] = first
            return r + 1
    params[P_SYMBOL] = first
    return g
