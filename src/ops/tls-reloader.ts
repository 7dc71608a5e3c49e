import { createHash, createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync, unwatchFile, watchFile } from 'node:fs';
import { createSecureContext, type Server as TlsServer } from 'node:tls';
import type { Logger } from 'pino';
import { ConfigError } from '../config/app-config';

/** The PEM files of TLS_CERT_FILE and TLS_KEY_FILE. */
export type TlsFiles = Readonly<{ certFile: string; keyFile: string }>;

/** A certificate and its key, read and checked together. */
export interface TlsPair {
  cert: Buffer;
  key: Buffer;
  /** What may be logged about the certificate (never anything about the key). */
  info: { subject: string; serialNumber: string; validTo: string; fingerprint256: string };
  /** sha256 of both files: tells a real change from a second notice about the same files. */
  digest: string;
}

/**
 * Reads both files and checks that they make a usable pair, or throws a ConfigError naming the variable at
 * fault. Messages carry the paths and OpenSSL's reason, never the files' contents.
 */
export function loadTlsPair(files: TlsFiles): TlsPair {
  const problems: string[] = [];
  const read = (name: string, path: string): Buffer | undefined => {
    try {
      return readFileSync(path);
    } catch (err) {
      problems.push(`${name}: cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
      return undefined;
    }
  };
  const cert = read('TLS_CERT_FILE', files.certFile);
  const key = read('TLS_KEY_FILE', files.keyFile);
  let x509: X509Certificate | undefined;
  if (cert) {
    try {
      x509 = new X509Certificate(cert);
    } catch (err) {
      problems.push(`TLS_CERT_FILE: ${files.certFile} is not a PEM certificate (${reason(err)})`);
    }
  }
  let keyOk = false;
  if (key) {
    try {
      createPrivateKey(key);
      keyOk = true;
    } catch (err) {
      problems.push(`TLS_KEY_FILE: ${files.keyFile} is not an unencrypted PEM private key (${reason(err)})`);
    }
  }
  if (cert && key && x509 && keyOk) {
    try {
      createSecureContext({ cert, key });
    } catch (err) {
      problems.push(`TLS_KEY_FILE: the key in ${files.keyFile} does not match the certificate in TLS_CERT_FILE (${reason(err)})`);
    }
  }
  if (problems.length > 0 || !cert || !key || !x509) throw new ConfigError(problems);
  return {
    cert,
    key,
    info: { subject: x509.subject, serialNumber: x509.serialNumber, validTo: x509.validTo, fingerprint256: x509.fingerprint256 },
    digest: createHash('sha256').update(cert).update('\0').update(key).digest('hex'),
  };
}

/** OpenSSL's reason code or message: names the failure, never echoes input. */
function reason(err: unknown): string {
  const e = err as { code?: unknown; message?: unknown };
  return typeof e.code === 'string' ? e.code : String(e.message);
}

export interface TlsReloaderStats {
  /** New pairs put in service since start. */
  reloads: number;
  /** Attempts that found a pair that cannot be used (the previous one kept serving). */
  rejected: number;
}

/**
 * Puts a rotated certificate in service without a restart: new TLS handshakes get the new pair
 * (`server.setSecureContext`), connections already open keep theirs and are not dropped.
 *
 * Why polling (`fs.watchFile`, a stat every second) rather than `fs.watch`: cert-manager and the kubelet
 * rotate a mounted Secret by writing a new timestamped directory and swapping the `..data` symlink that
 * `tls.crt`/`tls.key` point through. Nothing the service watches is written in place then, so an inotify
 * watch on the files keeps watching the old, unlinked inodes and never fires; a directory watch sees only
 * the `..data` rename, and inotify is missing or unreliable on some volume types (NFS, some FUSE mounts).
 * A stat of the path follows the symlinks every time, so a swap shows up as a new inode, as does an
 * in-place write or a file that disappears and comes back, at the cost of two stats a second.
 *
 * A pair that does not fit (caught mid-rotation: the certificate written but not yet the key, or a file
 * half-written) is logged and the pair in service stays; it is tried again at the next change, and at
 * every poll interval until a good pair is read.
 */
export class TlsReloader {
  readonly stats: TlsReloaderStats = { reloads: 0, rejected: 0 };
  private current: string;
  private lastProblem: string | null = null;
  private scheduled = false;
  private retryTimer: NodeJS.Timeout | null = null;
  private stopped = false;
  // libuv calls this when a stat field other than the access time differs from the previous poll; an unchanged
  // pair is recognised by its digest, so every notice may simply trigger a reload.
  private readonly onChange = (): void => this.schedule();

  constructor(
    private readonly server: TlsServer,
    private readonly files: TlsFiles,
    private readonly log: Logger,
    /** The pair the server started with. */
    initial: TlsPair,
    private readonly intervalMs = 1000,
  ) {
    this.current = initial.digest;
  }

  start(): this {
    for (const path of this.paths()) {
      // persistent: false, so the watch never keeps the process alive on its own.
      watchFile(path, { interval: this.intervalMs, persistent: false }, this.onChange);
    }
    return this;
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    for (const path of this.paths()) unwatchFile(path, this.onChange);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
  }

  /** Reads both files and puts them in service if they changed and fit; true when the server has the files' pair. */
  reload(): boolean {
    let pair: TlsPair;
    try {
      pair = loadTlsPair(this.files);
    } catch (err) {
      this.stats.rejected += 1;
      const problem = err instanceof ConfigError ? err.problems.join('; ') : reason(err);
      // Once per distinct problem: a retry every second would otherwise repeat the same line.
      if (problem !== this.lastProblem) {
        this.log.warn({ problem }, 'tls certificate not reloaded: the files do not make a usable pair; the previous one stays in service');
        this.lastProblem = problem;
      }
      return false;
    }
    this.lastProblem = null;
    if (pair.digest === this.current) return true;
    try {
      this.server.setSecureContext({ cert: pair.cert, key: pair.key });
    } catch (err) {
      this.stats.rejected += 1;
      this.log.error({ problem: reason(err) }, 'tls certificate not reloaded: the server refused the new pair');
      return false;
    }
    this.current = pair.digest;
    this.stats.reloads += 1;
    this.log.info({ certificate: pair.info }, 'tls certificate reloaded');
    return true;
  }

  private paths(): string[] {
    return this.files.certFile === this.files.keyFile ? [this.files.certFile] : [this.files.certFile, this.files.keyFile];
  }

  /** Both files usually change together: one reload for the notices of one poll round. */
  private schedule(): void {
    if (this.scheduled || this.stopped) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      if (this.stopped) return;
      if (this.retryTimer) clearTimeout(this.retryTimer);
      this.retryTimer = null;
      if (!this.reload()) this.retryLater();
    });
  }

  private retryLater(): void {
    if (this.stopped) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      if (!this.stopped && !this.reload()) this.retryLater();
    }, this.intervalMs);
    this.retryTimer.unref();
  }
}
