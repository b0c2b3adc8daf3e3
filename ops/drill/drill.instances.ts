import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';

/**
 * The sample app as the drill runs it: a real `node dist-sample/main.js` process per instance, on
 * its own port, configured through the environment exactly as a deployment would configure it.
 * Its output goes to a log file beside the report, so the drill's log lines can be read afterwards.
 */
export class SampleInstance {
  private exited: string | null = null;

  private constructor(
    readonly name: string,
    readonly baseUrl: string,
    private readonly child: ChildProcess,
    readonly logPath: string,
  ) {
    child.once('exit', (code, signal) => {
      this.exited = `${name} exited (${signal ?? `code ${code}`})`;
    });
  }

  static async start(name: string, root: string, outDir: string, env: Record<string, string>): Promise<SampleInstance> {
    const port = await freePort();
    const logPath = join(outDir, `${name}.log`);
    const log = createWriteStream(logPath);
    const child = spawn(process.execPath, [join(root, 'dist-sample', 'main.js')], {
      cwd: root,
      env: { ...process.env, ...env, PORT: String(port), HOST: '127.0.0.1', NODE_ENV: 'production' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.pipe(log);
    child.stderr!.pipe(log);
    return new SampleInstance(name, `http://127.0.0.1:${port}`, child, logPath);
  }

  /** Why the process is gone, or null while it runs. */
  get casualty(): string | null {
    return this.exited;
  }

  /** Resolves once /health/ready answers 200; rejects after `timeoutMs` or if the process exits. */
  async ready(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.exited) throw new Error(`${this.exited} before it was ready; see ${this.logPath}`);
      const status = await this.status('/health/ready');
      if (status === 200) return;
      if (Date.now() > deadline) throw new Error(`${this.name} not ready after ${timeoutMs} ms (last /health/ready: ${status}); see ${this.logPath}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /** The status of a GET, 0 when nothing answered. */
  async status(path: string, token?: string): Promise<number> {
    try {
      const response = await fetch(this.baseUrl + path, { headers: token ? { authorization: `Bearer ${token}` } : {}, signal: AbortSignal.timeout(5_000) });
      await response.arrayBuffer();
      return response.status;
    } catch {
      return 0;
    }
  }

  async text(path: string, token?: string): Promise<string | null> {
    try {
      const response = await fetch(this.baseUrl + path, { headers: token ? { authorization: `Bearer ${token}` } : {}, signal: AbortSignal.timeout(5_000) });
      return response.ok ? await response.text() : null;
    } catch {
      return null;
    }
  }

  async post(path: string, body: string, headers: Record<string, string>): Promise<number> {
    try {
      const response = await fetch(this.baseUrl + path, { method: 'POST', body, headers: { 'content-type': 'application/json', ...headers }, signal: AbortSignal.timeout(5_000) });
      await response.arrayBuffer();
      return response.status;
    } catch {
      return 0;
    }
  }

  /** SIGTERM (Nest's shutdown hooks run), SIGKILL after 5 s. */
  async stop(): Promise<void> {
    if (this.exited) return;
    const gone = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5_000);
    await gone;
    clearTimeout(timer);
  }
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}
