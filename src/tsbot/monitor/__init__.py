"""The monitoring cycle: every minute (or on a replay clock) new candles and headlines, signals recomputed, status
changes stored and pushed, price alerts checked and notifications queued; per-series work runs in-process or on
Dramatiq workers."""
