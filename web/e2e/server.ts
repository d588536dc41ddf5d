// A real `rampart serve` per test file: its own data directory and port, the setup link
// read from what it prints, stopped when the file's tests end.
import { test as base } from "@playwright/test";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface Server {
  base: string;
  setupLink: string;
  output: () => string;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const address = s.address();
      const port = typeof address === "object" && address ? address.port : 0;
      s.close(() => resolve(port));
    });
    s.on("error", reject);
  });
}

function binary(): string {
  if (process.env.RAMPART_BIN) return process.env.RAMPART_BIN;
  const target = process.env.CARGO_TARGET_DIR ?? join(process.env.HOME ?? "", ".cache/rampart-target");
  return join(target, "debug/rampart");
}

async function start(): Promise<{ server: Server; stop: () => Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), "rampart-e2e-"));
  const port = await freePort();
  let out = "";
  const child: ChildProcess = spawn(
    binary(),
    ["serve", "--data-dir", join(dir, "data"), "--listen", `127.0.0.1:${port}`, "--internal-listen", "127.0.0.1:0"],
    {
      env: { ...process.env, RAMPART_LOG__LEVEL: "warn" },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  child.stdout?.on("data", (d) => (out += d.toString()));
  child.stderr?.on("data", (d) => (out += d.toString()));
  const deadline = Date.now() + 60_000;
  while (!/rampart ready/.test(out)) {
    if (child.exitCode !== null) throw new Error(`rampart exited:\n${out}`);
    if (Date.now() > deadline) throw new Error(`rampart did not start:\n${out}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const link = /(http:\/\/\S+\/setup#token=rps_[A-Za-z0-9]+)/.exec(out);
  if (!link) throw new Error(`no setup link printed:\n${out}`);
  const server = { base: `http://localhost:${port}`, setupLink: link[1]!, output: () => out };
  const stop = async () => {
    child.kill("SIGTERM");
    await new Promise((r) => (child.exitCode !== null ? r(null) : child.once("exit", r)));
    rmSync(dir, { recursive: true, force: true });
  };
  return { server, stop };
}

export const test = base.extend<{ server: Server }>({
  server: [
    async ({}, use) => {
      const { server, stop } = await start();
      await use(server);
      await stop();
    },
    { scope: "test" },
  ],
});

export { expect } from "@playwright/test";
