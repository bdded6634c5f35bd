"""Time from starting `gateway serve` to its first HTTP answer, in seconds, N runs.

    first_response.py GATEWAY_EXECUTABLE [RUNS]

Each run starts the executable on a free loopback port with a private
GATEWAY_HOME, polls GET /health every 5 ms (a refused connection is retried
at once), records the time of the first 200, then stops the server with
SIGTERM and waits for it. Prints one JSON line: the runs, median, min, max.
Standard library only, so it measures the binary and nothing else.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def one(exe: str) -> float:
    port = free_port()
    with tempfile.TemporaryDirectory() as home, tempfile.TemporaryFile() as log:
        env = {**os.environ, "GATEWAY_HOME": home}
        started = time.perf_counter()
        process = subprocess.Popen([exe, "serve", "--port", str(port)], env=env,
                                   stdout=subprocess.DEVNULL, stderr=log)
        try:
            while time.perf_counter() - started < 30:
                if process.poll() is not None:
                    log.seek(0)
                    why = log.read().decode(errors="replace")[-500:]
                    raise SystemExit(f"{exe} exited with {process.returncode}: {why}")
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                try:
                    conn.request("GET", "/health")
                    if conn.getresponse().status == 200:
                        return time.perf_counter() - started
                except OSError:
                    time.sleep(0.005)
                finally:
                    conn.close()
            raise SystemExit(f"{exe} did not answer within 30 s")
        finally:
            process.terminate()
            process.wait(timeout=15)


def main() -> None:
    exe = sys.argv[1]
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    one(exe)  # warm-up: page cache, first extraction
    times = [one(exe) for _ in range(runs)]
    print(json.dumps({"runs": runs, "median": round(statistics.median(times), 3),
                      "min": round(min(times), 3), "max": round(max(times), 3)}))


if __name__ == "__main__":
    main()
