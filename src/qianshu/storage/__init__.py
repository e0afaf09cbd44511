"""Blob store: contracts and evidence files, encrypted per file, kept locally or in S3."""
