"""Files attached to tasks: streamed uploads under a size limit, a disk or S3 store, downloads
served as attachments, and thumbnails made at upload for images."""
