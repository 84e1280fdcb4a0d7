import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

CATALOGUE = [
    {"id": "bitcoin", "symbol": "btc", "name": "Bitcoin"},
    {"id": "ethereum", "symbol": "eth", "name": "Ethereum"},
    {"id": "celsius-degree-token", "symbol": "cel", "name": "Celsius"},
    {"id": "solana", "symbol": "sol", "name": "Solana"},
    {"id": "wrapped-solana", "symbol": "sol", "name": "Wrapped SOL"},
]
# /coins/markets by market cap: (id, market_cap_rank). Solana and Wrapped SOL are left unranked, so
# "sol" stays the symbol of several coins.
RANKING = [("bitcoin", 1), ("ethereum", 2), ("celsius-degree-token", 950)]


class FakeCoinGecko:
    """A local stand-in for CoinGecko's /simple/price, /coins/list, /coins/markets and
    /coins/{id}/market_chart, at the HTTP layer."""

    def __init__(self):
        fake = self
        self.prices: dict[str, dict[str, str]] = {}  # coin -> currency -> price text (exact)
        self.updated_at: int | None = None  # last_updated_at for every coin; None: now
        self.answer: tuple[int, dict, bytes] | None = None  # a canned answer instead of prices
        self.catalogue: list[dict] = list(CATALOGUE)
        self.ranking: list = list(RANKING)  # (id, rank) served in pages in this order; anything else as it is
        self.answers: dict[str, tuple[int, dict, bytes]] = {}  # a canned answer for one path ("/coins/markets")
        # (coin, currency) -> [(epoch milliseconds, price text)], served by /coins/{coin}/market_chart whatever
        # the days asked; a coin without a chart is CoinGecko's 404
        self.charts: dict[tuple[str, str], list[tuple[int, str]]] = {}
        self.calls: list[dict] = []

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                parts = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                fake.calls.append({"path": parts.path, "query": query, "headers": dict(self.headers)})
                endpoint = parts.path.removeprefix("/api/v3")
                if fake.answer is not None:
                    status, headers, body = fake.answer
                elif endpoint in fake.answers:
                    status, headers, body = fake.answers[endpoint]
                elif endpoint == "/coins/list":
                    status, headers, body = 200, {}, json.dumps(fake.catalogue).encode()
                elif endpoint == "/coins/markets":
                    status, headers, body = 200, {}, fake._markets_body(query)
                elif parts.path.endswith("/simple/price"):
                    status, headers, body = 200, {}, fake._prices_body(query)
                elif endpoint.startswith("/coins/") and endpoint.endswith("/market_chart"):
                    status, headers, body = fake._chart_answer(endpoint.split("/")[2], query)
                else:
                    status, headers, body = 404, {}, b"{}"
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api/v3"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def _prices_body(self, query: dict) -> bytes:
        import time

        parts = []
        for coin in query.get("ids", "").split(","):
            if coin not in self.prices:
                continue
            fields = [
                f'"{cur}": {price}'
                for cur, price in self.prices[coin].items()
                if cur in query["vs_currencies"].split(",")
            ]
            fields.append(f'"last_updated_at": {self.updated_at or int(time.time())}')
            parts.append(f'"{coin}": {{{", ".join(fields)}}}')
        return ("{" + ", ".join(parts) + "}").encode()  # numbers written verbatim, as CoinGecko does

    def _markets_body(self, query: dict) -> bytes:
        per_page, page = int(query.get("per_page", 100)), int(query.get("page", 1))
        names = {c["id"]: c for c in self.catalogue}
        rows = []
        for entry in self.ranking[(page - 1) * per_page : page * per_page]:
            if not isinstance(entry, tuple):
                rows.append(entry)  # served as it is: a malformed entry
                continue
            coin, rank = entry
            rows.append(
                {
                    "id": coin,
                    "symbol": names.get(coin, {}).get("symbol", coin),
                    "name": names.get(coin, {}).get("name", coin),
                    "image": f"https://coin-images.coingecko.com/coins/images/1/large/{coin}.png",
                    "current_price": 1.5,
                    "market_cap": 10**12 // (rank or 10**6),
                    "market_cap_rank": rank,
                }
            )
        return json.dumps(rows).encode()

    def _chart_answer(self, coin: str, query: dict) -> tuple[int, dict, bytes]:
        points = self.charts.get((coin, query.get("vs_currency", "")))
        if points is None:
            return 404, {}, b'{"error":"coin not found"}'
        prices = ", ".join(f"[{ms}, {price}]" for ms, price in points)  # numbers written verbatim
        volumes = ", ".join(f"[{ms}, 1.5]" for ms, _ in points)
        body = f'{{"prices": [{prices}], "market_caps": [{volumes}], "total_volumes": [{volumes}]}}'
        return 200, {}, body.encode()

    def chart_calls(self) -> list[dict]:
        return [call for call in self.calls if call["path"].endswith("/market_chart")]

    def price_calls(self) -> list[dict]:
        return [call for call in self.calls if call["path"].endswith("/simple/price")]

    def ranking_calls(self) -> list[dict]:
        return [call for call in self.calls if call["path"].endswith("/coins/markets")]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def coingecko(settings):
    fake = FakeCoinGecko()
    settings.COINGECKO_API_URL = fake.url
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = True
    yield fake
    fake.close()
