"""Backup and restore: a consistent snapshot of the database rows and the blobs in one ZIP.

The rows are read inside one transaction (a snapshot on PostgreSQL, a read transaction on
SQLite) and written as JSON lines per table, so a backup restores into either database.
Blobs are immutable and named by their hash, so copying the ones the snapshot names is
consistent. The index is derived data: restore rebuilds it.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import time
import zipfile
from pathlib import Path
from typing import Any

from sqlalchemy import LargeBinary, func, insert, select, text

from evidence_app.runtime import Runtime
from evidence_app.search.indexing import rebuild_index
from storage import Base, Blob, BlobNotFoundError, head_revision

FORMAT = "evidence-backup/1"
CHUNK = 1024 * 1024


class BackupError(RuntimeError):
    """The backup or restore cannot go on; the message says why."""


def _encode(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return {"$dt": value.isoformat()}
    if isinstance(value, dt.date):
        return {"$d": value.isoformat()}
    if isinstance(value, bytes):
        return {"$b": base64.b64encode(value).decode()}
    return value


def _decode(value: Any, column) -> Any:
    if isinstance(value, dict) and len(value) == 1:
        ((key, raw),) = value.items()
        if key == "$dt":
            return dt.datetime.fromisoformat(raw)
        if key == "$d":
            return dt.date.fromisoformat(raw)
        if key == "$b":
            return base64.b64decode(raw)
    if isinstance(column.type, LargeBinary) and isinstance(value, str):
        return base64.b64decode(value)
    return value


def backup(runtime: Runtime, out: Path) -> dict[str, Any]:
    """Write the backup ZIP to ``out`` (via a temp file, renamed when complete)."""
    out = Path(out)
    tmp = out.with_name(out.name + ".part")
    counts: dict[str, int] = {}
    with runtime.engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"))
        elif conn.dialect.name == "sqlite":
            conn.exec_driver_sql("BEGIN")
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED, allowZip64=True) as archive:
            for table in Base.metadata.sorted_tables:
                rows = conn.execute(select(table).order_by(*table.primary_key.columns)).mappings()
                n = 0
                with archive.open(f"db/{table.name}.jsonl", "w", force_zip64=True) as f:
                    for row in rows:
                        f.write(
                            json.dumps(
                                {k: _encode(v) for k, v in row.items()}, ensure_ascii=False
                            ).encode()
                        )
                        f.write(b"\n")
                        n += 1
                counts[table.name] = n
            hashes = [sha for (sha,) in conn.execute(select(Blob.sha256))]
            manifest_lines = []
            for sha in hashes:
                _write_blob(runtime, archive, sha)
                manifest_lines.append(f"{sha}  blobs/{sha}")
            meta = {
                "format": FORMAT,
                "revision": head_revision(),
                "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                "tables": counts,
                "blobs": len(hashes),
            }
            archive.writestr("manifest-sha256.txt", "\n".join(manifest_lines) + "\n")
            archive.writestr("backup.json", json.dumps(meta, ensure_ascii=False, indent=2))
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("COMMIT")
    tmp.replace(out)
    return meta


def _write_blob(runtime: Runtime, archive: zipfile.ZipFile, sha: str) -> None:
    """Stream one blob from the store into the archive (stored, not deflated: most evidence
    is compressed already), hashing it on the way: an altered blob would not restore."""
    try:
        src = runtime.blobs.open(sha)
    except BlobNotFoundError as e:
        raise BackupError(f"存储中缺少文件 {sha}，请先运行 evidence verify") from e
    info = zipfile.ZipInfo(f"blobs/{sha}", date_time=time.localtime()[:6])
    info.compress_type = zipfile.ZIP_STORED
    digest = hashlib.sha256()
    with src, archive.open(info, "w", force_zip64=True) as dst:
        while chunk := src.read(CHUNK):
            digest.update(chunk)
            dst.write(chunk)
    if digest.hexdigest() != sha:
        raise BackupError(f"存储中的文件 {sha} 已被改动（哈希不符），请先运行 evidence verify")


def restore(runtime: Runtime, source: Path) -> dict[str, Any]:
    """Load a backup into an empty, migrated database and the blob store; rebuild the index."""
    source = Path(source)
    try:
        archive = zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError) as e:
        raise BackupError(f"不是有效的备份文件：{source.name}") from e
    with archive:
        try:
            meta = json.loads(archive.read("backup.json"))
        except KeyError as e:
            raise BackupError("备份文件缺少 backup.json") from e
        if meta.get("format") != FORMAT:
            raise BackupError(f"不支持的备份格式：{meta.get('format')}")
        if meta.get("revision") != head_revision():
            raise BackupError(
                f"备份的数据库版本 {meta.get('revision')} 与当前程序 {head_revision()} 不一致"
            )
        with runtime.engine.begin() as conn:
            for table in Base.metadata.sorted_tables:
                if conn.execute(select(func.count()).select_from(table)).scalar():
                    raise BackupError("目标数据库不是空的，请在新的实例上恢复")
            for table in Base.metadata.sorted_tables:
                name = f"db/{table.name}.jsonl"
                if name not in archive.namelist():
                    continue
                batch: list[dict[str, Any]] = []
                with archive.open(name) as f:
                    for line in f:
                        row = json.loads(line)
                        batch.append(
                            {k: _decode(v, table.c[k]) for k, v in row.items() if k in table.c}
                        )
                        if len(batch) >= 500:
                            conn.execute(insert(table), batch)
                            batch = []
                if batch:
                    conn.execute(insert(table), batch)
            if conn.dialect.name == "postgresql":
                _reset_sequences(conn)
        for info in archive.infolist():
            if not info.filename.startswith("blobs/"):
                continue
            _restore_blob(runtime, archive, info)
    with runtime.unit_of_work() as session:
        indexed = rebuild_index(session, runtime.index)
    return {**meta, "indexed": indexed}


def _restore_blob(runtime: Runtime, archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> None:
    """Put one ``blobs/<sha256>`` member into the store; bytes that do not hash to their
    name are refused and removed again (unless the store held them already)."""
    name = info.filename.rsplit("/", 1)[1]
    try:
        with archive.open(info) as src:
            stored = runtime.blobs.put(src)
    except (zipfile.BadZipFile, EOFError) as e:  # bad CRC, truncated member
        raise BackupError(f"备份中的文件 {name} 已损坏（{e}）") from e
    if stored.sha256 != name:
        if stored.created:
            runtime.blobs.delete(stored.sha256)
        raise BackupError(f"备份中的文件 {name} 已损坏（哈希不符）")


def _reset_sequences(conn) -> None:
    for table in Base.metadata.sorted_tables:
        pk = list(table.primary_key.columns)
        if len(pk) == 1 and pk[0].autoincrement is not False and str(pk[0].type) == "INTEGER":
            conn.execute(
                text(
                    f"SELECT setval(pg_get_serial_sequence('{table.name}', '{pk[0].name}'), "
                    f"COALESCE((SELECT MAX({pk[0].name}) FROM {table.name}), 0) + 1, false)"
                )
            )
