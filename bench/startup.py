# Gateway start -> /readyz and idle RSS: python3 bench/startup.py target/release/openclaw (7 runs, medians).
import os, socket, subprocess, sys, time, statistics, tempfile, json
binary = sys.argv[1]
home = tempfile.mkdtemp()
state = os.path.join(home, "state")
env = dict(os.environ, OPENCLAW_STATE_DIR=state, HOME=home)
subprocess.run([binary, "setup", "--non-interactive", "--provider", "mock", "--base-url", "http://127.0.0.1:9/v1", "--model", "m1"], env=env, check=True, capture_output=True)
def ready(port):
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=0.05)
        s.sendall(b"GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = s.recv(100); s.close()
        return data.startswith(b"HTTP/1.1 200")
    except OSError:
        return False
times, rss = [], []
for i in range(7):
    port = 19700 + i
    t0 = time.perf_counter()
    p = subprocess.Popen([binary, "gateway", "run", "--port", str(port), "--token", "t"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while not ready(port):
        time.sleep(0.0005)
    times.append((time.perf_counter() - t0) * 1000)
    time.sleep(0.5)
    with open(f"/proc/{p.pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS"):
                rss.append(int(line.split()[1]) / 1024)
    p.terminate(); p.wait()
print(json.dumps({"start_to_ready_ms_median": round(statistics.median(times), 1), "runs_ms": [round(t, 1) for t in times],
                  "idle_rss_mb_median": round(statistics.median(rss), 1), "rss_runs_mb": [round(r, 1) for r in rss]}))
