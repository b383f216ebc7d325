"""The OpenAPI description of /api/v1, kept beside the routes (a test compares the two)."""

from __future__ import annotations

from typing import Any

ERROR = {"$ref": "#/components/schemas/Error"}


def _json(schema: dict[str, Any], description: str = "成功") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> dict[str, Any]:
    text = {400: "请求无效", 401: "未登录", 403: "没有权限", 404: "不存在", 413: "超过大小上限"}
    return {str(c): _json(ERROR, text[c]) for c in codes}


ID = {"name": "document_id", "in": "path", "required": True, "schema": {"type": "integer"}}
FILE_FORM = {
    "multipart/form-data": {
        "schema": {
            "type": "object",
            "properties": {"file": {"type": "string", "format": "binary"}},
            "required": ["file"],
        }
    }
}


def spec() -> dict[str, Any]:
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "佐证材料库 API",
            "version": "1",
            "description": "指标体系、佐证材料与全文检索。认证：Authorization: Bearer <令牌>"
            "（令牌由 `evidence token create USER` 或“我的账号”页面创建）。",
        },
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearer": []}],
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": {
                    "type": "object",
                    "properties": {"error": {"type": "string"}},
                    "required": ["error"],
                },
                "IngestReport": {
                    "type": "object",
                    "required": ["accepted", "rejected", "documents"],
                    "properties": {
                        "accepted": {"type": "integer"},
                        "rejected": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": ["name", "reason"],
                                "properties": {
                                    "name": {"type": "string"},
                                    "reason": {"type": "string"},
                                },
                            },
                        },
                        "documents": {
                            "type": "array",
                            "items": {"$ref": "#/components/schemas/DocumentSummary"},
                        },
                    },
                },
                "DocumentSummary": {
                    "type": "object",
                    "required": ["id", "name", "code", "entry", "indicator", "status"],
                    "properties": {
                        "id": {"type": "integer"},
                        "name": {"type": "string"},
                        "code": {"type": "string"},
                        "entry": {"type": "string", "nullable": True},
                        "indicator": {"type": "string", "nullable": True},
                        "status": {"type": "string"},
                    },
                },
                "Document": {
                    "allOf": [
                        {"$ref": "#/components/schemas/DocumentSummary"},
                        {
                            "type": "object",
                            "required": ["title", "versions", "links"],
                            "properties": {
                                "title": {"type": "string"},
                                "framework_id": {"type": "integer", "nullable": True},
                                "file_type": {"type": "string"},
                                "status_reason": {"type": "string"},
                                "review_status": {"type": "string"},
                                "page_count": {"type": "integer"},
                                "versions": {"type": "array", "items": {"type": "object"}},
                                "links": {"type": "array", "items": {"type": "object"}},
                            },
                        },
                    ]
                },
                "SearchResult": {
                    "type": "object",
                    "required": ["total", "took_ms", "hits"],
                    "properties": {
                        "total": {"type": "integer"},
                        "took_ms": {"type": "number"},
                        "hits": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": [
                                    "document_id",
                                    "code",
                                    "title",
                                    "indicators",
                                    "score",
                                    "pages",
                                    "snippets",
                                ],
                                "properties": {
                                    "document_id": {"type": "integer"},
                                    "code": {"type": "string"},
                                    "title": {"type": "string"},
                                    "indicators": {"type": "array", "items": {"type": "string"}},
                                    "score": {"type": "number"},
                                    "pages": {"type": "array", "items": {"type": "integer"}},
                                    "snippets": {
                                        "type": "array",
                                        "items": {
                                            "type": "object",
                                            "required": ["page", "html"],
                                            "properties": {
                                                "page": {"type": "integer"},
                                                "html": {"type": "string"},
                                            },
                                        },
                                    },
                                },
                            },
                        },
                    },
                },
                "ImportReport": {
                    "type": "object",
                    "required": [
                        "framework_id",
                        "name",
                        "indicators",
                        "levels",
                        "entries",
                        "self_score_total",
                        "max_points_total",
                        "anomalies",
                        "warnings",
                    ],
                    "properties": {
                        "framework_id": {"type": "integer"},
                        "name": {"type": "string"},
                        "indicators": {"type": "integer"},
                        "levels": {"type": "object"},
                        "entries": {"type": "integer"},
                        "self_score_total": {"type": "number"},
                        "max_points_total": {"type": "number"},
                        "anomalies": {"type": "array", "items": {"type": "object"}},
                        "warnings": {"type": "array", "items": {"type": "string"}},
                    },
                },
            },
        },
        "paths": {
            "/openapi.json": {
                "get": {
                    "summary": "本描述文件",
                    "security": [],
                    "responses": {"200": _json({"type": "object"})},
                }
            },
            "/frameworks": {
                "get": {
                    "summary": "指标体系列表",
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "required": ["frameworks"],
                                "properties": {
                                    "frameworks": {"type": "array", "items": {"type": "object"}}
                                },
                            }
                        ),
                        **_errors(401, 403),
                    },
                },
                "post": {
                    "summary": "导入指标表（DOCX/XLSX/CSV/PDF）；同名同年度则更新",
                    "requestBody": {"required": True, "content": FILE_FORM},
                    "responses": {
                        "201": _json({"$ref": "#/components/schemas/ImportReport"}, "已创建"),
                        "200": _json({"$ref": "#/components/schemas/ImportReport"}, "已更新"),
                        **_errors(400, 401, 403, 413),
                    },
                },
            },
            "/frameworks/{framework_id}": {
                "get": {
                    "summary": "指标树",
                    "parameters": [
                        {
                            "name": "framework_id",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "integer"},
                        }
                    ],
                    "responses": {
                        "200": _json({"type": "object", "required": ["id", "name", "indicators"]}),
                        **_errors(401, 403, 404),
                    },
                },
            },
            "/documents": {
                "post": {
                    "summary": "上传文件或 ZIP（按文件名中的编号关联佐证条目）",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "multipart/form-data": {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "files": {
                                            "type": "array",
                                            "items": {"type": "string", "format": "binary"},
                                        },
                                        "framework_id": {"type": "integer"},
                                        "entry_id": {"type": "integer"},
                                        "indicator_id": {"type": "integer"},
                                    },
                                    "required": ["files"],
                                }
                            }
                        },
                    },
                    "responses": {
                        "201": _json({"$ref": "#/components/schemas/IngestReport"}, "已接收"),
                        "400": _json(
                            {"oneOf": [ERROR, {"$ref": "#/components/schemas/IngestReport"}]},
                            "全部拒收或请求无效",
                        ),
                        **_errors(401, 403, 404, 413),
                    },
                },
            },
            "/documents/{document_id}": {
                "get": {
                    "summary": "文件详情",
                    "parameters": [ID],
                    "responses": {
                        "200": _json({"$ref": "#/components/schemas/Document"}),
                        **_errors(401, 403, 404),
                    },
                },
                "delete": {
                    "summary": "删除文件（记入操作日志）",
                    "parameters": [ID],
                    "responses": {
                        "200": _json({"type": "object", "required": ["id", "deleted"]}),
                        **_errors(401, 403, 404),
                    },
                },
            },
            "/documents/{document_id}/status": {
                "get": {
                    "summary": "处理状态",
                    "parameters": [ID],
                    "responses": {
                        "200": _json(
                            {"type": "object", "required": ["id", "status", "status_reason"]}
                        ),
                        **_errors(401, 403, 404),
                    },
                },
            },
            "/documents/{document_id}/download": {
                "get": {
                    "summary": "下载（可选 version 参数）",
                    "parameters": [
                        ID,
                        {"name": "version", "in": "query", "schema": {"type": "integer"}},
                    ],
                    "responses": {
                        "200": {
                            "description": "文件内容",
                            "content": {
                                "application/octet-stream": {
                                    "schema": {"type": "string", "format": "binary"}
                                }
                            },
                        },
                        **_errors(401, 403, 404),
                    },
                },
            },
            "/documents/{document_id}/versions": {
                "post": {
                    "summary": "上传新版本（旧版本保留）",
                    "parameters": [ID],
                    "requestBody": {"required": True, "content": FILE_FORM},
                    "responses": {
                        "201": _json({"$ref": "#/components/schemas/Document"}, "已上传"),
                        **_errors(400, 401, 403, 404, 413),
                    },
                },
            },
            "/search": {
                "get": {
                    "summary": "全文检索（与 evidence search --json 相同）",
                    "parameters": [
                        {
                            "name": "q",
                            "in": "query",
                            "required": True,
                            "schema": {"type": "string"},
                        },
                        {"name": "framework", "in": "query", "schema": {"type": "integer"}},
                        {"name": "indicator", "in": "query", "schema": {"type": "string"}},
                        {"name": "type", "in": "query", "schema": {"type": "string"}},
                        {"name": "status", "in": "query", "schema": {"type": "string"}},
                        {"name": "limit", "in": "query", "schema": {"type": "integer"}},
                        {"name": "offset", "in": "query", "schema": {"type": "integer"}},
                    ],
                    "responses": {
                        "200": _json({"$ref": "#/components/schemas/SearchResult"}),
                        **_errors(400, 401, 403),
                    },
                },
            },
        },
    }
