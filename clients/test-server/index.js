// A real `billgate serve` for the clients' tests: a fresh SQLite file in a temporary folder,
// migrated, with examples/catalog.yaml, in test mode on a free port of 127.0.0.1. The
// `billgate` command is $BILLGATE_BIN, else the repository's .venv/bin/billgate (`make
// install`), else `billgate` on PATH. The clients never import server code: this runs it.
import { spawn, execFile } from "node:child_process";
import { existsSync, mkdtempSync, openSync, readFileSync, rmSync, closeSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";

const ROOT = resolve(import.meta.dirname, "..", "..");
export const EXAMPLE_CATALOG = join(ROOT, "examples", "catalog.yaml");
export const SECRET_KEY = "sk_test_clients_tests";
export const TOKEN_SECRET = "clients-tests-customer-token-secret-32b";

function billgateCommand() {
  if (process.env.BILLGATE_BIN) return process.env.BILLGATE_BIN;
  const venv = join(ROOT, ".venv", "bin", "billgate");
  return existsSync(venv) ? venv : "billgate";
}

export function freePort() {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolvePort(port));
    });
  });
}

/**
 * Start billgate. `settings` are BILLGATE_<NAME> values (e.g. { ALLOWED_ORIGINS: "..." }).
 * Returns { url (the GraphQL endpoint), base, port, secretKey, tokenSecret, logPath,
 * request(query, variables), stop(), restart() }.
 */
export async function startBillgate(settings = {}) {
  const folder = mkdtempSync(join(tmpdir(), "billgate-clients-"));
  const port = await freePort();
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith("BILLGATE_")));
  Object.assign(env, {
    BILLGATE_DATABASE_URL: `sqlite+aiosqlite:///${join(folder, "billgate.db")}`,
    BILLGATE_HOST: "127.0.0.1",
    BILLGATE_PORT: String(port),
    BILLGATE_TEST_MODE: "true",
    BILLGATE_JSON_LOGS: "false",
    BILLGATE_SHUTDOWN_GRACE_SECONDS: "1",
    BILLGATE_SECRET_KEYS: SECRET_KEY,
    BILLGATE_CUSTOMER_TOKEN_SECRET: TOKEN_SECRET,
    ...Object.fromEntries(Object.entries(settings).map(([name, value]) => [`BILLGATE_${name}`, String(value)])),
  });
  const command = billgateCommand();
  const run = promisify(execFile);
  try {
    await run(command, ["migrate"], { env, cwd: folder });
    await run(command, ["catalog", "apply", EXAMPLE_CATALOG], { env, cwd: folder });
  } catch (error) {
    throw new Error(`could not prepare billgate (${command}; run \`make install\` or set BILLGATE_BIN): ${error.stderr || error.message}`);
  }

  const base = `http://127.0.0.1:${port}`;
  const logPath = join(folder, "billgate.log");
  let child;

  async function start(onPort = port) {
    const log = openSync(logPath, "a");
    const proc = spawn(command, ["serve", "--port", String(onPort)], { env, cwd: folder, stdio: ["ignore", log, log] });
    closeSync(log);
    await waitReady(`http://127.0.0.1:${onPort}`, proc, logPath);
    return proc;
  }

  async function stopProcess(proc = child) {
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise((done) => proc.once("exit", done));
    proc.kill("SIGTERM");
    const timer = setTimeout(() => proc.kill("SIGKILL"), 10_000);
    await exited;
    clearTimeout(timer);
  }

  const request = (onBase) => async (query, variables = {}) => {
    const response = await fetch(`${onBase}/graphql`, {
      method: "POST",
      headers: { "Content-Type": "application/json", Authorization: `Bearer ${SECRET_KEY}` },
      body: JSON.stringify({ query, variables }),
    });
    const body = await response.json();
    if (body.errors?.length) throw new Error(JSON.stringify(body.errors));
    return body.data;
  };

  child = await start();
  return {
    url: `${base}/graphql`,
    base,
    port,
    secretKey: SECRET_KEY,
    tokenSecret: TOKEN_SECRET,
    logPath,
    /** A GraphQL call with the secret key; throws on errors. */
    request: request(base),
    /**
     * Stop the server (SIGTERM, as a deploy would) and start it again on the same port.
     * `whileDown(request)` runs while it is down, with `request` going to a second server on
     * the same database and another port: changes no client connected to `url` can see live.
     */
    async restart({ whileDown } = {}) {
      await stopProcess();
      if (whileDown) {
        const otherPort = await freePort();
        const other = await start(otherPort);
        try {
          await whileDown(request(`http://127.0.0.1:${otherPort}`));
        } finally {
          await stopProcess(other);
        }
      }
      child = await start();
    },
    async stop() {
      await stopProcess();
      rmSync(folder, { recursive: true, force: true });
    },
    log() {
      return existsSync(logPath) ? readFileSync(logPath, "utf8") : "";
    },
  };
}

async function waitReady(base, child, logPath) {
  const deadline = Date.now() + 60_000;
  let last = "no answer";
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`billgate serve exited:\n${readFileSync(logPath, "utf8")}`);
    try {
      const response = await fetch(`${base}/readyz`);
      if (response.ok) return;
      last = `${response.status} ${await response.text()}`;
    } catch (error) {
      last = String(error);
    }
    await new Promise((done) => setTimeout(done, 100));
  }
  throw new Error(`billgate serve not ready after 60 s (last: ${last}):\n${readFileSync(logPath, "utf8")}`);
}
