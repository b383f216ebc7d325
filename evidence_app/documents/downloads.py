"""The one way a document version is downloaded, shared by the pages and the API."""

from __future__ import annotations

from flask import redirect, request, send_file
from werkzeug.wrappers import Response

from evidence_app.documents.operations import mimetype_for
from evidence_app.runtime import Runtime
from storage import DocumentVersion


def download_response(runtime: Runtime, version: DocumentVersion) -> Response:
    """A redirect to the store's own URL when it gives one (presigned S3), else the bytes
    streamed from the store; the callers write the audit record."""
    sha = version.blob_sha256
    name = version.original_name
    mimetype = mimetype_for(name)
    url = runtime.blobs.download_url(sha, name, mimetype)
    if url is not None:
        return redirect(url, code=302)
    size = runtime.blobs.size(sha)
    response = send_file(
        runtime.blobs.open(sha),
        as_attachment=True,
        download_name=name,
        mimetype=mimetype,
        conditional=False,
        etag=sha,  # the hash names the content: a strong ETag
    )
    # a stream has no length of its own: with the store's size, Range requests and 304s work
    response.content_length = size
    return response.make_conditional(request, accept_ranges=True, complete_length=size)
