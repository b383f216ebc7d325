"""The audit trail: every change records who, what and when."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from storage import AuditLog, User


def record(
    session: Session,
    user: User | None,
    action: str,
    obj: Any = None,
    **detail: Any,
) -> AuditLog:
    """Add an audit entry for ``action`` on ``obj`` (a model instance or None)."""
    entry = AuditLog(
        user_id=user.id if user is not None else None,
        username=user.username if user is not None else "system",
        action=action,
        object_type=type(obj).__name__.lower() if obj is not None else "",
        object_id=getattr(obj, "id", None),
        detail=detail,
    )
    session.add(entry)
    return entry


#: what each recorded action means, for the audit log page (an unknown key shows as it is)
ACTION_LABELS = {
    "login": "登录",
    "login.failed": "登录失败",
    "logout": "退出登录",
    "access.denied": "拒绝访问",
    "document.upload": "上传文件",
    "document.duplicate_upload": "重复上传（已有相同文件）",
    "document.new_version": "上传新版本",
    "document.link": "关联到条目",
    "document.unlink": "取消关联",
    "document.retry": "重新处理",
    "document.delete": "删除文件",
    "document.download": "下载文件",
    "document.view": "查看文件页面",
    "document.review": "审核文件",
    "document.review_reset": "重置审核",
    "blob.damaged": "发现文件损坏",
    "blob.restored": "损坏文件已恢复",
    "comment.add": "发表意见",
    "indicator.score": "指标评分",
    "indicator.measure": "填写测量值",
    "framework.import": "导入指标体系",
    "framework.reimport": "重新导入指标体系",
    "framework.archive": "归档指标体系",
    "framework.unarchive": "恢复指标体系",
    "framework.delete": "删除指标体系",
    "framework.export": "导出佐证材料包",
    "coverage.export": "导出覆盖情况",
    "audit.export": "导出操作日志",
    "kpi.import": "导入绩效指标",
    "expert.invite": "邀请评估专家",
    "expert.signin": "专家通过链接登录",
    "expert.revoke": "撤销专家访问",
    "mark.set": "专家标记指标",
    "mark.final": "组长定稿",
    "request.open": "发出调阅请求",
    "request.answer": "答复调阅请求",
    "request.close": "关闭调阅请求",
    "review.export": "导出网评意见",
    "setting.update": "修改系统设置",
    "token.create": "创建 API 令牌",
    "token.revoke": "撤销 API 令牌",
    "token.revoke_all": "撤销全部 API 令牌",
    "user.create": "创建用户",
    "user.update": "修改用户",
    "user.assign": "分配负责指标",
    "user.password": "修改密码",
    "user.activate": "启用用户",
    "user.deactivate": "停用用户",
    "user.sessions_ended": "结束全部会话",
}

#: the words for the detail keys records carry most
DETAIL_LABELS = {
    "rows": "行数",
    "filters": "筛选条件",
    "status": "状态",
    "previous": "原状态",
    "version": "版本",
    "page": "页",
    "reason": "原因",
    "name": "名称",
    "codes": "编号",
    "code": "编号",
    "role": "角色",
    "permission": "所需权限",
    "path": "地址",
    "method": "方法",
    "username": "用户名",
    "count": "数量",
    "framework": "指标体系",
    "indicators": "指标",
    "expires_at": "有效期至",
    "can_download": "允许下载",
    "lead": "组长",
    "sha256": "SHA-256",
    "actual": "实际哈希",
    "document": "文件",
    "mark": "标记",
    "score": "评分",
    "comment": "意见",
    "prefix": "令牌前缀",
    "limited_scope": "限定范围",
    "stamp": "水印",
    "key": "设置项",
    "value": "值",
}

#: where an object of a record opens (the admin sees every page)
OBJECT_PAGES = {
    "document": "/documents/{id}",
    "user": "/admin/users/{id}",
    "indicator": "/indicators/{id}",
    "framework": "/frameworks/{id}",
}
OBJECT_LABELS = {
    "document": "文件",
    "user": "用户",
    "indicator": "指标",
    "framework": "指标体系",
    "blob": "存储文件",
    "expertmark": "专家标记",
    "materialrequest": "调阅请求",
}
