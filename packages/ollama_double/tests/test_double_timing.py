"""The double's timings are what it was configured to produce, measured from the client side and as it reports them."""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import socket
import statistics
import threading
import time
from collections.abc import Callable

import ollama
import pytest
import requests

from ollama_double import running_double
from ollama_double.scheduler import QUEUE_FULL

TTFT_MS = 200
RATE = 50.0


def _measure_chat(url: str, num_predict: int, text: str = "hello there", keep_alive: str | None = None) -> dict:
    """One streamed /api/chat read line by line: client-side TTFT, token times and the final chunk."""
    body = {
        "model": "llama3.2:1b",
        "messages": [{"role": "user", "content": text}],
        "options": {"num_predict": num_predict},
    }
    if keep_alive is not None:
        body["keep_alive"] = keep_alive
    t0 = time.perf_counter()
    times: list[float] = []
    final = None
    with requests.post(url + "/api/chat", json=body, stream=True, timeout=60) as r:
        assert r.status_code == 200, r.text
        for line in r.iter_lines(chunk_size=None):
            part = json.loads(line)
            if part["done"]:
                final = part
            else:
                times.append(time.perf_counter())
    assert final is not None
    return {"ttft": times[0] - t0, "times": times, "final": final, "start": t0, "end": time.perf_counter()}


def _rate(times: list[float]) -> float:
    return (len(times) - 1) / (times[-1] - times[0])


def _tolerating_noise(check: Callable[[], None], attempts: int = 3) -> None:
    """Run a timing check up to ``attempts`` times; it passes if one run is within tolerance.

    CI shares two cores with other jobs, so a single run can be late on the client side for reasons that have
    nothing to do with the double; a double whose timing is really off fails every run.
    """
    for attempt in range(attempts):
        try:
            check()
            return
        except AssertionError:
            if attempt == attempts - 1:
                raise
            time.sleep(0.5)


def test_ttft_rate_and_load_time_for_concurrent_streams() -> None:
    with running_double(
        ttft_ms=TTFT_MS, tokens_per_second=RATE, load_ms=300, num_parallel=4, models=["llama3.2:1b"]
    ) as d:

        def check() -> None:
            unload = requests.post(d.url + "/api/generate", json={"model": "llama3.2:1b", "keep_alive": 0}, timeout=30)
            assert unload.json()["done_reason"] == "unload"
            first = _measure_chat(d.url, 10)
            load_ms = first["final"]["load_duration"] / 1e6
            assert load_ms == pytest.approx(300, abs=30)
            assert first["ttft"] * 1000 == pytest.approx(300 + TTFT_MS, abs=30)
            warm = _measure_chat(d.url, 10)
            assert warm["final"]["load_duration"] / 1e6 < 10

            with concurrent.futures.ThreadPoolExecutor(4) as pool:
                runs = list(pool.map(lambda i: _measure_chat(d.url, 25, f"stream {i}"), range(4)))
            for run in runs:
                final = run["final"]
                assert run["ttft"] * 1000 == pytest.approx(TTFT_MS, abs=30)
                assert _rate(run["times"]) == pytest.approx(RATE, rel=0.03)
                assert final["eval_count"] == 25
                assert final["prompt_eval_duration"] / 1e6 == pytest.approx(TTFT_MS, abs=15)
                assert final["eval_count"] / (final["eval_duration"] / 1e9) == pytest.approx(RATE, rel=0.03)
                assert final["eval_duration"] / 1e9 == pytest.approx(25 / RATE, rel=0.03)
                reported = final["total_duration"] / 1e9
                assert reported <= run["end"] - run["start"]
                assert reported == pytest.approx(run["end"] - run["start"], abs=0.03)

        _tolerating_noise(check)


def test_official_client_sees_configured_rate() -> None:
    with running_double(ttft_ms=100, tokens_per_second=100, load_ms=0, models=["llama3.2:1b"]) as d:
        client = ollama.Client(host=d.url)
        client.generate(model="llama3.2:1b", prompt="")

        def check() -> None:
            t0 = time.perf_counter()
            stamps = []
            for part in client.generate(model="llama3.2:1b", prompt="count", options={"num_predict": 50}, stream=True):
                if not part.done:
                    stamps.append(time.perf_counter())
                final = part
            assert (stamps[0] - t0) * 1000 == pytest.approx(100, abs=30)
            assert _rate(stamps) == pytest.approx(100, rel=0.03)
            assert final.eval_count / (final.eval_duration / 1e9) == pytest.approx(100, rel=0.03)

        _tolerating_noise(check)


def test_queue_wait_counts_toward_ttft_and_full_queue_gives_503() -> None:
    with running_double(
        ttft_ms=50, tokens_per_second=50, load_ms=0, num_parallel=1, max_queue=2, models=["llama3.2:1b"]
    ) as d:
        _measure_chat(d.url, 1)  # load the model

        def check() -> None:
            results: dict[str, dict] = {}

            def run(key: str) -> None:
                results[key] = _measure_chat(d.url, 20, key)

            first = threading.Thread(target=run, args=("first",))
            first.start()
            time.sleep(0.1)
            queued = [threading.Thread(target=run, args=(k,)) for k in ("second", "third")]
            for t in queued:
                t.start()
            time.sleep(0.15)
            busy = requests.post(
                d.url + "/api/chat",
                json={"model": "llama3.2:1b", "messages": [{"role": "user", "content": "x"}]},
                timeout=30,
            )
            assert busy.status_code == 503
            assert busy.json() == {"error": QUEUE_FULL}
            with pytest.raises(ollama.ResponseError) as err:
                ollama.Client(host=d.url).generate(model="llama3.2:1b", prompt="x")
            assert err.value.status_code == 503
            for t in [first, *queued]:
                t.join(30)
            assert len(results) == 3, "a stream failed; see the thread's traceback above"
            a, b, c = sorted(results.values(), key=lambda r: r["times"][0])
            # each waits for the previous stream (one slot), then its own prompt evaluation
            assert b["times"][0] - a["end"] == pytest.approx(0.05, abs=0.03)
            assert c["times"][0] - b["end"] == pytest.approx(0.05, abs=0.03)
            assert b["ttft"] > 0.4
            assert b["final"]["total_duration"] / 1e9 == pytest.approx(b["end"] - b["start"], abs=0.03)
            # after the queue drained, requests are accepted again
            assert _measure_chat(d.url, 2)["final"]["eval_count"] == 2

        _tolerating_noise(check)


async def _stream(host: str, port: int, i: int, num_predict: int) -> tuple[float, list[float], dict]:
    await asyncio.sleep(i * 0.002)  # spread the connects a little, as a load generator ramps up
    reader, writer = await asyncio.open_connection(host, port)
    body = json.dumps(
        {
            "model": "llama3.2:1b",
            "messages": [{"role": "user", "content": f"hi {i}"}],
            "options": {"num_predict": num_predict},
        }
    ).encode()
    t0 = time.perf_counter()
    writer.write(
        b"POST /api/chat HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nConnection: close\r\n"
        b"Content-Length: %d\r\n\r\n%b" % (len(body), body)
    )
    times: list[float] = []
    final: dict = {}
    while line := await reader.readline():
        if line.startswith(b"{"):
            if b'"done":true' in line:
                final = json.loads(line)
            else:
                times.append(time.perf_counter())
    writer.close()
    return t0, times, final


def test_hundred_concurrent_streams_keep_their_timing() -> None:
    n, rate, tokens = 100, 20.0, 20
    with running_double(
        ttft_ms=TTFT_MS, tokens_per_second=rate, load_ms=0, num_parallel=n, models=["llama3.2:1b"]
    ) as d:
        host, port = d.host.rsplit(":", 1)
        _measure_chat(d.url, 1)

        async def main() -> list[tuple[float, list[float], dict]]:
            return await asyncio.gather(*(_stream(host, int(port), i, tokens) for i in range(n)))

        def check() -> None:
            results = asyncio.run(main())
            ttft_err = [abs((times[0] - t0) * 1000 - TTFT_MS) for t0, times, _ in results]
            assert statistics.median(ttft_err) < 30
            assert max(ttft_err) < 100
            client_rates = [_rate(times) for _, times, _ in results]
            assert statistics.median(client_rates) == pytest.approx(rate, rel=0.03)
            for _, times, final in results:
                assert len(times) == tokens
                assert final["eval_count"] / (final["eval_duration"] / 1e9) == pytest.approx(rate, rel=0.03)
                assert final["prompt_eval_duration"] / 1e6 == pytest.approx(TTFT_MS, abs=30)

        _tolerating_noise(check)


def test_client_leaving_the_queue_frees_its_place() -> None:
    with running_double(
        ttft_ms=10, tokens_per_second=50, load_ms=0, num_parallel=1, max_queue=1, models=["llama3.2:1b"]
    ) as d:
        host, port = d.host.rsplit(":", 1)
        body = b'{"model": "llama3.2:1b", "prompt": "wait", "options": {"num_predict": 5}}'
        request = b"POST /api/generate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: %d\r\n\r\n%b" % (len(body), body)
        results: dict[str, dict] = {}
        busy = threading.Thread(target=lambda: results.update(busy=_measure_chat(d.url, 60)))
        busy.start()
        time.sleep(0.2)
        with socket.create_connection((host, int(port))) as queued:  # takes the only queue place, then hangs up
            queued.sendall(request)
            time.sleep(0.1)
            full = requests.post(d.url + "/api/generate", data=body, timeout=30)
            assert full.status_code == 503
        time.sleep(0.4)  # the double notices the hang-up within 0.25 s
        accepted = requests.post(d.url + "/api/generate", data=body.replace(b"wait", b"next"), timeout=30)
        assert accepted.status_code == 200
        busy.join(30)
        assert results["busy"]["final"]["eval_count"] == 60


def test_prompt_evaluation_can_grow_with_prompt_length() -> None:
    with running_double(
        ttft_ms=50, prompt_tokens_per_second=100, tokens_per_second=200, load_ms=0, models=["llama3.2:1b"]
    ) as d:
        _measure_chat(d.url, 1)

        def check() -> None:
            short = _measure_chat(d.url, 2, "one two")["final"]
            long = _measure_chat(d.url, 2, " ".join(["word"] * 20))["final"]
            assert short["prompt_eval_duration"] / 1e6 == pytest.approx(50 + 20, abs=10)
            assert long["prompt_eval_count"] == 20
            assert long["prompt_eval_duration"] / 1e6 == pytest.approx(50 + 200, abs=10)

        _tolerating_noise(check)
