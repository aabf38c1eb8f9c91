// Per-part bookkeeping overhead: a hook, not written yet.
//
// A section is a module with:
//   id, title                 its flag name and heading
//   needsBrowser              whether ctx.bench (Garage, dev server, Chromium,
//                             the bench page) must be running
//   enabledByDefault          whether `npm run bench` runs it without --sections
//   run(ctx) → { markdown, json }
// ctx: { opts, bench, clients, partSize, concurrency, randomFile(MiB),
//        zeroFile(MiB) } (see bench/run.mjs); bench/clients/index.mjs's
// runUpload(bench, client, {...}) runs and checks one upload.
// Register it in bench/sections/index.mjs.

export const id = "part-overhead";
export const title = "Per-part bookkeeping overhead";
export const needsBrowser = true;
export const enabledByDefault = false;

export async function run() {
  return { markdown: "_Not measured yet._", json: null };
}
