// WPE WebKit 2.38 (Safari 16 era, Debian 12's build) now and then runs
// this module wrongly: a run traps in safe Rust code, with a bad pointer
// ("call_indirect to a null table entry" where a oneshot channel's poll
// loads a waker's vtable, "Out of bounds call_indirect" in an XHR event
// handler, "Out of bounds memory access" in a closure shim) or with state
// no safe code can reach (a panic: a `Select` polled after it ended). The
// same module has never trapped in Chromium, Firefox or WebKitGTK 2.50.
// tests/e2e/README.md ("A known rare failure") has the runs and the rates.
// The library keeps its promise then: the run ends with INTERNAL_ERROR,
// and nothing uploaded is lost.
//
// So in WPE, a test whose in-page run ends in a trap of the module, that
// fails in a page whose module a trap closed (a lookup the test called
// itself trapped, say: `closedByTrap`), or whose run stands still without
// an end for HANG_MS (`engineHangOf`: a fault that corrupts state silently
// can leave a task never woken), runs once more,
// in its page reloaded (the trap closed the module there), with the
// stack's gate reset and the first try's page errors dropped, and says so
// in the TAP output with the trap's stack (name its functions with
// scripts/trap-names.mjs) or the run's trail. Its time limit is doubled in
// WPE for that. So does a test whose WebDriver session WPE's driver lost
// (a command it never answered, a session it no longer knows:
// `SessionLost`), in a new session. So does, in its page reloaded, any
// other failure in WPE (`unexplained`): the fault has gone wrong without
// trapping too, in ways no assertion tells from the library's own faults,
// which fail the second try as well. A second failure fails, and so does
// any failure in the other engines, a second browser's beside WPE too
// (`OtherEngineFailure`).
//
//   const test = retriedOnEngineFault(() => ({ stack, tab }));  // in place of node:test's test
//   test("name", { timeout }, async (t) => { ... waitOutcome(...) ... });

import assert from "node:assert/strict";
import { test as nodeTest } from "node:test";

import { SessionLost } from "./browsers.mjs";
import { waitReady } from "./demo.mjs";

/** The engine whose faults are known (E2E_BROWSER). */
const FAULTY_ENGINE = "wpe";

/** A fault of the faulty engine's that a test meets: its run gets a second try. */
export class EngineFault extends Error {}

/** A run that ended in a real trap of the module in the faulty engine (see `engineTrapOf`). */
export class EngineTrap extends EngineFault {
  constructor(report) {
    super(`${FAULTY_ENGINE} trapped in the module: ${report.outcome.error.message}\n${report.outcome.error.stack}`);
    this.name = "EngineTrap";
    this.report = report;
  }
}

/**
 * Uncaught page errors that, in the faulty engine, only its fault makes:
 * wasm-bindgen's one-shot closure called a second time (seen once as
 * `unhandledrejection: FnOnce called more than once`, where a promise's or
 * timer's callback state was corrupted: JavaScript calls each of them
 * once), and the module's traps (`RuntimeError`).
 */
export class EnginePageFault extends EngineFault {
  constructor(errors) {
    super(`${FAULTY_ENGINE} broke the module's state (page errors: ${JSON.stringify(errors)})`);
    this.name = "EnginePageFault";
  }
}

const PAGE_FAULT_SIGNS = [/FnOnce called more than once/, /RuntimeError/];

/**
 * Asserts that `tab` had no uncaught page error. In the faulty engine,
 * errors that are all signs of its fault are an `EnginePageFault`; any
 * other error fails the assertion (in the faulty engine a wrapped test
 * still gets its second try then, as for any failure: `unexplained`).
 */
export async function assertNoPageErrors(tab, message = "no page error") {
  const errors = await tab.errors();
  const signs = (error) => PAGE_FAULT_SIGNS.some((sign) => sign.test(String(error)));
  if (faultyEngine() && errors.length > 0 && errors.every(signs)) throw new EnginePageFault(errors);
  assert.deepEqual(errors, [], message);
}

/**
 * Work of the module's that, in the faulty engine, stood still without an
 * end: a run that did not end within its wait and had not moved (no
 * progress, no part) for HANG_MS of it (`engineHangOf`), or a demo page's
 * start (`engineHangOfPage`).
 */
export class EngineHang extends EngineFault {
  constructor(message) {
    super(`${FAULTY_ENGINE} left the module's work without an end: ${message}`);
    this.name = "EngineHang";
  }
}

/**
 * How long a run must have stood still to count as left without an end:
 * twice the library's longest own time limit on a step (a stalled part is
 * aborted after 30 s, a backend call after less).
 */
export const HANG_MS = 60_000;

const faultyEngine = () => (process.env.E2E_BROWSER || "chromium") === FAULTY_ENGINE;

/**
 * The `EngineTrap` a run's report stands for, or null: in the faulty
 * engine, an INTERNAL_ERROR whose cause's stack runs through the module's
 * functions. Any trap counts, a panic's ("Unreachable code should not be
 * executed") too: the fault has shown as one (a `Select` polled after it
 * ended). (A trap simulated by the page, a throw from its own JavaScript,
 * never reaches here: the tests that make one read the outcome
 * themselves.)
 */
export function engineTrapOf(report) {
  const error = report?.outcome?.error;
  if (!faultyEngine() || error?.code !== "INTERNAL_ERROR") return null;
  return /wasm-function\[\d+\]/.test(error.stack ?? "") ? new EngineTrap(report) : null;
}

/**
 * The error for a wait on a run that timed out (`error`, the wait's), given
 * the run's report then: in the faulty engine, an `EngineHang` if the run
 * had not ended and stood still for HANG_MS; else `error` with the report.
 * A library's time limits are timers and events of the module: the
 * engine's faults have shown as corrupted state (engine-traps above, and
 * one wrong completion in tests/e2e/README.md), and state corrupted
 * silently can leave a task that is never woken again, which no time limit
 * of the task's own can end.
 */
export function engineHangOf(report, error) {
  if (faultyEngine() && report && !report.outcome && report.trail?.stillMs >= HANG_MS) {
    return new EngineHang(`${error.message}; the run's trail: ${JSON.stringify(report.trail)}`);
  }
  return new Error(`${error.message}; the run then: ${JSON.stringify(report).slice(0, 3000)}`);
}

/**
 * The error for a demo page whose start stood still (`message` says where;
 * demo.mjs `lateLoad`): in the faulty engine an `EngineHang`, else an Error.
 */
export function engineHangOfPage(message) {
  return faultyEngine() ? new EngineHang(message) : new Error(message);
}

/**
 * A test that failed (`error`) in the faulty engine, in a page whose module
 * a trap closed, met the fault whatever step saw it (a lookup the test
 * called itself, say): an `EngineTrap` then, else null. The builds the
 * page may have loaded are each asked to look a file up; a closed one
 * rejects with INTERNAL_ERROR, the trap its `cause`.
 */
async function closedByTrap(tab, error) {
  if (!faultyEngine() || !tab) return null;
  const trap = await tab
    .evaluate(async () => {
      for (const build of ["", "pending", "queue"]) {
        const { Upload } = await window.e2e.lib(build);
        const answer = await Upload.findPrevious(undefined).catch((e) => e);
        if (answer?.code === "INTERNAL_ERROR") return { code: answer.code, message: answer.message, stack: String(answer.cause?.stack ?? "") };
      }
      return null;
    })
    // A session the driver lost is the caller's to revive.
    .catch((probeError) => {
      if (probeError instanceof SessionLost) throw probeError;
      return null;
    });
  const found = trap && engineTrapOf({ outcome: { error: trap } });
  if (found) found.message = `${found.message} (the test failed with: ${error.message})`;
  return found;
}

/**
 * A failure in the faulty engine with no sign of its fault: the fault has
 * also shown as a run that went wrong without trapping (a create request
 * sent without the `Content-Type` the module always sets with its body,
 * CI 2026-12-06; a completion with a part listed twice, tests/e2e/README.md),
 * which no assertion can tell from a fault of the library's. An
 * `EngineUnexplained` then, so the test runs once more, saying why; a
 * failure that is the library's fails its second try too. Null in the
 * other engines.
 */
function unexplained(error) {
  return faultyEngine() && !(error instanceof OtherEngineFailure) ? new EngineUnexplained(error) : null;
}

/** A failure in the faulty engine with no sign of its fault (see `unexplained`). */
export class EngineUnexplained extends EngineFault {
  constructor(error) {
    super(`${FAULTY_ENGINE}: a failure with no sign of the engine's known fault (which has gone wrong without trapping too); the first try failed with: ${describe(error)}`);
    this.name = "EngineUnexplained";
  }
}

/**
 * A failure of work in an engine other than the one under test (a second
 * browser a file drives beside it: `devices.test.mjs`'s phone): it never
 * gets a second try, whatever the engine under test.
 */
export class OtherEngineFailure extends Error {
  constructor(where, error) {
    super(`${where}: ${describe(error)}`, { cause: error });
    this.name = "OtherEngineFailure";
  }
}

/** A thrown value's stack or message, or the value itself as text. */
function describe(error) {
  return String(error?.stack ?? error?.message ?? error);
}

/**
 * Readies the page for a test's second try. A trap closes the module for
 * the page (guard.js): the second try, and the tests after it that go on
 * in this page, need it afresh; a lost session, a new session (on a blank
 * page).
 */
async function startAgain({ stack, tab, reopen, lost }) {
  if (lost) {
    await stack.browser.revive();
    await tab.goto(`${stack.baseUrl}/`);
  } else {
    await tab.reload();
  }
  await waitReady(tab);
  // The file's own page set-up (its helpers), which a reload undoes.
  await reopen?.();
  stack.gate?.reset();
  await tab?.errors?.();
  stack.browser.errors.splice(0);
}

/**
 * node:test's `test`, where a test that fails in the faulty engine runs
 * once more: the message names the fault's sign it met (an `EngineFault`:
 * a trap, a hang, a lost session, a module a trap closed), or says it met
 * none (`EngineUnexplained`). `current()` answers the file's `{ stack, tab }`
 * when a test runs (`tab`, the page in the engine under test, defaults to
 * `stack.tab`), and `reopen`, if the file's tests need more than the demo
 * page reloaded (helpers it installs in the page once). A file whose tests
 * trap the module on purpose says `trapsOnPurpose`: a page whose module is
 * closed is then no sign of the engine's fault, and a failure there is
 * told as one with no sign. If the second try cannot start (the page does
 * not load again), the first failure is the test's.
 */
export function retriedOnEngineFault(current) {
  return (name, options, fn) => {
    if (typeof options === "function") [options, fn] = [{}, options];
    // Time for the second try too.
    if (faultyEngine() && options.timeout) options = { ...options, timeout: 2 * options.timeout };
    return nodeTest(name, options, async (t) => {
      try {
        return await fn(t);
      } catch (error) {
        if (error instanceof OtherEngineFailure) throw error;
        const { stack, tab = stack.tab, reopen = null, trapsOnPurpose = false } = current();
        // The faulty engine's driver losing its session is its fault too.
        let lost = faultyEngine() && error instanceof SessionLost;
        let fault = error instanceof EngineFault || lost ? error : null;
        if (!fault && !trapsOnPurpose) {
          // The probe finding the session lost: a new one for the second try.
          fault = await closedByTrap(tab, error).catch(() => {
            lost = true;
            return null;
          });
        }
        fault ??= unexplained(error);
        if (!fault) throw error;
        t.diagnostic(`${fault.message.replaceAll("\n", " | ")}: the test runs once more`);
        try {
          await startAgain({ stack, tab, reopen, lost });
        } catch (startError) {
          t.diagnostic(`the second try could not start (${describe(startError).replaceAll("\n", " | ")}): the first failure stands`);
          throw error;
        }
        return fn(t);
      }
    });
  };
}
