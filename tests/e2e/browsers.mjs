// The browsers the end-to-end tests run in, behind one small interface, so a
// scenario written once runs in every engine:
//
//   const browser = await launchBrowser("firefox", { profileDir, notePid });
//   const tab = browser.tabs[0];
//   await tab.goto(url);
//   const answer = await tab.evaluate(async (arg) => { ... }, arg); // JSON in, JSON out
//   await tab.pickFiles("#file-input", [path]);
//   await tab.click("#button");
//   await tab.reload();
//   const other = await browser.newTab(); // null where the driver cannot open a second window
//   await browser.setOffline(true); // false where the engine cannot
//   await browser.close();
//
// Chromium is driven by playwright-core (its tabs also expose `page`, the
// Playwright Page, for the Chromium-only tests that intercept requests).
// Firefox, WebKitGTK and WPE WebKit are driven over W3C WebDriver
// (selenium-webdriver's client, against geckodriver, WebKitWebDriver and
// WPEWebDriver started here): Playwright needs its own patched builds of
// those engines, which cannot be downloaded here.
//
// Every call has an end: WebDriver commands are bounded by COMMAND_TIMEOUT,
// scripts by SCRIPT_TIMEOUT.
//
// Environment: CHROMIUM (default /usr/bin/chromium), FIREFOX (default
// /usr/bin/firefox-esr), GECKODRIVER (default geckodriver on PATH or in
// ~/.cargo/bin), WEBKIT_DRIVER (default /usr/bin/WebKitWebDriver),
// WPE_DRIVER (default /usr/bin/WPEWebDriver), COG (default /usr/bin/cog).

import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { freePort } from "./loopback.mjs";

const LAUNCH_TIMEOUT = 60_000;

/**
 * WebKit runtime features Safari ships on and WebKitGTK leaves off: the
 * origin-private file system (with workers' sync access handles) and the
 * Storage API (`navigator.storage`, `estimate()`). With them, WebKitGTK is
 * Safari's engine as Safari runs it. WebDriver's session is ephemeral, so
 * there `getDirectory()` rejects (UnknownError), as in a private window;
 * `createWritable` stays missing in this build.
 */
const WEBKIT_SAFARI_FEATURES = "+FileSystem,+AccessHandle,+StorageAPI,+StorageAPIEstimate";
const COMMAND_TIMEOUT = 60_000;
/** The longest one `evaluate` may run; scenarios poll rather than wait inside. */
const SCRIPT_TIMEOUT = 180_000;

export const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--disable-dev-shm-usage",
];

/** Runs `promise`, failing with `what` after `ms`. */
/**
 * A WebDriver session that stopped answering: a command the driver did not
 * answer within its bound, or a session it no longer knows. The browser,
 * not the page, failed (`WebDriverBrowser.revive` starts a new session).
 */
export class SessionLost extends Error {
  constructor(cause) {
    super(cause.message);
    this.name = "SessionLost";
    this.cause = cause;
  }
}

export async function withTimeout(promise, ms, what) {
  let timer;
  try {
    return await Promise.race([
      promise,
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** The engines `launchBrowser` knows, by the name E2E_BROWSER takes. */
export const ENGINES = ["chromium", "firefox", "webkit", "wpe"];

/**
 * Starts `name` with a profile in `profileDir` (kept across `restart()`
 * where the engine allows). `notePid(pid)` is told of every process started
 * here, so a dying test run can still kill it.
 */
export async function launchBrowser(name, { profileDir, notePid = () => {} }) {
  switch (name) {
    case "chromium":
      return launchChromium(profileDir);
    case "firefox":
    case "webkit":
    case "wpe":
      return WebDriverBrowser.launch(name, { profileDir, notePid });
    default:
      throw new Error(`unknown browser ${name}: one of ${ENGINES.join(", ")}`);
  }
}

// ------------------------------------------------------------- Chromium

async function launchChromium(profileDir) {
  const { chromium } = await import("playwright-core");
  const open = () =>
    chromium.launchPersistentContext(profileDir, {
      executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
      headless: true,
      args: CHROMIUM_ARGS,
      timeout: LAUNCH_TIMEOUT,
      acceptDownloads: false,
    });
  const browser = {
    name: "chromium",
    context: await open(),
    tabs: [],
    /** Uncaught page errors and crashes, each as a line of text. */
    errors: [],
    /** console.error lines (network failures the tests cause are among them). */
    consoleErrors: [],
    get version() {
      return browser.context.browser()?.version() ?? "";
    },
    async newTab() {
      const tab = new PlaywrightTab(browser, await browser.context.newPage());
      return tab;
    },
    /** Offline, every request fails, on any connection. */
    offlineKeepsConnections: false,
    /** Takes every tab offline or back online (see WebDriverBrowser's); true. */
    async setOffline(offline) {
      await browser.context.setOffline(offline);
      return true;
    },
    async close() {
      await withTimeout(browser.context.close(), 20_000, "closing Chromium");
    },
    /** Closes the browser and opens it again on the same profile. */
    async restart() {
      await browser.close();
      browser.context = await open();
      watch();
      browser.tabs = browser.context.pages().map((page) => new PlaywrightTab(browser, page));
      if (browser.tabs.length === 0) await browser.newTab();
      return browser.tabs[0];
    },
  };
  const watch = () => {
    const watchPage = (page) => {
      page.on("console", (msg) => {
        if (msg.type() === "error" || msg.type() === "warning") {
          process.stderr.write(`[chromium console.${msg.type()}] ${msg.text()}\n`);
        }
        if (msg.type() === "error") browser.consoleErrors.push(msg.text());
      });
      page.on("pageerror", (error) => browser.errors.push(`pageerror: ${error?.stack ?? error}`));
      page.on("crash", () => browser.errors.push("the page crashed"));
    };
    browser.context.pages().forEach(watchPage);
    browser.context.on("page", watchPage);
    browser.context.setDefaultTimeout(30_000);
    browser.context.setDefaultNavigationTimeout(30_000);
  };
  watch();
  browser.tabs = browser.context.pages().map((page) => new PlaywrightTab(browser, page));
  if (browser.tabs.length === 0) await browser.newTab();
  return browser;
}

/**
 * A tab of any engine from either a tab or a Playwright page (the
 * Chromium-only tests hold pages).
 */
export function tabOf(tabOrPage) {
  return typeof tabOrPage.pickFiles === "function" ? tabOrPage : new PlaywrightTab(null, tabOrPage);
}

class PlaywrightTab {
  constructor(browser, page) {
    this.browser = browser;
    /** The Playwright Page (Chromium only). */
    this.page = page;
    browser?.tabs.push(this);
  }

  async goto(url) {
    await this.page.goto(url);
  }

  async reload() {
    await this.page.reload();
  }

  async evaluate(fn, arg) {
    return this.page.evaluate(fn, arg);
  }

  async pickFiles(selector, paths) {
    await this.page.setInputFiles(selector, paths);
  }

  async click(selector) {
    await this.page.locator(selector).first().click({ timeout: 10_000 });
  }

  /**
   * Sets the page origin's storage quota through the DevTools protocol
   * (`null` restores it): `navigator.storage.estimate()` reports it and real
   * writes past it fail with QuotaExceededError. Returns whether the engine
   * can (only Chromium).
   */
  async limitQuota(bytes) {
    // The override lasts as long as the session that set it: kept open.
    this.cdp ??= await this.page.context().newCDPSession(this.page);
    const origin = new URL(this.page.url()).origin;
    await this.cdp.send("Storage.overrideQuotaForOrigin", bytes === null ? { origin } : { origin, quotaSize: bytes });
    return true;
  }

  async close() {
    if (this.browser) this.browser.tabs = this.browser.tabs.filter((t) => t !== this);
    await this.page.close();
  }

  /** The pages' uncaught errors and crashes so far (`browser.errors`). */
  async errors() {
    return this.browser.errors;
  }
}

// ------------------------------------------------------------ WebDriver

/** The capabilities each WebDriver engine starts with. */
function capabilities(name, profileDir) {
  switch (name) {
    case "firefox":
      return {
        browserName: "firefox",
        "moz:firefoxOptions": {
          binary: process.env.FIREFOX || "/usr/bin/firefox-esr",
          // The profile folder itself, so IndexedDB survives a restart.
          args: ["-headless", "-profile", profileDir],
          prefs: {
            // Tabs a test is not looking at keep their timers running.
            "dom.min_background_timeout_value": 4,
            "dom.timeout.enable_budget_timer_throttling": false,
            "network.captive-portal-service.enabled": false,
            "app.update.enabled": false,
            // Offline means offline for loopback too (`setOffline`), and
            // stays so until the test says otherwise, whatever the link.
            "network.disable-localhost-when-offline": true,
            "network.manage-offline-status": false,
          },
        },
      };
    case "webkit":
      return { "webkitgtk:browserOptions": { args: ["--automation", `--features=${WEBKIT_SAFARI_FEATURES}`] } };
    case "wpe":
      return {
        "wpe:browserOptions": {
          binary: process.env.COG || "/usr/bin/cog",
          args: ["--platform=headless", "--automation"],
        },
      };
    default:
      throw new Error(`no WebDriver engine ${name}`);
  }
}

/** The WebDriver server of each engine: [binary, args(port)]. */
function driverCommand(name) {
  switch (name) {
    case "firefox":
      // System access lets `setOffline` script the browser itself (its
      // chrome context); pages get nothing more from it.
      return [geckodriver(), (port) => ["--host", "127.0.0.1", "--port", String(port), "--log", "warn", "--allow-system-access"]];
    case "webkit":
      return [process.env.WEBKIT_DRIVER || "/usr/bin/WebKitWebDriver", (port) => ["--host=127.0.0.1", `--port=${port}`]];
    case "wpe":
      return [process.env.WPE_DRIVER || "/usr/bin/WPEWebDriver", (port) => ["--host=127.0.0.1", `--port=${port}`]];
    default:
      throw new Error(`no WebDriver engine ${name}`);
  }
}

function geckodriver() {
  if (process.env.GECKODRIVER) return process.env.GECKODRIVER;
  const onPath = spawnSync("sh", ["-c", "command -v geckodriver"], { encoding: "utf8" }).stdout.trim();
  if (onPath) return onPath;
  return path.join(process.env.CARGO_HOME || path.join(os.homedir(), ".cargo"), "bin", "geckodriver");
}

/**
 * Spawns a process that dies with this one, in a process group of its
 * own with what it starts (a WebDriver server's browser): the group is
 * noted (`-pid`), so that a SIGKILL of the harness's cleanup or watchdog
 * ends the browser too. (Killed alone, geckodriver left Firefox's dozen
 * processes running.) Logs its output under `label`.
 */
function spawnChild(command, args, { env, label, notePid }) {
  if (!fs.existsSync(command)) throw new Error(`${label}: ${command} is not installed (scripts/setup.sh --test installs it)`);
  const child = spawn(command, args, { env, stdio: ["ignore", "pipe", "pipe"], detached: true });
  notePid(-child.pid);
  child.output = "";
  const keep = (data) => {
    child.output = (child.output + data).slice(-8000);
  };
  child.stdout.on("data", keep);
  child.stderr.on("data", keep);
  return child;
}

/** Stops a child of `spawnChild` and what is left of its group. */
async function stopChild(child) {
  if (!child) return;
  const signalGroup = (signal) => {
    try {
      process.kill(-child.pid, signal);
    } catch {
      // the group is gone
    }
  };
  if (child.exitCode === null && child.signalCode === null) {
    const exited = new Promise((resolve) => child.once("exit", resolve));
    signalGroup("SIGTERM");
    await withTimeout(exited, 5_000, "a child to exit").catch(() => {});
  }
  // What it started and left behind, if anything.
  signalGroup("SIGKILL");
}

/**
 * An X display for WebKitGTK (it has no headless mode): Xvfb picks a free
 * display number and writes it to a pipe.
 */
async function startXvfb(notePid) {
  const xvfb = "/usr/bin/Xvfb";
  if (!fs.existsSync(xvfb)) throw new Error("Xvfb is not installed (scripts/setup.sh --test installs xvfb)");
  const child = spawn(xvfb, ["-displayfd", "3", "-screen", "0", "1280x1024x24", "-nolisten", "tcp"], {
    stdio: ["ignore", "ignore", "pipe", "pipe"],
  });
  notePid(child.pid);
  const display = await withTimeout(
    new Promise((resolve, reject) => {
      let out = "";
      child.stdio[3].on("data", (d) => {
        out += d;
        if (out.includes("\n")) resolve(`:${out.trim()}`);
      });
      child.once("exit", (code) => reject(new Error(`Xvfb exited (${code}) before it gave a display`)));
    }),
    20_000,
    "Xvfb to start",
  );
  return { child, display };
}

/** geckodriver's command that sets where scripts run: "chrome" (the browser) or "content" (pages). */
const MOZ_CONTEXT = "mozSetContext";

/** One engine driven over WebDriver: one session, its windows as tabs. */
class WebDriverBrowser {
  static async launch(name, { profileDir, notePid }) {
    const browser = new WebDriverBrowser(name, profileDir, notePid);
    try {
      await browser.#start();
    } catch (error) {
      await browser.close();
      throw error;
    }
    return browser;
  }

  constructor(name, profileDir, notePid) {
    this.name = name;
    /** Whether `setOffline(true)` leaves kept-alive connections working. */
    this.offlineKeepsConnections = name === "firefox";
    this.profileDir = profileDir;
    this.notePid = notePid;
    this.tabs = [];
    /** What the pages reported as uncaught errors (see `collectErrors`). */
    this.errors = [];
    this.version = "";
    this.queue = Promise.resolve();
    this.current = null;
  }

  async #start() {
    const env = { ...process.env };
    if (this.name === "webkit") {
      this.xvfb ??= await startXvfb(this.notePid);
      env.DISPLAY = this.xvfb.display;
    }
    const port = await freePort();
    const [binary, args] = driverCommand(this.name);
    this.driverProcess = spawnChild(binary, args(port), { env, label: `${this.name} driver`, notePid: this.notePid });
    const base = `http://127.0.0.1:${port}`;
    await withTimeout(waitForDriver(base, this.driverProcess), LAUNCH_TIMEOUT, `the ${this.name} WebDriver server`);
    const { Executor, HttpClient } = await import("selenium-webdriver/http/index.js");
    const { WebDriver, Capabilities } = await import("selenium-webdriver");
    const caps = new Capabilities(capabilities(this.name, this.profileDir));
    const executor = new Executor(new HttpClient(base));
    executor.defineCommand(MOZ_CONTEXT, "POST", "/session/:sessionId/moz/context");
    const driver = WebDriver.createSession(executor, caps);
    await withTimeout(driver.getSession(), LAUNCH_TIMEOUT, `a ${this.name} session`);
    this.driver = driver;
    const session = await this.driver.getCapabilities();
    this.version = session.getBrowserVersion() ?? "";
    await this.driver.manage().setTimeouts({ script: SCRIPT_TIMEOUT, pageLoad: 60_000, implicit: 0 });
    this.tabs = [];
    const handles = await this.driver.getAllWindowHandles();
    for (const handle of handles) this.tabs.push(new WebDriverTab(this, handle));
    this.current = await this.driver.getWindowHandle();
  }

  /**
   * Runs `fn(driver)` after every command queued before it, bounded in
   * time: past the bound, or with the session gone, it fails with
   * `SessionLost`.
   */
  run(what, fn, timeout = COMMAND_TIMEOUT) {
    const bounded = async () => {
      let timer;
      const late = new Promise((_, reject) => {
        timer = setTimeout(() => reject(new SessionLost(new Error(`timed out after ${timeout} ms: ${this.name}: ${what}`))), timeout);
      });
      try {
        return await Promise.race([Promise.resolve().then(() => fn(this.driver)), late]);
      } catch (error) {
        throw error?.name === "NoSuchSessionError" ? new SessionLost(error) : error;
      } finally {
        clearTimeout(timer);
      }
    };
    const next = this.queue.then(bounded);
    this.queue = next.catch(() => {});
    return next;
  }

  /** Makes `handle` the window commands go to. */
  async focus(driver, handle) {
    if (this.current !== handle) {
      await driver.switchTo().window(handle);
      this.current = handle;
    }
  }

  /**
   * A second window, as a tab; `null` where the driver cannot open one:
   * WPEWebDriver (WPE 2.38, cog) answers a new window with the one there
   * is, so two "tabs" would be one page (and closing the second would end
   * the session).
   */
  async newTab() {
    const handle = await this.run("opening a tab", async (driver) => {
      // A new window opens from the current one, which a closed tab may have left unset.
      if (this.current === null && this.tabs.length > 0) await this.focus(driver, this.tabs[0].handle);
      await driver.switchTo().newWindow("tab");
      this.current = await driver.getWindowHandle();
      return this.current;
    });
    if (this.tabs.some((tab) => tab.handle === handle)) return null;
    return new WebDriverTab(this, handle);
  }

  /**
   * Takes the browser offline (`true`) or back online, as its "Work
   * Offline" does: `navigator.onLine` and the `offline` and `online`
   * events follow, and new connections are refused while offline (a
   * connection kept alive still carries requests:
   * `offlineKeepsConnections`). Returns whether the engine can (Firefox,
   * through its chrome context; WebKit's drivers have no way).
   */
  async setOffline(offline) {
    if (this.name !== "firefox") return false;
    const { Command } = await import("selenium-webdriver/lib/command.js");
    const context = (name) => new Command(MOZ_CONTEXT).setParameter("context", name);
    await this.run(offline ? "going offline" : "going online", async (driver) => {
      await driver.execute(context("chrome"));
      try {
        await driver.executeScript("Services.io.offline = arguments[0];", offline);
      } finally {
        await driver.execute(context("content"));
      }
    });
    return true;
  }

  /** Ends the session, the driver and the display. */
  async close() {
    if (this.driver) {
      const driver = this.driver;
      this.driver = null;
      await withTimeout(driver.quit(), 30_000, `ending the ${this.name} session`).catch((e) =>
        process.stderr.write(`${e.message}\n`),
      );
    }
    await stopChild(this.driverProcess);
    this.driverProcess = null;
  }

  /** Closes the browser and opens it again on the same profile. */
  async restart() {
    await this.close();
    await this.#start();
    return this.tabs[0];
  }

  /**
   * A new session in place of one that stopped answering (`SessionLost`),
   * its window taken by the first tab: the tests' tab goes on, on a blank
   * page. WPE 2.38's driver has lost its session mid-command (a file
   * picked, 2026-12-05), and every later test of the file failed with it.
   */
  async revive() {
    const kept = this.tabs[0];
    await this.close();
    await this.#start();
    if (kept) {
      kept.handle = this.tabs[0].handle;
      this.tabs = [kept];
    }
    return this.tabs[0];
  }

  /** Stops the display too (after `close`). */
  async dispose() {
    await this.close();
    await stopChild(this.xvfb?.child);
    this.xvfb = null;
  }
}

async function waitForDriver(base, child) {
  for (;;) {
    if (child.exitCode !== null) throw new Error(`the WebDriver server exited: ${child.output}`);
    try {
      const response = await fetch(`${base}/status`);
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

// The page side of `evaluate`: runs the function, answers its value or its error.
const EVALUATE = `
  const done = arguments[arguments.length - 1];
  const fn = eval("(" + arguments[0] + ")");
  Promise.resolve()
    .then(() => fn(arguments[1]))
    .then(
      (value) => done({ value: value === undefined ? null : value }),
      (error) => done({ error: describe(error) }),
    );
  // WebKit's stack has no message ("@" for eval'd code): both are given.
  function describe(error) {
    if (!(error instanceof Error) || !error.stack) return String(error);
    return error.stack.startsWith(String(error)) ? error.stack : String(error) + "\\n" + error.stack;
  }
`;

// Installed after each navigation: uncaught errors are kept for `collectErrors`.
const WATCH_ERRORS = `
  if (!window.__e2eErrors) {
    window.__e2eErrors = [];
    addEventListener("error", (e) => window.__e2eErrors.push("error: " + e.message));
    addEventListener("unhandledrejection", (e) => window.__e2eErrors.push("unhandledrejection: " + String(e.reason && e.reason.message || e.reason)));
  }
`;

class WebDriverTab {
  constructor(browser, handle) {
    this.browser = browser;
    this.handle = handle;
    browser.tabs.push(this);
  }

  #run(what, fn, timeout) {
    return this.browser.run(
      what,
      async (driver) => {
        await this.browser.focus(driver, this.handle);
        return fn(driver);
      },
      timeout,
    );
  }

  async goto(url) {
    await this.#collectErrors();
    await this.#run(`opening ${url}`, async (driver) => {
      await driver.get(url);
      await driver.executeScript(WATCH_ERRORS);
    });
  }

  async reload() {
    await this.#collectErrors();
    await this.#run("reloading", async (driver) => {
      await driver.navigate().refresh();
      await driver.executeScript(WATCH_ERRORS);
    });
  }

  async evaluate(fn, arg = null) {
    const answer = await this.#run(
      "a script",
      (driver) => driver.executeAsyncScript(EVALUATE, fn.toString(), arg),
      SCRIPT_TIMEOUT + 10_000,
    );
    if (answer && "error" in answer) throw new Error(`in ${this.browser.name}: ${answer.error}`);
    return answer?.value ?? null;
  }

  async pickFiles(selector, paths) {
    const { By } = await import("selenium-webdriver");
    await this.#run("picking files", async (driver) => {
      const input = await driver.findElement(By.css(selector));
      await input.sendKeys(paths.join("\n"));
    });
  }

  async click(selector) {
    const { By } = await import("selenium-webdriver");
    await this.#run(`clicking ${selector}`, async (driver) => {
      await (await driver.findElement(By.css(selector))).click();
    });
  }

  /** WebDriver has no way to set a storage quota: false (see PlaywrightTab). */
  async limitQuota() {
    return false;
  }

  async close() {
    await this.#collectErrors();
    await this.#run("closing a tab", async (driver) => {
      await driver.close();
      // The next command on a tab switches to its window. (Switching here
      // at once, WPEWebDriver sometimes answered "no such session" while
      // the closed window went away, and the session went on working.)
      this.browser.current = null;
    });
    this.browser.tabs = this.browser.tabs.filter((t) => t !== this);
  }

  /** Moves the page's uncaught errors into `browser.errors`. */
  async #collectErrors() {
    const errors = await this.#run("reading page errors", (driver) =>
      driver.executeScript("return window.__e2eErrors ? window.__e2eErrors.splice(0) : []"),
    ).catch(() => []);
    this.browser.errors.push(...(errors ?? []));
  }

  /** The page's uncaught errors since the last look (also kept in `browser.errors`). */
  async errors() {
    await this.#collectErrors();
    return this.browser.errors;
  }
}
