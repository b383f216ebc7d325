"""The OpenAPI description of /api/v1, kept beside the routes (a test compares the two, and
tests/security/test_api_contract.py runs schemathesis against it)."""

from __future__ import annotations

from typing import Any

from storage import DOCUMENT_STATUSES, MARKS, REQUEST_STATES, REVIEW_STATUSES


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


ERROR = _ref("Error")
STRING = {"type": "string"}
INTEGER = {"type": "integer"}
NUMBER = {"type": "number"}
BOOLEAN = {"type": "boolean"}
NULLABLE_STRING = {"type": "string", "nullable": True}
NULLABLE_INTEGER = {"type": "integer", "nullable": True}
NULLABLE_NUMBER = {"type": "number", "nullable": True}
DOCUMENT_STATUS = {"type": "string", "enum": [str(s) for s in DOCUMENT_STATUSES]}
MARK = {"type": "string", "enum": list(MARKS)}
REQUEST_STATE = {"type": "string", "enum": list(REQUEST_STATES)}
NULLABLE_DATETIME = {"type": "string", "format": "date-time", "nullable": True}


def _object(required: list[str], properties: dict[str, Any], **more: Any) -> dict[str, Any]:
    """An object whose listed properties are always present."""
    return {"type": "object", "required": required, "properties": properties, **more}


def _array(items: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": items}


def _json(schema: dict[str, Any], description: str = "成功") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


ERROR_TEXT = {
    400: "请求无效",
    401: "未登录或令牌无效",
    403: "没有权限",
    404: "不存在",
    409: "文件已损坏（存储内容与上传时记录的 SHA-256 不符），已停止下载",
    413: "超过大小上限",
    416: "Range 超出文件范围",
    503: "搜索索引正在根据数据库重建，稍后再试",
}


def _errors(*codes: int) -> dict[str, Any]:
    out = {str(c): _json(ERROR, ERROR_TEXT[c]) for c in codes}
    if 503 in codes:
        out["503"]["headers"] = {
            "Retry-After": {"required": True, "schema": STRING, "description": "几秒后再试"}
        }
    return out


def _file(description: str) -> dict[str, Any]:
    """The bytes of a stored file, with the file's own Content-Type."""
    return {
        "description": description,
        "headers": {
            "ETag": {"required": True, "schema": STRING, "description": "文件的 SHA-256"},
            "Content-Disposition": {"required": True, "schema": STRING},
        },
        "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}},
    }


def _path_id(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": INTEGER}


ID = _path_id("document_id")
LIMIT = {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1}}
FILE_FORM = {
    "multipart/form-data": {
        "schema": {
            "type": "object",
            "properties": {"file": {"type": "string", "format": "binary"}},
            "required": ["file"],
        }
    }
}

SCHEMAS: dict[str, Any] = {
    "Error": _object(["error"], {"error": {"type": "string", "description": "中文说明"}}),
    "IngestReport": _object(
        ["accepted", "rejected", "documents"],
        {
            "accepted": INTEGER,
            "rejected": _array(_object(["name", "reason"], {"name": STRING, "reason": STRING})),
            "documents": _array(_ref("DocumentSummary")),
            "request": {
                **_object(["id", "status"], {"id": INTEGER, "status": REQUEST_STATE}),
                "description": "上传时带 request_id：所答复的调阅请求",
            },
        },
    ),
    "UploadTooLarge": {
        "description": "请求体超过上限时只有 error；单个文件超过上限时另有拒收报告",
        "allOf": [
            ERROR,
            {
                "type": "object",
                "properties": {
                    "accepted": INTEGER,
                    "rejected": _array(
                        _object(["name", "reason"], {"name": STRING, "reason": STRING})
                    ),
                    "documents": _array(_ref("DocumentSummary")),
                },
            },
        ],
    },
    "DocumentSummary": _object(
        ["id", "name", "code", "entry", "indicator", "status"],
        {
            "id": INTEGER,
            "name": STRING,
            "code": STRING,
            "entry": NULLABLE_STRING,
            "indicator": NULLABLE_STRING,
            "status": DOCUMENT_STATUS,
        },
    ),
    "SignatureSummary": {
        **_object(["count", "signers"], {"count": INTEGER, "signers": _array(STRING)}),
        "description": "当前版本的电子签章/数字签名：个数与签署者（证书名称，或印章名称）；未验证有效性",
    },
    "Document": {
        "allOf": [
            _ref("DocumentSummary"),
            _object(
                [
                    "title",
                    "framework_id",
                    "file_type",
                    "status_reason",
                    "review_status",
                    "page_count",
                    "ocr_pages",
                    "created_at",
                    "signatures",
                    "metadata",
                    "versions",
                    "links",
                ],
                {
                    "title": STRING,
                    "framework_id": NULLABLE_INTEGER,
                    "file_type": STRING,
                    "status_reason": STRING,
                    "review_status": {
                        "type": "string",
                        "enum": [str(s) for s in REVIEW_STATUSES],
                    },
                    "page_count": INTEGER,
                    "ocr_pages": INTEGER,
                    "created_at": STRING,
                    "signatures": _ref("SignatureSummary"),
                    "metadata": {
                        "type": "object",
                        "additionalProperties": STRING,
                        "description": "当前版本文件自带的信息（有则列出）：title, author, "
                        "subject, created, modified, creator, producer, doc_id（OFD 文档标识）,"
                        " invoice_number, invoice_code, invoice_date, invoice_amount,"
                        " invoice_seller, invoice_buyer",
                    },
                    "versions": _array(
                        _object(
                            ["number", "name", "size", "sha256", "created_at", "signature_count"],
                            {
                                "number": INTEGER,
                                "name": STRING,
                                "size": INTEGER,
                                "sha256": STRING,
                                "created_at": STRING,
                                "signature_count": INTEGER,
                            },
                        )
                    ),
                    "links": _array(
                        _object(
                            ["id", "entry", "indicator"],
                            {"id": INTEGER, "entry": NULLABLE_STRING, "indicator": NULLABLE_STRING},
                        )
                    ),
                },
            ),
        ]
    },
    "SearchResult": _object(
        ["total", "took_ms", "hits"],
        {
            "total": INTEGER,
            "took_ms": NUMBER,
            "fallback": {"type": "boolean", "description": "索引不可用时按数据库逐字查找"},
            "hits": _array(
                _object(
                    [
                        "document_id",
                        "framework_id",
                        "framework",
                        "code",
                        "title",
                        "indicators",
                        "indicator_ids",
                        "score",
                        "pages",
                        "snippets",
                        "file_type",
                        "status",
                        "signatures",
                    ],
                    {
                        "document_id": INTEGER,
                        "framework_id": NULLABLE_INTEGER,
                        "framework": {"type": "string", "description": "指标体系名称"},
                        "code": STRING,
                        "title": STRING,
                        "indicators": _array(STRING),
                        "indicator_ids": {
                            "type": "array",
                            "items": INTEGER,
                            "description": "与 indicators 一一对应的指标 id",
                        },
                        "score": NUMBER,
                        "pages": _array(INTEGER),
                        "snippets": _array(
                            _object(["page", "html"], {"page": INTEGER, "html": STRING})
                        ),
                        "file_type": STRING,
                        "status": DOCUMENT_STATUS,
                        "signatures": _ref("SignatureSummary"),
                    },
                )
            ),
        },
    ),
    "IndicatorRef": _object(
        ["id", "code", "name"], {"id": INTEGER, "code": STRING, "name": STRING}
    ),
    "Mark": _object(
        [
            "id",
            "framework_id",
            "indicator",
            "expert",
            "expert_id",
            "final",
            "mark",
            "symbol",
            "label",
            "comment",
            "score",
            "max_points",
            "updated_at",
        ],
        {
            "id": INTEGER,
            "framework_id": INTEGER,
            "indicator": _ref("IndicatorRef"),
            "expert": STRING,
            "expert_id": INTEGER,
            "final": {"type": "boolean", "description": "组长定稿"},
            "mark": MARK,
            "symbol": {"type": "string", "enum": ["。", "——", "？"]},
            "label": {"type": "string", "enum": ["认可", "调阅", "入校核查"]},
            "comment": STRING,
            "score": NULLABLE_NUMBER,
            "max_points": NULLABLE_NUMBER,
            "updated_at": {"type": "string", "format": "date-time"},
        },
    ),
    "MaterialRequest": _object(
        [
            "id",
            "framework_id",
            "indicator",
            "text",
            "status",
            "status_label",
            "expert",
            "created_at",
            "answered_at",
            "answered_by",
            "answer_note",
            "documents",
        ],
        {
            "id": INTEGER,
            "framework_id": INTEGER,
            "indicator": _ref("IndicatorRef"),
            "text": {"type": "string", "description": "专家要求补充的材料"},
            "status": REQUEST_STATE,
            "status_label": STRING,
            "expert": STRING,
            "created_at": {"type": "string", "format": "date-time"},
            "answered_at": NULLABLE_DATETIME,
            "answered_by": NULLABLE_STRING,
            "answer_note": STRING,
            "documents": _array(
                _object(["id", "name", "code"], {"id": INTEGER, "name": STRING, "code": STRING})
            ),
            "new": {"type": "boolean", "description": "专家调用时：有尚未查看的答复"},
        },
    ),
    "ImportReport": _object(
        [
            "framework_id",
            "name",
            "year",
            "indicators",
            "levels",
            "entries",
            "self_score_total",
            "max_points_total",
            "anomalies",
            "warnings",
        ],
        {
            "framework_id": INTEGER,
            "name": STRING,
            "year": NULLABLE_INTEGER,
            "indicators": INTEGER,
            "levels": {"type": "object", "additionalProperties": INTEGER},
            "entries": INTEGER,
            "self_score_total": NUMBER,
            "max_points_total": NUMBER,
            "anomalies": _array(
                _object(
                    ["kind", "code", "indicator", "detail"],
                    {"kind": STRING, "code": STRING, "indicator": STRING, "detail": STRING},
                )
            ),
            "warnings": _array(STRING),
        },
    ),
    "FrameworkArchive": _object(
        ["id", "name", "archived", "archived_at"],
        {"id": INTEGER, "name": STRING, "archived": BOOLEAN, "archived_at": NULLABLE_STRING},
    ),
    "FrameworkDeleted": _object(
        ["id", "name", "deleted", "indicators", "entries", "documents", "marks", "requests"],
        {
            "id": INTEGER,
            "name": STRING,
            "deleted": BOOLEAN,
            "indicators": INTEGER,
            "entries": INTEGER,
            "documents": {**INTEGER, "description": "随之删除（软删除）的材料份数"},
            "marks": INTEGER,
            "requests": INTEGER,
        },
    ),
    "DocumentState": _object(
        ["id", "title", "status", "state", "label", "reason", "done"],
        {
            "id": INTEGER,
            "title": STRING,
            "status": DOCUMENT_STATUS,
            "state": {
                "type": "string",
                "enum": ["received", "processing", "searchable", "unreadable"],
            },
            "label": {"type": "string", "description": "已接收、处理中、可检索或无法读取"},
            "reason": {"type": "string", "description": "无法读取的原因（中文）；其余为空"},
            "done": BOOLEAN,
        },
    ),
    "FrameworkSummary": _object(
        [
            "id",
            "name",
            "year",
            "source_name",
            "indicators",
            "entries",
            "anomalies",
            "updated_at",
            "archived",
        ],
        {
            "id": INTEGER,
            "name": STRING,
            "year": NULLABLE_INTEGER,
            "source_name": STRING,
            "indicators": INTEGER,
            "entries": INTEGER,
            "anomalies": INTEGER,
            "updated_at": STRING,
            "archived": {**BOOLEAN, "description": "已归档：首页、上传和搜索中不显示"},
        },
    ),
    "Indicator": _object(
        [
            "id",
            "code",
            "name",
            "level",
            "variant",
            "max_points",
            "unit",
            "self_score",
            "description",
            "scoring_rule",
            "entries",
            "children",
        ],
        {
            "id": INTEGER,
            "code": STRING,
            "name": STRING,
            "level": INTEGER,
            "variant": INTEGER,
            "max_points": NULLABLE_NUMBER,
            "unit": STRING,
            "self_score": NULLABLE_NUMBER,
            "description": STRING,
            "scoring_rule": STRING,
            "entries": _array(_object(["code", "title"], {"code": STRING, "title": STRING})),
            "children": _array(_ref("Indicator")),
        },
    ),
}


def spec() -> dict[str, Any]:
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "佐证材料库 API",
            "version": "1",
            "description": "指标体系、佐证材料与全文检索。认证：Authorization: Bearer <令牌>"
            "（令牌由 `evidence token create USER` 或“我的账号”页面创建）。"
            '错误的回答都是 JSON：{"error": "中文说明"}。',
        },
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearer": []}],
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": SCHEMAS,
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
                            _object(
                                ["frameworks"], {"frameworks": _array(_ref("FrameworkSummary"))}
                            )
                        ),
                        **_errors(401, 403),
                    },
                },
                "post": {
                    "summary": "导入指标表（DOCX/XLSX/CSV/PDF）；同名同年度则更新",
                    "requestBody": {"required": True, "content": FILE_FORM},
                    "responses": {
                        "201": _json(_ref("ImportReport"), "已创建"),
                        "200": _json(_ref("ImportReport"), "已更新"),
                        **_errors(400, 401, 403),
                        "413": _json(_ref("UploadTooLarge"), ERROR_TEXT[413]),
                    },
                },
            },
            "/frameworks/{framework_id}": {
                "get": {
                    "summary": "指标树",
                    "parameters": [_path_id("framework_id")],
                    "responses": {
                        "200": _json(
                            _object(
                                ["id", "name", "year", "indicators"],
                                {
                                    "id": INTEGER,
                                    "name": STRING,
                                    "year": NULLABLE_INTEGER,
                                    "indicators": _array(_ref("Indicator")),
                                },
                            )
                        ),
                        **_errors(401, 403, 404),
                    },
                },
                "delete": {
                    "summary": "删除指标体系（仅管理员；不可恢复）",
                    "description": "一并删除其指标、佐证条目与关联、专家网评标记和调阅请求；上传到该"
                    "指标体系的材料与逐份删除文件相同（软删除：从搜索和列表中移除，原文件与操作记录"
                    "保留）。confirm 须为指标体系的完整名称。",
                    "parameters": [
                        _path_id("framework_id"),
                        {
                            "name": "confirm",
                            "in": "query",
                            "required": True,
                            "schema": STRING,
                            "description": "指标体系的完整名称，确认删除",
                        },
                    ],
                    "responses": {
                        "200": _json(_ref("FrameworkDeleted")),
                        **_errors(400, 401, 403, 404),
                    },
                },
            },
            "/frameworks/{framework_id}/archive": {
                "post": {
                    "summary": "归档指标体系（仅管理员）：首页、上传和搜索不再显示它及其材料",
                    "parameters": [_path_id("framework_id")],
                    "responses": {
                        "200": _json(_ref("FrameworkArchive")),
                        **_errors(401, 403, 404),
                    },
                },
            },
            "/frameworks/{framework_id}/unarchive": {
                "post": {
                    "summary": "恢复已归档的指标体系（仅管理员）",
                    "parameters": [_path_id("framework_id")],
                    "responses": {
                        "200": _json(_ref("FrameworkArchive")),
                        **_errors(401, 403, 404),
                    },
                },
            },
            "/documents/status": {
                "get": {
                    "summary": "多个文件的处理状态（上传后轮询）：已接收、处理中、可检索、无法读取",
                    "description": "ids 为以逗号分隔的文件编号（最多 500 个）；无权查看、已删除或不存在"
                    "的编号不出现在回答中。done 表示所列文件都已有结果（可检索或无法读取）。",
                    "parameters": [
                        {
                            "name": "ids",
                            "in": "query",
                            "required": True,
                            "schema": STRING,
                            "description": "如 1,2,3",
                        }
                    ],
                    "responses": {
                        "200": _json(
                            _object(
                                ["documents", "done"],
                                {"documents": _array(_ref("DocumentState")), "done": BOOLEAN},
                            )
                        ),
                        **_errors(400, 401, 403),
                    },
                },
            },
            "/documents": {
                "post": {
                    "summary": "上传文件或 ZIP（按文件名中的编号关联佐证条目）",
                    "description": "文件放在 files 字段（可多个；也接受 file）。"
                    "framework_id 缺省为最新的指标体系；entry_id 或 indicator_id 指定关联目标。"
                    "request_id 表示答复一个调阅请求：文件关联到该请求的指标（文件名带有专家"
                    "可查看的其他编号时按编号关联），请求变为已答复；answer_note 为答复说明。",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "multipart/form-data": {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "files": _array({"type": "string", "format": "binary"}),
                                        "framework_id": INTEGER,
                                        "entry_id": INTEGER,
                                        "indicator_id": INTEGER,
                                        "request_id": INTEGER,
                                        "answer_note": STRING,
                                    },
                                    "required": ["files"],
                                }
                            }
                        },
                    },
                    "responses": {
                        "201": _json(_ref("IngestReport"), "已接收（至少一个文件）"),
                        "400": _json(
                            {"oneOf": [ERROR, _ref("IngestReport")]},
                            "全部拒收（拒收报告）或请求无效",
                        ),
                        **_errors(401, 403),
                        "404": _json(ERROR, "指标体系、佐证条目、指标或调阅请求不存在"),
                        "413": _json(_ref("UploadTooLarge"), ERROR_TEXT[413]),
                    },
                },
            },
            "/documents/{document_id}": {
                "get": {
                    "summary": "文件详情",
                    "parameters": [ID],
                    "responses": {
                        "200": _json(_ref("Document")),
                        **_errors(401, 403, 404),
                    },
                },
                "delete": {
                    "summary": "删除文件（记入操作日志）",
                    "parameters": [ID],
                    "responses": {
                        "200": _json(
                            _object(
                                ["id", "deleted"],
                                {"id": INTEGER, "deleted": {"type": "boolean", "enum": [True]}},
                            )
                        ),
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
                            _object(
                                ["id", "status", "status_reason"],
                                {
                                    "id": INTEGER,
                                    "status": DOCUMENT_STATUS,
                                    "status_reason": STRING,
                                },
                            )
                        ),
                        **_errors(401, 403, 404),
                    },
                },
            },
            "/documents/{document_id}/download": {
                "get": {
                    "summary": "下载（可选 version 参数；支持 Range 与 If-None-Match）",
                    "description": (
                        "评估专家（以及管理员开启全员水印后的所有用户）下载的 PDF 每页、图片"
                        "都加盖本人姓名、北京时间和“仅供评审使用”的水印（此时不支持 Range，"
                        "也没有 ETag）；无法加水印的格式（DOCX、XLSX、ZIP 等）和只可在线查看的"
                        "专家答 403，error 说明原因。"
                    ),
                    "parameters": [
                        ID,
                        {"name": "version", "in": "query", "schema": INTEGER},
                        {
                            "name": "Range",
                            "in": "header",
                            "schema": STRING,
                            "description": "如 bytes=0-1023",
                        },
                        {
                            "name": "If-None-Match",
                            "in": "header",
                            "schema": STRING,
                            "description": "上次下载的 ETag",
                        },
                    ],
                    "responses": {
                        "200": _file("文件内容（Content-Type 为文件本身的类型）"),
                        "206": _file("Range 请求的部分内容"),
                        "302": {
                            "description": "转到对象存储的限时下载地址（S3 且启用预签名时）",
                            "headers": {"Location": {"required": True, "schema": STRING}},
                        },
                        "304": {"description": "未修改（If-None-Match 与 ETag 相同）"},
                        **_errors(401, 403),
                        "404": _json(ERROR, "文件或版本不存在"),
                        **_errors(409, 416),
                    },
                },
            },
            "/documents/{document_id}/versions": {
                "post": {
                    "summary": "上传新版本（旧版本保留）",
                    "parameters": [ID],
                    "requestBody": {"required": True, "content": FILE_FORM},
                    "responses": {
                        "201": _json(_ref("Document"), "已上传"),
                        **_errors(400, 401, 403, 404),
                        "413": _json(_ref("UploadTooLarge"), ERROR_TEXT[413]),
                    },
                },
            },
            "/documents/{document_id}/suggestions": {
                "get": {
                    "summary": "建议条目：按文件名和内容排序的最可能的佐证条目（或指标）",
                    "description": "用于文件名中没有佐证编号的文件；分数 0–1。范围受限的用户只得到"
                    "其负责指标内的建议；已关联的条目不再列出。",
                    "parameters": [ID, LIMIT],
                    "responses": {
                        "200": _json(
                            _object(
                                ["document_id", "name", "suggestions"],
                                {
                                    "document_id": INTEGER,
                                    "name": STRING,
                                    "suggestions": _array(
                                        _object(
                                            ["code", "title", "score", "kind"],
                                            {
                                                "code": STRING,
                                                "title": STRING,
                                                "score": NUMBER,
                                                "kind": {
                                                    "type": "string",
                                                    "enum": ["entry", "indicator"],
                                                },
                                            },
                                        )
                                    ),
                                },
                            )
                        ),
                        **_errors(401, 403, 404),
                    },
                },
            },
            "/documents/{document_id}/similar": {
                "get": {
                    "summary": "相似文件：同一文件、内容几乎相同或共有少见词语的文件（仅可查看的）",
                    "parameters": [ID, LIMIT],
                    "responses": {
                        "200": _json(
                            _object(
                                ["document_id", "similar"],
                                {
                                    "document_id": INTEGER,
                                    "similar": _array(
                                        _object(
                                            ["document_id", "name", "code", "similarity", "match"],
                                            {
                                                "document_id": INTEGER,
                                                "name": STRING,
                                                "code": STRING,
                                                "similarity": NUMBER,
                                                "match": {
                                                    "type": "string",
                                                    "enum": ["bytes", "text", "terms"],
                                                },
                                            },
                                        )
                                    ),
                                },
                            )
                        ),
                        **_errors(401, 403, 404),
                    },
                },
            },
            "/frameworks/{framework_id}/marks": {
                "get": {
                    "summary": "网评标记：专家本人的；组长及管理员、评审、督导看全部（含组长定稿）",
                    "parameters": [_path_id("framework_id")],
                    "responses": {
                        "200": _json(
                            _object(
                                ["framework_id", "marks"],
                                {"framework_id": INTEGER, "marks": _array(_ref("Mark"))},
                            )
                        ),
                        **_errors(401, 403),
                        "404": _json(ERROR, "指标体系不存在（专家：不是其评审的指标体系）"),
                    },
                },
            },
            "/frameworks/{framework_id}/marks/{indicator_code}": {
                "put": {
                    "summary": "专家给指标打标记（。认可 / ——调阅 / ？入校核查）",
                    "description": "仅评估专家的令牌。mark 为 ok（句号）、more（破折号，须有 "
                    "request：需要调阅的材料，会向学校发出调阅请求）或 question（问号，"
                    "comment 即入校核查的问题，必填）；score 为 0 到指标分值之间的数字或 null。"
                    "再次标记 ok 或 question 会关闭本人在该指标上的调阅请求。",
                    "parameters": [
                        _path_id("framework_id"),
                        {
                            "name": "indicator_code",
                            "in": "path",
                            "required": True,
                            "schema": STRING,
                            "description": "指标编号，如 2.3.4",
                        },
                    ],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": _object(
                                    ["mark"],
                                    {
                                        "mark": MARK,
                                        "comment": STRING,
                                        "score": NULLABLE_NUMBER,
                                        "request": STRING,
                                    },
                                )
                            }
                        },
                    },
                    "responses": {
                        "200": _json(
                            {
                                "allOf": [
                                    _ref("Mark"),
                                    _object(
                                        ["request", "closed_requests"],
                                        {
                                            "request": {
                                                "allOf": [_ref("MaterialRequest")],
                                                "nullable": True,
                                                "description": "破折号：发出（或仍待答复）的调阅请求",
                                            },
                                            "closed_requests": _array(INTEGER),
                                        },
                                    ),
                                ]
                            },
                            "已保存",
                        ),
                        "400": _json(ERROR, "标记、意见、评分或调阅内容无效"),
                        "401": _json(ERROR, ERROR_TEXT[401]),
                        "403": _json(ERROR, "不是评估专家，或指标不在评审范围内"),
                        "404": _json(ERROR, "指标体系或指标不存在"),
                    },
                },
            },
            "/requests": {
                "get": {
                    "summary": "调阅请求：材料员/管理员看负责范围内的（默认待答复）；专家看本人的",
                    "parameters": [
                        {
                            "name": "status",
                            "in": "query",
                            "schema": {"type": "string", "enum": [*REQUEST_STATES, "all"]},
                            "description": "open、answered、closed 或 all",
                        }
                    ],
                    "responses": {
                        "200": _json(
                            _object(["requests"], {"requests": _array(_ref("MaterialRequest"))})
                        ),
                        **_errors(400, 401, 403),
                    },
                },
            },
            "/search": {
                "get": {
                    "summary": "全文检索（与 evidence search --json 相同）",
                    "parameters": [
                        {"name": "q", "in": "query", "required": True, "schema": STRING},
                        {"name": "framework", "in": "query", "schema": INTEGER},
                        {"name": "indicator", "in": "query", "schema": STRING},
                        {"name": "type", "in": "query", "schema": STRING},
                        {"name": "status", "in": "query", "schema": STRING},
                        {
                            "name": "signed",
                            "in": "query",
                            "schema": {"type": "string", "enum": ["1", "0"]},
                            "description": "1：仅当前版本含电子签章的文件",
                        },
                        {"name": "limit", "in": "query", "schema": INTEGER},
                        {"name": "offset", "in": "query", "schema": INTEGER},
                    ],
                    "responses": {
                        "200": _json(_ref("SearchResult")),
                        **_errors(400, 401, 403, 503),
                    },
                },
            },
        },
    }
