// Uppy with S3 multipart and Golden Retriever (resume after a reload).
import Uppy from "@uppy/core";
import AwsS3 from "@uppy/aws-s3";
import GoldenRetriever from "@uppy/golden-retriever";
export { Uppy, AwsS3, GoldenRetriever };
