"""Run on the controller: stream a chat through nginx and time each NDJSON line as it arrives.

Usage: stream_check.py BASE_URL TOKEN MODEL. Prints one JSON object.
"""

import http.client
import json
import sys
import time
import urllib.parse


def main() -> int:
    base, token, model = sys.argv[1], sys.argv[2], sys.argv[3]
    parsed = urllib.parse.urlsplit(base)
    conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=60)
    body = json.dumps({"model": model, "messages": [{"role": "user", "content": "Count slowly."}], "stream": True})
    started = time.monotonic()
    conn.request("POST", "/api/chat", body, {"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    response = conn.getresponse()
    arrivals = []
    final = {}
    while True:
        line = response.readline()
        if not line:
            break
        if not line.strip():
            continue
        item = json.loads(line)
        arrivals.append(time.monotonic() - started)
        if item.get("done"):
            final = item
    conn.close()
    print(
        json.dumps(
            {
                "status": response.status,
                "content_type": response.getheader("Content-Type"),
                "lines": len(arrivals),
                "first_line_s": arrivals[0] if arrivals else None,
                "last_line_s": arrivals[-1] if arrivals else None,
                "eval_count": final.get("eval_count"),
                "done": bool(final.get("done")),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
