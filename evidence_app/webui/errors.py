"""Error pages in Chinese; JSON errors for the API."""

from __future__ import annotations

import logging

from flask import Flask, jsonify, render_template
from werkzeug.exceptions import HTTPException

from evidence_app.auth.security import wants_json
from evidence_app.documents.multipart import UploadTooLargeError
from evidence_app.search.indexing import IndexUnavailableError
from evidence_app.web import exception_headers

log = logging.getLogger("evidence_app.errors")

MESSAGES = {
    400: "请求无效。",
    401: "请先登录。",
    403: "您没有权限访问此页面。如需访问，请联系管理员。",
    404: "页面或文件不存在。",
    405: "不支持的请求方法。",
    409: "请求与当前状态冲突。",
    413: "上传内容超过大小上限。",
    416: "请求的字节范围（Range）超出文件大小。",
    429: "操作过于频繁，请稍后再试。",
    500: "服务器出错了，请稍后重试；问题已记录。",
}


def register(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def http_error(e: HTTPException):
        code = e.code or 500
        message = MESSAGES.get(code, f"请求无法完成（HTTP {code}）。")  # never Werkzeug's English
        if isinstance(e, UploadTooLargeError):
            message = f"“{e.filename}”{e.description}。"
        elif code == 413:
            limit = app.config["MAX_CONTENT_LENGTH"] // 1024**2
            message = f"上传内容超过大小上限（单次最多 {limit} MB），请分批上传。"
        if code in (409, 429) and e.description:  # the app's own messages (Chinese)
            message = str(e.description).rstrip("。") + "。"
        headers = exception_headers(e)
        if wants_json():
            return jsonify({"error": message.rstrip("。")}), code, headers
        return render_template("errors/error.html", code=code, message=message), code, headers

    @app.errorhandler(IndexUnavailableError)
    def index_unavailable(e: IndexUnavailableError):
        message = "搜索索引正在根据数据库重建，请稍后再试（通常不超过几分钟）。"
        headers = {"Retry-After": str(e.retry_after)}
        if wants_json():
            return jsonify({"error": message.rstrip("。")}), 503, headers
        return render_template("errors/error.html", code=503, message=message), 503, headers

    @app.errorhandler(Exception)
    def unexpected(e: Exception):
        if isinstance(e, HTTPException):
            return http_error(e)
        log.exception("unhandled error")
        if wants_json():
            return jsonify({"error": "服务器内部错误"}), 500
        return render_template("errors/error.html", code=500, message=MESSAGES[500]), 500
