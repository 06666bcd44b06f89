#!/usr/bin/env python3
"""Drops media + sidecar pairs into an inbox and times how long each takes to be claimed (its sidecar renamed away).

usage: driver.py INCOMING MEDIA latency N     one drop at a time; prints p50/p90/p99/max milliseconds
       driver.py INCOMING MEDIA burst N       N drops as fast as possible; prints seconds until all are claimed
       driver.py INCOMING MEDIA burst-rename N   N drops written beforehand into a staging directory beside INCOMING,
                                                 then renamed in (media, then sidecar) as fast as possible; prints
                                                 seconds from the first rename until all are claimed. The producer
                                                 costs ~nothing here, so this is the watcher's own claim rate.

A drop is written as producers do (media copied, then the sidecar written and closed); the clock starts when the
sidecar is closed. Claims are seen by polling every 0.2 ms, the same for every watcher measured.
"""
import json, os, shutil, sys, time

incoming, media, mode, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
tag = f"{os.getpid()}-{int(time.time())}"

def drop(i):
    name = f"b{tag}-{i}.mp4"
    shutil.copyfile(media, os.path.join(incoming, name))
    side = os.path.join(incoming, name + ".json")
    with open(side, "w") as f:
        json.dump({"title": f"bench {i}"}, f)
    return side

def wait_gone(path, timeout=30):
    deadline = time.perf_counter() + timeout
    while os.path.exists(path):
        if time.perf_counter() > deadline:
            sys.exit(f"not claimed within {timeout} s: {path}")
        time.sleep(0.0002)

if mode == "latency":
    samples = []
    for i in range(n):
        side = drop(i)
        t0 = time.perf_counter()
        wait_gone(side)
        samples.append((time.perf_counter() - t0) * 1000)
        time.sleep(0.02)  # let the watcher (and inboxd's worker) settle between drops
    samples.sort()
    q = lambda p: samples[min(len(samples) - 1, int(p * len(samples)))]
    print(f"{q(0.5):.2f} {q(0.9):.2f} {q(0.99):.2f} {samples[-1]:.2f}")
elif mode == "burst":
    t0 = time.perf_counter()
    sides = [drop(i) for i in range(n)]
    for s in sides:
        wait_gone(s, timeout=300)
    print(f"{time.perf_counter() - t0:.3f}")
elif mode == "burst-rename":
    staging = os.path.join(os.path.dirname(os.path.abspath(incoming)), ".bench-staging")
    os.makedirs(staging, exist_ok=True)
    pairs = []
    for i in range(n):
        name = f"r{tag}-{i}.mp4"
        shutil.copyfile(media, os.path.join(staging, name))  # a copy each: inboxd refuses hard-linked media
        with open(os.path.join(staging, name + ".json"), "w") as f:
            json.dump({"title": f"bench {i}"}, f)
        pairs.append(name)
    t0 = time.perf_counter()
    for name in pairs:
        os.rename(os.path.join(staging, name), os.path.join(incoming, name))
        os.rename(os.path.join(staging, name + ".json"), os.path.join(incoming, name + ".json"))
    for name in pairs:
        wait_gone(os.path.join(incoming, name + ".json"), timeout=600)
    print(f"{time.perf_counter() - t0:.3f}")
    os.rmdir(staging)
else:
    sys.exit("mode must be latency, burst or burst-rename")
