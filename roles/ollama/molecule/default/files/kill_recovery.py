#!/usr/bin/python3
"""Run inside the instance: kill -9 Ollama's main process and time /ready going 503 and back to 200.

Usage: kill_recovery.py READY_URL BOUND_SECONDS. Prints one JSON object.
"""

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request


def main_pid() -> int:
    out = subprocess.run(
        ["systemctl", "show", "--property=MainPID", "--value", "ollama.service"], capture_output=True, text=True
    )
    return int(out.stdout.strip() or 0)


def ready_status(url: str) -> int:
    try:
        with urllib.request.build_opener().open(url, timeout=1) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


def main() -> int:
    url, bound = sys.argv[1], float(sys.argv[2])
    old_pid = main_pid()
    before = ready_status(url)
    os.kill(old_pid, signal.SIGKILL)
    killed = time.monotonic()
    not_ready_after = None
    ready_after = None
    while time.monotonic() - killed < bound + 10:
        status = ready_status(url)
        elapsed = time.monotonic() - killed
        if status != 200 and not_ready_after is None:
            not_ready_after = elapsed
        if status == 200 and not_ready_after is not None:
            ready_after = elapsed
            break
        time.sleep(0.1)
    print(
        json.dumps(
            {
                "old_pid": old_pid,
                "new_pid": main_pid(),
                "ready_before": before,
                "not_ready_after_s": not_ready_after,
                "ready_again_after_s": ready_after,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
