// Resume latency at 10,000 parts: a hook, not written yet (the section
// contract is described in part-overhead.mjs).

export const id = "resume-latency";
export const title = "Resume latency at 10,000 parts";
export const needsBrowser = true;
export const enabledByDefault = false;

export async function run() {
  return { markdown: "_Not measured yet._", json: null };
}
