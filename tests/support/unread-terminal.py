# Runs a command with its standard output on a terminal that nobody reads, for
# telemetry-log-blocked.test.ts: writes to it block once the terminal's buffer is full, as they do
# on a terminal paused with Ctrl-S. A line on this process's standard input starts the reading:
# what the terminal has is then copied to this process's standard output. Standard error is the
# command's own. The command is killed with this process.
import ctypes
import os
import pty
import signal
import subprocess
import sys

PR_SET_PDEATHSIG = 1


def die_with_parent():
    ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


master, slave = pty.openpty()
child = subprocess.Popen(sys.argv[1:], stdin=subprocess.DEVNULL, stdout=slave, preexec_fn=die_with_parent)
os.close(slave)
signal.signal(signal.SIGTERM, lambda *_: (child.kill(), sys.exit(0)))

sys.stdin.readline()
while True:
    try:
        data = os.read(master, 65536)
    except OSError:
        break
    if not data:
        break
    sys.stdout.buffer.write(data)
    sys.stdout.flush()
