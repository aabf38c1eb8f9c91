// The app's own settings only: resupload needs no loader, plugin or option.
import path from "node:path";
import { fileURLToPath } from "node:url";

export default {
  mode: "production",
  entry: "./src/main.js",
  output: {
    path: path.join(path.dirname(fileURLToPath(import.meta.url)), "dist"),
    filename: "main.js",
    clean: true,
  },
};
