// What an app ships for the AWS SDK's managed multipart upload.
import { S3Client } from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
export { S3Client, Upload };
