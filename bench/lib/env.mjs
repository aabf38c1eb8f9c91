// Imported first by bench/run.mjs, before any module that loads the e2e
// harness: the harness reads E2E_FILE_TIMEOUT_MS once, when it is loaded,
// and stops everything after it (15 minutes by default, for a test file);
// a full bench runs longer. (bench/sections/backend-load.mjs loads the
// harness statically, through tests/e2e/backend-client.mjs.)

process.env.E2E_FILE_TIMEOUT_MS ??= String(6 * 3600_000);
