# Runs a command with its standard output on a pty's master side, as a terminal emulator or `script`
# sees it from the other end, for telemetry-log-blocked.test.ts. What reaches the slave side is
# copied to this process's standard output until the command has exited and nothing more comes.
import ctypes
import os
import pty
import select
import signal
import subprocess
import sys
import tty

PR_SET_PDEATHSIG = 1


def die_with_parent():
    ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


master, slave = pty.openpty()
# Raw, so the slave side does not echo back to a master side nobody reads.
tty.setraw(slave)
child = subprocess.Popen(sys.argv[1:], stdin=subprocess.DEVNULL, stdout=master, preexec_fn=die_with_parent)
# The master side stays open here until the end: were the command's the last, its exit would hang
# the pty up, and what the slave side had not yet been read of would be thrown away.
os.set_blocking(slave, False)
while True:
    readable, _, _ = select.select([slave], [], [], 0.2)
    if not readable:
        if child.poll() is not None:
            break
        continue
    sys.stdout.buffer.write(os.read(slave, 65536))
    sys.stdout.flush()
os.close(master)
