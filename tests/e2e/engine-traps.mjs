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
// So in WPE, a test whose in-page run ends in a trap of the module runs
// once more, in its page reloaded (the trap closed the module there), with
// the stack's gate reset and the first try's page errors dropped, and says
// so in the TAP output with the trap's stack (name its functions with
// scripts/trap-names.mjs). Anything else fails at once, so does a second
// trap, and so does any trap in the other engines.
//
//   const test = retriedOnEngineTrap(() => ({ stack, tab }));  // in place of node:test's test
//   test("name", { timeout }, async (t) => { ... waitOutcome(...) ... });

import { test as nodeTest } from "node:test";

import { waitReady } from "./demo.mjs";

/** The engine whose faults are known (E2E_BROWSER). */
const FAULTY_ENGINE = "wpe";

/** A run that ended in a real trap of the module in the faulty engine (see `engineTrapOf`). */
export class EngineTrap extends Error {
  constructor(report) {
    super(`${FAULTY_ENGINE} trapped in the module: ${report.outcome.error.message}\n${report.outcome.error.stack}`);
    this.name = "EngineTrap";
    this.report = report;
  }
}

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
  if ((process.env.E2E_BROWSER || "chromium") !== FAULTY_ENGINE || error?.code !== "INTERNAL_ERROR") return null;
  return /wasm-function\[\d+\]/.test(error.stack ?? "") ? new EngineTrap(report) : null;
}

/**
 * node:test's `test`, where a test that meets an `EngineTrap` runs once
 * more. `current()` answers the file's `{ stack, tab }` when a test runs
 * (`tab`, the page in the engine under test, defaults to `stack.tab`).
 */
export function retriedOnEngineTrap(current) {
  return (name, options, fn) => {
    if (typeof options === "function") [options, fn] = [{}, options];
    return nodeTest(name, options, async (t) => {
      try {
        return await fn(t);
      } catch (error) {
        if (!(error instanceof EngineTrap)) throw error;
        t.diagnostic(`${error.message.replaceAll("\n", " | ")}: the test runs once more`);
        const { stack, tab = stack.tab } = current();
        // A trap closes the module for the page (guard.js): the second try,
        // and the tests after it that go on in this page, need it afresh.
        await tab.reload();
        await waitReady(tab);
        stack.gate?.reset();
        await tab?.errors?.();
        stack.browser.errors.splice(0);
        return fn(t);
      }
    });
  };
}
