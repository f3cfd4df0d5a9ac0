"""Which assets a text mentions: tickers, cashtags, names, and the words that must not match."""

from __future__ import annotations

import time

import pytest

from tsbot.core.errors import NotFoundError
from tsbot.sentiment.aliases import ASSET_ALIASES, aliases_for, mentioned_assets


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Bitcoin tops $60k while Ethereum lags", ("BTC", "ETH")),
        ("BTC and ETH rally; XBT futures open higher", ("BTC", "ETH")),
        ("btc dumps, eth follows", ("BTC", "ETH")),
        ("$btc $ETH $Sol", ("BTC", "ETH", "SOL")),
        ("#BTC breaks out, BTC/USDT at highs, ETHUSDT lags", ("BTC", "ETH")),
        ("Ether slides as gas fees spike", ("ETH",)),
        ("ETHER and BITCOIN", ("BTC", "ETH")),
        ("Binance Coin (BNB) hits a record", ("BNB",)),
        ("Solana outage; SOL drops", ("SOL",)),
        ("Ripple wins in court, XRP jumps", ("XRP",)),
        ("Cardano upgrade: ADA up", ("ADA",)),
        ("Dogecoin and DOGE and doge memes", ("DOGE",)),
        ("Litecoin halving; ltc rallies", ("LTC",)),
        ("Chainlink oracles, LINK and $link", ("LINK",)),
        ("Polygon (MATIC) partners with a bank", ("MATIC",)),
        ("Avalanche and AVAX", ("AVAX",)),
        ("Polkadot parachain auction, DOT up", ("DOT",)),
        ("S&P 500 closes at a record; S&P500 futures flat; SPY volume", ("SPY",)),
        ("Apple and Microsoft report; AAPL up, msft down", ("AAPL", "MSFT")),
        ("IBM beats; ibm shares rise", ("IBM",)),
        ("Coca-Cola raises dividend; Coca Cola and KO", ("KO",)),
        ("Bitcoin's rally and Ethereum's merge", ("BTC", "ETH")),
    ],
)
def test_mentions_found(text: str, expected: tuple[str, ...]) -> None:
    assert mentioned_assets(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "Tether mints another billion USDT",
        "tether reserves questioned",
        "a message lost in the ether",
        "click the link to read more",
        "connect the dots, dot com bubble",
        "sol y sombra; ada lovelace; ko'd in round one",
        "a spy satellite launched",
        "apple pie and an apple a day",
        "a ripple effect across markets",
        "an avalanche of selling",
        "polygon meshes in graphics",
        "Binance lists a new token",
        "ETHICAL investing; BTCX is not a ticker; SOLID results; ADAPT; LINKED; DOTS",
        "$SOLX and $ETHE trusts",
        "bitcoinlike ethereumish",
    ],
)
def test_no_false_mentions(text: str) -> None:
    assert mentioned_assets(text) == ()


def test_result_is_sorted_and_unique() -> None:
    assert mentioned_assets("ETH eth Ethereum BTC bitcoin $BTC DOGE ETH") == ("BTC", "DOGE", "ETH")


def test_aliases_for() -> None:
    assert aliases_for("btc") == ("BTC", "Bitcoin", "XBT")
    assert aliases_for("IBM") == ("IBM",)
    assert set(ASSET_ALIASES) == {
        "BTC",
        "ETH",
        "BNB",
        "SOL",
        "XRP",
        "ADA",
        "DOGE",
        "LTC",
        "LINK",
        "MATIC",
        "AVAX",
        "DOT",
        "SPY",
        "AAPL",
        "MSFT",
        "IBM",
        "KO",
    }
    with pytest.raises(NotFoundError, match="XYZ"):
        aliases_for("XYZ")


def test_fast_on_long_text() -> None:
    text = ("Markets wobble as traders weigh rates and earnings. " * 2000) + " Bitcoin"
    start = time.perf_counter()
    assert mentioned_assets(text) == ("BTC",)
    assert time.perf_counter() - start < 0.5
