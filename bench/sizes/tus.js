// What an app ships for tus-js-client.
import { Upload } from "tus-js-client";
export { Upload };
