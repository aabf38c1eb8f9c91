// The bench's sections, in report order. Add a section here.

import * as backendLoad from "./backend-load.mjs";
import * as bundle from "./bundle.mjs";
import * as files from "./files.mjs";
import * as hash from "./hash.mjs";
import * as link from "./link.mjs";
import * as memory from "./memory.mjs";
import * as partOverhead from "./part-overhead.mjs";
import * as queueAdd from "./queue-add.mjs";
import * as queueResume from "./queue-resume.mjs";
import * as resumeLatency from "./resume-latency.mjs";
import * as staging from "./staging.mjs";
import * as startLatency from "./start-latency.mjs";
import * as throughput from "./throughput.mjs";

export const SECTIONS = [throughput, memory, partOverhead, startLatency, resumeLatency, staging, files, queueResume, queueAdd, link, hash, bundle, backendLoad];
