from __future__ import annotations

from tandem.attachments.events import AttachmentOut, ProjectFile
from tandem.attachments.models import Attachment
from tandem.kit.clock import iso
from tandem.realtime.envelope import Model


def attachment_out(row: Attachment) -> AttachmentOut:
    url = f"/api/attachments/{row.id}"
    return AttachmentOut(
        id=row.id,
        task_id=row.task_id,
        filename=row.filename,
        content_type=row.content_type,
        size=row.size,
        uploaded_by=row.uploaded_by,
        created_at=iso(row.created_at),  # type: ignore[arg-type]
        thumbnail_url=f"{url}/thumbnail" if row.thumbnail_key else None,
        url=url,
    )


def project_file(row: Attachment, task_title: str, uploader_name: str | None) -> ProjectFile:
    return ProjectFile(
        **attachment_out(row).model_dump(), task_title=task_title, uploader_name=uploader_name
    )


class AttachmentEnvelope(Model):
    attachment: AttachmentOut


# The request body of an upload, for the OpenAPI document: the route reads the stream itself.
UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {"file": {"type": "string", "format": "binary"}},
                }
            }
        },
    }
}
