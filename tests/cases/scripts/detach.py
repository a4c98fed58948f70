"""Starts a process that outlives it, its output sent nowhere, and ends."""
import os
import subprocess

sleeper = subprocess.Popen(["sleep", "60"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
with open(os.environ.get("SLEEPER_PIDFILE", os.devnull), "w") as f:
    f.write(str(sleeper.pid))
print("started")
