// What an app ships for Uppy with S3 multipart through Companion routes.
import Uppy from "@uppy/core";
import AwsS3 from "@uppy/aws-s3";
export { Uppy, AwsS3 };
