"""The REST API's shared plumbing: the ``/api/v1`` blueprint, bearer-token authentication,
JSON errors and the OpenAPI description. Each feature adds its endpoints to ``bp`` in its own
``routes`` module, next to its pages."""

from __future__ import annotations

from flask import Blueprint, Response, g, jsonify, request
from werkzeug.exceptions import HTTPException

from evidence_app.api.openapi import spec
from evidence_app.auth.security import csrf
from evidence_app.auth.users import user_for_token
from evidence_app.documents.multipart import UploadTooLargeError
from evidence_app.runtime import get_runtime
from evidence_app.web import db_session, exception_headers

__all__ = ["bp"]

bp = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)  # token-authenticated; cookies are not accepted here


@bp.before_request
def authenticate_token() -> None:
    g.api_only = True
    g.api_user = None
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        session = db_session()
        g.api_user = user_for_token(session, header[7:].strip())


@bp.errorhandler(HTTPException)
def json_error(e: HTTPException) -> tuple[Response, int, list[tuple[str, str]]]:
    messages = {
        400: "请求无效",
        401: "未登录或令牌无效",
        403: "没有权限",
        404: "资源不存在",
        405: "不支持的请求方法",
        413: "上传内容超过大小上限",
        416: "请求的字节范围（Range）超出文件大小",
    }
    # never Werkzeug's English name of the status: callers show this message to people
    message = messages.get(e.code or 500, f"请求无法完成（HTTP {e.code}）")
    if e.code == 409 and e.description:  # the app's own message (Chinese)
        message = str(e.description)
    if isinstance(e, UploadTooLargeError):  # the report an upload's refusals have
        rejected = [{"name": e.filename, "reason": e.description}]
        body = {"error": e.description, "accepted": 0, "documents": [], "rejected": rejected}
        return jsonify(body), 413, exception_headers(e)
    if e.code == 413:
        limit = get_runtime().config.MAX_CONTENT_LENGTH // 1024**2
        message = f"上传内容超过大小上限（单次请求最多 {limit} MB）"
    return jsonify({"error": message}), e.code or 500, exception_headers(e)


@bp.get("/openapi.json")
def openapi() -> Response:
    return jsonify(spec())
