// How the hub opens a serial port: with the platform's binding, except that on Linux a read of
// nothing ends the port. A terminal whose USB adapter was pulled, or whose pty's other end closed,
// is hung up and reads as ended; the platform binding reads again at once when a read brings
// nothing, forever (serialport/bindings-cpp#162), so the hub never saw the port go and spun a
// thread-pool thread on it.
import { read } from 'node:fs';
import { promisify } from 'node:util';
import {
  autoDetect,
  BindingsError,
  LinuxBinding,
  type LinuxBindingInterface,
  type LinuxPortBinding,
} from '@serialport/bindings-cpp';
import { SerialPortStream } from '@serialport/stream';

const readFd = promisify(read);
/** A non-blocking read that found no byte yet: wait for the port to be readable. */
const NOTHING_YET = new Set(['EAGAIN', 'EWOULDBLOCK', 'EINTR']);

export const HUNG_UP = 'the port hung up (unplugged, or the other end of the line closed)';

// The stream takes a cancelled read as the port closing under it, and closes the port on any other
// read that fails.
const closedUnder = () => new BindingsError('Port is not open', { canceled: true });
const hungUp = (cause?: unknown) => new Error(HUNG_UP, cause === undefined ? {} : { cause });
const cancelled = (err: unknown) => err instanceof BindingsError && err.canceled;

/**
 * A hang-up shows as an error from the poller (POLLERR) or from the read (EIO, while the kernel
 * is still hanging the line up), or as a read of nothing once it has: each is told as one.
 */
const readable = (port: LinuxPortBinding) =>
  new Promise<void>((resolve, reject) =>
    port.poller.once('readable', (err) => {
      if (!err) resolve();
      else reject(cancelled(err) ? err : hungUp(err));
    }),
  );

type ReadOnce = (fd: number, buffer: Buffer, offset: number, length: number) => Promise<{ bytesRead: number }>;

async function readUntilHungUp(
  port: LinuxPortBinding,
  readOnce: ReadOnce,
  buffer: Buffer,
  offset: number,
  length: number,
) {
  if (length === 0) return { buffer, bytesRead: 0 };
  for (;;) {
    const fd = port.fd;
    if (fd === null) throw closedUnder();
    let bytesRead: number;
    try {
      ({ bytesRead } = await readOnce(fd, buffer, offset, length));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? '';
      if (code === 'EIO') throw hungUp(err);
      if (!NOTHING_YET.has(code)) throw err;
      // Closed while the read was out: its poller is destroyed, and waiting on it crashes.
      if (!port.isOpen) throw closedUnder();
      await readable(port);
      continue;
    }
    if (bytesRead === 0) throw hungUp();
    return { buffer, bytesRead };
  }
}

const linuxBinding: LinuxBindingInterface = {
  ...LinuxBinding,
  async open(options) {
    const port = await LinuxBinding.open(options);
    // A read still out in a thread-pool thread when the port closes keeps its file, and so its
    // lock, after the close has returned: opening the port again then fails ("Cannot lock port").
    // And a read queued behind the close reads whatever file is next given that number. So a close
    // lets the read out come back first, and no read starts once closing has begun.
    let closing = false;
    let readOut: Promise<unknown> = Promise.resolve();
    const readOnce: ReadOnce = (fd, buffer, offset, length) => {
      if (closing) return Promise.reject(closedUnder());
      const read = readFd(fd, buffer, offset, length, null);
      readOut = read.catch(() => undefined);
      return read;
    };
    port.read = (buffer, offset, length) => readUntilHungUp(port, readOnce, buffer, offset, length);
    const close = port.close.bind(port);
    port.close = async () => {
      closing = true;
      await readOut;
      await close();
    };
    return port;
  },
};

export interface SerialPortOptions {
  path: string;
  baudRate: number;
  /** Bytes read ahead of the reader; the stream's default is 64 KiB. */
  highWaterMark?: number;
}

/** A port that is opened by its `open` call, and closes with a reason when it is unplugged. */
export function serialPort(options: SerialPortOptions): SerialPortStream {
  return new SerialPortStream({
    binding: process.platform === 'linux' ? linuxBinding : autoDetect(),
    autoOpen: false,
    ...options,
  });
}
